"""The finance plugin end to end with a tiny tokenizer and a fake engine: what the model sees,
outputs, abstention, fraud decisions and reasons, and logs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from gatewise.plugins.finance import plugin as finance
from gatewise.plugins.finance.fraud import ORDINARY_TRANSACTION
from gatewise.plugins.finance.fraud_features import FIELDS, NUM_FEATURES, encode_rows
from gatewise.plugins.harness import (
    PluginHarness,
    assert_not_logged,
    capture_logs,
    model_context,
    texts,
    tiny_tokenizer,
)
from gatewise.protos.errors import PluginError

CARD = "4111 1111 1111 1111"
IBAN = "GB82 WEST 1234 5698 7654 32"
WORDS = ["profit", "rose", "fell", "card", "iban", "account", "charge", "on", "to", "sent", "[", "]", "."]


@pytest.fixture
def sentiment(tmp_path: Path) -> tuple[PluginHarness, list]:
    """finance-sentiment over a fake engine that says positive for "rose", negative for "fell"."""
    model = model_context(
        tmp_path, "finance-sentiment", plugin="finance", task="text-classification",
        labels=["negative", "neutral", "positive"], parameters={"min_confidence": 0.5},
        engine_inputs=[("input_ids", "INT64", (-1, -1)), ("attention_mask", "INT64", (-1, -1))],
        engine_outputs=[("logits", "FP32", (-1, 3))],
    )  # fmt: skip
    tokenizer = tiny_tokenizer(model.assets, WORDS)
    from tokenizers import Tokenizer

    vocab = Tokenizer.from_file(str(tokenizer)).get_vocab()
    seen: list[np.ndarray] = []

    def engine(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        ids = inputs["input_ids"]
        seen.append(ids)
        up = (ids == vocab["rose"]).any(axis=1)
        down = (ids == vocab["fell"]).any(axis=1)
        logits = np.zeros((len(ids), 3), dtype=np.float32)
        logits[up, 2] = 4.0
        logits[down, 0] = 4.0
        return {"logits": logits}

    return PluginHarness(finance, model, engine), seen


def test_sentiment_outputs_labels_scores_and_redactions(sentiment) -> None:
    harness, _ = sentiment
    out = harness.infer({"text": texts([f"Profit rose on card {CARD}", "Profit fell", "Sent to IBAN " + IBAN])})
    assert list(out["label"]) == [b"positive", b"negative", b"uncertain"]
    assert out["scores"].shape == (3, 3) and np.allclose(out["scores"].sum(axis=1), 1)
    first = json.loads(out["redactions"][0])
    assert first == [{"type": "CARD", "start": 20, "end": 39}]
    assert json.loads(out["redactions"][2])[0]["type"] == "IBAN"


def test_model_never_sees_the_digits(sentiment) -> None:
    """The engine gets the placeholder's tokens, and no [UNK] where the card was."""
    harness, seen = sentiment
    harness.infer({"text": texts([f"charge on {CARD}"])})
    from tokenizers import Tokenizer

    vocab = Tokenizer.from_file(str(harness.model.assets / "tokenizer.json")).get_vocab()
    ids = seen[-1][0].tolist()
    assert vocab["card"] in ids and vocab["[UNK]"] not in ids


def test_abstention_floor_per_request(sentiment) -> None:
    """A request may lower the floor; an out-of-range floor is a bad request."""
    harness, _ = sentiment
    assert harness.infer({"text": texts(["sent"])}, {"min_confidence": 0.1})["label"][0] == b"negative"
    with pytest.raises(PluginError, match="min_confidence"):
        harness.infer({"text": texts(["sent"])}, {"min_confidence": 2})


def test_no_identifier_reaches_any_log_record(sentiment) -> None:
    harness, _ = sentiment
    with capture_logs() as records:
        harness.infer({"text": texts([f"charge on {CARD} to {IBAN} account 12345678"])})
    assert any(record.name.startswith("gatewise") for record in records)
    assert_not_logged(records, [CARD, CARD.replace(" ", ""), IBAN, IBAN.replace(" ", ""), "12345678"])


