"""The built-in text-classification plugin: tokenising, padding, truncation, softmax, labels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from gatewise.gateway.config import parse_config
from gatewise.plugins.context import BatchContext, ModelContext
from gatewise.plugins.harness import tiny_tokenizer
from gatewise.plugins.text import classification
from gatewise.plugins.text.classification import softmax
from gatewise.protos.errors import InvalidInput
from gatewise.protos.tensors import TensorSpec

from models import CLASSIFIER_CONFIG, WORDS


@pytest.fixture
def model(tmp_path: Path) -> ModelContext:
    tiny_tokenizer(tmp_path / "m" / "assets", WORDS)
    context = ModelContext(
        name="m",
        version="1",
        config=parse_config(CLASSIFIER_CONFIG, source="c").plugin_view(),
        path=tmp_path / "m" / "1",
        engine_inputs=(
            TensorSpec(name="input_ids", datatype="INT64", shape=(-1, -1)),
            TensorSpec(name="attention_mask", datatype="INT64", shape=(-1, -1)),
        ),
        engine_outputs=(TensorSpec(name="logits", datatype="FP32", shape=(-1, 3)),),
    )
    classification.gatewise_model_load(context)
    return context


def texts(*values: str) -> dict[str, np.ndarray]:
    return {"text": np.array([value.encode() for value in values], dtype=object)}


def test_rows_are_padded_to_the_longest_in_the_batch(model: ModelContext) -> None:
    """Only the engine's inputs are built, int64, padded to the batch's longest row; padding is counted."""
    batch = BatchContext.single(2)
    tensors = classification.gatewise_preprocess(model, texts("good", "the movie was good"), batch)
    assert sorted(tensors) == ["attention_mask", "input_ids"]
    assert tensors["input_ids"].dtype == np.int64
    assert tensors["input_ids"].shape == (2, 6)  # [CLS] the movie was good [SEP]
    assert tensors["attention_mask"].sum(axis=1).tolist() == [3, 6]
    assert (batch.tokens, batch.padded_tokens) == (12, 3)


def test_text_over_max_length_is_truncated_and_flagged(model: ModelContext) -> None:
    batch = BatchContext.single(2)
    tensors = classification.gatewise_preprocess(model, texts("good " * 50, "bad"), batch)
    assert tensors["input_ids"].shape[1] == 16
    assert batch.row_flags["truncated"].tolist() == [True, False]


def test_non_utf8_row_is_named(model: ModelContext) -> None:
    with pytest.raises(InvalidInput, match="input 'text' row 1 is not valid UTF-8"):
        classification.gatewise_preprocess(
            model, {"text": np.array([b"ok", b"\xc3\x28"], dtype=object)}, BatchContext.single(2)
        )


def test_postprocess_gives_labels_scores_and_probabilities(model: ModelContext) -> None:
    logits = np.array([[0.0, 0.0, 5.0], [3.0, 1.0, 0.0]], dtype=np.float32)
    out = classification.gatewise_postprocess(model, {"logits": logits}, BatchContext.single(2))
    assert list(out["label"]) == [b"positive", b"negative"]
    np.testing.assert_allclose(out["scores"], softmax(logits), rtol=1e-6)
    np.testing.assert_allclose(out["score"], softmax(logits).max(axis=1), rtol=1e-6)


def test_softmax_is_stable_for_large_logits() -> None:
    probabilities = softmax(np.array([[1000.0, 1000.0, -1000.0]], dtype=np.float32))
    np.testing.assert_allclose(probabilities, [[0.5, 0.5, 0.0]], atol=1e-6)


def test_label_count_must_match_the_model(model: ModelContext) -> None:
    with pytest.raises(RuntimeError, match="has 3 labels in config.toml but 2 outputs"):
        classification.gatewise_postprocess(model, {"logits": np.zeros((1, 2), np.float32)}, BatchContext.single(1))
