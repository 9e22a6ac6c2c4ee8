"""Replace found identifiers with typed placeholders and map offsets back to the original text.

Shared by the finance and medical plugins and by log redaction: detectors find ``Span``s
in the client's text, ``mask`` builds the text the model sees (``[CARD]``, ``[DATE]`` ...),
and the returned ``MaskedText`` maps any span of that text back to offsets in the
original, so responses point into what the client sent. Offsets are Python string indices (code points).
"""

from __future__ import annotations

import json
import re
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

KIND = re.compile(r"[A-Z][A-Z0-9_]*")
"""A redaction type: upper-case letters, digits and underscores (``CARD``, ``POLICY_NUMBER``)."""


@dataclass(frozen=True, order=True)
class Span:
    """An identifier found in the original text: ``text[start:end]`` is of ``kind``.

    ``kind`` is the redaction type: the ``type`` of the ``redactions`` output and, in brackets,
    the tag the model sees (``[CARD]``). It must match ``KIND``; another raises TypeError when
    the span is made (a plugin bug, so an INTERNAL error naming the plugin, never the client's fault).
    """

    start: int
    end: int
    kind: str

    def __post_init__(self) -> None:
        if not isinstance(self.kind, str) or not KIND.fullmatch(self.kind):
            raise TypeError(
                f"Span kind {self.kind!r} is not a redaction type: use upper-case letters, digits and "
                "underscores, such as 'CARD' or 'POLICY_NUMBER'"
            )


@dataclass(frozen=True)
class _Segment:
    masked_start: int
    masked_end: int
    original_start: int
    original_end: int
    placeholder: bool


@dataclass(frozen=True)
class MaskedText:
    """The text the model sees, the spans masked in it, and the offset map between the two."""

    text: str
    spans: tuple[Span, ...]
    segments: tuple[_Segment, ...]

    def to_original(self, start: int, end: int) -> tuple[int, int]:
        """Offsets in the original text of ``masked[start:end]``; a placeholder maps to all it hides."""
        return self._position(start, at_end=False), self._position(end, at_end=True)

    def touches_placeholder(self, start: int, end: int) -> bool:
        """True when ``masked[start:end]`` overlaps a placeholder (mapped back, it would include an identifier)."""
        first = max(0, bisect_right(self._starts, start) - 1)  # segments tile the masked text, in order
        for index in range(first, len(self.segments)):
            segment = self.segments[index]
            if segment.masked_start >= end:
                return False
            if segment.placeholder and start < segment.masked_end:
                return True
        return False

    @cached_property
    def _starts(self) -> list[int]:
        """Where each segment starts in the masked text: one bisect per lookup, not a scan of every segment."""
        return [segment.masked_start for segment in self.segments]

    def redactions(self) -> list[dict[str, object]]:
        """``{"type", "start", "end"}`` per masked span: where, never what."""
        return [{"type": span.kind, "start": span.start, "end": span.end} for span in self.spans]

    def _position(self, position: int, *, at_end: bool) -> int:
        probe = position - 1 if at_end and position > 0 else position
        index = max(0, bisect_right(self._starts, probe) - 1)
        segment = self.segments[index]
        if segment.placeholder:
            return segment.original_end if at_end else segment.original_start
        return segment.original_start + min(
            position - segment.masked_start, segment.original_end - segment.original_start
        )


def as_kind(name: str) -> str:
    """``name`` as a redaction type: upper-cased, other characters as ``_`` (``policy number`` ->
    ``POLICY_NUMBER``), ``REDACTED`` when nothing is left; for types read from elsewhere (a plugin's
    hand-written ``redactions`` JSON), which must still be masked."""
    kind = re.sub(r"[^A-Z0-9_]", "_", name.upper()).strip("_")
    return kind if KIND.fullmatch(kind) else "REDACTED"


def resolve_overlaps(spans: Iterable[Span]) -> list[Span]:
    """Non-overlapping spans in text order; of two overlapping, the earlier then the longer wins."""
    chosen: list[Span] = []
    for span in sorted(spans, key=lambda item: (item.start, -(item.end - item.start))):
        if span.end <= span.start:
            continue
        if chosen and span.start < chosen[-1].end:
            continue
        chosen.append(span)
    return chosen


def placeholder(kind: str) -> str:
    """The typed placeholder the model sees instead of an identifier of ``kind``."""
    return f"[{kind}]"


def mask(text: str, spans: Iterable[Span]) -> MaskedText:
    """``text`` with every span replaced by its placeholder, and the offset map."""
    pieces: list[str] = []
    segments: list[_Segment] = []
    kept = resolve_overlaps(spans)
    cursor = 0
    length = 0
    for span in kept:
        if span.start > cursor:
            piece = text[cursor : span.start]
            segments.append(_Segment(length, length + len(piece), cursor, span.start, False))
            pieces.append(piece)
            length += len(piece)
        token = placeholder(span.kind)
        segments.append(_Segment(length, length + len(token), span.start, span.end, True))
        pieces.append(token)
        length += len(token)
        cursor = span.end
    if cursor < len(text) or not segments:
        segments.append(_Segment(length, length + len(text) - cursor, cursor, len(text), False))
        pieces.append(text[cursor:])
    return MaskedText("".join(pieces), tuple(kept), tuple(segments))


def redactions_tensor(masked: Sequence[MaskedText]) -> np.ndarray:
    """The ``redactions`` output: one JSON list per row, as BYTES."""
    return np.array([json.dumps(item.redactions()).encode() for item in masked], dtype=object)
