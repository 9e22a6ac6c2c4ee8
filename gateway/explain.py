"""Explanations at serving time: Shapley values for one row, its coalitions batched with live traffic.

A client asks with the output ``explanation`` or the parameter ``explain = true``. After the
row was inferred, the model's plugin (``gatewise_explainer``) says what to weigh and how to
perturb; ``plugins.explain`` picks the coalitions within ``explain_samples``; the perturbed
rows go through the model's own batcher as background rows (``ServedModel.run_rows``), so
they share batches and the engine with ordinary requests without delaying them; and the
weights come back as one JSON document per row. Everything outside the plugin's ``perturb``
and ``value`` sees only unit indices, so nothing of the client's text is logged here.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from gatewise.plugins.explain import EXPLANATION_OUTPUT, Explainer, conclude, perturbation
from gatewise.protos.errors import InvalidInput

if TYPE_CHECKING:
    from gatewise.gateway.model import ServedModel
    from gatewise.plugins.context import Tensors

OUTPUT = EXPLANATION_OUTPUT.name
DEFAULT_SAMPLES = 256
"""Coalitions per explained row when neither the request nor config.toml's ``[parameters]`` says."""


@dataclass(frozen=True)
class Options:
    """How one request wants its rows explained."""

    samples: int
    """Coalitions to evaluate per row besides nothing-kept and everything-kept."""
    seed: int


def can_explain(model: ServedModel) -> bool:
    return any(spec.name == OUTPUT for spec in model.signature.outputs)


def wanted(model: ServedModel, requested: list[str], parameters: dict[str, Any]) -> bool:
    """Whether this request needs explanations; InvalidInput when it asks a model that cannot explain."""
    flag = parameters.get("explain", False)
    if not isinstance(flag, bool) and str(flag).lower() not in ("true", "false"):
        raise InvalidInput(f"parameter 'explain' must be true or false, got {flag!r}")
    asked = flag is True or str(flag).lower() == "true" or OUTPUT in requested
    if asked and not can_explain(model):
        raise InvalidInput(
            f"parameter 'explain': explanations are not supported by model {model.name!r} "
            f"(task {model.config.task or '(none)'!r}, plugin {model.config.plugin or '(none)'!r}: "
            f"its signature has no {OUTPUT!r} output)"
        )
    return asked


def options(model: ServedModel, parameters: dict[str, Any], max_samples: int) -> Options:
    """``explain_samples`` and ``explain_seed``, checked; InvalidInput names the parameter at fault."""
    default = model.config.parameters.get("explain_samples", DEFAULT_SAMPLES)
    samples = _integer(parameters.get("explain_samples", default), "explain_samples")
    if not 1 <= samples <= max_samples:
        raise InvalidInput(
            f"parameter 'explain_samples' must be between 1 and {max_samples} (the server's --max-explain-samples), "
            f"got {samples}"
        )
    seed = _integer(parameters.get("explain_seed", 0), "explain_seed")
    if seed < 0:
        raise InvalidInput(f"parameter 'explain_seed' must be 0 or more, got {seed}")
    return Options(samples, seed)


async def explain(
    model: ServedModel,
    inputs: Tensors,
    outputs: Tensors,
    rows: int,
    parameters: dict[str, Any],
    chosen: Options,
    deadline: float | None,
) -> Tensors:
    """The ``explanation`` output for every row, plus the outputs the plugin derives from it (``Explainer.derive``)."""
    answers = await asyncio.gather(
        *(
            _explain_row(model, _row(inputs, row), _row(outputs, row), parameters, chosen, deadline)
            for row in range(rows)
        )
    )
    documents = [document for document, _ in answers]
    result: Tensors = {OUTPUT: np.array([json.dumps(doc).encode() for doc in documents], dtype=object)}
    for name in answers[0][1] if answers else {}:
        result[name] = np.array([derived[name] for _, derived in answers], dtype=object)
    return result


async def _explain_row(
    model: ServedModel,
    inputs: Tensors,
    outputs: Tensors,
    parameters: dict[str, Any],
    chosen: Options,
    deadline: float | None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    if model.hooks is None:
        raise InvalidInput(f"model {model.name!r} cannot explain: it has no plugin")
    hooks = model.hooks
    explainer: Explainer | None = await asyncio.to_thread(hooks.explainer, model.context, inputs, outputs, parameters)
    if explainer is None:
        raise InvalidInput(f"parameter 'explain': model {model.name!r} cannot explain this input")
    perturbed = await asyncio.to_thread(perturbation, explainer, parameters, chosen.samples, chosen.seed)
    produced = await model.run_rows(perturbed.inputs, perturbed.rows, perturbed.parameters, deadline)
    return await asyncio.to_thread(conclude, explainer, perturbed, produced, chosen.seed)


def _row(tensors: Tensors, row: int) -> Tensors:
    return {name: array[row : row + 1] for name, array in tensors.items()}


def _integer(value: Any, name: str) -> int:
    if isinstance(value, bool):
        raise InvalidInput(f"parameter {name!r} must be an integer, got {value!r}")
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"parameter {name!r} must be an integer, got {value!r}") from None
    if isinstance(value, float) and number != value:
        raise InvalidInput(f"parameter {name!r} must be an integer, got {value!r}")
    return number
