"""The chain of validated steps shared by every conversion.

Each step's outputs become the reference for the next one, so a failure names the step
that drifted, not just "the final model is off".
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from converters.progress import Steps
from converters.runtime import run_onnx
from converters.validate import TOLERANCES, DriftReport, OutputKind, check, compare

VALIDATION_FILE = "validation.json"


@dataclass
class Validator:
    """Runs each step's model on the same inputs and checks it against the step before."""

    inputs: dict[str, np.ndarray]
    kinds: dict[str, OutputKind]
    steps: Steps
    valid: np.ndarray | None = None
    """Token mask for token-level outputs: padding is not judged."""
    reports: list[DriftReport] = field(default_factory=list)
    previous: dict[str, np.ndarray] = field(default_factory=dict)

    def baseline(self, outputs: dict[str, np.ndarray]) -> None:
        """The reference outputs (PyTorch FP32) that the first ONNX step must match."""
        self.previous = outputs

    def validate(self, step: str, model: Path, precision: str, providers: list[str] | None = None) -> None:
        """Run ``model``, compare every output with the step before, raise DriftError past tolerance."""
        self.check_outputs(step, run_onnx(model, self.inputs, providers), precision)

    def check_outputs(self, step: str, outputs: dict[str, np.ndarray], precision: str) -> None:
        """Compare outputs produced elsewhere (a TensorRT engine) with the step before."""
        tolerance = TOLERANCES[precision]
        for name, kind in self.kinds.items():
            valid = self.valid if self.valid is not None and outputs[name].ndim == 3 else None
            report = compare(step, name, self.previous[name], outputs[name], kind, valid=valid)
            self.reports.append(report)
            self.steps.note(report.summary())
            check(report, tolerance)
        self.previous = outputs

    def save(self, path: Path) -> None:
        """Write every report as JSON beside the model, for whoever deploys it."""
        path.write_text(json.dumps([report.as_dict() for report in self.reports], indent=2) + "\n", encoding="utf-8")


def fp16_providers() -> list[str]:
    """CUDA where ONNX Runtime has it (FP16 is for GPUs), else the CPU's FP16 kernels."""
    import onnxruntime as ort

    available = ort.get_available_providers()
    return (
        ["CUDAExecutionProvider", "CPUExecutionProvider"]
        if "CUDAExecutionProvider" in available
        else ["CPUExecutionProvider"]
    )
