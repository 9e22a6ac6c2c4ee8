"""Card, IBAN and account masking: hard cases, offsets and what never reaches a log."""

from __future__ import annotations

import json

import pytest
from gatewise.plugins.common.finance_detectors import find_financial_identifiers, iban_valid, luhn_valid
from gatewise.plugins.common.masking import Span, mask
from gatewise.plugins.finance.sentiment import masked_texts
from gatewise.plugins.harness import texts

VISA = "4111111111111111"
AMEX = "378282246310005"  # 15 digits
IBAN_DE = "DE89370400440532013000"


def _masked(text: str) -> tuple[str, list[tuple[str, str]]]:
    result = mask(text, find_financial_identifiers(text))
    return result.text, [(r["type"], text[r["start"] : r["end"]]) for r in result.redactions()]


def test_luhn_and_mod97_checksums() -> None:
    """The checksums accept real numbers and reject a one-digit change."""
    assert luhn_valid(VISA) and luhn_valid(AMEX)
    assert not luhn_valid("4111111111111112")
    assert iban_valid(IBAN_DE) and iban_valid("GB82WEST12345698765432")
    assert not iban_valid("DE89370400440532013001")


@pytest.mark.parametrize(
    "written",
    ["4111 1111 1111 1111", "4111-1111-1111-1111", "4111111111111111", "3782 822463 10005", "4111 1111-1111 1111"],
)
def test_card_numbers_split_by_spaces_and_dashes_are_masked(written: str) -> None:
    """A Luhn-valid number is masked whatever single separators split it."""
    text, found = _masked(f"Charge on {written} declined.")
    assert text == "Charge on [CARD] declined."
    assert found == [("CARD", written)]


@pytest.mark.parametrize("written", ["4111 1111 1111 1112", "1234-5678-9012-3456", "123456789012"])
def test_numbers_failing_luhn_or_too_short_stay(written: str) -> None:
    """Order references and short numbers keep their digits: the model needs the text as written."""
    text, found = _masked(f"Reference {written} shipped.")
    assert text == f"Reference {written} shipped." and found == []


def test_iban_with_spaces_masked_and_trailing_word_not_swallowed() -> None:
    """The IBAN ends where mod-97 passes, not at the next upper-case word."""
    text, found = _masked("Send to DE89 3704 0044 0532 0130 00 EUR today")
    assert text == "Send to [IBAN] EUR today"
    assert found == [("IBAN", "DE89 3704 0044 0532 0130 00")]


def test_iban_failing_mod97_stays() -> None:
    assert _masked("IBAN DE89 3704 0044 0532 0130 01 is wrong")[1] == []


def test_account_numbers_after_keywords_masked_only_the_number() -> None:
    text, found = _masked("Account no. 12345678 and acct#987654321 and routing 021000021 closed")
    assert text == "Account no. [ACCOUNT] and acct#[ACCOUNT] and routing [ACCOUNT] closed"
    assert [kind for kind, _ in found] == ["ACCOUNT"] * 3


def test_identifiers_at_start_and_end_of_text() -> None:
    text, found = _masked(f"{VISA} paid to {IBAN_DE}")
    assert text == "[CARD] paid to [IBAN]"
    assert found == [("CARD", VISA), ("IBAN", IBAN_DE)]


def test_unicode_text_offsets_are_code_points() -> None:
    """Offsets index the Python string, so accents and emoji before a card do not shift them."""
    original = "Zahlung für Café 😀 mit 4111 1111 1111 1111 – Überweisung"
    result = masked_texts({"text": texts([original])})[0]
    (redaction,) = result.redactions()
    assert original[redaction["start"] : redaction["end"]] == "4111 1111 1111 1111"
    assert result.text == "Zahlung für Café 😀 mit [CARD] – Überweisung"


def test_offset_map_round_trips_unmasked_spans() -> None:
    """A span after a placeholder maps back to the same words in the original."""
    original = f"card {VISA} then strong growth"
    result = mask(original, [Span(5, 21, "CARD")])
    start = result.text.index("strong")
    assert result.to_original(start, start + len("strong growth")) == (original.index("strong"), len(original))
    placeholder = result.text.index("[CARD]")
    assert result.to_original(placeholder, placeholder + 6) == (5, 21)


def test_redactions_never_carry_the_value() -> None:
    result = masked_texts({"text": texts([f"card {VISA}"])})[0]
    assert VISA not in json.dumps(result.redactions())
    assert set(result.redactions()[0]) == {"type", "start", "end"}
