"""Filling ``{slot}`` templates from word lists with a seeded random generator."""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Mapping, Sequence

SLOT = re.compile(r"\{(\w+)\}")
Vocabulary = Mapping[str, Sequence[str] | Callable[[random.Random], str]]


def fill(template: str, vocabulary: Vocabulary, rng: random.Random) -> str:
    """Replace every ``{slot}`` with a random choice (or a generated value) for that slot."""

    def choose(match: re.Match[str]) -> str:
        source = vocabulary[match.group(1)]
        return source(rng) if callable(source) else rng.choice(source)

    text = SLOT.sub(choose, template)
    return text[0].upper() + text[1:]


def labelled_sentences(
    templates: Mapping[str, Sequence[str]], vocabulary: Vocabulary, count: int, rng: random.Random
) -> list[dict[str, str]]:
    """``count`` distinct ``{"text", "label"}`` records, labels balanced across ``templates``."""
    labels = sorted(templates)
    records: list[dict[str, str]] = []
    seen: set[str] = set()
    attempts = 0
    while len(records) < count and attempts < count * 50:
        attempts += 1
        label = labels[len(records) % len(labels)]
        text = fill(rng.choice(templates[label]), vocabulary, rng)
        if text not in seen:
            seen.add(text)
            records.append({"text": text, "label": label})
    rng.shuffle(records)
    return records


def split_vocabulary(words: Sequence[str], held_out_every: int = 4) -> tuple[list[str], list[str]]:
    """Deterministically keep every ``held_out_every``-th word for the held-out split only."""
    train = [word for index, word in enumerate(words) if index % held_out_every]
    held_out = [word for index, word in enumerate(words) if not index % held_out_every]
    return train, held_out


def sentiment_splits(
    word_lists: Mapping[str, Sequence[str]],
    train_templates: Mapping[str, Sequence[str]],
    held_out_templates: Mapping[str, Sequence[str]],
    hand_written: Sequence[tuple[str, str]],
    seed: int,
    train_size: int,
    held_out_size: int,
) -> dict[str, list[dict[str, str]]]:
    """The ``train`` and ``held_out`` splits as ``{"text", "label"}`` records.

    Each word list is split with ``split_vocabulary``: ``train_templates`` fill from the
    training part, ``held_out_templates`` from the held-out part, and the held-out split
    ends with the ``(label, text)`` pairs of ``hand_written``.
    """
    rng = random.Random(seed)
    train_vocabulary: dict[str, list[str]] = {}
    held_out_vocabulary: dict[str, list[str]] = {}
    for slot, words in word_lists.items():
        train_vocabulary[slot], held_out_vocabulary[slot] = split_vocabulary(words)
    train = labelled_sentences(train_templates, train_vocabulary, train_size, rng)
    held_out = labelled_sentences(held_out_templates, held_out_vocabulary, held_out_size, rng)
    held_out += [{"text": text, "label": label} for label, text in hand_written]
    return {"train": train, "held_out": held_out}
