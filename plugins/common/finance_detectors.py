"""Finds card numbers (Luhn), IBANs (mod-97) and account numbers in financial text.

A number is masked only when its checksum says it is one: a 16-digit order reference that
fails Luhn stays, so the model keeps the text's meaning. Account numbers have no checksum,
so they are recognised by the words in front of them ("account no. 12345678").
"""

from __future__ import annotations

import re
from bisect import bisect_right

from gatewise.plugins.common import scanning
from gatewise.plugins.common.masking import Span

# Every quantifier is bounded and no two repetitions can match the same characters, so each
# start position costs a bounded amount of work (linear time) and no match reaches further
# than its *_REACH past its start (``scanning.finditer``). GAP bounds a run of whitespace
# between a keyword and its number.
GAP = 20

# 13-19 digits, single spaces or dashes allowed between them, not inside a longer number.
_CARD = re.compile(r"(?<![\w-])\d(?:[ -]?\d){12,18}(?![\w-]|-\d)")
_CARD_REACH = 1 + 2 * 18 + 2
_IBAN = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]{2}\d{2}(?: ?[A-Za-z0-9]){11,30}(?![A-Za-z0-9])")
_IBAN_REACH = 4 + 2 * 30 + 1
_ACCOUNT = re.compile(
    rf"(?i)\b(?:account|acct|a/c|konto|routing)\.?(?:\s{{1,{GAP}}}(?:number|num|no\.?|nr\.?))?"
    rf"\s{{0,{GAP}}}(?:[:#]\s{{0,{GAP}}})?(?P<number>\d(?:[ -]?\d){{5,19}})(?!\d)"
)
_ACCOUNT_REACH = 8 + GAP + 6 + 2 * GAP + 1 + 1 + 2 * 19 + 1


def luhn_valid(digits: str) -> bool:
    """The Luhn checksum of a string of digits (what every payment card number satisfies)."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def iban_valid(compact: str) -> bool:
    """ISO 13616 mod-97 check of an IBAN without spaces."""
    if not 15 <= len(compact) <= 34 or not compact[:2].isalpha() or not compact[2:4].isdigit():
        return False
    rearranged = compact[4:] + compact[:4]
    number = "".join(str(int(char, 36)) for char in rearranged.upper())
    return int(number) % 97 == 1


def find_cards(text: str) -> list[Span]:
    """Card numbers of 13-19 digits that pass Luhn, outside anything shaped like an IBAN.

    The digits of an IBAN that fails mod-97 pass Luhn one time in ten; they stay, whole.
    """
    iban_shaped = [match.span() for match in scanning.finditer(_IBAN, text, _IBAN_REACH)]
    iban_starts = [start for start, _ in iban_shaped]
    iban_ends = [end for _, end in iban_shaped]
    spans = []
    for match in scanning.finditer(_CARD, text, _CARD_REACH):
        # IBAN matches do not overlap each other: only the first one ending after this start can overlap.
        index = bisect_right(iban_ends, match.start())
        if index < len(iban_ends) and iban_starts[index] < match.end():
            continue
        digits = re.sub(r"[ -]", "", match.group())
        if luhn_valid(digits):
            spans.append(Span(match.start(), match.end(), "CARD"))
    return spans


def find_ibans(text: str) -> list[Span]:
    """IBANs that pass mod-97; a trailing word swallowed by the pattern is trimmed off."""
    spans = []
    for match in scanning.finditer(_IBAN, text, _IBAN_REACH):
        candidate = match.group()
        ends = [len(candidate)] + [index for index in range(len(candidate) - 1, 0, -1) if candidate[index] == " "]
        for end in ends:
            if iban_valid(candidate[:end].replace(" ", "")):
                spans.append(Span(match.start(), match.start() + end, "IBAN"))
                break
    return spans


def find_accounts(text: str) -> list[Span]:
    """Numbers introduced by "account", "acct", "a/c", "routing" and the like."""
    return [
        Span(match.start("number"), match.end("number"), "ACCOUNT")
        for match in scanning.finditer(_ACCOUNT, text, _ACCOUNT_REACH)
    ]


def find_financial_identifiers(text: str) -> list[Span]:
    """Every card, IBAN and account number in ``text`` (overlaps resolved by ``mask``)."""
    return find_ibans(text) + find_cards(text) + find_accounts(text)
