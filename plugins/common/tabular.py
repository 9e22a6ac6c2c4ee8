"""Explanation units for tabular models: one unit per feature, absent features taken from a background set.

A plugin that declares its features (one public input per feature, or columns it can build
its inputs from) explains a row with ``feature_explainer``: a coalition keeps some of the
row's features and takes the others from each background row, and the gateway averages the
explained value over the background (interventional Shapley values). Each coalition costs
``len(background)`` rows, so keep the background small (a few to a few dozen rows).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from gatewise.plugins.context import Tensors
from gatewise.plugins.explainer import Explainer, Unit


def feature_explainer(
    row: Tensors,
    background: Tensors,
    *,
    label: str,
    target: str,
    value: Callable[[Tensors], np.ndarray],
    to_inputs: Callable[[Tensors], Tensors] | None = None,
    derive: Callable[[list[float]], dict[str, Any]] | None = None,
) -> Explainer:
    """Explain one row given as ``row`` (one column per feature, one row each) against ``background``
    (the same columns, one row per background row).

    ``to_inputs`` turns perturbed feature columns into the model's public inputs when they are
    not the same (a JSON input, say); ``value`` maps the model's public outputs to the number
    explained, ``derive`` builds other outputs from the weights (as ``Explainer.derive``).
    """
    names = list(row)
    missing = [name for name in names if name not in background]
    if missing:
        raise ValueError(f"the background has no column(s) {missing}")
    size = len(next(iter(background.values())))

    def perturb(keep: np.ndarray) -> Tensors:
        # Row (coalition c, background b) sits at c * size + b.
        kept = np.repeat(keep, size, axis=0)
        columns = {
            name: np.where(kept[:, index], row[name][0], np.tile(background[name], len(keep)))
            for index, name in enumerate(names)
        }
        return to_inputs(columns) if to_inputs is not None else columns

    return Explainer(
        label=label,
        target=target,
        units=[Unit(feature=name, value=plain(row[name][0])) for name in names],
        perturb=perturb,
        value=value,
        repeats=size,
        derive=derive or (lambda weights: {}),
    )


def plain(value: Any) -> Any:
    """A tensor element as a JSON value: bytes as text, numpy scalars as Python numbers."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value.item() if isinstance(value, np.generic) else value
