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


def words_of(offsets: list[tuple[int, int]], word_ids: list[int | None]) -> list[tuple[int, int, int]]:
    """``(first token, start, end)`` per word: a word is labelled by its first word piece."""
    words: dict[int, list[int]] = {}
    for token, word in enumerate(word_ids):
        if word is None or offsets[token][0] == offsets[token][1]:
            continue
        if word not in words:
            words[word] = [token, offsets[token][0], offsets[token][1]]
        words[word][2] = offsets[token][1]
    return [tuple(item) for item in words.values()]


def merge_bio(
    probabilities: np.ndarray, offsets: list[tuple[int, int]], word_ids: list[int | None], labels: list[str]
) -> list[tuple[str, int, int, float]]:
    """Spans ``(type, start, end, confidence)`` in the offsets' text from one row of token probabilities.

    Each word takes the tag of its first word piece, so a span never ends inside a word. A
    span starts at ``B-X`` (or at an ``I-X`` that does not continue an ``X`` span, what a
    model most often gets wrong) and grows over ``I-X`` words. Its confidence is the mean,
    over its words, of the probability of type ``X`` (``B-X`` + ``I-X``).
    """
    type_columns: dict[str, list[int]] = {}
    for column, tag in enumerate(labels):
        prefix, kind = _kind(tag)
        if prefix != "O":
            type_columns.setdefault(kind, []).append(column)
    spans: list[list] = []
    current: list | None = None
    for token, start, end in words_of(offsets, word_ids):
        prefix, kind = _kind(labels[int(probabilities[token].argmax())])
        if prefix == "O" or prefix == "B" or (current is not None and kind != current[0]):
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
    probabilities: np.ndarray,
    offsets: list[tuple[int, int]],
    word_ids: list[int | None],
    labels: list[str],
    masked: MaskedText,
    floor: float,
) -> list[Entity]:
    """Entities of one row, mapped back to the original text; ``uncertain`` below ``floor``.

    A span that overlaps a placeholder is dropped: an entity never points at an identifier.
    """
    found = []
    for kind, start, end, score in merge_bio(probabilities, offsets, word_ids, labels):
        if masked.touches_placeholder(start, end):
            continue
        original_start, original_end = masked.to_original(start, end)
        found.append(Entity(kind if score >= floor else UNCERTAIN, original_start, original_end, score))
    return found
