"""Explanations at serving time: Shapley values for one row, its coalitions batched with live traffic.

Opt-in, and listing outputs is not opting in: ``explanation`` and the outputs a plugin
derives from it (finance-fraud's ``reasons``) are *on-request* outputs. ModelMetadata and
ModelConfig do not list them among the model's tensors (ModelConfig names them in its
``explanation_outputs`` parameter), default responses never hold them, and a client gets
them only by naming them as requested outputs or with the parameter ``explain = true``. So
a client that requests every listed output (perf_analyzer, a generic OIP client) pays for
one model call per row, never for an explanation (``outputs_for``).

After the row was inferred, the model's plugin (``gatewise_explainer``) says what to weigh
and how to perturb; ``plugins.explainer`` picks the coalitions within ``explain_samples``; the
perturbed rows go through the model's own batcher as background rows
(``ServedModel.run_rows``), so they share batches and the engine with ordinary requests
without delaying them; and the weights come back as one JSON document per row.

Budget: a request's explained rows x ``explain_samples`` is capped before anything runs
(``options``), each row's units are capped as soon as the plugin named them, and a row
takes its turn (``ServedModel.explanation_turn``) before its plugin hook runs, so no
perturbed row is built while the model's explanations are all busy. Everything outside the
plugin's ``perturb`` and ``value`` sees only unit indices, so nothing of the client's text
is logged here.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from gatewise.plugins.explainer import EXPLANATION_OUTPUT, Explainer, conclude, perturbation
from gatewise.protos.errors import InvalidInput
from gatewise.protos.quoting import clip
from gatewise.protos.tensors import TensorSpec

if TYPE_CHECKING:
    from gatewise.gateway.model import ServedModel
    from gatewise.gateway.settings import ServerSettings
    from gatewise.plugins.context import Tensors

OUTPUT = EXPLANATION_OUTPUT.name
DEFAULT_SAMPLES = 256
"""Coalitions per explained row when neither the request nor config.toml's ``[parameters]`` says."""


@dataclass(frozen=True)
class Options:
    """How one request wants its rows explained, and the server's cap on units per row."""

    samples: int
    """Coalitions to evaluate per row besides nothing-kept and everything-kept."""
    seed: int
    max_units: int
    """The server's ``--max-explain-units``: a row that weighs more is refused."""
    max_work: int
    """The server's ``--max-explain-work``: units x coalitions one row may cost."""


def can_explain(model: ServedModel) -> bool:
    return any(spec.name == OUTPUT for spec in model.signature.outputs)


def on_request(model: ServedModel) -> tuple[str, ...]:
    """Outputs computed only when a client asks for them: ``explanation`` and those derived from it."""
    explained = (OUTPUT,) if can_explain(model) else ()
    return explained + tuple(name for name in model.signature.derived if name != OUTPUT)


def listed_outputs(model: ServedModel) -> tuple[TensorSpec, ...]:
    """The outputs ModelMetadata and ModelConfig list, and a request that names none gets: every
    public output but the on-request ones, so enumerating them costs one model call per row."""
    hidden = set(on_request(model))
    return tuple(spec for spec in model.signature.outputs if spec.name not in hidden)


def how_to_ask(model: ServedModel) -> dict[str, str]:
    """ModelConfig parameters that tell a client about the on-request outputs (empty when there are none)."""
    names = on_request(model)
    if not names:
        return {}
    return {
        "explanation_outputs": ",".join(names),
        "explanation_request": (
            "not listed among the outputs and never returned by default: name them as requested outputs, "
            "or set the request parameter explain=true (with explain_samples, explain_seed, explain_label); "
            "see docs/explanations.md"
        ),
    }


