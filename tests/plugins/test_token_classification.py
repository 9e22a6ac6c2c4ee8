"""The built-in token-classification plugin: BIO tags -> spans with offsets into the original text."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from gatewise.converters.samples import load_samples
from gatewise.plugins.common.bio import split_tag
from gatewise.plugins.context import BatchContext, ModelContext
from gatewise.plugins.harness import model_context, tiny_tokenizer
from gatewise.plugins.text import token_classification as plugin
from gatewise.plugins.text.token_classification import merge_entities, word_tags
from tokenizers import Tokenizer

LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory: pytest.TempPathFactory) -> Tokenizer:
    return Tokenizer.from_file(str(tiny_tokenizer(tmp_path_factory.mktemp("tok"), train_on=load_samples())))


@pytest.fixture
def model(tmp_path: Path, tokenizer) -> ModelContext:
    context = model_context(
        tmp_path, "m", plugin="token-classification", labels=LABELS, parameters={"max_length": 64},
        engine_inputs=[("input_ids", "INT64", (-1, -1)), ("attention_mask", "INT64", (-1, -1))],
        engine_outputs=[("logits", "FP32", (-1, -1, 5))],
    )  # fmt: skip
    tokenizer.save(str(context.assets / "tokenizer.json"))
    plugin.gatewise_model_load(context)
    return context


def tag(text: str, tokenizer, words: dict[str, str]) -> tuple[object, np.ndarray, np.ndarray]:
    """Encode ``text`` and tag every sub-token of each word in ``words`` (by its text) with that tag."""
    encoding = tokenizer.encode(text)
    ids = np.zeros(len(encoding.ids), dtype=np.int64)
    for position, (_start, _end) in enumerate(encoding.offsets):
        word = encoding.word_ids[position]
        if word is None:
            continue
        span = [o for o, w in zip(encoding.offsets, encoding.word_ids, strict=True) if w == word]
        word_text = text[span[0][0] : span[-1][1]]
        if word_text in words:
            ids[position] = LABELS.index(words[word_text])
    return encoding, ids, np.full(len(ids), 0.9, dtype=np.float32)


def test_bio_tags_merge_into_spans_with_original_casing_and_offsets(tokenizer) -> None:
    text = "Barack Obama was born in Honolulu, Hawaii."
    encoding, ids, scores = tag(
        text, tokenizer, {"Barack": "B-PER", "Obama": "I-PER", "Honolulu": "B-LOC", "Hawaii": "B-LOC"}
    )
    spans = merge_entities(text, word_tags(encoding, ids, scores), LABELS)
    assert [(s["label"], s["text"], s["start"], s["end"]) for s in spans] == [
        ("PER", "Barack Obama", 0, 12),
        ("LOC", "Honolulu", 25, 33),
        ("LOC", "Hawaii", 35, 41),
    ]
    assert all(s["score"] == pytest.approx(0.9) for s in spans)


def test_a_word_split_into_sub_tokens_takes_its_first_tag(tokenizer) -> None:
    text = "Zyxwvut lives here"
    encoding = tokenizer.encode(text)
    pieces = [p for p, w in enumerate(encoding.word_ids) if w == 0]
    assert len(pieces) > 1, "the tiny vocabulary splits an unseen word"
    ids = np.zeros(len(encoding.ids), dtype=np.int64)
    ids[pieces[0]] = LABELS.index("B-PER")
    ids[pieces[1:]] = LABELS.index("B-LOC")  # noise on continuation pieces is ignored
    spans = merge_entities(text, word_tags(encoding, ids, np.ones(len(ids), np.float32)), LABELS)
    assert [(s["label"], s["text"]) for s in spans] == [("PER", "Zyxwvut")]


def test_i_after_o_opens_a_span_and_b_splits_adjacent_ones(tokenizer) -> None:
    text = "Paris London Berlin"
    encoding, ids, scores = tag(text, tokenizer, {"Paris": "I-LOC", "London": "B-LOC", "Berlin": "I-LOC"})
    spans = merge_entities(text, word_tags(encoding, ids, scores), LABELS)
    assert [s["text"] for s in spans] == ["Paris", "London Berlin"]


def test_a_type_change_closes_the_span(tokenizer) -> None:
    text = "Obama Hawaii"
    encoding, ids, scores = tag(text, tokenizer, {"Obama": "I-PER", "Hawaii": "I-LOC"})
    spans = merge_entities(text, word_tags(encoding, ids, scores), LABELS)
    assert [(s["label"], s["text"]) for s in spans] == [("PER", "Obama"), ("LOC", "Hawaii")]


def test_offsets_are_string_indices_even_after_non_ascii_text(tokenizer) -> None:
    text = "Привет 😀 Paris"
    encoding, ids, scores = tag(text, tokenizer, {"Paris": "B-LOC"})
    spans = merge_entities(text, word_tags(encoding, ids, scores), LABELS)
    assert spans[0]["text"] == "Paris" and text[spans[0]["start"] : spans[0]["end"]] == "Paris"


@pytest.mark.parametrize(
    ("tag_name", "expected"),
    [
        ("B-PER", ("B", "PER")),
        ("I-LOC", ("I", "LOC")),
        ("O", ("O", "")),
        ("MISC", ("I", "MISC")),
        ("S-ORG", ("B", "ORG")),
        ("E-ORG", ("I", "ORG")),
    ],
)
def test_split_tag(tag_name: str, expected: tuple[str, str]) -> None:
    assert split_tag(tag_name) == expected


def test_hooks_turn_logits_into_json_entities_per_row(model: ModelContext) -> None:
    texts = ["Angela Merkel met Emmanuel Macron in Berlin.", "nothing here"]
    batch = BatchContext.single(2)
    tensors = plugin.gatewise_preprocess(model, {"text": np.array([t.encode() for t in texts], dtype=object)}, batch)
    assert sorted(tensors) == ["attention_mask", "input_ids"]
    logits = np.zeros((*tensors["input_ids"].shape, 5), dtype=np.float32)
    logits[..., 0] = 5.0
    encoding = batch.state["encodings"][0]
    for position, word in enumerate(encoding.word_ids):
        if word in (0, 1):  # Angela Merkel
            logits[0, position, LABELS.index("B-PER" if word == 0 else "I-PER")] = 10.0
        if word == 6:  # Berlin
            logits[0, position, LABELS.index("B-LOC")] = 10.0
    out = plugin.gatewise_postprocess(model, {"logits": logits}, batch)
    rows = [json.loads(value) for value in out["entities"]]
    assert [(s["label"], s["text"]) for s in rows[0]] == [("PER", "Angela Merkel"), ("LOC", "Berlin")]
    assert rows[1] == []
    assert plugin.gatewise_model_signature(model).outputs[0].name == "entities"


def test_two_dimensional_logits_are_refused(model: ModelContext) -> None:
    batch = BatchContext.single(1)
    plugin.gatewise_preprocess(model, {"text": np.array([b"x"], dtype=object)}, batch)
    with pytest.raises(RuntimeError, match=r"needs \[batch, seq, labels\] logits"):
        plugin.gatewise_postprocess(model, {"logits": np.zeros((1, 5), np.float32)}, batch)
