"""BIO tags per token -> entity spans, with a confidence per span and offsets into the original text."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from gatewise.plugins.common import bio
from gatewise.plugins.common.abstention import UNCERTAIN
from gatewise.plugins.common.masking import MaskedText


@dataclass(frozen=True)
class Entity:
    """One merged span; ``start``/``end`` index the text the client sent."""

    label: str
    start: int
    end: int
    score: float

    def as_json(self) -> dict[str, object]:
        return {"label": self.label, "start": self.start, "end": self.end, "score": round(self.score, 4)}


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
) -> list[bio.TaggedSpan]:
    """Spans ``(type, start, end, confidence)`` in the offsets' text from one row of token probabilities.

    Each word takes the tag of its first word piece, so a span never ends inside a word.
    Tags are read strictly (only ``B-``/``I-``; the label set is BIO). A word's score is the
    probability of its type ``X`` (``B-X`` + ``I-X``), so a span's confidence is its mean.
    """
    type_columns: dict[str, list[int]] = {}
    for column, tag in enumerate(labels):
        prefix, kind = bio.split_tag(tag, strict=True)
        if prefix != bio.OUTSIDE:
            type_columns.setdefault(kind, []).append(column)
    tagged = []
    for token, start, end in words_of(offsets, word_ids):
        tag = labels[int(probabilities[token].argmax())]
        kind = bio.split_tag(tag, strict=True)[1]
        tagged.append((start, end, tag, float(probabilities[token, type_columns.get(kind, [])].sum())))
    return bio.merge_bio(tagged, strict=True)


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
