"""Compare one step's outputs with the step before, and fail loudly past a tolerance.

Every conversion step (PyTorch -> ONNX, fusions, FP16, INT8, TensorRT) runs the same sample
rows through both sides. Differences are judged per precision: FP32 must match closely;
reduced precision may move numbers but must keep the predicted labels (and, for
embeddings, the direction of each vector).

Labels are judged twice: over every row, and over the rows whose reference decision is
clear (CLEAR_MARGIN). A flip where the reference itself hesitates between two labels is
noise; a flip where it was sure is a changed answer. So the clear rows carry a stricter
tolerance, and all rows a looser floor that still catches a broad shift of decision
boundaries (docs/converters.md, "Validation and tolerances").
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from gatewise.converters.errors import DriftError
from gatewise.gateway.drift_measures import OutputKind, difference_failures, measure


@dataclass(frozen=True)
class Tolerance:
    """How far a step may move outputs; ``None`` leaves that measure unchecked."""

    name: str
    max_abs: float | None
    mean_abs: float | None
    min_agreement: float
    """Share of all rows (or tokens) whose top-1 label must not change: a floor against broad shifts."""
    min_clear_agreement: float
    """Share of clear-margin rows whose top-1 label must not change: the stricter, deciding gate."""
    min_cosine: float
    """Lowest cosine similarity allowed between a row's two vectors."""


TOLERANCES = {
    "fp32": Tolerance(
        "fp32", max_abs=1e-3, mean_abs=1e-4, min_agreement=0.99, min_clear_agreement=1.0, min_cosine=0.9999
    ),
    # Fusions reorder float sums and may replace GELU/LayerNorm subgraphs by fused kernels.
    "optimized": Tolerance(
        "optimized", max_abs=5e-3, mean_abs=5e-4, min_agreement=0.99, min_clear_agreement=1.0, min_cosine=0.9999
    ),
    "fp16": Tolerance(
        "fp16", max_abs=5e-2, mean_abs=1e-2, min_agreement=0.95, min_clear_agreement=0.99, min_cosine=0.999
    ),
    # Dynamic INT8 moves logits noticeably; what must hold is the decision and the direction.
    "int8": Tolerance(
        "int8", max_abs=None, mean_abs=0.3, min_agreement=0.90, min_clear_agreement=0.98, min_cosine=0.98
    ),
}

CLEAR_MARGIN = 0.1
"""A reference row is clear when its top-1 softmax probability beats the runner-up by at least this.

Below it the reference barely prefers its label (for two labels, logits within 0.2 of each
other), and reduced precision moves logits by that much (dynamic INT8: ~0.1-0.6), so a flip
there says nothing about the model's quality; above it a flip changes an answer the model
was sure of.
"""

MIN_CLEAR_SHARE = 0.5
"""Clear rows must be at least this share of all rows for the clear-margin figure to decide.

Otherwise the reference hesitates on most rows (a freshly initialised head), setting
near-ties aside would leave little to judge, and every row is held to the clear-margin
tolerance instead.
"""


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
    judged: int | None = None
    """Rows (or real tokens) the agreement is measured over; None without labels."""
    clear_rows: int | None = None
    """Rows (or real tokens) whose reference top-1 margin is at least CLEAR_MARGIN; None without labels."""
    clear_agreement: float | None = None
    """Top-1 agreement on those rows; None where there are none."""

    def summary(self) -> str:
        parts = [f"max abs diff {self.max_abs:.3g}", f"mean abs diff {self.mean_abs:.3g}"]
        if self.agreement is not None:
            parts.append(f"top-1 agreement {self.agreement:.2%}")
            if self.clear_agreement is not None:
                parts.append(
                    f"{self.clear_agreement:.2%} on the {self.clear_rows} with a clear margin (>= {CLEAR_MARGIN:g})"
                )
            else:
                parts.append(f"no row with a clear margin (>= {CLEAR_MARGIN:g})")
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
    measured = measure(reference, candidate, kind, valid)
    clear_agreement = clear_rows = judged = None
    if measured.same is not None:
        judged = int(measured.same.size)
        clear = top1_margin(measured.judged_reference) >= CLEAR_MARGIN
        clear_rows = int(clear.sum())
        clear_agreement = float(np.mean(measured.same[clear])) if clear_rows else None
    return DriftReport(
        step=step,
        output=output,
        rows=int(reference.shape[0]),
        max_abs=measured.max_abs,
        mean_abs=measured.mean_abs,
        agreement=measured.agreement,
        min_cosine=measured.min_cosine,
        judged=judged,
        clear_rows=clear_rows,
        clear_agreement=clear_agreement,
    )


def top1_margin(logits: np.ndarray) -> np.ndarray:
    """Per row: the top-1 softmax probability minus the runner-up's (last axis holds the labels)."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    probabilities = np.exp(shifted)
    probabilities /= probabilities.sum(axis=-1, keepdims=True)
    top2 = np.sort(probabilities, axis=-1)[..., -2:]
    return top2[..., 1] - top2[..., 0]


def failures(report: DriftReport, tolerance: Tolerance) -> list[str]:
    """Each measure of ``report`` that is past ``tolerance``, in words; empty when it passes."""
    found = difference_failures(
        report.max_abs, report.mean_abs, report.min_cosine, max_abs_limit=tolerance.max_abs,
        mean_abs_limit=tolerance.mean_abs, min_cosine_limit=tolerance.min_cosine,
    )  # fmt: skip
    if report.agreement is not None:
        found.extend(_agreement_failures(report, tolerance))
    return found


def _agreement_failures(report: DriftReport, tolerance: Tolerance) -> list[str]:
    """The overall floor always; the clear-margin gate on clear rows, or on every row when too few are clear."""
    assert report.agreement is not None
    found = []
    if report.agreement < tolerance.min_agreement:
        found.append(f"top-1 agreement {report.agreement:.2%} < {tolerance.min_agreement:.2%} over all rows")
    clear_rows, judged = report.clear_rows or 0, report.judged or 0
    if clear_rows >= MIN_CLEAR_SHARE * judged and report.clear_agreement is not None:
        if report.clear_agreement < tolerance.min_clear_agreement:
            found.append(
                f"top-1 agreement {report.clear_agreement:.2%} < {tolerance.min_clear_agreement:.2%} on the "
                f"{clear_rows} rows with a clear margin (>= {CLEAR_MARGIN:g})"
            )
    elif report.agreement < tolerance.min_clear_agreement:
        found.append(
            f"top-1 agreement {report.agreement:.2%} < {tolerance.min_clear_agreement:.2%}: only {clear_rows} of "
            f"{judged} rows have a clear margin (>= {CLEAR_MARGIN:g}), too few to set near-ties aside, "
            "so every row is held to the clear-margin tolerance"
        )
    return found


def check(report: DriftReport, tolerance: Tolerance, *, generic_samples: bool = False) -> DriftReport:
    """Return ``report`` if it is within ``tolerance``; raise DriftError naming each failure.

    ``generic_samples`` says the rows were the shipped sentences, so the refusal points to ``--samples``.
    """
    found = failures(report, tolerance)
    if not found:
        return report
    advice = "try without the reduced-precision step, or check the model for overflow"
    if generic_samples:
        from gatewise.converters.samples import HOW_TO, MIN_SAMPLES  # samples imports this module

        # The shipped sentences are not the model's domain: its margins there say little.
        advice = (
            "these were the generic shipped sentences, not your model's data: validate on held-out texts of "
            f"your own ({HOW_TO}, at least {MIN_SAMPLES} rows); else {advice}"
        )
    raise DriftError(report.step, report.output, report.rows, tolerance.name, found, advice, report)
