"""How far one set of outputs is from another: the measures a conversion step and the load-time drift check share.

``converters/validate.py`` judges each conversion step with them, and ``gateway/reference_check.py``
judges a served version against its stored reference rows; one implementation, here, because
converters may import the gateway and serving never imports the converters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

OutputKind = Literal["labels", "embedding", "values"]

NOT_FINITE = "outputs hold NaN or Inf"
"""The failure named when a difference is not a finite number (``max_abs`` is then ``inf``)."""


@dataclass(frozen=True)
class Measures:
    """One output against its reference, over the judged rows (or real tokens)."""

    max_abs: float
    """Largest absolute difference; ``inf`` when any difference is NaN or infinite."""
    mean_abs: float
    agreement: float | None
    """Share of rows whose top-1 label is the reference's; None unless ``kind`` is ``labels``."""
    min_cosine: float | None
    """Lowest cosine between a row's two vectors; None unless ``kind`` is ``embedding``."""
    same: np.ndarray | None
    """Per judged row, whether its top-1 label is the reference's (``labels`` only)."""
    judged_reference: np.ndarray
    """The reference values judged (padding removed), float64: what margins are computed on."""


def measure(reference: np.ndarray, candidate: np.ndarray, kind: str, valid: np.ndarray | None = None) -> Measures:
    """Compare ``candidate`` with ``reference`` (same shape); ``valid`` keeps only real tokens of 3-D outputs."""
    ref = reference.astype(np.float64)
    cand = candidate.astype(np.float64)
    if valid is not None:
        # Token-level outputs: padded positions are never read, so they are not judged.
        keep = np.asarray(valid).astype(bool)
        ref, cand = ref[keep], cand[keep]
    diff = np.abs(ref - cand)
    same = None
    if kind == "labels" and ref.ndim >= 1 and ref.shape[-1] > 1 and ref.size:
        same = ref.argmax(axis=-1) == cand.argmax(axis=-1)
    min_cosine = None
    if kind == "embedding" and ref.size:
        flat_ref, flat_cand = ref.reshape(len(ref), -1), cand.reshape(len(cand), -1)
        norms = np.linalg.norm(flat_ref, axis=1) * np.linalg.norm(flat_cand, axis=1)
        min_cosine = float(np.min(np.sum(flat_ref * flat_cand, axis=1) / np.maximum(norms, 1e-12)))
    return Measures(
        max_abs=float(diff.max(initial=0.0)) if np.all(np.isfinite(diff)) else float("inf"),
        mean_abs=float(diff.mean()) if diff.size else 0.0,
        agreement=None if same is None else float(np.mean(same)),
        min_cosine=min_cosine,
        same=same,
        judged_reference=ref,
    )


def difference_failures(
    max_abs: float,
    mean_abs: float,
    min_cosine: float | None,
    *,
    max_abs_limit: float | None,
    mean_abs_limit: float | None,
    min_cosine_limit: float | None,
) -> list[str]:
    """The difference and cosine measures past their limits, in words (a None limit is unchecked)."""
    found = []
    if not np.isfinite(max_abs):
        found.append(NOT_FINITE)
    elif max_abs_limit is not None and max_abs > max_abs_limit:
        found.append(f"max abs diff {max_abs:.3g} > {max_abs_limit:g}")
    if mean_abs_limit is not None and mean_abs > mean_abs_limit:
        found.append(f"mean abs diff {mean_abs:.3g} > {mean_abs_limit:g}")
    if min_cosine_limit is not None and min_cosine is not None and min_cosine < min_cosine_limit:
        found.append(f"min cosine {min_cosine:.6f} < {min_cosine_limit:g}")
    return found
