"""Word-level explanation units for text models, taken from the text the model saw.

A unit is a word of the (possibly redacted) text, or a whole placeholder such as ``[CARD]``;
its offsets point into the client's original string. Removing a unit deletes it from the
redacted text (with one adjoining space), so a perturbed row is ordinary text the plugin's
own preprocessing takes, and everything kept reads exactly as the model saw it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np
from gatewise.plugins.common.masking import MaskedText
from gatewise.plugins.context import Tensors
from gatewise.plugins.explainer import Explainer, Unit, explain_label

WORD = re.compile(r"[^\W_]+(?:['’.\-][^\W_]+)*")
"""A word: letters or digits, with inner apostrophes, dots and hyphens (``don't``, ``3.5``, ``e-mail``)."""


def word_units(masked: MaskedText, seen: int | None = None) -> tuple[list[Unit], list[tuple[int, int]]]:
    """The units of ``masked`` and, for each, its span in ``masked.text`` (what perturbing removes).

    ``seen``: how much of ``masked.text`` the model sees (``text.encoding.seen_length``); words
    past it are truncated away before the model, cannot change its output and are not units.
    """
    limit = len(masked.text) if seen is None else min(seen, len(masked.text))
    units: list[Unit] = []
    spans: list[tuple[int, int]] = []
    for segment in masked.segments:
        if segment.masked_start >= limit:
            break
        if segment.placeholder:
            spans.append((segment.masked_start, segment.masked_end))
            text = masked.text[segment.masked_start : segment.masked_end]
            units.append(Unit(text=text, start=segment.original_start, end=segment.original_end))
            continue
        for match in WORD.finditer(masked.text, segment.masked_start, min(segment.masked_end, limit)):
            start, end = masked.to_original(match.start(), match.end())
            spans.append((match.start(), match.end()))
            units.append(Unit(text=match.group(), start=start, end=end))
    return units, spans


def without(text: str, spans: list[tuple[int, int]], keep: np.ndarray) -> str:
    """``text`` with every span whose ``keep`` is False deleted, and one space beside it."""
    pieces: list[str] = []
    cursor = 0
    last = ""  # the last character kept so far
    for (start, end), kept in zip(spans, keep, strict=True):
        if kept:
            continue
        piece = text[cursor:start]
        if piece:
            pieces.append(piece)
            last = piece[-1]
        cursor = end
        if (not last or last.isspace()) and cursor < len(text) and text[cursor] == " ":
            cursor += 1
    pieces.append(text[cursor:])
    return "".join(pieces)


def text_perturber(
    masked: MaskedText, spans: list[tuple[int, int]], input_name: str = "text", seen: int | None = None
) -> Callable:
    """``Explainer.perturb`` for one text input: each coalition's text as a BYTES row.

    With ``seen``, every coalition's text is cut there first: what the model never sees is in
    none of them, so leaving a word out never brings an unseen one into the model's window.
    """
    text = masked.text if seen is None else masked.text[:seen]

    def perturb(keep: np.ndarray) -> Tensors:
        rows = [without(text, spans, row).encode("utf-8") for row in keep]
        return {input_name: np.array(rows, dtype=object)}

    return perturb


def classifier_explainer(
    masked: MaskedText,
    probabilities: np.ndarray,
    labels: list[str],
    parameters: dict[str, Any],
    seen: int | None = None,
) -> Explainer:
    """Explain a text classifier's probability of the predicted label (or ``explain_label``) by words.

    ``probabilities``: the row's ``scores`` output, one per label. ``seen``: how much of
    ``masked.text`` the model sees (None: all of it); only those words are weighed.
    """
    index = explain_label(parameters, labels, int(np.argmax(probabilities)))
    units, spans = word_units(masked, seen)
    return Explainer(
        label=labels[index],
        target=f"probability of {labels[index]!r}",
        units=units,
        perturb=text_perturber(masked, spans, seen=seen),
        value=lambda outputs: np.asarray(outputs["scores"])[:, index],
    )
