"""BIO tags per token -> entity spans, with a confidence per span and offsets into the original text."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from plugins.finance.masking import MaskedText
from plugins.medical.abstention import UNCERTAIN


@dataclass(frozen=True)
class Entity:
    """One merged span; ``start``/``end`` index the text the client sent."""

    label: str
    start: int
    end: int
    score: float

    def as_json(self) -> dict[str, object]:
        return {"label": self.label, "start": self.start, "end": self.end, "score": round(self.score, 4)}


def _kind(tag: str) -> tuple[str, str]:
    return (tag[0], tag[2:]) if tag[:2] in ("B-", "I-") else ("O", "")


def merge_bio(
    probabilities: np.ndarray, offsets: list[tuple[int, int]], labels: list[str]
) -> list[tuple[str, int, int, float]]:
    """Spans ``(type, start, end, confidence)`` in the offsets' text from one row of token probabilities.

    A span starts at ``B-X`` (or at an ``I-X`` that does not continue an ``X`` span, which
    is what a model most often gets wrong) and grows over ``I-X`` tokens and over word
    pieces that touch the previous token. Its confidence is the mean, over its tokens, of
    the probability of type ``X`` (``B-X`` + ``I-X``).
    """
    type_columns: dict[str, list[int]] = {}
    for column, tag in enumerate(labels):
        prefix, kind = _kind(tag)
        if prefix != "O":
            type_columns.setdefault(kind, []).append(column)
    spans: list[tuple[str, int, int, list[float]]] = []
    current: list | None = None
    for token, (start, end) in enumerate(offsets):
        if start == end:
            current = None
            continue
        prefix, kind = _kind(labels[int(probabilities[token].argmax())])
        touches = current is not None and start == current[2]
        if prefix == "O" or (prefix == "B" and not touches) or (current is not None and kind != current[0]):
            current = None
        if prefix == "O":
            continue
        if current is None:
            current = [kind, start, end, []]
            spans.append(current)
        current[2] = end
        current[3].append(float(probabilities[token, type_columns[kind]].sum()))
    return [(kind, start, end, float(np.mean(scores))) for kind, start, end, scores in spans]


def entities_of_row(
    probabilities: np.ndarray, offsets: list[tuple[int, int]], labels: list[str], masked: MaskedText, floor: float
) -> list[Entity]:
    """Entities of one row, mapped back to the original text; ``uncertain`` below ``floor``.

    A span made only of placeholders is dropped: it would point at a removed identifier.
    """
    found = []
    for kind, start, end, score in merge_bio(probabilities, offsets, labels):
        if masked.covers_only_placeholders(start, end):
            continue
        original_start, original_end = masked.to_original(start, end)
        found.append(Entity(kind if score >= floor else UNCERTAIN, original_start, original_end, score))
    return found
