"""The claims plugin through ``gatewise.testing``: masking with its own tag, abstention, the word explainer."""

import gatewise_claims.plugin as claims
import numpy as np
import pytest

from gatewise import BatchContext, GatewiseError
from gatewise.testing import SPECIAL_TOKENS, PluginHarness, model_context, texts, tiny_tokenizer

WORDS = ["car", "crash", "roof", "leak", "doctor", "fever", "my", "on", "policy", "12345678"]
CUES = (("car", "crash"), ("roof", "leak"), ("doctor", "fever"))  # auto, home, health
VOCABULARY = [*SPECIAL_TOKENS, *WORDS]


def engine(inputs):
    """Logits from cue words; it insists on every input a converted BERT takes."""
    assert sorted(inputs) == ["attention_mask", "input_ids", "token_type_ids"]
    ids = inputs["input_ids"]
    logits = np.zeros((len(ids), 3), np.float32)
    for label, words in enumerate(CUES):
        for word in words:
            logits[:, label] += 2.0 * (ids == VOCABULARY.index(word)).sum(axis=1)
    return {"logits": logits}


def harness(tmp_path, **parameters):
    model = model_context(
        tmp_path, "claims", plugin="claims", labels=["auto", "home", "health"], parameters=parameters,
        engine_inputs=[(name, "INT64", (-1, -1)) for name in ("input_ids", "attention_mask", "token_type_ids")],
        engine_outputs=[("logits", "FP32", (-1, 3))],
    )  # fmt: skip
    tiny_tokenizer(model.assets, WORDS)
    return PluginHarness(claims, model, engine=engine)


def test_a_policy_number_is_masked_before_the_model_and_reported_by_offset(tmp_path):
    seen = []
    plugin = harness(tmp_path)
    plugin.engine = lambda inputs: seen.append(inputs["input_ids"].copy()) or engine(inputs)
    text = "car crash on POL-12345678 policy"
    out = plugin.infer({"text": texts([text, "roof leak, no policy number 12345678"])})
    assert list(out["label"]) == [b"auto", b"home"]
    assert [row.decode() for row in out["redactions"]] == ['[{"type": "POLICY_NUMBER", "start": 13, "end": 25}]', "[]"]
    assert text[13:25] == "POL-12345678"
    digits = VOCABULARY.index("12345678")
    assert not (seen[0][0] == digits).any(), "the masked number reached the engine"
    assert (seen[0][1] == digits).any(), "a bare number is not a policy number: it stays"


def test_the_explanation_weighs_the_masked_number_as_one_unit(tmp_path):
    text = "my car crash POL-12345678"
    explanation, _ = harness(tmp_path).explain({"text": texts([text])})
    units = [(item["text"], item["start"], item["end"]) for item in explanation["attributions"]]
    assert units == [("my", 0, 2), ("car", 3, 6), ("crash", 7, 12), ("[POLICY_NUMBER]", 13, 25)]
    assert explanation["label"] == "auto" and explanation["method"] == "exact"
    total = sum(item["weight"] for item in explanation["attributions"])
    assert total == pytest.approx(explanation["value"] - explanation["base_value"])
    assert "12345678" not in str(explanation["attributions"])


@pytest.mark.parametrize("floor", ["0.99", 0.99], ids=["string", "double"])
def test_min_confidence_is_read_as_a_string_or_a_double(tmp_path, floor):
    out = harness(tmp_path).infer({"text": texts(["car roof"])}, {"min_confidence": floor})
    assert list(out["label"]) == [b"uncertain"]


def test_a_bool_min_confidence_is_refused_naming_the_plugin_and_the_parameter(tmp_path):
    with pytest.raises(GatewiseError, match=r"plugin 'under-test' failed in gatewise_postprocess: .*'min_confidence'"):
        harness(tmp_path).infer({"text": texts(["car"])}, {"min_confidence": True})


def test_bytes_that_are_not_utf8_are_refused_naming_the_plugin_and_the_row(tmp_path):
    inputs = {"text": np.array([b"car", b"\xff\xfe"], dtype=object)}
    with pytest.raises(GatewiseError, match=r"plugin 'under-test' failed in gatewise_preprocess: input 'text' row 1"):
        harness(tmp_path).infer(inputs)


def test_a_row_cut_at_max_length_is_flagged_truncated(tmp_path):
    batch = BatchContext.single(2)
    harness(tmp_path, max_length=5).infer_batch({"text": texts(["car", "my car crash on my roof"])}, batch)
    assert batch.row_flags["truncated"].tolist() == [False, True]
