"""finance-fraud: transaction fields in; probability, decision and reasons out.

The engine (exported by ``gatewise_lab.demo``) returns the probability. ``reasons`` and the
``explanation`` come from Shapley values per field (``fraud_explainer``), which the gateway
computes only for requests that get one of them: a client that asks for
``fraud_probability`` and ``decision`` alone pays for one row.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from gatewise.plugins.common.parameters import fraction
from gatewise.plugins.context import BatchContext, ModelContext, Signature, Tensors
from gatewise.plugins.explainer import EXPLANATION_OUTPUT, Explainer
from gatewise.plugins.finance import fraud_explainer
from gatewise.plugins.finance.fraud_features import FIELDS, encode_columns, encode_rows, typed_columns
from gatewise.protos.tensors import TensorSpec

TASK = "transaction-fraud"
JSON_INPUT = "transaction"
DEFAULT_THRESHOLD = 0.5
OUTPUTS = (
    TensorSpec(name="fraud_probability", datatype="FP32", shape=(-1,)),
    TensorSpec(name="decision", datatype="BYTES", shape=(-1,)),
    TensorSpec(name="reasons", datatype="BYTES", shape=(-1,)),
    EXPLANATION_OUTPUT,
)


def input_format(model: ModelContext) -> str:
    """``tensors`` (one typed tensor per field) or ``json`` (one object per row in ``transaction``)."""
    chosen = str(model.parameters.get("input_format", "tensors"))
    if chosen not in ("tensors", "json"):
        raise RuntimeError(f"model {model.name!r}: parameters.input_format must be 'tensors' or 'json', got {chosen!r}")
    return chosen


def signature(model: ModelContext) -> Signature:
    if input_format(model) == "json":
        inputs = (TensorSpec(name=JSON_INPUT, datatype="BYTES", shape=(-1,)),)
    else:
        inputs = tuple(TensorSpec(name=name, datatype=datatype, shape=(-1,)) for name, datatype in FIELDS.items())
    return Signature(inputs=inputs, outputs=OUTPUTS, derived=("reasons",))


def rows_of(inputs: Tensors) -> list[dict[str, Any]]:
    """Transactions as dicts, from a JSON ``transaction`` tensor or from one tensor per field."""
    if JSON_INPUT in inputs:
        rows = []
        for index, value in enumerate(inputs[JSON_INPUT].reshape(-1)):
            try:
                row = json.loads(value)
            except (ValueError, UnicodeDecodeError):
                raise ValueError(f"input 'transaction' row {index} is not a JSON object") from None
            if not isinstance(row, dict):
                raise ValueError(f"input 'transaction' row {index} is not a JSON object")
            rows.append(row)
        return rows
    columns = {name: inputs[name].reshape(-1).tolist() for name in FIELDS if name in inputs}
    count = len(next(iter(inputs.values())))
    return [{name: values[index] for name, values in columns.items()} for index in range(count)]


ORDINARY_TRANSACTION = {
    "amount": 42.5,
    "currency": "EUR",
    "merchant_category": "grocery",
    "hour": 12,
    "country_mismatch": False,
    "card_present": True,
    "transactions_last_24h": 1,
    "account_age_days": 800,
    "distance_from_home_km": 3.0,
}
"""A typical card purchase: what warm-up runs, and a baseline for tests."""


def warmup(model: ModelContext) -> Tensors:
    row = ORDINARY_TRANSACTION
    if input_format(model) == "json":
        return {JSON_INPUT: np.array([json.dumps(row).encode()] * 2, dtype=object)}
    return typed_columns([row, row])


def preprocess(model: ModelContext, inputs: Tensors, batch: BatchContext) -> Tensors:
    features = encode_columns(inputs) if JSON_INPUT not in inputs else None
    if features is None:
        features = encode_rows(rows_of(inputs))
    return {model.engine_inputs[0].name: features}


def postprocess(model: ModelContext, outputs: Tensors, batch: BatchContext) -> Tensors:
    probability = np.asarray(outputs["fraud_probability"], dtype=np.float32).reshape(-1)
    default = float(model.parameters.get("threshold", DEFAULT_THRESHOLD))
    thresholds = [fraction("threshold", value) for value in batch.parameter("threshold", default)]
    decisions = [b"decline" if p >= t else b"approve" for p, t in zip(probability, thresholds, strict=True)]
    return {"fraud_probability": probability, "decision": np.array(decisions, dtype=object)}


def explainer(model: ModelContext, inputs: Tensors, outputs: Tensors, parameters: dict[str, Any]) -> Explainer:
    label = parameters.get("explain_label")
    if label not in (None, "", "fraud"):
        raise ValueError(f"parameter 'explain_label' is {label!r}; finance-fraud explains only 'fraud'")
    return fraud_explainer.explainer(model, rows_of(inputs)[0], JSON_INPUT if JSON_INPUT in inputs else None)
