"""Built-in plugin ``finance``: finance-sentiment (task text-classification) and finance-fraud
(task transaction-fraud); config.toml's ``task`` picks which."""

from __future__ import annotations

from types import ModuleType
from typing import Any

from gatewise.plugins.context import BatchContext, ModelContext, Signature, Tensors
from gatewise.plugins.explainer import Explainer
from gatewise.plugins.finance import fraud, fraud_explainer, sentiment
from gatewise.plugins.hookspecs import hookimpl
from gatewise.plugins.text.encoding import load_tokenizer, warmup_texts

TASKS: dict[str, ModuleType] = {"text-classification": sentiment, fraud.TASK: fraud}


def _task(model: ModelContext) -> ModuleType:
    try:
        return TASKS[model.config.task or "text-classification"]
    except KeyError:
        raise RuntimeError(
            f"plugin 'finance' serves tasks {sorted(TASKS)}; model {model.name!r} has task {model.config.task!r}"
        ) from None


@hookimpl
def gatewise_model_load(model: ModelContext) -> None:
    if _task(model) is sentiment:
        model.state["tokenizer"] = load_tokenizer(model)
    else:
        fraud.input_format(model)
        model.state["background"] = fraud_explainer.load_background(model, fraud.ORDINARY_TRANSACTION)


@hookimpl
def gatewise_model_signature(model: ModelContext) -> Signature:
    return _task(model).signature(model)


@hookimpl
def gatewise_warmup_inputs(model: ModelContext) -> Tensors:
    return fraud.warmup(model) if _task(model) is fraud else warmup_texts()


@hookimpl
def gatewise_preprocess(model: ModelContext, inputs: Tensors, batch: BatchContext) -> Tensors:
    return _task(model).preprocess(model, inputs, batch)


@hookimpl
def gatewise_postprocess(model: ModelContext, outputs: Tensors, batch: BatchContext) -> Tensors:
    return _task(model).postprocess(model, outputs, batch)


@hookimpl
def gatewise_explainer(model: ModelContext, inputs: Tensors, outputs: Tensors, parameters: dict[str, Any]) -> Explainer:
    return _task(model).explainer(model, inputs, outputs, parameters)
