"""Pattern de-identification of the HIPAA Safe Harbor identifiers that patterns can find.

Dates more specific than a year, phone and fax numbers, emails, SSNs, medical record and
account numbers, URLs, IP addresses, ZIP codes, street addresses, ages over 89 and names
that follow a title ("Dr.", "Mr.", "Patient"). Names elsewhere need a model and are not
claimed. A bare year ("in 2019") and ages up to 89 are kept, as Safe Harbor allows.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from gatewise.plugins.common.masking import MaskedText, Span, mask

_MONTH = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|"
    r"Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.?"
)
_DAY = r"(?:[12]\d|3[01]|0?[1-9])(?:st|nd|rd|th)?"
_DATES = [
    re.compile(r"(?<!\d)\d{4}[-/.](?:0?[1-9]|1[0-2])[-/.](?:[12]\d|3[01]|0?[1-9])(?!\d)"),  # 2024-03-14
    re.compile(r"(?<![\d/.-])(?:[12]\d|3[01]|0?[1-9])[/.-](?:[12]\d|3[01]|0?[1-9])[/.-](?:\d{4}|\d{2})(?![\d/.-]?\d)"),
    re.compile(rf"\b{_MONTH}\s+{_DAY}(?:,?\s+\d{{4}})?\b"),  # March 14, 2024 / Mar 14
    re.compile(rf"\b{_DAY}\s+(?:of\s+)?{_MONTH}(?:,?\s+\d{{4}})?\b"),  # 14 March 2024
    re.compile(rf"\b{_MONTH}\s+\d{{4}}\b"),  # March 2024 (the month is more specific than a year)
]
_PHONE = re.compile(
    r"(?<![\w+])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{2,4}\)[\s.-]?|\d{3}[\s.-])\d{3}[\s.-]\d{4}(?!\d)"
    r"|(?<![\w+])\+\d{1,3}(?:[\s.-]\d{2,4}){2,5}(?!\d)"
)
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
_SSN = re.compile(r"(?<!\d)\d{3}-\d{2}-\d{4}(?!\d)|(?i:\bSSN\b)\s*[:#]?\s*(?P<bare>\d{9})\b")
_MRN = re.compile(
    r"(?i)\b(?:MRN|medical\s+record(?:\s+(?:number|no\.?|#))?|chart\s*(?:no\.?|#))\s*[:#]?\s*"
    r"(?P<id>[A-Z]{0,3}\d[\d-]{3,}\d)"
)
_ACCOUNT = re.compile(
    r"(?i)\b(?:account|acct|policy|member\s+id|insurance\s+id|health\s+plan(?:\s+id)?|beneficiary)"
    r"(?:\s+(?:number|no\.?|#|id))?\s*[:#]?\s*(?P<id>[A-Z]{0,4}\d[\d-]{3,}\d)"
)
_URL = re.compile(r"\b(?:https?://|www\.)[^\s<>\"']+")
_IP = re.compile(r"(?<![\d.])(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)(?![\d.]?\d)")
_ZIP = re.compile(r"(?:\b[A-Z]{2}\s+|(?i:\bzip(?:\s*code)?)\s*[:#]?\s*)(?P<zip>\d{5}(?:-\d{4})?)\b")
_ADDRESS = re.compile(
    r"\b\d{1,5}\s+(?:[A-Z][\w'-]*\s+){1,3}(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Court|Ct|Way|Place|Pl)\b\.?"
)
_AGE = re.compile(
    r"(?i)(?:\b(?:aged?|age:)\s*(?P<a>9\d|1[0-4]\d)\b)|\b(?P<b>9\d|1[0-4]\d)(?=[\s-]*(?:years?|yrs?|y/?o)\b)"
)
_TITLE = re.compile(
    # The names sit in a lookahead so that a title inside them ("Dr. A and Mrs. B") is matched too.
    r"\b(?:Dr|Mr|Mrs|Ms|Miss|Mx|Prof|Patient|Pt)\.?(?:\s+name)?\s*:?\s+(?=(?P<names>(?:[^\W\d_][\w'’-]*\.?\s*){1,3}))",
    re.UNICODE,
)


def _group_spans(pattern: re.Pattern[str], kind: str, *groups: str) -> Callable[[str], list[Span]]:
    def find(text: str) -> list[Span]:
        spans = []
        for match in pattern.finditer(text):
            chosen = next((group for group in groups if match.group(group)), None) if groups else None
            start, end = match.span(chosen) if chosen else match.span()
            spans.append(Span(start, end, kind))
        return spans

    return find


def find_dates(text: str) -> list[Span]:
    return [Span(*match.span(), "DATE") for pattern in _DATES for match in pattern.finditer(text)]


def find_phones(text: str) -> list[Span]:
    """Phone numbers; FAX when "fax" comes just before."""
    spans = []
    for match in _PHONE.finditer(text):
        before = text[max(0, match.start() - 12) : match.start()].lower()
        spans.append(Span(*match.span(), "FAX" if "fax" in before else "PHONE"))
    return spans


def find_urls(text: str) -> list[Span]:
    return [
        Span(match.start(), match.start() + len(match.group().rstrip(".,;:!?)")), "URL")
        for match in _URL.finditer(text)
    ]


def find_names(text: str) -> list[Span]:
    """Capitalised words after a title; stops at the first word that is not capitalised."""
    spans = []
    for match in _TITLE.finditer(text):
        start = match.start("names")
        end = start
        for word in re.finditer(r"[^\W\d_][\w'’-]*", match.group("names")):
            if not word.group()[0].isupper() or word.group() in _NOT_NAMES:
                break
            end = start + word.end()
        if end > start:
            spans.append(Span(start, end, "NAME"))
    return spans


find_emails = _group_spans(_EMAIL, "EMAIL")
find_ssns = _group_spans(_SSN, "SSN", "bare")

_NOT_NAMES = frozenset({"Denies", "Reports", "Has", "Is", "Was", "Presents", "Takes", "Complains", "States", "With"})

DETECTORS: tuple[Callable[[str], list[Span]], ...] = (
    find_emails,
    find_urls,
    find_ssns,
    _group_spans(_MRN, "MRN", "id"),
    _group_spans(_ACCOUNT, "ACCOUNT", "id"),
    _group_spans(_IP, "IP"),
    find_dates,
    find_phones,
    _group_spans(_ADDRESS, "ADDRESS"),
    _group_spans(_ZIP, "ZIP", "zip"),
    _group_spans(_AGE, "AGE", "a", "b"),
    find_names,
)


def find_identifiers(text: str) -> list[Span]:
    """Every identifier the patterns find (overlaps are resolved by ``mask``)."""
    return [span for detector in DETECTORS for span in detector(text)]


def deidentify(text: str) -> MaskedText:
    """``text`` with every identifier replaced by a typed placeholder such as ``[DATE]``."""
    return mask(text, find_identifiers(text))
