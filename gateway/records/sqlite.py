"""The embedded store: one SQLite file in the records folder, in WAL mode (standard ``sqlite3``).

WAL lets ``gatewise records query`` read while the server writes, and a process killed
mid-write leaves the last committed transaction intact (the WAL is replayed on open).
``synchronous = NORMAL`` syncs at WAL checkpoints rather than at every commit: a killed
process loses nothing committed, a power cut may lose the last commits (``FULL`` would
not, at one fsync per commit). Several workers of one server share the file; each commit is
short, and ``busy_timeout`` makes them take turns instead of failing.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from gatewise.gateway.records.store import Store, StoreError

FILE = "records.sqlite"
BUSY_TIMEOUT_MS = 5000


class SQLiteStore(Store):
    dialect = "sqlite"
    errors = (sqlite3.Error,)

    def __init__(self, folder: Path) -> None:
        super().__init__()
        self.folder = Path(folder)
        self.path = self.folder / FILE

    @property
    def describe(self) -> str:
        return f"records file {self.path}"

    def _connect(self) -> sqlite3.Connection:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"records folder {self.folder}: cannot create ({exc.strerror})") from exc
        # isolation_level=None: transactions are begun explicitly (``_begin``), so a migration can
        # take the write lock before it reads the schema version.
        conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        return conn

    def _begin(self, cursor: Any, *, exclusive: bool = False) -> None:
        cursor.execute("BEGIN IMMEDIATE" if exclusive else "BEGIN")

    def integrity_check(self) -> str:
        """SQLite's own ``PRAGMA integrity_check``: ``ok`` or what is wrong."""
        rows = self._rows("PRAGMA integrity_check")
        return "; ".join(str(next(iter(row.values()))) for row in rows)
