"""Fine-tuned models -> validated ONNX, optimised ONNX and TensorRT engines, as repository entries.

Nothing heavy is imported here: torch, transformers and tensorrt load inside the functions
that need them, so ``import converters`` is cheap.
"""

from __future__ import annotations

from converters.engine_entry import export_tensorrt
from converters.errors import (
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
from converters.module import export_module
from converters.samples import load_samples, read_samples
from converters.tasks import TASKS
from converters.transformer import export_transformer

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
