"""Compare one step's outputs with the step before, and fail loudly past a tolerance.

Every conversion step (PyTorch -> ONNX, fusions, FP16, INT8, TensorRT) runs the same sample
rows through both sides. Differences are judged per precision: FP32 must match closely;
reduced precision may move numbers but must keep the predicted labels (and, for
embeddings, the direction of each vector).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np

from converters.errors import DriftError

OutputKind = Literal["labels", "embedding", "values"]


@dataclass(frozen=True)
class Tolerance:
    """How far a step may move outputs; ``None`` leaves that measure unchecked."""

    name: str
    max_abs: float | None
    mean_abs: float | None
    min_agreement: float
    """Share of rows (or tokens) whose top-1 label must not change."""
    min_cosine: float
    """Lowest cosine similarity allowed between a row's two vectors."""


TOLERANCES = {
    "fp32": Tolerance("fp32", max_abs=1e-3, mean_abs=1e-4, min_agreement=0.99, min_cosine=0.9999),
    # Fusions reorder float sums and may replace GELU/LayerNorm subgraphs by fused kernels.
    "optimized": Tolerance("optimized", max_abs=5e-3, mean_abs=5e-4, min_agreement=0.99, min_cosine=0.9999),
    "fp16": Tolerance("fp16", max_abs=5e-2, mean_abs=1e-2, min_agreement=0.985, min_cosine=0.999),
    # Dynamic INT8 moves logits noticeably; what must hold is the decision and the direction.
    "int8": Tolerance("int8", max_abs=None, mean_abs=0.3, min_agreement=0.97, min_cosine=0.98),
}


@dataclass(frozen=True)
class DriftReport:
    """What one step did to one output over the sample rows."""

    step: str
    output: str
    rows: int
    max_abs: float
    mean_abs: float
    agreement: float | None
    """Top-1 agreement (share of rows, or of real tokens); None where there are no labels."""
    min_cosine: float | None

    def summary(self) -> str:
        parts = [f"max abs diff {self.max_abs:.3g}", f"mean abs diff {self.mean_abs:.3g}"]
        if self.agreement is not None:
            parts.append(f"top-1 agreement {self.agreement:.2%}")
        if self.min_cosine is not None:
            parts.append(f"min cosine {self.min_cosine:.6f}")
        return f"{self.step} [{self.output}]: " + ", ".join(parts) + f" ({self.rows} rows)"

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def compare(
    step: str,
    output: str,
    reference: np.ndarray,
    candidate: np.ndarray,
    kind: OutputKind,
    *,
    valid: np.ndarray | None = None,
) -> DriftReport:
    """Measure ``candidate`` against ``reference``; ``valid`` masks padding tokens out."""
    if reference.shape != candidate.shape:
        raise ValueError(f"{step} [{output}]: shape {candidate.shape} differs from the reference {reference.shape}")
    ref = reference.astype(np.float64)
    cand = candidate.astype(np.float64)
    if valid is not None:
        # Token-level outputs: padded positions are never read, so they are not judged.
        keep = valid.astype(bool)
        ref, cand = ref[keep], cand[keep]
    diff = np.abs(ref - cand)
    agreement = None
    if kind == "labels" and ref.ndim >= 1 and ref.shape[-1] > 1:
        agreement = float(np.mean(ref.argmax(axis=-1) == cand.argmax(axis=-1)))
    min_cosine = None
    if kind == "embedding":
        flat_ref, flat_cand = ref.reshape(len(ref), -1), cand.reshape(len(cand), -1)
        norms = np.linalg.norm(flat_ref, axis=1) * np.linalg.norm(flat_cand, axis=1)
        min_cosine = float(np.min(np.sum(flat_ref * flat_cand, axis=1) / np.maximum(norms, 1e-12)))
    return DriftReport(
        step=step,
        output=output,
        rows=int(reference.shape[0]),
        max_abs=float(diff.max(initial=0.0)),
        mean_abs=float(diff.mean()) if diff.size else 0.0,
        agreement=agreement,
        min_cosine=min_cosine,
    )


def failures(report: DriftReport, tolerance: Tolerance) -> list[str]:
    """Each measure of ``report`` that is past ``tolerance``, in words; empty when it passes."""
    found = []
    if not np.isfinite(report.max_abs):
        found.append("outputs hold NaN or Inf")
    if tolerance.max_abs is not None and report.max_abs > tolerance.max_abs:
        found.append(f"max abs diff {report.max_abs:.3g} > {tolerance.max_abs:g}")
    if tolerance.mean_abs is not None and report.mean_abs > tolerance.mean_abs:
        found.append(f"mean abs diff {report.mean_abs:.3g} > {tolerance.mean_abs:g}")
    if report.agreement is not None and report.agreement < tolerance.min_agreement:
        found.append(f"top-1 agreement {report.agreement:.2%} < {tolerance.min_agreement:.2%}")
    if report.min_cosine is not None and report.min_cosine < tolerance.min_cosine:
        found.append(f"min cosine {report.min_cosine:.6f} < {tolerance.min_cosine:g}")
    return found


def check(report: DriftReport, tolerance: Tolerance) -> DriftReport:
    """Return ``report`` if it is within ``tolerance``; raise DriftError naming each failure."""
    found = failures(report, tolerance)
    if found:
        raise DriftError(report, tolerance, found)
    return report
