"""Console sessions: an opaque id in a cookie, the credential kept in this process's memory only.

The browser holds a random id (HttpOnly, SameSite=Strict, Secure under TLS), never the API key
or JWT, so no script on the page can read the credential and nothing is written to disk. The
table is bounded (the least recently used session goes first) and a session idle for longer
than ``idle_s`` is gone. Each session has its own CSRF token, which every state-changing
request authenticated by the cookie must echo in ``X-CSRF-Token``.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

COOKIE = "gatewise_console"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass
class Session:
    """One signed-in browser: the credential it signed in with (None where the server has no tokens)."""

    id: str
    csrf: str
    credential: str | None
    principal: str
    last_seen: float = field(default=0.0)

    def csrf_matches(self, token: str | None) -> bool:
        return token is not None and hmac.compare_digest(token.encode(), self.csrf.encode())


class Sessions:
    """The sessions of one server process; used from the event loop only (no lock)."""

    def __init__(self, max_sessions: int, idle_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_sessions = max_sessions
        self.idle_s = idle_s
        self._clock = clock
        self._table: OrderedDict[str, Session] = OrderedDict()

    def __len__(self) -> int:
        return len(self._table)

    def create(self, credential: str | None, principal: str) -> Session:
        """A new session (a fresh id: never one a browser brought); past the bound, the least recently used goes."""
        self._expire()
        while len(self._table) >= self.max_sessions:
            self._table.popitem(last=False)
        session = Session(secrets.token_urlsafe(32), secrets.token_urlsafe(32), credential, principal, self._clock())
        self._table[session.id] = session
        return session

    def get(self, session_id: str | None) -> Session | None:
        """The live session with this id (and marks it used), or None: unknown, or idle too long."""
        if not session_id:
            return None
        session = self._table.get(session_id)
        if session is None:
            return None
        now = self._clock()
        if now - session.last_seen > self.idle_s:
            del self._table[session_id]
            return None
        session.last_seen = now
        self._table.move_to_end(session_id)
        return session

    def drop(self, session_id: str | None) -> None:
        if session_id:
            self._table.pop(session_id, None)

    def _expire(self) -> None:
        """Drop idle sessions from the oldest end (the table is in order of last use)."""
        now = self._clock()
        while self._table:
            oldest = next(iter(self._table.values()))
            if now - oldest.last_seen <= self.idle_s:
                return
            self._table.popitem(last=False)
