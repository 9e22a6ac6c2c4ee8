"""The ``claims`` plugin: insurance claim texts in, a claim type out, policy numbers never seen by the model.

A text classifier (any converted checkpoint whose labels are claim types, such as auto, home
and health) behind a domain rule: a policy number (``POL-`` and 8 digits) is masked before
tokenising, as ``[POLICY_NUMBER]``, and reported in ``redactions`` by where it was, never what.
Explanations weigh the words of the masked text, the masked number as one unit.
Registered through ``[project.entry-points.gatewise] claims = "gatewise_claims.plugin"``.
"""

from __future__ import annotations

import logging
import re

import numpy as np

# Everything comes from the `gatewise` package: hooks, the text helpers, masking, abstention, the explainer.
from gatewise import (
    EXPLANATION_OUTPUT,
    TEXT_INPUT,
    MaskedText,
    Signature,
    Span,
    TensorSpec,
    abstain_labels,
    classifier_explainer,
    confidence_floors,
    decode_texts,
    hookimpl,
    load_tokenizer,
    mask,
    redactions_tensor,
    tokenize_batch,
    warmup_texts,
)

log = logging.getLogger("gatewise_claims")
POLICY_NUMBER = re.compile(r"\bPOL-\d{8}\b")
TAG = "POLICY_NUMBER"
"""The redaction type: upper-case, like the built-ins' CARD or IBAN; the model sees ``[POLICY_NUMBER]``."""


def masked_texts(inputs) -> list[MaskedText]:
    """Every ``text`` row with its policy numbers masked, and the map back to the client's offsets."""
    return [
        mask(text, [Span(found.start(), found.end(), TAG) for found in POLICY_NUMBER.finditer(text)])
        for text in decode_texts(inputs)  # InvalidInput naming the row for bytes that are not UTF-8
    ]


@hookimpl
def gatewise_model_load(model):
    if not model.config.labels:
        raise RuntimeError(f"model {model.name!r}: config.toml must list the claim types as `labels`")
    # assets/tokenizer.json, truncating at [parameters] max_length (gatewise.DEFAULT_MAX_LENGTH when unset).
    model.state["tokenizer"] = load_tokenizer(model)


@hookimpl
def gatewise_model_signature(model):
    return Signature(
        inputs=(TEXT_INPUT,),
        outputs=(
            TensorSpec(name="label", datatype="BYTES", shape=(-1,)),
            TensorSpec(name="score", datatype="FP32", shape=(-1,)),
            TensorSpec(name="scores", datatype="FP32", shape=(-1, len(model.config.labels))),
            TensorSpec(name="redactions", datatype="BYTES", shape=(-1,)),
            EXPLANATION_OUTPUT,
        ),
    )


@hookimpl
def gatewise_warmup_inputs():
    return warmup_texts()  # two texts of different lengths: padding is warmed up too


@hookimpl
def gatewise_preprocess(model, inputs, batch):
    masked = masked_texts(inputs)
    batch.state["masked"] = masked
    log.debug("masked %d policy number(s) in %d row(s)", sum(len(row.spans) for row in masked), len(masked))
    safe = {"text": np.array([row.text.encode("utf-8") for row in masked], dtype=object)}
    # Every input the engine lists (input_ids, attention_mask, and token_type_ids where a converted
    # BERT takes it), padded to the longest row; rows cut at max_length get `truncated = true` back.
    return tokenize_batch(model, safe, batch).tensors


@hookimpl
def gatewise_postprocess(model, outputs, batch):
    logits = outputs[model.engine_outputs[0].name].astype(np.float64)
    probabilities = np.exp(logits - logits.max(axis=-1, keepdims=True))
    probabilities /= probabilities.sum(axis=-1, keepdims=True)
    best = probabilities.argmax(axis=-1)
    labels = np.array([label.encode() for label in model.config.labels], dtype=object)[best]
    score = probabilities[np.arange(len(best)), best].astype(np.float32)
    return {
        # Below the request's (or config.toml's) min_confidence the label is "uncertain".
        "label": abstain_labels(labels, score, confidence_floors(model, batch)),
        "score": score,
        "scores": probabilities.astype(np.float32),
        "redactions": redactions_tensor(batch.state["masked"]),
    }


@hookimpl
def gatewise_explainer(model, inputs, outputs, parameters):
    # The words of the masked text, the policy number one unit ("[POLICY_NUMBER]") with its
    # offsets in the client's text; `explain_label` picks another claim type (ValueError if unknown).
    return classifier_explainer(masked_texts(inputs)[0], outputs["scores"][0], list(model.config.labels), parameters)
