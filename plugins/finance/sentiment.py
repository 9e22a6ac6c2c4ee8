"""finance-sentiment: identifiers masked before tokenising, classification after."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from gatewise.plugins.common.abstention import abstain_labels, confidence_floors
from gatewise.plugins.common.finance_detectors import find_financial_identifiers
from gatewise.plugins.common.masking import MaskedText, mask, redactions_tensor
from gatewise.plugins.common.words import classifier_explainer
from gatewise.plugins.context import BatchContext, ModelContext, Signature, Tensors
from gatewise.plugins.explainer import Explainer
from gatewise.plugins.text.classification import classification_outputs, classification_signature, labels_of
from gatewise.plugins.text.encoding import decode_texts, seen_length, tokenize_batch
from gatewise.protos.tensors import TensorSpec

log = logging.getLogger("gatewise.plugins.finance")
REDACTIONS = TensorSpec(name="redactions", datatype="BYTES", shape=(-1,))


def masked_texts(inputs: Tensors) -> list[MaskedText]:
    """Every row of ``text`` with cards, IBANs and account numbers replaced by placeholders."""
    return [mask(text, find_financial_identifiers(text)) for text in decode_texts(inputs)]


def signature(model: ModelContext) -> Signature:
    base = classification_signature(model)
    return Signature(inputs=base.inputs, outputs=base.outputs + (REDACTIONS,))


def preprocess(model: ModelContext, inputs: Tensors, batch: BatchContext) -> Tensors:
    masked = masked_texts(inputs)
    batch.state["masked"] = masked
    # NOTE: counts only; the identifiers themselves must never reach a log line.
    log.debug("masked %d identifier(s) in %d row(s)", sum(len(item.spans) for item in masked), len(masked))
    safe = {"text": np.array([item.text.encode() for item in masked], dtype=object)}
    return tokenize_batch(model, safe, batch).tensors


def postprocess(model: ModelContext, outputs: Tensors, batch: BatchContext) -> Tensors:
    logits = outputs.get("logits", next(iter(outputs.values())))
    result = classification_outputs(model, logits)
    result["label"] = abstain_labels(result["label"], result["score"], confidence_floors(model, batch))
    result["redactions"] = redactions_tensor(batch.state["masked"])
    return result


def explainer(model: ModelContext, inputs: Tensors, outputs: Tensors, parameters: dict[str, Any]) -> Explainer:
    """Words of the redacted text: a card number is one unit, ``[CARD]``, never its digits."""
    scores = outputs["scores"][0]
    masked = masked_texts(inputs)[0]
    seen = seen_length(model.state["tokenizer"], masked.text)
    return classifier_explainer(masked, scores, labels_of(model, len(scores)), parameters, seen)
