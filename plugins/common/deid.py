"""Pattern de-identification of the HIPAA Safe Harbor identifiers that patterns can find.

Dates more specific than a year, phone and fax numbers, emails, SSNs, medical record and
account numbers, URLs, IP addresses, ZIP codes, street addresses, ages over 89 and names
that follow a title ("Dr.", "Mr.", "Patient"). Names elsewhere need a model and are not
claimed. A bare year ("in 2019") and ages up to 89 are kept, as Safe Harbor allows.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from gatewise.plugins.common import scanning
from gatewise.plugins.common.masking import MaskedText, Span, mask

# Every quantifier is bounded and no two repetitions can match the same characters, so each
# start position costs a bounded amount of work (linear time), and no match, lookarounds
# included, reaches more than REACH characters past its start (URL_REACH for a URL), so
# ``scanning.finditer`` can search in windows. GAP bounds a run of whitespace between a
# keyword and what follows it; an identifier is at most 66 characters, a URL 2,048, an
# email's local part 64 and a domain label 63.
GAP = 20
REACH = 300
URL_REACH = 2100

_MONTH = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|"
    r"Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.?"
)
_DAY = r"(?:[12]\d|3[01]|0?[1-9])(?:st|nd|rd|th)?"
_S = rf"\s{{1,{GAP}}}"  # whitespace that must be there
_S0 = rf"\s{{0,{GAP}}}"  # whitespace that may be there
_SEP = rf"{_S0}(?:[:#]{_S0})?"  # what may stand between a keyword and its value: "MRN: ", "SSN #"
_ID = r"\d[\d-]{3,64}\d"
_DATES = [
    re.compile(r"(?<!\d)\d{4}[-/.](?:0?[1-9]|1[0-2])[-/.](?:[12]\d|3[01]|0?[1-9])(?!\d)"),  # 2024-03-14
    re.compile(r"(?<![\d/.-])(?:[12]\d|3[01]|0?[1-9])[/.-](?:[12]\d|3[01]|0?[1-9])[/.-](?:\d{4}|\d{2})(?![\d/.-]?\d)"),
    re.compile(rf"\b{_MONTH}{_S}{_DAY}(?:,?{_S}\d{{4}})?\b"),  # March 14, 2024 / Mar 14
    re.compile(rf"\b{_DAY}{_S}(?:of{_S})?{_MONTH}(?:,?{_S}\d{{4}})?\b"),  # 14 March 2024
    re.compile(rf"\b{_MONTH}{_S}\d{{4}}\b"),  # March 2024 (the month is more specific than a year)
]
_PHONE = re.compile(
    r"(?<![\w+])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{2,4}\)[\s.-]?|\d{3}[\s.-])\d{3}[\s.-]\d{4}(?!\d)"
    r"|(?<![\w+])\+\d{1,3}(?:[\s.-]\d{2,4}){2,5}(?!\d)"
)
_EMAIL = re.compile(r"\b[\w.+-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63}){1,8}\b")
_EMAIL_LOCAL = re.compile(r"\b[\w.+-]{1,64}@")
_EMAIL_REACH = 64 + 1 + 64 * 9 + 1
_SSN = re.compile(rf"(?<!\d)\d{{3}}-\d{{2}}-\d{{4}}(?!\d)|(?i:\bSSN\b){_SEP}(?P<bare>\d{{9}})\b")
_MRN = re.compile(
    rf"(?i)\b(?:MRN|medical{_S}record(?:{_S}(?:number|no\.?|#))?|chart{_S0}(?:no\.?|#)){_SEP}"
    rf"(?P<id>[A-Z]{{0,3}}{_ID})"
)
_ACCOUNT = re.compile(
    rf"(?i)\b(?:account|acct|policy|member{_S}id|insurance{_S}id|health{_S}plan(?:{_S}id)?|beneficiary)"
    rf"(?:{_S}(?:number|no\.?|#|id))?{_SEP}(?P<id>[A-Z]{{0,4}}{_ID})"
)
_URL = re.compile(r"\b(?:https?://|www\.)[^\s<>\"']{1,2048}")
_IP = re.compile(r"(?<![\d.])(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)(?![\d.]?\d)")
_ZIP = re.compile(rf"(?:\b[A-Z]{{2}}{_S}|(?i:\bzip(?:{_S0}code)?){_SEP})(?P<zip>\d{{5}}(?:-\d{{4}})?)\b")
_ADDRESS = re.compile(
    rf"\b\d{{1,5}}{_S}(?:[A-Z][\w'-]{{0,40}}{_S}){{1,3}}"
    r"(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Court|Ct|Way|Place|Pl)\b\.?"
)
_WORD = re.compile(r"[^\W\d_][\w'’-]*")
_AGE = re.compile(
    rf"(?i)(?:\b(?:aged?|age:){_S0}(?P<a>9\d|1[0-4]\d)\b)|\b(?P<b>9\d|1[0-4]\d)(?=[\s-]{{0,{GAP}}}(?:years?|yrs?|y/?o)\b)"
)
_TITLE = re.compile(
    # The names sit in a lookahead so that a title inside them ("Dr. A and Mrs. B") is matched too.
    rf"\b(?:Dr|Mr|Mrs|Ms|Miss|Mx|Prof|Patient|Pt)\.?(?:{_S}name)?(?:{_S0}:{_S}|{_S})"
    rf"(?=(?P<names>(?:[^\W\d_][\w'’-]{{0,40}}\.?{_S0}){{1,3}}))",
    re.UNICODE,
)


def _group_spans(pattern: re.Pattern[str], kind: str, *groups: str) -> Callable[[str], list[Span]]:
    def find(text: str) -> list[Span]:
        spans = []
        for match in scanning.finditer(pattern, text, REACH):
            chosen = next((group for group in groups if match.group(group)), None) if groups else None
            start, end = match.span(chosen) if chosen else match.span()
            spans.append(Span(start, end, kind))
        return spans

    return find


def find_dates(text: str) -> list[Span]:
    return [Span(*match.span(), "DATE") for pattern in _DATES for match in scanning.finditer(pattern, text, REACH)]


def find_phones(text: str) -> list[Span]:
    """Phone numbers; FAX when "fax" comes just before."""
    spans = []
    for match in scanning.finditer(_PHONE, text, REACH):
        before = text[max(0, match.start() - 12) : match.start()].lower()
        spans.append(Span(*match.span(), "FAX" if "fax" in before else "PHONE"))
    return spans


def find_urls(text: str) -> list[Span]:
    return [
        Span(match.start(), match.start() + len(match.group().rstrip(".,;:!?)")), "URL")
        for match in scanning.finditer(_URL, text, URL_REACH)
    ]


def find_emails(text: str) -> list[Span]:
    """Email addresses, as ``_EMAIL.finditer`` finds them, searched only around each "@".

    A local part holds no "@", so the leftmost email left of an "@" ends there; searching
    the 65 characters before each "@" instead of every word start keeps text without one free.
    """
    spans: list[Span] = []
    searched_to = 0  # where the last email ended, or just after the last "@" looked at
    at = text.find("@")
    while at != -1:
        local = _EMAIL_LOCAL.search(text, max(searched_to, at - 64), at + 1)
        email = local and _EMAIL.match(text, local.start(), min(len(text), at + _EMAIL_REACH))
        if email:
            spans.append(Span(*email.span(), "EMAIL"))
            searched_to = email.end()
        else:
            searched_to = at + 1
        at = text.find("@", searched_to)
    return spans


def find_names(text: str) -> list[Span]:
    """Capitalised words after a title; stops at the first word that is not capitalised."""
    spans = []
    for match in scanning.finditer(_TITLE, text, REACH):
        start = match.start("names")
        end = start
        for word in _WORD.finditer(match.group("names")):
            if not word.group()[0].isupper() or word.group() in _NOT_NAMES:
                break
            end = start + word.end()
        if end > start:
            spans.append(Span(start, end, "NAME"))
    return spans


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
