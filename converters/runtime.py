"""Run the two sides of a validation: PyTorch and ONNX Runtime, on the same inputs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def run_torch(module: Any, inputs: dict[str, np.ndarray], output_names: list[str]) -> dict[str, np.ndarray]:
    """``module(**inputs)`` without gradients, as float32 numpy arrays named ``output_names``."""
    import torch

    with torch.no_grad():
        result = module(**{name: torch.from_numpy(np.ascontiguousarray(value)) for name, value in inputs.items()})
    values = result if isinstance(result, (tuple, list)) else (result,)
    if len(values) != len(output_names):
        raise ValueError(
            f"module returned {len(values)} output(s) but {len(output_names)} name(s) were given: {output_names}"
        )
    return {name: value.detach().float().numpy() for name, value in zip(output_names, values, strict=True)}


def onnx_session(path: Path, providers: list[str] | None = None) -> Any:
    """An ONNX Runtime session on ``path`` (CPU unless ``providers`` says otherwise)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), sess_options=options, providers=providers or ["CPUExecutionProvider"])


def run_onnx(path: Path, inputs: dict[str, np.ndarray], providers: list[str] | None = None) -> dict[str, np.ndarray]:
    """All outputs of the ONNX model at ``path``, by name, as float32 where they are floating."""
    session = onnx_session(path, providers)
    names = [output.name for output in session.get_outputs()]
    wanted = {node.name for node in session.get_inputs()}
    results = session.run(names, {name: value for name, value in inputs.items() if name in wanted})
    return {
        name: value.astype(np.float32) if np.issubdtype(value.dtype, np.floating) else value
        for name, value in zip(names, results, strict=True)
    }
