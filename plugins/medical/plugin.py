"""Built-in plugin ``medical``: de-identify, then extract clinical entities (task token-classification).

Entities come back with offsets into the text the client sent; the ``redactions`` output
lists what was removed before the model saw the text; entities below
``parameters.min_confidence`` are labelled ``uncertain``.
"""

from __future__ import annotations

import json
import logging

import numpy as np
from gatewise.plugins.common.abstention import confidence_floors
from gatewise.plugins.common.deid import deidentify
from gatewise.plugins.common.masking import redactions_tensor
from gatewise.plugins.context import BatchContext, ModelContext, Signature, Tensors
from gatewise.plugins.hookspecs import hookimpl
from gatewise.plugins.medical.entities import entities_of_row
from gatewise.plugins.text.classification import labels_of, softmax
from gatewise.plugins.text.encoding import TEXT_INPUT, decode_texts, load_tokenizer, tokenize_batch, warmup_texts
from gatewise.protos.tensors import TensorSpec

log = logging.getLogger("gatewise.plugins.medical")
DEFAULT_MIN_CONFIDENCE = 0.5
OUTPUTS = (
    TensorSpec(name="entities", datatype="BYTES", shape=(-1,)),
    TensorSpec(name="redactions", datatype="BYTES", shape=(-1,)),
)


@hookimpl
def gatewise_model_load(model: ModelContext) -> None:
    if (model.config.task or "token-classification") != "token-classification":
        raise RuntimeError(
            f"plugin 'medical' serves task token-classification; model {model.name!r} has {model.config.task!r}"
        )
    model.state["tokenizer"] = load_tokenizer(model)


@hookimpl
def gatewise_model_signature(model: ModelContext) -> Signature:
    return Signature(inputs=(TEXT_INPUT,), outputs=OUTPUTS)


@hookimpl
def gatewise_warmup_inputs(model: ModelContext) -> Tensors:
    return warmup_texts()


@hookimpl
def gatewise_preprocess(model: ModelContext, inputs: Tensors, batch: BatchContext) -> Tensors:
    masked = [deidentify(text) for text in decode_texts(inputs)]
    # NOTE: counts only; identifiers must never reach a log line.
    log.debug("de-identified %d span(s) in %d row(s)", sum(len(item.spans) for item in masked), len(masked))
    tokens = tokenize_batch(model, {"text": np.array([item.text.encode() for item in masked], dtype=object)}, batch)
    batch.state["masked"] = masked
    batch.state["offsets"] = [list(encoding.offsets) for encoding in tokens.encodings]
    batch.state["word_ids"] = [list(encoding.word_ids) for encoding in tokens.encodings]
    return tokens.tensors


@hookimpl
def gatewise_postprocess(model: ModelContext, outputs: Tensors, batch: BatchContext) -> Tensors:
    logits = outputs.get("logits", next(iter(outputs.values())))
    probabilities = softmax(logits.astype(np.float32, copy=False))
    labels = labels_of(model, logits.shape[-1])
    floors = confidence_floors(model, batch, DEFAULT_MIN_CONFIDENCE)
    rows = []
    state = zip(batch.state["masked"], batch.state["offsets"], batch.state["word_ids"], strict=True)
    for row, (masked, offsets, word_ids) in enumerate(state):
        found = entities_of_row(probabilities[row, : len(offsets)], offsets, word_ids, labels, masked, floors[row])
        rows.append(json.dumps([entity.as_json() for entity in found]).encode())
    return {"entities": np.array(rows, dtype=object), "redactions": redactions_tensor(batch.state["masked"])}
