"""Built-in plugin ``text-classification``: text in; label, score and scores out."""

from __future__ import annotations

from typing import Any

import numpy as np
from gatewise.plugins.common.masking import mask
from gatewise.plugins.common.words import classifier_explainer
from gatewise.plugins.context import BatchContext, ModelContext, Signature, Tensors
from gatewise.plugins.explainer import EXPLANATION_OUTPUT, Explainer
from gatewise.plugins.hookspecs import hookimpl
from gatewise.plugins.text.encoding import TEXT_INPUT, decode_texts, seen_length, tokenize_batch
from gatewise.plugins.text.hooks import gatewise_model_load, gatewise_warmup_inputs  # noqa: F401 - registered hooks
from gatewise.protos.tensors import TensorSpec


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax, stable for large logits."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


def labels_of(model: ModelContext, count: int) -> list[str]:
    """Labels from config.toml, or ``LABEL_i`` where the config names none."""
    labels = list(model.config.labels)
    if labels and len(labels) != count:
        raise RuntimeError(f"model {model.name!r} has {len(labels)} labels in config.toml but {count} outputs")
    return labels or [f"LABEL_{index}" for index in range(count)]


def classification_outputs(model: ModelContext, logits: np.ndarray) -> Tensors:
    """``label``, ``score`` and ``scores`` for a batch of logits."""
    probabilities = softmax(logits.astype(np.float32, copy=False))
    best = probabilities.argmax(axis=-1)
    labels = np.array([name.encode() for name in labels_of(model, logits.shape[-1])], dtype=object)
    return {
        "label": labels[best],
        "score": probabilities[np.arange(len(best)), best].astype(np.float32),
        "scores": probabilities.astype(np.float32),
    }


def classification_signature(model: ModelContext) -> Signature:
    num_labels = len(model.config.labels) or model.engine_outputs[0].shape[-1]
    return Signature(
        inputs=(TEXT_INPUT,),
        outputs=(
            TensorSpec(name="label", datatype="BYTES", shape=(-1,)),
            TensorSpec(name="score", datatype="FP32", shape=(-1,)),
            TensorSpec(name="scores", datatype="FP32", shape=(-1, num_labels)),
            EXPLANATION_OUTPUT,
        ),
    )


def explain_words(model: ModelContext, inputs: Tensors, outputs: Tensors, parameters: dict[str, Any]) -> Explainer:
    """A text classifier's explainer for a model that sees the client's text unredacted."""
    scores = outputs["scores"][0]
    text = mask(decode_texts(inputs)[0], ())
    seen = seen_length(model.state["tokenizer"], text.text)
    return classifier_explainer(text, scores, labels_of(model, len(scores)), parameters, seen)


@hookimpl
def gatewise_model_signature(model: ModelContext) -> Signature:
    return classification_signature(model)


@hookimpl
def gatewise_preprocess(model: ModelContext, inputs: Tensors, batch: BatchContext) -> Tensors:
    return tokenize_batch(model, inputs, batch).tensors


@hookimpl
def gatewise_postprocess(model: ModelContext, outputs: Tensors, batch: BatchContext) -> Tensors:
    logits = outputs.get("logits", next(iter(outputs.values())))
    return classification_outputs(model, logits)


@hookimpl
def gatewise_explainer(model: ModelContext, inputs: Tensors, outputs: Tensors, parameters: dict[str, Any]) -> Explainer:
    return explain_words(model, inputs, outputs, parameters)
