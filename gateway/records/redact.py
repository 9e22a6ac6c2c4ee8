"""What of a request may reach the store: inputs with identifiers replaced by their tags, or a keyed digest.

Identifiers are found twice over: the spans the model's own plugin masked (its ``redactions``
output) and every detector the built-in plugins have (finance: cards, IBANs, account numbers;
medical: the Safe Harbor patterns), so a model whose plugin masks nothing (retail, a
third-party plugin) still never puts a card number or a phone number in a record. Outputs and
explanations are scrubbed too: a unit whose offsets touch an identifier shows the tag, and
any identifier value that reappears in an output string is replaced by its tag.
Errs towards privacy: a capitalised word the name detector takes for a name is masked.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gatewise.plugins.common.deid import find_identifiers
from gatewise.plugins.common.finance_detectors import find_financial_identifiers
from gatewise.plugins.common.masking import Span, as_kind, mask, placeholder, resolve_overlaps

_DETECTORS: tuple[Callable[[str], list[Span]], ...] = (find_financial_identifiers, find_identifiers)


@dataclass(frozen=True)
class RedactedText:
    """One input string as kept: the masked text and the identifiers that were in it (never stored)."""

    text: str
    spans: tuple[Span, ...]
    values: tuple[tuple[str, str], ...]
    """(identifier, tag) pairs, longest first: for scrubbing outputs of this row, never stored."""


def redact_text(text: str, own: list[dict[str, Any]] | None = None) -> RedactedText:
    """``text`` with the plugin's own masked spans (``own``) and every detector's spans replaced by tags."""
    spans = [Span(int(item["start"]), int(item["end"]), as_kind(str(item["type"]))) for item in own or ()]
    spans += [span for detect in _DETECTORS for span in detect(text)]
    kept = tuple(resolve_overlaps(spans))
    values = sorted(
        {(text[span.start : span.end], placeholder(span.kind)) for span in kept if span.end > span.start},
        key=lambda pair: -len(pair[0]),
    )
    return RedactedText(mask(text, kept).text if kept else text, kept, tuple(values))


def scrub_string(value: str, row: RedactedText | None) -> str:
    """``value`` with this row's identifier values and anything the detectors find replaced by tags."""
    if row is not None:
        for raw, tag in row.values:
            if raw:
                value = value.replace(raw, tag)
    if _plain_word(value):
        return value
    found = [span for detect in _DETECTORS for span in detect(value)]
    return mask(value, found).text if found else value


def _plain_word(value: str) -> bool:
    """One short ASCII word without digits (a label such as ``positive`` or ``B-PROBLEM``): no detector
    matches one, so the detectors are skipped for it (they cost most of a record's build)."""
    return len(value) <= 40 and value.isascii() and value.replace("-", "").replace("_", "").isalpha()


def scrub(value: Any, row: RedactedText | None) -> Any:
    """A JSON-like value with every string scrubbed (``scrub_string``) and every
    ``{"text", "start", "end"}`` unit that touches an identifier shown as its tag."""
    if isinstance(value, str):
        return scrub_string(value, row)
    if isinstance(value, list):
        return [scrub(item, row) for item in value]
    if isinstance(value, dict):
        unit = _touching(value, row)
        if unit is not None:
            return {**{key: scrub(item, row) for key, item in value.items() if key != "text"}, "text": unit}
        return {key: scrub(item, row) for key, item in value.items()}
    return value


def _touching(item: dict[str, Any], row: RedactedText | None) -> str | None:
    """The tag to show for a unit ``{"text", "start", "end"}`` that overlaps an identifier span."""
    if row is None or not {"text", "start", "end"} <= item.keys():
        return None
    start, end = item["start"], item["end"]
    if not isinstance(start, int) or not isinstance(end, int):
        return None
    for span in row.spans:
        if span.start < end and start < span.end:
            return placeholder(span.kind)
    return None


def digest(key: bytes, inputs: dict[str, Any]) -> str:
    """HMAC-SHA256 of the raw inputs, canonically serialised: identical inputs give identical digests."""
    canonical = json.dumps(inputs, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hmac.new(key, canonical.encode(), hashlib.sha256).hexdigest()


def strip_words(value: Any) -> Any:
    """An explanation without the words of the input (``inputs = "digest"`` keeps none): offsets and weights stay."""
    if isinstance(value, list):
        return [strip_words(item) for item in value]
    if isinstance(value, dict):
        return {key: strip_words(item) for key, item in value.items() if key != "text"}
    return value
