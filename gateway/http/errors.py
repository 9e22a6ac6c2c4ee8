"""The HTTP front door's one error -> status table: ``{"error": "..."}`` as KServe answers.

A ``GatewiseError`` carries its HTTP status and a message meant for the client. Anything
else is a bug: the client gets 500 naming only its type (never its text, which may quote
a request, never a traceback), and the log gets the traceback, at most once every
``throttle.EVERY_S`` per exception type so a client cannot fill the log.
"""

from __future__ import annotations

import logging

from gatewise.gateway.throttle import RateLimitedLog
from gatewise.protos.errors import GatewiseError

log = logging.getLogger("gatewise.http")

_log_unexpected = RateLimitedLog(log)
"""One traceback per exception type per ``throttle.EVERY_S``: a client can trigger them at will."""


def http_error(exc: BaseException, what: str) -> tuple[int, str]:
    """(status, message) a client gets when ``what`` (a route) failed with ``exc``."""
    if isinstance(exc, GatewiseError):
        return exc.http_status, exc.message
    _log_unexpected(logging.ERROR, type(exc).__name__, "%s failed", what, exc_info=exc)
    return 500, f"{what} failed: {type(exc).__name__}"
