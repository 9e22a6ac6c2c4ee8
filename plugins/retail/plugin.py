"""Built-in plugin ``retail``: retail-sentiment (task text-classification) and retail-search
(task feature-extraction, a catalog in the model's assets); config.toml's ``task`` picks which."""

from __future__ import annotations

from typing import Any

from gatewise.plugins.common.abstention import abstain_labels, confidence_floors
from gatewise.plugins.context import BatchContext, ModelContext, Signature, Tensors
from gatewise.plugins.explainer import Explainer
from gatewise.plugins.hookspecs import hookimpl
from gatewise.plugins.retail import search
from gatewise.plugins.text.classification import classification_outputs, classification_signature, explain_words
from gatewise.plugins.text.encoding import load_tokenizer, tokenize_batch, warmup_texts

TASKS = ("text-classification", search.TASK)


def _is_search(model: ModelContext) -> bool:
    task = model.config.task or "text-classification"
    if task not in TASKS:
        raise RuntimeError(f"plugin 'retail' serves tasks {list(TASKS)}; model {model.name!r} has task {task!r}")
    return task == search.TASK


@hookimpl
def gatewise_model_load(model: ModelContext) -> None:
    model.state["tokenizer"] = load_tokenizer(model)
    if _is_search(model):
        search.load_catalog(model)


@hookimpl
def gatewise_model_signature(model: ModelContext) -> Signature:
    return search.signature(model) if _is_search(model) else classification_signature(model)


@hookimpl
def gatewise_warmup_inputs(model: ModelContext) -> Tensors:
    return warmup_texts()


@hookimpl
def gatewise_preprocess(model: ModelContext, inputs: Tensors, batch: BatchContext) -> Tensors:
    if _is_search(model):
        return search.preprocess(model, inputs, batch)
    return tokenize_batch(model, inputs, batch).tensors


@hookimpl
def gatewise_postprocess(model: ModelContext, outputs: Tensors, batch: BatchContext) -> Tensors:
    if _is_search(model):
        return search.postprocess(model, outputs, batch)
    result = classification_outputs(model, outputs.get("logits", next(iter(outputs.values()))))
    result["label"] = abstain_labels(result["label"], result["score"], confidence_floors(model, batch))
    return result


@hookimpl
def gatewise_explainer(model: ModelContext, inputs: Tensors, outputs: Tensors, parameters: dict[str, Any]) -> Explainer:
    if _is_search(model):
        return search.explainer(model, inputs, outputs, parameters)
    return explain_words(model, inputs, outputs, parameters)