# ---------------------------------------------------------------- fraud


GOOD = {**ORDINARY_TRANSACTION, "amount": 20.0, "account_age_days": 900, "distance_from_home_km": 2.0}
BAD = {**GOOD, "amount": 2500.0, "hour": 3, "country_mismatch": True, "card_present": False}


def _fraud_engine(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """A scorer linear in log-odds, so each field's Shapley value is known: weight x (value - background)."""
    from gatewise.plugins.finance.fraud_features import GROUPS

    weights = np.zeros(NUM_FEATURES, dtype=np.float64)
    weights[GROUPS["country_mismatch"][0]] = 3.0
    weights[GROUPS["amount"][0]] = 0.5
    weights[GROUPS["hour"][2]] = 1.5
    log_odds = (inputs["features"] - encode_rows([GOOD])[0]) @ weights - 2.0
    return {"fraud_probability": (1 / (1 + np.exp(-log_odds))).astype(np.float32)}


@pytest.fixture(params=["tensors", "json"])
def fraud(tmp_path: Path, request: pytest.FixtureRequest) -> PluginHarness:
    model = model_context(
        tmp_path, "finance-fraud", plugin="finance", task="transaction-fraud",
        parameters={"threshold": 0.5, "input_format": request.param},
        engine_inputs=[("features", "FP32", (-1, NUM_FEATURES))],
        engine_outputs=[("fraud_probability", "FP32", (-1,))],
    )  # fmt: skip
    return PluginHarness(finance, model, _fraud_engine)


def _inputs(harness: PluginHarness, rows: list[dict]) -> dict[str, np.ndarray]:
    if harness.model.parameters["input_format"] == "json":
        return {"transaction": np.array([json.dumps(row).encode() for row in rows], dtype=object)}
    dtypes = {"FP32": np.float32, "INT32": np.int32, "BOOL": np.bool_}
    return {
        name: np.array([str(r[name]).encode() for r in rows], dtype=object) if kind == "BYTES"
        else np.array([r[name] for r in rows], dtype=dtypes[kind])
        for name, kind in FIELDS.items()
    }  # fmt: skip


def test_fraud_signature_follows_input_format(fraud: PluginHarness) -> None:
    names = [spec.name for spec in fraud.signature.inputs]
    assert names == (["transaction"] if fraud.model.parameters["input_format"] == "json" else list(FIELDS))
    outputs = [spec.name for spec in fraud.signature.outputs]
    assert outputs == ["fraud_probability", "decision", "reasons", "explanation"]
    assert fraud.signature.derived == ("reasons",)


def test_fraud_decision_and_reasons_name_what_pushed_the_score(fraud: PluginHarness) -> None:
    out = fraud.infer(_inputs(fraud, [GOOD, BAD]))
    assert list(out["decision"]) == [b"approve", b"decline"]
    good_reasons, bad_reasons = (json.loads(fraud.explain(_inputs(fraud, [row]))[1]["reasons"]) for row in (GOOD, BAD))
    assert good_reasons == []
    assert bad_reasons[0]["feature"] == "country_mismatch"
    assert {r["feature"] for r in bad_reasons} == {"country_mismatch", "amount", "hour"}
    assert [r["contribution"] for r in bad_reasons] == sorted((r["contribution"] for r in bad_reasons), reverse=True)


def test_fraud_shapley_values_are_exact_and_add_up_to_the_log_odds(fraud: PluginHarness, tmp_path: Path) -> None:
    """Against two background rows, a linear scorer's Shapley value of a field is weight x (value - mean background)."""
    background = [GOOD, {**GOOD, "hour": 2, "amount": 100.0}]
    (fraud.model.assets / "background.jsonl").write_text("".join(json.dumps(row) + "\n" for row in background))
    finance.gatewise_model_load(fraud.model)
    explanation, _ = fraud.explain(_inputs(fraud, [BAD]), samples=510)
    assert explanation["method"] == "exact" and explanation["samples"] == 512
    weights = {item["feature"]: item["weight"] for item in explanation["attributions"]}
    features = encode_rows([BAD, *background])
    from gatewise.plugins.finance.fraud_features import GROUPS

    expected_hour = 1.5 * (features[0, GROUPS["hour"][2]] - features[1:, GROUPS["hour"][2]].mean())
    expected_amount = 0.5 * (features[0, GROUPS["amount"][0]] - features[1:, GROUPS["amount"][0]].mean())
    assert weights["hour"] == pytest.approx(expected_hour, abs=1e-4)
    assert weights["amount"] == pytest.approx(expected_amount, abs=1e-4)
    assert weights["country_mismatch"] == pytest.approx(3.0, abs=1e-4)
    assert weights["merchant_category"] == pytest.approx(0.0, abs=1e-6)
    assert sum(weights.values()) == pytest.approx(explanation["value"] - explanation["base_value"], abs=1e-9)
    assert {item["feature"]: item["value"] for item in explanation["attributions"]}["country_mismatch"] is True


def test_fraud_threshold_overridable_per_request(fraud: PluginHarness) -> None:
    assert fraud.infer(_inputs(fraud, [BAD]), {"threshold": 1.0})["decision"][0] == b"approve"
    with pytest.raises(PluginError, match="threshold"):
        fraud.infer(_inputs(fraud, [BAD]), {"threshold": "high"})


def test_fraud_rejects_unknown_category_naming_the_row(fraud: PluginHarness) -> None:
    with pytest.raises(PluginError, match="row 1: merchant_category"):
        fraud.infer(_inputs(fraud, [GOOD, {**GOOD, "merchant_category": "casino"}]))


def test_fraud_errors_name_the_field_never_the_value(fraud: PluginHarness) -> None:
    """Error messages reach logs and clients, so they must not echo what was sent."""
    for field, value in (("amount", "4111111111111111x"), ("card_present", "perhaps-4111")):
        with pytest.raises(PluginError, match=f"row 0: {field}") as caught:
            fraud.infer(
                _inputs(fraud, [{**GOOD, field: value}])
                if fraud.model.parameters["input_format"] == "json"
                else {**_inputs(fraud, [GOOD]), field: np.array([value.encode()], dtype=object)}
            )
        assert "4111" not in str(caught.value)


def test_vectorised_encoding_matches_the_row_encoding_and_its_errors() -> None:
    from gatewise.plugins.finance.fraud_features import encode_columns

    rows = [
        GOOD, BAD, {**GOOD, "currency": "jpy", "hour": 0}, {**GOOD, "currency": "XYZ", "merchant_category": "CRYPTO"},
        {**BAD, "hour": 23, "amount": 0.0, "transactions_last_24h": 0, "account_age_days": 0},
    ]  # fmt: skip
    typed = {
        name: np.array([str(r[name]).encode() for r in rows], dtype=object) if kind == "BYTES"
        else np.array([r[name] for r in rows], dtype={"FP32": np.float32, "INT32": np.int32, "BOOL": np.bool_}[kind])
        for name, kind in FIELDS.items()
    }  # fmt: skip
    np.testing.assert_allclose(encode_columns(typed), encode_rows(rows), atol=1e-6)
    for field, value in (("hour", 24), ("merchant_category", "casino"), ("amount", -1.0)):
        bad = [GOOD, {**GOOD, field: value}]
        columns = {**typed, field: np.array([typed[field][0], *([value.encode()] if field == "merchant_category"
                                             else [value])], dtype=typed[field].dtype)}  # fmt: skip
        columns = {name: array[:2] for name, array in columns.items()}
        with pytest.raises(ValueError) as row_error:
            encode_rows(bad)
        with pytest.raises(ValueError) as column_error:
            encode_columns(columns)
        assert str(column_error.value) == str(row_error.value)
    assert encode_columns({**typed, "amount": typed["amount"].astype(object)}) is None  # untyped: the row path