def outputs_for(model: ServedModel, named: list[str], parameters: dict[str, Any]) -> tuple[list[str], bool]:
    """(the outputs to answer with, whether the request gets an explanation).

    ``named``: the outputs the request names, in order (empty: the listed outputs). With
    ``explain = true``, ``explanation`` is added to the named ones, or every on-request
    output to the listed ones. InvalidInput names an unknown output, or an explanation asked
    of a model that cannot explain.
    """
    public = [spec.name for spec in model.signature.outputs]
    hidden = on_request(model)
    listed = [name for name in public if name not in hidden]
    unknown = [name for name in named if name not in public]
    if unknown:
        extra = f" (and, on request, {list(hidden)})" if hidden else ""
        raise InvalidInput(
            f"model {model.name!r} has no output(s) {[clip(name) for name in unknown]}; it has {listed}{extra}"
        )
    flag = _flag(parameters.get("explain", False))
    if flag and not can_explain(model):
        raise InvalidInput(
            f"parameter 'explain': explanations are not supported by model {model.name!r} "
            f"(task {model.config.task or '(none)'!r}, plugin {model.config.plugin or '(none)'!r}: "
            f"its signature has no {OUTPUT!r} output)"
        )
    if named:
        requested = list(named) + ([OUTPUT] if flag and OUTPUT not in named else [])
    else:
        requested = listed + (list(hidden) if flag else [])
    return requested, any(name in hidden for name in requested)


def options(model: ServedModel, parameters: dict[str, Any], rows: int, settings: ServerSettings) -> Options:
    """``explain_samples`` and ``explain_seed``, checked against the server's caps, before anything runs.

    InvalidInput names the parameter at fault, or the server setting a request goes past.
    """
    default = model.config.parameters.get("explain_samples", DEFAULT_SAMPLES)
    samples = _integer(parameters.get("explain_samples", default), "explain_samples")
    if not 1 <= samples <= settings.max_explain_samples:
        raise InvalidInput(
            f"parameter 'explain_samples' must be between 1 and {settings.max_explain_samples} "
            f"(the server's --max-explain-samples), got {samples}"
        )
    if rows * samples > settings.max_explain_coalitions:
        raise InvalidInput(
            f"parameter 'explain_samples': {rows} explained row(s) x {samples} samples = {rows * samples} "
            f"coalitions, over the server's --max-explain-coalitions {settings.max_explain_coalitions} per request; "
            "send fewer rows per request or lower explain_samples"
        )
    seed = _integer(parameters.get("explain_seed", 0), "explain_seed")
    if seed < 0:
        raise InvalidInput(f"parameter 'explain_seed' must be 0 or more, got {seed}")
    return Options(samples, seed, settings.max_explain_units, settings.max_explain_work)


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
    # NOTE: the turn is taken before the plugin names the units and before any perturbed row
    # is built, so waiting explanations hold nothing but their request.
    async with model.explanation_turn():
        explainer: Explainer | None = await asyncio.to_thread(
            hooks.explainer, model.context, inputs, outputs, parameters
        )
        if explainer is None:
            raise InvalidInput(f"parameter 'explain': model {model.name!r} cannot explain this input")
        if len(explainer.units) > chosen.max_units:
            raise InvalidInput(
                f"parameter 'explain': this row has {len(explainer.units)} units (words or fields) to weigh, "
                f"over the server's --max-explain-units {chosen.max_units}; send a shorter text"
            )
        check_work(len(explainer.units), chosen)
        perturbed = await asyncio.to_thread(perturbation, explainer, parameters, chosen.samples, chosen.seed)
        produced = await model.run_rows(perturbed.inputs, perturbed.rows, perturbed.parameters, deadline)
        return await asyncio.to_thread(conclude, explainer, perturbed, produced, chosen.seed)


def check_work(units: int, chosen: Options) -> None:
    """Refuse a row whose perturbed rows would cost more than ``--max-explain-work`` (units x coalitions)."""
    coalitions = max(0, min(chosen.samples, 2**units - 2))  # exact Shapley below 2**units - 2
    if units * coalitions > chosen.max_work:
        fits = chosen.max_work // max(units, 1)
        raise InvalidInput(
            f"parameter 'explain_samples': {units} units x {coalitions} coalitions = {units * coalitions}, "
            f"over the server's --max-explain-work {chosen.max_work} per row; "
            f"at most {fits} samples fit a row of {units} units"
        )


def _row(tensors: Tensors, row: int) -> Tensors:
    return {name: array[row : row + 1] for name, array in tensors.items()}


def _flag(value: Any) -> bool:
    """The ``explain`` parameter as a bool; InvalidInput for anything but true or false."""
    if isinstance(value, bool):
        return value
    if str(value).lower() not in ("true", "false"):
        raise InvalidInput(f"parameter 'explain' must be true or false, got {value!r}")
    return str(value).lower() == "true"


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
