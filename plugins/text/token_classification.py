"""Built-in plugin ``token-classification``: text in; ``entities`` out.

Each row's ``entities`` is a JSON list of ``{"label", "start", "end", "score", "text"}``,
``start``/``end`` being character offsets into the original string (Python ``str``
indices, so ``text[start:end]`` is the span). Tags are read per word from its first
sub-token (sub-token tags of a fine-tuned model are often noise), then merged from BIO by
``plugins.common.bio``, reading tags leniently: BIOES prefixes count, and tags without a
prefix act as ``I-``.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from gatewise.plugins.common.bio import merge_bio
from gatewise.plugins.context import BatchContext, ModelContext, Signature, Tensors
from gatewise.plugins.hookspecs import hookimpl
from gatewise.plugins.text.classification import labels_of, softmax
from gatewise.plugins.text.encoding import TEXT_INPUT, tokenize_batch
from gatewise.plugins.text.hooks import gatewise_model_load, gatewise_warmup_inputs  # noqa: F401 - registered hooks
from gatewise.protos.tensors import TensorSpec
from tokenizers import Encoding

ENTITIES = TensorSpec(name="entities", datatype="BYTES", shape=(-1,))


def word_tags(encoding: Encoding, label_ids: np.ndarray, scores: np.ndarray) -> list[tuple[int, int, int, float]]:
    """``(start, end, label_id, score)`` per word: the word's character span, tagged by its first sub-token."""
    words: list[list[Any]] = []
    previous_word: int | None = None
    special = encoding.special_tokens_mask
    word_ids = encoding.word_ids
    for position, (start, end) in enumerate(encoding.offsets):
        if position >= len(label_ids) or special[position] or end <= start:
            continue
        word = word_ids[position]
        if word is not None and word == previous_word and words:
            words[-1][1] = max(words[-1][1], end)
        else:
            words.append([start, end, int(label_ids[position]), float(scores[position])])
        previous_word = word
    return [tuple(word) for word in words]  # type: ignore[misc]


def merge_entities(text: str, words: list[tuple[int, int, int, float]], labels: list[str]) -> list[dict[str, Any]]:
    """BIO-merge tagged words into spans with offsets into ``text`` (tags read leniently: BIOES, bare tags)."""
    spans = []
    tagged = ((start, end, labels[label_id], score) for start, end, label_id, score in words)
    for span in merge_bio(tagged, strict=False):
        start = span.start
        while start < span.end and text[start].isspace():
            start += 1
        spans.append({"label": span.kind, "start": start, "end": span.end, "score": round(span.score, 6),
                      "text": text[start : span.end]})  # fmt: skip
    return spans


def entities_of(
    model: ModelContext, logits: np.ndarray, encodings: list[Encoding], texts: list[str]
) -> list[list[dict[str, Any]]]:
    """Spans for each row of a batch of ``[batch, seq, labels]`` logits."""
    probabilities = softmax(logits.astype(np.float32, copy=False))
    label_ids = probabilities.argmax(axis=-1)
    scores = probabilities.max(axis=-1)
    labels = labels_of(model, logits.shape[-1])
    return [
        merge_entities(text, word_tags(encoding, label_ids[row], scores[row]), labels)
        for row, (encoding, text) in enumerate(zip(encodings, texts, strict=True))
    ]


@hookimpl
def gatewise_model_signature(model: ModelContext) -> Signature:
    return Signature(inputs=(TEXT_INPUT,), outputs=(ENTITIES,))


@hookimpl
def gatewise_preprocess(model: ModelContext, inputs: Tensors, batch: BatchContext) -> Tensors:
    tokens = tokenize_batch(model, inputs, batch)
    batch.state["encodings"] = tokens.encodings
    batch.state["texts"] = tokens.texts
    return tokens.tensors


@hookimpl
def gatewise_postprocess(model: ModelContext, outputs: Tensors, batch: BatchContext) -> Tensors:
    logits = outputs.get("logits", next(iter(outputs.values())))
    if logits.ndim != 3:
        raise RuntimeError(
            f"model {model.name!r}: token classification needs [batch, seq, labels] logits, got {logits.shape}"
        )
    rows = entities_of(model, logits, batch.state["encodings"], batch.state["texts"])
    encoded = [json.dumps(spans, ensure_ascii=False).encode() for spans in rows]
    return {"entities": np.array(encoded, dtype=object)}
