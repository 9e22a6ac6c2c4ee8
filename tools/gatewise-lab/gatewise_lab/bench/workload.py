"""The requests every configuration sends: the same sentences, so each sees the same mix of lengths."""

from __future__ import annotations

import numpy as np

SENTENCES = [
    "Shares rose after the company raised its full-year guidance.",
    "Revenue fell short of expectations and the stock dropped 8 percent in early trading.",
    "The board will meet on Thursday.",
    "Operating margin improved for the third consecutive quarter, driven by lower input costs and a stronger mix.",
    "Analysts cut their price target citing weak demand in Europe.",
    "The bank kept its dividend unchanged.",
    "Quarterly net loss widened as restructuring charges mounted and sales of the flagship product slowed.",
    "Great delivery, the product works exactly as described.",
    "Terrible customer service, I waited two weeks for a reply.",
    "It is okay for the price.",
]
"""26 to 109 bytes: a mix of lengths, as a text model's real traffic has."""


def texts_for(rows: int, offset: int = 0) -> np.ndarray:
    """``rows`` sentences as a BYTES array, starting at ``offset`` in the cycle."""
    return np.array([SENTENCES[(offset + i) % len(SENTENCES)].encode() for i in range(rows)], dtype=object)
