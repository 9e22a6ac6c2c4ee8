"""Abstention: below a confidence floor the answer is ``uncertain``, never a guess.

The floor comes from config.toml (``parameters.min_confidence``) and a request may raise
or lower it with the request parameter of the same name.
"""

from __future__ import annotations

import numpy as np
from gatewise.plugins.common.parameters import fraction
from gatewise.plugins.context import BatchContext, ModelContext

UNCERTAIN = "uncertain"
PARAMETER = "min_confidence"


def confidence_floors(model: ModelContext, batch: BatchContext, default: float = 0.0) -> list[float]:
    """The floor for every row: the request's ``min_confidence``, else the model's."""
    configured = float(model.parameters.get(PARAMETER, default))
    floors = []
    for value in batch.parameter(PARAMETER, configured):
        floors.append(fraction(PARAMETER, value))
    return floors


def abstain_labels(labels: np.ndarray, scores: np.ndarray, floors: list[float]) -> np.ndarray:
    """``labels`` with ``uncertain`` wherever the score is below that row's floor."""
    result = labels.copy()
    for row, (score, floor) in enumerate(zip(scores, floors, strict=True)):
        if float(score) < floor:
            result[row] = UNCERTAIN.encode()
    return result
