"""The chain of validated steps shared by every conversion.

Each step's outputs become the reference for the next one, so a failure names the step
that drifted, not just "the final model is off". With ``batch_size`` the rows run as serving
will run them: in the given order, cut into batches of the entry's ``max_batch_size``, each
padded only to its own longest row (dynamic INT8 scales activations per batch, padding
included, so the batch a row shares changes its answer).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from gatewise.converters.progress import Steps
from gatewise.converters.runtime import run_onnx
from gatewise.converters.validate import TOLERANCES, DriftReport, OutputKind, Tolerance, check, compare, failures

VALIDATION_FILE = "validation.json"


@dataclass
class Validator:
    """Runs each step's model on the same inputs and checks it against the step before."""

    inputs: dict[str, np.ndarray]
    kinds: dict[str, OutputKind]
    steps: Steps
    valid: np.ndarray | None = None
    """Token mask for token-level outputs: padding is not judged."""
    batch_size: int | None = None
    """Rows per batch, as the entry's ``max_batch_size`` batches them; None runs all rows in one batch."""
    mask: str = "attention_mask"
    """The input whose zeros are right padding; each batch is cut back to its own longest row by it."""
    samples: str | None = None
    """Where the rows came from, for the report."""
    generic_samples: bool = False
    """The rows are the shipped generic sentences: a refusal then points to ``--samples``."""
    quantization: dict[str, Any] | None = None
    """How INT8 was made (mode, format, calibration method and data), recorded beside each report; None without INT8."""
    tolerances: dict[str, Tolerance] = field(default_factory=dict)
    """Per-precision tolerances that replace TOLERANCES' (``--min-agreement`` sets int8's)."""
    reports: list[DriftReport] = field(default_factory=list)
    previous: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.batch_size is None:
            self.batches = [self.inputs]
            return
        if self.batch_size < 1:
            raise ValueError(f"a validation batch must hold at least one row, got {self.batch_size}")
        self.batches = serving_batches(self.inputs, self.batch_size, self.mask)

    def batching(self) -> dict[str, Any]:
        """How the rows were batched, for the report: sizes and the padded length of each batch."""
        lengths = [int(next(iter(batch.values())).shape[1]) if self.mask in batch else None for batch in self.batches]
        return {
            "rows": sum(len(next(iter(batch.values()))) for batch in self.batches),
            "max_batch_size": self.batch_size,
            "batches": [len(next(iter(batch.values()))) for batch in self.batches],
            "padded_to": lengths,
            "order": "as given",
            "padding": "each batch to its longest row" if self.mask in self.inputs else "none",
        }

    def describe(self) -> str:
        """One line: how many rows, from where, in which batches."""
        facts = self.batching()
        source = f" ({self.samples})" if self.samples else ""
        sizes = facts["batches"]
        limit = f"up to {self.batch_size} (the entry's max_batch_size)" if self.batch_size else "one batch"
        padded = [length for length in facts["padded_to"] if length is not None]
        padding = f", each padded to its longest row ({min(padded)}-{max(padded)} tokens)" if padded else ""
        return (
            f"validating {facts['rows']} rows{source} in {len(sizes)} batch(es) of {limit}, in the given order{padding}"
        )

    def run(self, infer: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
        """``infer`` over every batch, outputs joined back in row order (token axes re-padded with zeros)."""
        return _joined([infer(batch) for batch in self.batches])

    def baseline(self, outputs: dict[str, np.ndarray]) -> None:
        """The reference outputs (PyTorch FP32) that the first ONNX step must match."""
        self.previous = outputs

    def tolerance(self, precision: str) -> Tolerance:
        return self.tolerances.get(precision, TOLERANCES[precision])

    def validate(self, step: str, model: Path, precision: str, providers: list[str] | None = None) -> None:
        """Run ``model``, compare every output with the step before, raise DriftError past tolerance."""
        self.check_outputs(step, self.run(lambda batch: run_onnx(model, batch, providers)), precision)

    def check_outputs(self, step: str, outputs: dict[str, np.ndarray], precision: str) -> None:
        """Compare outputs produced elsewhere (a TensorRT engine) with the step before."""
        measured = self.measure_outputs(step, outputs, precision)
        for report in measured.reports:
            self.reports.append(report)
            self.steps.note(report.summary())
            check(report, self.tolerance(precision), generic_samples=self.generic_samples)
        self.previous = outputs

    def measure(self, step: str, model: Path, precision: str) -> Measured:
        """Run ``model`` and compare it with the step before, recording nothing and raising nothing (for trials)."""
        return self.measure_outputs(step, self.run(lambda batch: run_onnx(model, batch)), precision)

    def measure_outputs(self, step: str, outputs: dict[str, np.ndarray], precision: str) -> Measured:
        reports = []
        for name, kind in self.kinds.items():
            valid = self.valid if self.valid is not None and outputs[name].ndim == 3 else None
            reports.append(compare(step, name, self.previous[name], outputs[name], kind, valid=valid))
        tolerance = self.tolerance(precision)
        return Measured(reports, [found for report in reports for found in failures(report, tolerance)], outputs)

    def accept(self, measured: Measured, precision: str) -> None:
        """Record a measured trial as this step (raising DriftError if it is past tolerance), as ``validate`` does."""
        self.check_outputs(measured.reports[0].step, measured.outputs, precision)

    def save(self, path: Path) -> None:
        """Write every report as JSON beside the model, with the samples and batching, for whoever deploys it."""
        context: dict[str, Any] = {"samples": self.samples, "batching": self.batching()}
        if self.quantization is not None:
            context["quantization"] = self.quantization
        path.write_text(
            json.dumps([{**report.as_dict(), **context} for report in self.reports], indent=2) + "\n",
            encoding="utf-8",
        )


@dataclass
class Measured:
    """One model's reports against the step before, the failures in words, and its outputs."""

    reports: list[DriftReport]
    failures: list[str]
    outputs: dict[str, np.ndarray]


def serving_batches(
    inputs: dict[str, np.ndarray], batch_size: int, mask: str = "attention_mask"
) -> list[dict[str, np.ndarray]]:
    """``inputs`` cut as the gateway batches them: in order, ``batch_size`` rows at a time, each to its longest row.

    Validation and static INT8 calibration both use it, so calibration sees the padding serving will.
    """
    rows = len(next(iter(inputs.values())))
    return [_trimmed(inputs, slice(start, start + batch_size), mask) for start in range(0, rows, batch_size)]


def _trimmed(inputs: dict[str, np.ndarray], rows: slice, mask: str) -> dict[str, np.ndarray]:
    """``rows`` of every input; where ``mask`` exists, cut to the longest of those rows, as serving pads."""
    batch = {name: array[rows] for name, array in inputs.items()}
    if mask not in batch or batch[mask].ndim != 2:
        return batch
    longest = int(batch[mask].sum(axis=1).max(initial=0))
    return {name: array[:, :longest] if array.ndim == 2 else array for name, array in batch.items()}


def _joined(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Concatenate per-batch outputs; axes that differ between batches (tokens) are zero-padded to the widest."""
    joined = {}
    for name in parts[0]:
        arrays = [part[name] for part in parts]
        widest = np.max([array.shape[1:] for array in arrays], axis=0) if arrays[0].ndim > 1 else ()
        padded = [
            np.pad(array, [(0, 0)] + [(0, int(w) - d) for w, d in zip(widest, array.shape[1:], strict=True)])
            for array in arrays
        ]
        joined[name] = np.concatenate(padded)
    return joined


def fp16_providers() -> list[str]:
    """CUDA where ONNX Runtime has it (FP16 is for GPUs), else the CPU's FP16 kernels."""
    import onnxruntime as ort

    available = ort.get_available_providers()
    return (
        ["CUDAExecutionProvider", "CPUExecutionProvider"]
        if "CUDAExecutionProvider" in available
        else ["CPUExecutionProvider"]
    )
