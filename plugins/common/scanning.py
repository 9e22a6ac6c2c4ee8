"""Run a bounded-reach pattern over text of any length in windows: linear time, short GIL holds.

Python's ``re`` holds the GIL for a whole search, so one ``finditer`` step over a 1 MiB row
with no match stops every other thread (the event loop included) for the whole scan. Every
identifier pattern in the built-in plugins has a bounded *reach*: no match, lookahead
included, extends more than ``reach`` characters past where it starts (quantifiers are
bounded, docs/security.md). Such a pattern gives the same matches when it is searched one
window at a time, each window extended by ``reach`` so that a match starting in it is seen
whole, and a search never holds the GIL for more than one window.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

WINDOW = 4096
"""Characters whose match starts one search covers (plus ``reach`` to see those matches whole)."""


def finditer(pattern: re.Pattern[str], text: str, reach: int, window: int = WINDOW) -> Iterator[re.Match[str]]:
    """The matches ``pattern.finditer(text)`` gives, for a pattern that never reaches past ``reach``.

    Lookbehinds see the text before each window (``pos`` does not hide it); the end of a
    window is ``reach`` characters past the last start it accepts, so a lookahead there
    sees the same characters as in the whole text.
    """
    size = len(text)
    if size <= window + reach:
        yield from pattern.finditer(text)
        return
    position = 0
    core_start = 0
    while core_start < size:
        core_end = min(core_start + window, size)
        for match in pattern.finditer(text, max(position, core_start), min(core_end + reach, size)):
            if match.start() >= core_end:
                break  # the next window finds it again, with its own lookahead room
            yield match
            position = match.end()
        core_start = core_end
