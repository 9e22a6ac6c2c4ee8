"""Fine-tuned models -> validated ONNX, optimised ONNX and TensorRT engines, as repository entries.

Nothing heavy is imported here: torch, transformers and tensorrt load inside the functions
that need them, so ``import gatewise.converters`` is cheap.
"""

from __future__ import annotations

if (
    __name__ != "gatewise.converters"
):  # one import path per module: pyproject.toml maps converters/ to gatewise.converters
    raise ImportError(
        f"import gatewise.converters, not {__name__}: the converters/ folder installs as gatewise.converters"
    )

from gatewise.converters.engine_entry import export_tensorrt
from gatewise.converters.errors import (
    CheckpointError,
    ConversionError,
    DriftError,
    ExampleInputError,
    ExportError,
    MissingTokenizer,
    RepositoryError,
    SampleError,
    TensorRTError,
    ToleranceUnreachable,
    UnsupportedArchitecture,
    UnsupportedTask,
)
from gatewise.converters.module import export_module
from gatewise.converters.samples import load_samples, read_samples
from gatewise.converters.tasks import TASKS
from gatewise.converters.transformer import export_transformer

__all__ = [
    "TASKS",
    "CheckpointError",
    "ConversionError",
    "DriftError",
    "ExampleInputError",
    "ExportError",
    "MissingTokenizer",
    "RepositoryError",
    "SampleError",
    "TensorRTError",
    "ToleranceUnreachable",
    "UnsupportedArchitecture",
    "UnsupportedTask",
    "export_module",
    "export_tensorrt",
    "export_transformer",
    "load_samples",
    "read_samples",
]
