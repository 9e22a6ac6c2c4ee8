"""finance-fraud's explanation: Shapley values per transaction field, against a background set.

A coalition keeps some fields of the transaction and takes the others from each row of the
background (``assets/background.jsonl``: ordinary transactions the build sampled from the
training data), so the value of a coalition is the mean log-odds of fraud over the background
(interventional Shapley values). With nine fields, 510 coalitions give the exact values; the
weights add up to the transaction's log-odds minus the background's mean log-odds. Log-odds,
not probability, so that a saturated 0.999 still says what drove it. ``reasons`` are the
fields with the largest positive weights.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import numpy as np
from gatewise.plugins.common.tabular import feature_explainer, plain
from gatewise.plugins.context import ModelContext, Tensors
from gatewise.plugins.explainer import Explainer
from gatewise.plugins.finance.fraud_features import FIELDS, encode_rows, typed_columns

log = logging.getLogger("gatewise.plugins.finance")

BACKGROUND_FILE = "background.jsonl"
DEFAULT_MAX_REASONS = 3
MIN_CONTRIBUTION = 0.1
"""Log-odds a field must add to the score to count as a reason."""


def load_background(model: ModelContext, fallback: dict[str, Any]) -> list[dict[str, Any]]:
    """The background transactions; ``[fallback]`` (one typical transaction) for an entry that ships none."""
    path = model.assets / str(model.parameters.get("background", BACKGROUND_FILE))
    if not path.is_file():
        log.warning("model %r has no %s: explanations compare with one typical transaction", model.name, path.name)
        return [fallback]
    with path.open(encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle if line.strip()]
    if not rows:
        raise RuntimeError(f"model {model.name!r}: {path} holds no transactions")
    encode_rows(rows)  # refuses a bad background at load, naming its row and field
    return [{name: row[name] for name in FIELDS} for row in rows]


def explainer(model: ModelContext, row: dict[str, Any], json_input: str | None) -> Explainer:
    """The explainer of one transaction; ``json_input`` names the BYTES input when rows travel as JSON."""
    background: list[dict[str, Any]] = model.state["background"]
    limit = int(model.parameters.get("max_reasons", DEFAULT_MAX_REASONS))

    def as_json(columns: Tensors) -> Tensors:
        rows = ({name: plain(columns[name][i]) for name in FIELDS} for i in range(len(columns["amount"])))
        return {str(json_input): np.array([json.dumps(item).encode() for item in rows], dtype=object)}

    def derive(weights: list[float]) -> dict[str, Any]:
        return {"reasons": json.dumps(top_reasons(np.asarray(weights), limit)).encode()}

    return feature_explainer(
        typed_columns([row]),
        typed_columns(background),
        label="fraud",
        target="log-odds of fraud",
        value=lambda outputs: _log_odds(np.asarray(outputs["fraud_probability"], dtype=np.float64)),
        to_inputs=as_json if json_input is not None else None,
        derive=derive,
    )


def top_reasons(weights: np.ndarray, limit: int) -> list[dict[str, Any]]:
    """The fields that raised the log-odds most, largest first."""
    order = np.argsort(-weights, kind="stable")
    names = list(FIELDS)
    return [
        {"feature": names[index], "contribution": round(float(weights[index]), 4)}
        for index in order[:limit]
        if weights[index] >= MIN_CONTRIBUTION
    ]


def _log_odds(probability: np.ndarray) -> np.ndarray:
    clipped = np.clip(probability, 1e-7, 1 - 1e-7)
    return np.log(clipped / (1 - clipped))
