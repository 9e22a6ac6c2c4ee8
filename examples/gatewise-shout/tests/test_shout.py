"""The example plugin tested with the project's harness (``gatewise.testing``)."""

import gatewise_shout.plugin as shout
import numpy as np
import pytest

from gatewise import GatewiseError
from gatewise.testing import PluginHarness, model_context, texts


def shouter(tmp_path):
    return model_context(
        tmp_path,
        "shouter",
        plugin="shout",
        parameters={"suffix": "!!"},
        engine_inputs=[("x", "FP32", (-1, 1))],
        engine_outputs=[("y", "FP32", (-1, 1))],
    )


def add_one(inputs):
    return {"y": inputs["x"] + 1}


def test_shout_counts_words_and_upper_cases(tmp_path):
    harness = PluginHarness(shout, shouter(tmp_path), engine=add_one)
    out = harness.infer({"text": texts(["hello there world", "hi"])})
    assert list(out["shouted"]) == [b"HELLO THERE WORLD!!", b"HI!!"]
    assert np.array_equal(out["words_plus_one"], [[4.0], [2.0]])


def test_every_word_adds_exactly_one_and_the_weights_add_up(tmp_path):
    """Exact Shapley values of words_plus_one: 1.0 per word, from a base of 1.0 (no words)."""
    harness = PluginHarness(shout, shouter(tmp_path), engine=add_one)
    text = "hello  there world"
    explanation, derived = harness.explain({"text": texts([text])})
    assert explanation["method"] == "exact" and derived == {}
    assert [(item["text"], text[item["start"] : item["end"]]) for item in explanation["attributions"]] == [
        ("hello", "hello"),
        ("there", "there"),
        ("world", "world"),
    ]
    assert [item["weight"] for item in explanation["attributions"]] == pytest.approx([1.0, 1.0, 1.0])
    assert (explanation["base_value"], explanation["value"]) == pytest.approx((1.0, 4.0))


def test_a_long_text_is_estimated_with_a_seed(tmp_path):
    """Past the budget (2**20 - 2 coalitions > 64) KernelSHAP, seeded: same answer twice, still adding up."""
    harness = PluginHarness(shout, shouter(tmp_path), engine=add_one)
    inputs = {"text": texts([" ".join(["word"] * 20)])}
    first, _ = harness.explain(inputs, samples=64, seed=7)
    assert first["method"] == "kernel" and first == harness.explain(inputs, samples=64, seed=7)[0]
    assert sum(item["weight"] for item in first["attributions"]) == pytest.approx(first["value"] - first["base_value"])


def test_another_label_is_refused_naming_the_parameter(tmp_path):
    """The hook's ValueError reaches the client as INVALID_ARGUMENT, naming the plugin and the parameter."""
    harness = PluginHarness(shout, shouter(tmp_path), engine=add_one)
    with pytest.raises(GatewiseError, match="explain_label") as caught:
        harness.explain({"text": texts(["hi"])}, {"explain_label": "shouted"})
    assert caught.value.status.name == "INVALID_ARGUMENT"
