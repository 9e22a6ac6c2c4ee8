"""The shared store: PostgreSQL through psycopg 3, for several replicas writing one database.

Each replica's process writes its own chains, so writers never contend for a row. psycopg 3
is the maintained PostgreSQL driver (libpq underneath, server-side parameter binding); it is
an optional extra (``pip install gatewise[postgres]``) imported only when a URL is given.
"""

from __future__ import annotations

import re
from typing import Any

from gatewise.gateway.records.store import Store, StoreError

MIGRATION_LOCK = 0x6761746577697365
"""An advisory lock key ("gatewise"): replicas starting together migrate one at a time."""
CONNECT_TIMEOUT_S = 5
STATEMENT_TIMEOUT_MS = 10_000
"""A commit that hangs (a network partition) fails after this, so ``require`` answers instead of waiting."""


def _driver() -> Any:
    try:
        import psycopg
    except ImportError as exc:
        raise StoreError("--records-url needs psycopg: pip install 'gatewise[postgres]'") from exc
    return psycopg


class PostgresStore(Store):
    dialect = "postgresql"

    def __init__(self, url: str) -> None:
        super().__init__()
        if not url.startswith(("postgresql://", "postgres://")):
            raise StoreError(f"--records-url must start with postgresql://, got {_safe(url)!r}")
        self.url = url
        self.errors = (_driver().Error,)

    @property
    def describe(self) -> str:
        return f"records database {_safe(self.url)}"

    def _connect(self) -> Any:
        return _driver().connect(
            self.url,
            connect_timeout=CONNECT_TIMEOUT_S,
            application_name="gatewise-records",
            options=f"-c statement_timeout={STATEMENT_TIMEOUT_MS}",
        )

    def _sql(self, sql: str) -> str:
        return sql.replace("%", "%%").replace("?", "%s")

    def _begin(self, cursor: Any, *, exclusive: bool = False) -> None:
        if exclusive:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))


def _safe(url: str) -> str:
    """The URL without its password, for messages and logs."""
    return re.sub(r"(://[^:/@]*):[^@]*@", r"\1:***@", url)
