"""The HTTP front door's one error -> status table: ``{"error": "..."}`` as KServe answers.

A ``GatewiseError`` carries its HTTP status and a message meant for the client. Anything
else is a bug: the client gets 500 naming only its type (never its text, which may quote
a request, never a traceback), and the log gets the traceback, at most once every
``LOG_EVERY_S`` per exception type so a client cannot fill the log.
"""

from __future__ import annotations

import logging
import time

from gatewise.protos.errors import GatewiseError

log = logging.getLogger("gatewise.http")

LOG_EVERY_S = 10.0


class _Once:
    """At most one traceback per exception type every ``every_s``; counts the ones left out."""

    def __init__(self, every_s: float) -> None:
        self.every_s = every_s
        self._next_at: dict[str, float] = {}
        self._left_out: dict[str, int] = {}

    def __call__(self, what: str, exc: BaseException) -> None:
        kind = type(exc).__name__
        now = time.monotonic()
        if now < self._next_at.get(kind, 0.0):
            self._left_out[kind] = self._left_out.get(kind, 0) + 1
            return
        more = self._left_out.pop(kind, 0)
        suffix = f" ({more} more {kind} since the last such line)" if more else ""
        log.error("%s failed%s", what, suffix, exc_info=exc)
        self._next_at[kind] = now + self.every_s


_log_unexpected = _Once(LOG_EVERY_S)


def http_error(exc: BaseException, what: str) -> tuple[int, str]:
    """(status, message) a client gets when ``what`` (a route) failed with ``exc``."""
    if isinstance(exc, GatewiseError):
        return exc.http_status, exc.message
    _log_unexpected(what, exc)
    return 500, f"{what} failed: {type(exc).__name__}"
