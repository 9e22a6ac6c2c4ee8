"""What a plugin hands the gateway so that it can explain one row: units, perturbation, value.

The gateway owns the estimator (``plugins.shapley``) and the batching; a plugin only says
what the explanation weighs (``Unit``: a word of the text the model saw, or a feature),
how to build the model's public inputs for a coalition of kept units (``perturb``), and
which number of the model's public outputs is being explained (``value``). Perturbed rows
then run through the model's own batcher and engine like any other rows.

Privacy rule for text: units come from the text *after* redaction, and a masked span is
one unit whose ``text`` is its tag (``[CARD]``), so an explanation can only repeat what the
model itself was shown.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from gatewise.plugins import shapley
from gatewise.plugins.context import Tensors
from gatewise.protos.tensors import TensorSpec

EXPLANATION_OUTPUT = TensorSpec(name="explanation", datatype="BYTES", shape=(-1,))
"""Declare it among a signature's outputs to tell clients (and the gateway) that the model explains."""
PARAMETERS = ("explain", "explain_label", "explain_samples", "explain_seed")
"""Request parameters that steer the explanation; perturbed rows run without them."""


@dataclass(frozen=True)
class Unit:
    """One thing an explanation weighs.

    A word: ``text`` with ``start``/``end`` offsets into the client's original string. A
    feature: ``feature`` and the row's ``value`` for it (JSON-serialisable).
    """

    text: str | None = None
    start: int | None = None
    end: int | None = None
    feature: str | None = None
    value: Any = None

    def as_json(self, weight: float) -> dict[str, Any]:
        if self.feature is not None:
            return {"feature": self.feature, "value": self.value, "weight": weight}
        return {"text": self.text, "start": self.start, "end": self.end, "weight": weight}


@dataclass
class Explainer:
    """How to explain one row of one request (returned by ``gatewise_explainer``).

    ``perturb(keep)`` receives a ``[coalitions, units]`` bool matrix (True: the unit is
    present) and returns the model's public inputs for ``coalitions * repeats`` rows, the
    ``repeats`` rows of a coalition next to each other (tabular models fill absent features
    from each of ``repeats`` background rows). ``value(outputs)`` maps the model's public
    outputs for those rows to one number per row; the gateway averages each coalition's
    rows with ``background_weights`` (uniform when None).
    """

    label: str
    """What is explained: the class label, or for search the top result's id."""
    target: str
    """The number explained, in words: ``probability of 'negative'``, ``log-odds of fraud``."""
    units: list[Unit]
    perturb: Callable[[np.ndarray], Tensors]
    value: Callable[[Tensors], np.ndarray]
    repeats: int = 1
    background_weights: np.ndarray | None = None
    derive: Callable[[list[float]], dict[str, Any]] = field(default=lambda weights: {})
    """Per-row values of other outputs built from the unit weights (finance-fraud's ``reasons``)."""


@dataclass(frozen=True)
class Perturbation:
    """One row's coalitions and the model inputs that evaluate them: ``rows`` rows to run as ordinary rows."""

    coalitions: shapley.Plan
    inputs: Tensors
    rows: int
    parameters: dict[str, Any]
    """The request's parameters without the explanation's own (``PARAMETERS``), for the perturbed rows."""


def perturbation(explainer: Explainer, parameters: dict[str, Any], samples: int, seed: int) -> Perturbation:
    """The coalitions to evaluate within ``samples`` (``shapley.plan``) and the inputs that evaluate them."""
    coalitions = shapley.plan(len(explainer.units), samples, seed)
    plain = {key: value for key, value in parameters.items() if key not in PARAMETERS}
    inputs = explainer.perturb(coalitions.masks)
    return Perturbation(coalitions, inputs, len(coalitions.masks) * explainer.repeats, plain)


def conclude(
    explainer: Explainer, perturbed: Perturbation, outputs: Tensors, seed: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    """From the outputs of the perturbed rows: (the row's ``explanation`` document, the outputs derived from it)."""
    values = _coalition_values(explainer, outputs, len(perturbed.coalitions.masks))
    answer = _document(explainer, perturbed.coalitions, values, seed)
    return answer, explainer.derive([item["weight"] for item in answer["attributions"]])


def _coalition_values(explainer: Explainer, outputs: Tensors, coalitions: int) -> np.ndarray:
    """One number per coalition: the explained value, averaged over the coalition's ``repeats`` rows."""
    values = np.asarray(explainer.value(outputs), dtype=np.float64).reshape(-1)
    if values.shape[0] != coalitions * explainer.repeats:
        raise RuntimeError(
            f"explainer value() returned {values.shape[0]} numbers for {coalitions * explainer.repeats} perturbed rows"
        )
    per_row = values.reshape(coalitions, explainer.repeats)
    if explainer.background_weights is None:
        return per_row.mean(axis=1)
    weights = np.asarray(explainer.background_weights, dtype=np.float64)
    return per_row @ (weights / weights.sum())


def _document(explainer: Explainer, coalitions: shapley.Plan, values: np.ndarray, seed: int) -> dict[str, Any]:
    """The ``explanation`` JSON of one row, from its coalitions' values."""
    weights = shapley.solve(coalitions, values)
    return {
        "label": explainer.label,
        "target": explainer.target,
        "method": coalitions.method,
        "samples": len(coalitions.masks),
        "seed": seed,
        "base_value": float(values[shapley.EMPTY]),
        "value": float(values[shapley.FULL]),
        "attributions": [unit.as_json(float(weight)) for unit, weight in zip(explainer.units, weights, strict=True)],
    }


def explain_label(parameters: dict[str, Any], labels: list[str], predicted: int) -> int:
    """The label index to explain: the request's ``explain_label`` when set, else ``predicted``."""
    wanted = parameters.get("explain_label")
    if wanted is None or wanted == "":
        return predicted
    if str(wanted) not in labels:
        raise ValueError(f"parameter 'explain_label' is {wanted!r}; this model's labels are {labels}")
    return labels.index(str(wanted))
