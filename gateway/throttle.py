"""Log lines a client can trigger at will, at most one per interval per kind.

A refused call (bad token, full queue, a message that does not parse) or a failed batch is
one request's problem, but a client can send thousands a second; a line for each would fill
the disk and cost the event loop the formatting. ``RateLimitedLog`` writes the first line of
each kind, then one every ``every_s`` saying how many like it were left out in between.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

EVERY_S = 10.0
"""Default: at most one line per kind every this many seconds."""


class RateLimitedLog:
    """One line per ``every_s`` per kind on ``logger``; safe to call from any thread."""

    def __init__(self, logger: logging.Logger, every_s: float = EVERY_S) -> None:
        self.logger = logger
        self.every_s = every_s
        self._lock = threading.Lock()
        self._next_at: dict[str, float] = {}
        self._left_out: dict[str, int] = {}

    def __call__(self, level: int, kind: str, message: str, *args: Any, exc_info: Any = None) -> bool:
        """Log ``message % args`` unless a ``kind`` line went out less than ``every_s`` ago; True if logged."""
        if not self.logger.isEnabledFor(level):
            return False
        now = time.monotonic()
        with self._lock:
            if now < self._next_at.get(kind, 0.0):
                self._left_out[kind] = self._left_out.get(kind, 0) + 1
                return False
            if len(self._next_at) > 1024:  # kinds are the gateway's own words, but stay bounded anyway
                self._next_at.clear()
                self._left_out.clear()
            self._next_at[kind] = now + self.every_s
            left_out = self._left_out.pop(kind, 0)
        more = f" ({left_out} more like it in the last {self.every_s:g} s not logged)" if left_out else ""
        self.logger.log(level, message + "%s", *args, more, exc_info=exc_info)
        return True
