"""The demo's drawing of explanations: shaded words and Shapley bars from given explanation documents."""

from __future__ import annotations

import io
import json

import pytest
from rich.console import Console

from gatewise_lab.demo import show

TEXT = "Refund to card 4111 1111 1111 1111 failed badly"
SENTIMENT = {
    "label": "negative",
    "target": "probability of 'negative'",
    "method": "exact",
    "samples": 64,
    "seed": 0,
    "base_value": 0.21,
    "value": 0.93,
    "attributions": [
        {"text": "Refund", "start": 0, "end": 6, "weight": 0.05},
        {"text": "to", "start": 7, "end": 9, "weight": 0.0},
        {"text": "card", "start": 10, "end": 14, "weight": -0.04},
        {"text": "[CARD]", "start": 15, "end": 34, "weight": 0.02},
        {"text": "failed", "start": 35, "end": 41, "weight": 0.48},
        {"text": "badly", "start": 42, "end": 47, "weight": 0.21},
    ],
}
FRAUD_ROWS = [
    {"amount": 23.5, "card_present": True},
    {"amount": 1890.0, "card_present": False},
]


def fraud_document(value: float, amount: tuple[float, float], card_present: tuple[bool, float]) -> str:
    """One transaction's explanation: (value, weight) for each of two fields, base -2."""
    attributions = [
        {"feature": "amount", "value": amount[0], "weight": amount[1]},
        {"feature": "card_present", "value": card_present[0], "weight": card_present[1]},
    ]
    document = {"label": "fraud", "target": "log-odds of fraud", "method": "exact", "samples": 2, "seed": 0}
    return json.dumps({**document, "base_value": -2.0, "value": value, "attributions": attributions})


FRAUD_OUT = {
    "fraud_probability": [0.01, 0.99],
    "decision": ["approve", "decline"],
    "explanation": [fraud_document(-4.0, (23.5, -1.5), (True, -0.5)), fraud_document(4.0, (1890.0, 4.0), (False, 2.0))],
}


def rendered(renderable) -> str:
    console = Console(width=200, record=True, color_system=None, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


def test_shaded_words_keep_the_text_and_show_a_masked_span_as_its_tag() -> None:
    """Every word is drawn where it stood; the card number is drawn as [CARD], never as its digits."""
    shaded = show.shaded_words(TEXT, SENTIMENT)
    assert shaded.plain == "Refund to card [CARD] failed badly"
    assert "4111" not in rendered(shaded)


def test_words_toward_the_label_are_green_and_against_it_red_stronger_for_larger_weights() -> None:
    """The background colour follows the sign of the weight, and its strength |weight| / the row's largest."""
    shaded = show.shaded_words(TEXT, SENTIMENT)
    style_of = {shaded.plain[span.start : span.end]: str(span.style) for span in shaded.spans}
    assert style_of["failed"] == "bright_white on rgb(0,175,60)"  # the largest weight: full green
    assert style_of["card"].startswith("bright_white on rgb(") and show._AGAINST != show._TOWARD
    red, green, _ = (int(part) for part in style_of["card"].split("rgb(")[1].rstrip(")").split(","))
    assert red > green  # against the label: towards red
    assert style_of["to"] == "bright_white on rgb(48,48,48)"  # no weight: neutral
    faint, strong = (show.attribution_style(weight, 0.48) for weight in (0.05, 0.21))
    assert faint != strong and strong != show.attribution_style(0.48, 0.48)


def test_explanation_table_names_the_label_base_value_and_strongest_words() -> None:
    out = rendered(show.explanation_table("finance-sentiment", [TEXT], {"explanation": [json.dumps(SENTIMENT)]}))
    assert "Refund to card [CARD] failed badly" in out
    for line in ("probability of 'negative'", "base 0.210 -> 0.930", "exact, 64 coalitions"):
        assert line in out
    assert "+0.480 failed" in out and "-0.040 card" in out
    assert out.index("+0.480 failed") < out.index("+0.210 badly")  # strongest first


def test_search_table_shades_the_query_when_an_explanation_came_back() -> None:
    words = [
        {"text": "hot", "start": 5, "end": 8, "weight": 0.3},
        {"text": "coffee", "start": 9, "end": 15, "weight": 0.1},
    ]
    explanation = {**SENTIMENT, "label": "p-17", "target": "similarity to 'Kettle'", "attributions": words}
    results = [json.dumps([{"id": "p-17", "title": "Kettle", "score": 0.61}])]
    out = {"results": results, "explanation": [json.dumps(explanation)]}
    text = rendered(show.search_table(["keep hot coffee"], out))
    assert "why the top result" in text and "similarity to 'Kettle'" in text and "+0.300 hot" in text
    assert "why the top result" not in rendered(show.search_table(["keep hot coffee"], {"results": out["results"]}))


@pytest.mark.parametrize(("weight", "drawn"), [(2.0, "        │████     +2.00"), (-4.0, "████████│         -4.00")])
def test_a_shapley_bar_grows_right_for_positive_and_left_for_negative(weight: float, drawn: str) -> None:
    """Scaled to the table's largest weight (4.0 here: eight blocks)."""
    assert show.shapley_bar(weight, 4.0).plain == drawn


def test_fraud_table_has_a_bar_per_field_and_transaction_and_the_base_and_value() -> None:
    out = rendered(show.fraud_shapley_table(FRAUD_ROWS, FRAUD_OUT))
    lines = {line.split("│")[1].strip(): line for line in out.splitlines() if line.count("│") > 2}
    assert "amount" in lines and "card_present" in lines
    assert "23.5      ███│         -1.50" in lines["amount"]  # the value, then its bar (scale: 4.0, eight blocks)
    assert "1890         │████████ +4.00" in lines["amount"]
    assert "True        █│         -0.50" in lines["card_present"]
    assert "False         │████     +2.00" in lines["card_present"]
    assert "-2.00" in out and "+4.00" in out and "decline" in out and "p=0.990" in out
