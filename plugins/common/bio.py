"""BIO tags per word -> entity spans: the one merger every token-classification plugin uses.

A span opens at ``B-X`` (or at an ``I-X`` that does not continue an ``X`` span, what a
model most often gets wrong), grows over ``I-X`` words, and closes at ``O`` or at a word
of another type. Its score is the mean of its words' scores. Label sets differ in how they
spell tags, so how a tag reads is the caller's explicit choice (``strict``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

import numpy as np

OUTSIDE = "O"


class TaggedSpan(NamedTuple):
    """One merged span: its type, ``start``/``end`` offsets of the words' text, mean word score."""

    kind: str
    start: int
    end: int
    score: float


def split_tag(tag: str, *, strict: bool = False) -> tuple[str, str]:
    """``("B", "PER")`` for ``B-PER`` and ``("O", "")`` for ``O``.

    ``strict``: only ``B-`` and ``I-`` prefixes count and any other tag is outside.
    Otherwise BIOES/BILOU prefixes read as ``B`` (S, U) or ``I`` (E, L) and a bare tag
    (``PER``) as ``I``, so models trained with other schemes still give spans.
    """
    if strict:
        return (tag[0], tag[2:]) if tag[:2] in ("B-", "I-") else (OUTSIDE, "")
    if tag == OUTSIDE or not tag:
        return OUTSIDE, ""
    prefix, dash, kind = tag.partition("-")
    if dash and prefix in ("B", "I", "E", "S", "L", "U"):
        return ("B" if prefix in ("B", "S", "U") else "I"), kind
    return "I", tag


def merge_bio(words: Iterable[tuple[int, int, str, float]], *, strict: bool) -> list[TaggedSpan]:
    """Spans from tagged words ``(start, end, tag, score)`` in text order (tags read by ``split_tag``)."""
    spans: list[list] = []
    current: list | None = None
    for start, end, tag, score in words:
        prefix, kind = split_tag(tag, strict=strict)
        if prefix in (OUTSIDE, "B") or (current is not None and kind != current[0]):
            current = None
        if prefix == OUTSIDE:
            continue
        if current is None:
            current = [kind, start, end, []]
            spans.append(current)
        current[2] = max(current[2], end)
        current[3].append(score)
    return [TaggedSpan(kind, start, end, float(np.mean(scores))) for kind, start, end, scores in spans]
