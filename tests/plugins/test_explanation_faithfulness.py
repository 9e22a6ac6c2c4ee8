"""Explanations are faithful on the tiny classifier: the words they rank first matter most.

The deletion test (docs/explanations.md) on a small fixture, asserting direction only (the figures on
real models come from benchmarks/explanations.py).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from gatewise.plugins.common.masking import mask
from gatewise.plugins.common.words import without, word_units
from gatewise.plugins.harness import PluginHarness, model_context, tiny_tokenizer

from models import LABELS, WORDS, classifier_graph

TEXTS = [
    "the movie was great but the price was okay",
    "awful service and the movie was bad",
    "it is a good movie and a great price",
    "the price is bad , the service okay",
    "great service , awful movie",
    "the movie was okay and it is good",
]


@pytest.fixture
def classifier(tmp_path: Path) -> PluginHarness:
    model = model_context(
        tmp_path, "tiny", plugin="text-classification", labels=LABELS,
        engine_inputs=[("input_ids", "INT64", (-1, -1)), ("attention_mask", "INT64", (-1, -1))],
        engine_outputs=[("logits", "FP32", (-1, 3))],
    )  # fmt: skip
    tiny_tokenizer(model.assets, WORDS)
    session = ort.InferenceSession(classifier_graph().SerializeToString(), providers=["CPUExecutionProvider"])

    def engine(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {"logits": session.run(None, inputs)[0]}

    return PluginHarness("text-classification", model, engine)


def probability(harness: PluginHarness, text: str, label: str) -> float:
    out = harness.infer({"text": np.array([text.encode()], dtype=object)})
    return float(out["scores"][0][LABELS.index(label)])


def test_deleting_the_top_attributed_words_lowers_the_explained_probability_more_than_random_words(classifier):
    rng = np.random.default_rng(0)
    top_drops, random_drops = [], []
    for text in TEXTS:
        explanation, _ = classifier.explain({"text": np.array([text.encode()], dtype=object)}, samples=256)
        label = explanation["label"]
        before = probability(classifier, text, label)
        units, spans = word_units(mask(text, ()))
        weights = np.array([item["weight"] for item in explanation["attributions"]])
        for k in (1, 2):
            keep = np.ones(len(units), bool)
            keep[np.argsort(-weights)[:k]] = False
            top_drops.append(before - probability(classifier, without(text, spans, keep), label))
            for _ in range(5):
                keep = np.ones(len(units), bool)
                keep[rng.choice(len(units), size=k, replace=False)] = False
                random_drops.append((before - probability(classifier, without(text, spans, keep), label)) / 5)
    assert np.mean(top_drops) > 0
    assert np.sum(top_drops) > 2 * np.sum(random_drops)


def test_an_explanation_adds_up_to_the_served_probability(classifier):
    text = "awful service and the movie was bad"
    explanation, _ = classifier.explain({"text": np.array([text.encode()], dtype=object)}, samples=512)
    assert explanation["method"] == "exact"
    assert explanation["value"] == pytest.approx(probability(classifier, text, explanation["label"]), abs=1e-6)
    total = sum(item["weight"] for item in explanation["attributions"])
    assert total == pytest.approx(explanation["value"] - explanation["base_value"], abs=1e-9)


def test_deleting_a_word_takes_one_adjoining_space_and_keeps_everything_else():
    text = "great  service , awful movie"
    units, spans = word_units(mask(text, ()))
    assert [unit.text for unit in units] == ["great", "service", "awful", "movie"]
    assert without(text, spans, np.array([True, True, True, True])) == text
    assert without(text, spans, np.array([False, True, True, True])) == " service , awful movie"
    assert without(text, spans, np.array([True, True, False, True])) == "great  service , movie"
    assert without(text, spans, np.zeros(4, bool)) == " , "
