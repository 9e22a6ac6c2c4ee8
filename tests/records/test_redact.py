"""What of a row may be kept: identifiers become tags in inputs, in echoed outputs, and in explanation units."""

from __future__ import annotations

from gatewise.gateway.records.redact import redact_text, scrub


def test_the_plugins_own_spans_and_every_detector_mask_the_text() -> None:
    text = "Mr. José Álvarez paid with 4111 1111 1111 1111, call (617) 555-0199"
    row = redact_text(text, own=[{"type": "CARD", "start": 27, "end": 46}])
    assert row.text == "Mr. [NAME] paid with [CARD], call [PHONE]"


def test_an_output_that_echoes_an_identifier_gets_its_tag_even_as_a_single_word() -> None:
    row = redact_text("Dr. Smith saw the patient", own=None)
    assert "Smith" not in row.text
    assert scrub({"note": "Smith", "other": ["seen by Smith today"]}, row) == {
        "note": "[NAME]",
        "other": ["seen by [NAME] today"],
    }


def test_an_explanation_unit_touching_an_identifier_shows_the_tag() -> None:
    text = "card 4111 1111 1111 1111 ok"
    row = redact_text(text)
    units = [
        {"text": "card", "start": 0, "end": 4, "weight": 0.1},
        {"text": "4111", "start": 5, "end": 9, "weight": 0.2},
        {"text": "ok", "start": 25, "end": 27, "weight": 0.0},
    ]
    assert [unit["text"] for unit in scrub(units, row)] == ["card", "[CARD]", "ok"]


def test_labels_pass_unchanged() -> None:
    assert scrub(["positive", "B-PROBLEM", "approve"], redact_text("nothing here")) == [
        "positive",
        "B-PROBLEM",
        "approve",
    ]
