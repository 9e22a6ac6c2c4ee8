"""Where records live: one small interface, an SQLite file (embedded default) or PostgreSQL (several replicas).

Both are driven through DB-API with the same SQL (``?`` placeholders, rewritten for psycopg),
so the interface is the SQL itself and a backend only says how to connect. ``open_store``
picks one from ``--records DIR`` or ``--records-url postgresql://...``. Each method is one
transaction; none is safe to share across threads (the writer and the CLI open their own).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gatewise.gateway.records import schema
from gatewise.gateway.records.chain import CHAINED

COLUMNS = (*CHAINED, "hash")
SUMMARY = ("id", "kind", "time", "model", "version", "principal", "status", "decision", "latency_ms")
JSON_COLUMNS = ("inputs", "outputs", "explanation")


class StoreError(Exception):
    """The store cannot be opened, read or written (unreachable, unwritable, full, corrupt)."""


@dataclass(frozen=True)
class Filters:
    """What ``gatewise records query`` and ``export`` select; None is any."""

    model: str | None = None
    version: str | None = None
    since: str | None = None
    until: str | None = None
    decision: str | None = None
    principal: str | None = None
    status: str | None = None
    kind: str | None = "decision"
    models: tuple[str, ...] | None = None
    """Only these models (the console's: those its caller may call); None is any."""


class Store:
    """A records database. Subclasses set ``dialect`` and implement ``_connect``."""

    dialect = ""
    errors: tuple[type[BaseException], ...] = ()
    """The driver's exceptions that mean the store failed (wrapped as StoreError)."""

    def __init__(self) -> None:
        self._conn: Any = None

    # ---------------------------------------------------------------- connection

    def _connect(self) -> Any:
        raise NotImplementedError

    def _sql(self, sql: str) -> str:
        return sql

    def _begin(self, cursor: Any, *, exclusive: bool = False) -> None:
        """Start a transaction; ``exclusive`` one that no other process's migration runs beside."""

    @property
    def describe(self) -> str:
        raise NotImplementedError

    def connect(self) -> None:
        """Open (or reopen) the connection and bring the schema up to date."""
        self.close()
        try:
            self._conn = self._connect()
            self.migrate()
        except self.errors as exc:
            self.close()
            raise StoreError(f"{self.describe}: {exc}") from exc

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except self.errors:
                pass
            self._conn = None

    @property
    def connected(self) -> bool:
        return self._conn is not None

    def _run(self, work: Any) -> Any:
        """Run ``work(cursor)`` in one transaction; a driver failure rolls back and becomes StoreError."""
        if self._conn is None:
            self.connect()
        try:
            cursor = self._conn.cursor()
            try:
                self._begin(cursor)
                result = work(cursor)
            finally:
                cursor.close()
            self._conn.commit()
            return result
        except self.errors as exc:
            try:
                self._conn.rollback()
            except self.errors:
                self.close()  # the connection itself is gone: reconnect next time
            raise StoreError(f"{self.describe}: {exc}") from exc

    def _execute(self, cursor: Any, sql: str, params: Sequence[Any] = ()) -> Any:
        cursor.execute(self._sql(sql), tuple(params))
        return cursor

    # ---------------------------------------------------------------- schema

    def migrate(self) -> int:
        """Apply the migrations this store lacks; returns the schema version."""

        def work(cursor: Any) -> int:
            self._execute(cursor, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row = self._execute(cursor, "SELECT MAX(version) FROM schema_version").fetchone()
            current = row[0] or 0
            if current > schema.LATEST:
                raise StoreError(
                    f"{self.describe}: schema version {current} is newer than this gatewise ({schema.LATEST})"
                )
            for version, sql in schema.statements(self.dialect, current):
                self._execute(cursor, sql)
                if version != current:
                    self._execute(cursor, "INSERT INTO schema_version (version) VALUES (?)", (version,))
                    current = version
            return current

        cursor = self._conn.cursor()
        try:
            self._begin(cursor, exclusive=True)
            version = work(cursor)
        finally:
            cursor.close()
        self._conn.commit()
        return version

    # ---------------------------------------------------------------- writing

    def open_chain(
        self, chain: str, writer: str, model: str, host: str, pid: int, started: str, retention_days: int | None
    ) -> tuple[int, str | None]:
        """Register a chain (or find it again after a reconnect): its last (seq, hash) in the store."""

        def work(cursor: Any) -> tuple[int, str | None]:
            found = self._execute(cursor, "SELECT 1 FROM chains WHERE chain = ?", (chain,)).fetchone()
            if found is None:
                self._execute(
                    cursor,
                    "INSERT INTO chains (chain, writer, model, host, pid, started, retention_days) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (chain, writer, model, host, pid, started, retention_days),
                )
            last = self._execute(
                cursor, "SELECT seq, hash FROM records WHERE chain = ? ORDER BY seq DESC LIMIT 1", (chain,)
            ).fetchone()
            if last is not None:
                return int(last[0]), str(last[1])
            anchor = self._execute(cursor, "SELECT seq, hash FROM anchors WHERE chain = ?", (chain,)).fetchone()
            return (int(anchor[0]), str(anchor[1])) if anchor else (0, None)

        return self._run(work)

    def append(self, records: Sequence[dict[str, Any]], checkpoints: Sequence[dict[str, Any]] = ()) -> None:
        """Insert records (and signed checkpoints) in one transaction: all kept, or none."""
        placeholders = ", ".join("?" for _ in COLUMNS)
        insert = f"INSERT INTO records ({', '.join(COLUMNS)}) VALUES ({placeholders})"

        def work(cursor: Any) -> None:
            cursor.executemany(self._sql(insert), [tuple(record[column] for column in COLUMNS) for record in records])
            last: dict[str, int] = {}
            for record in records:
                last[record["chain"]] = max(last.get(record["chain"], 0), record["seq"])
            for chain, seq in last.items():
                self._execute(cursor, "UPDATE chains SET last_seq = ? WHERE chain = ?", (seq, chain))
            for point in checkpoints:
                self._execute(
                    cursor,
                    "INSERT INTO checkpoints (chain, seq, hash, time, mac) VALUES (?, ?, ?, ?, ?)",
                    (point["chain"], point["seq"], point["hash"], point["time"], point["mac"]),
                )

        self._run(work)

    def close_chains(self, chains: Sequence[str], closed: str) -> None:
        """Mark chains as ended cleanly (a chain left open ended in a crash: its last interval may be lost)."""

        def work(cursor: Any) -> None:
            for chain in chains:
                self._execute(cursor, "UPDATE chains SET closed = ? WHERE chain = ?", (closed, chain))

        self._run(work)

    # ---------------------------------------------------------------- reading

    def chains(self) -> list[dict[str, Any]]:
        return self._rows(
            "SELECT chain, writer, model, host, pid, started, closed, last_seq, retention_days "
            "FROM chains ORDER BY started, chain"
        )

    def chain_records(self, chain: str) -> Iterator[dict[str, Any]]:
        """One chain's records in seq order, fetched in pages so a long chain does not fill memory."""
        after = -1
        while True:
            page = self._rows(
                f"SELECT {', '.join(COLUMNS)} FROM records WHERE chain = ? AND seq > ? ORDER BY seq LIMIT 1000",
                (chain, after),
            )
            yield from page
            if len(page) < 1000:
                return
            after = page[-1]["seq"]

    def anchor(self, chain: str) -> dict[str, Any] | None:
        rows = self._rows("SELECT chain, seq, hash, time, mac FROM anchors WHERE chain = ?", (chain,))
        return rows[0] if rows else None

    def checkpoints(self, chain: str) -> dict[int, dict[str, Any]]:
        rows = self._rows("SELECT chain, seq, hash, time, mac FROM checkpoints WHERE chain = ?", (chain,))
        return {row["seq"]: row for row in rows}

    def get(self, record_id: str) -> dict[str, Any] | None:
        rows = self._rows(f"SELECT {', '.join(COLUMNS)} FROM records WHERE id = ?", (record_id,))
        return rows[0] if rows else None

    def find(self, prefix: str) -> list[dict[str, Any]]:
        """The records whose id starts with ``prefix`` (at most two: enough to say it is ambiguous)."""
        if not re.fullmatch(r"[0-9a-f]{1,32}", prefix):
            return []
        return self._rows(
            f"SELECT {', '.join(COLUMNS)} FROM records WHERE id >= ? AND id < ? ORDER BY id LIMIT 2",
            (prefix, prefix + "g"),
        )

    def attached(self, record_id: str) -> list[dict[str, Any]]:
        """Records that refer to ``record_id`` (its background explanation)."""
        return self._rows(f"SELECT {', '.join(COLUMNS)} FROM records WHERE ref = ? ORDER BY time", (record_id,))

    def query(
        self,
        filters: Filters,
        limit: int | None = 100,
        columns: Sequence[str] = SUMMARY,
        *,
        newest_first: bool = False,
    ) -> list[dict[str, Any]]:
        where, params = [], []
        for column, op, value in (
            ("model", "=", filters.model),
            ("version", "=", filters.version),
            ("time", ">=", filters.since),
            ("time", "<", filters.until),
            ("principal", "=", filters.principal),
            ("status", "=", filters.status),
            ("kind", "=", filters.kind),
        ):
            if value is not None:
                where.append(f"{column} {op} ?")
                params.append(value)
        if filters.decision is not None:
            where.append("decision LIKE ?")
            params.append(f"%{filters.decision}%")
        if filters.models is not None:
            if not filters.models:
                return []
            where.append(f"model IN ({', '.join('?' for _ in filters.models)})")
            params.extend(filters.models)
        sql = f"SELECT {', '.join(columns)} FROM records"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY time DESC, chain DESC, seq DESC" if newest_first else " ORDER BY time, chain, seq"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return self._rows(sql, params)

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        def work(cursor: Any) -> list[dict[str, Any]]:
            self._execute(cursor, sql, params)
            names = [column[0] for column in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

        return self._run(work)

    # ---------------------------------------------------------------- retention

    def purge(self, chain: str, cutoff: str, anchor_mac: Any) -> int:
        """Delete the oldest records of ``chain`` before ``cutoff`` (a prefix, so the rest still
        verifies) and move its anchor to the last one deleted; returns how many went.

        ``anchor_mac(seq, hash)`` signs the new anchor (None without a key).
        """

        def work(cursor: Any) -> int:
            first_kept = self._execute(
                cursor, "SELECT MIN(seq) FROM records WHERE chain = ? AND time >= ?", (chain, cutoff)
            ).fetchone()[0]
            if first_kept is None:
                first_kept = (
                    self._execute(cursor, "SELECT MAX(seq) FROM records WHERE chain = ?", (chain,)).fetchone()[0] or 0
                ) + 1
            last = self._execute(
                cursor,
                "SELECT seq, hash, time FROM records WHERE chain = ? AND seq < ? ORDER BY seq DESC LIMIT 1",
                (chain, first_kept),
            ).fetchone()
            if last is None:
                return 0
            seq, digest, time = int(last[0]), str(last[1]), str(last[2])
            gone = self._execute(cursor, "DELETE FROM records WHERE chain = ? AND seq <= ?", (chain, seq)).rowcount
            self._execute(cursor, "DELETE FROM checkpoints WHERE chain = ? AND seq <= ?", (chain, seq))
            self._execute(cursor, "DELETE FROM anchors WHERE chain = ?", (chain,))
            self._execute(
                cursor,
                "INSERT INTO anchors (chain, seq, hash, time, mac) VALUES (?, ?, ?, ?, ?)",
                (chain, seq, digest, time, anchor_mac(seq, digest)),
            )
            return int(gone)

        return self._run(work)


def decode(record: dict[str, Any]) -> dict[str, Any]:
    """A stored record with its JSON columns parsed (for display and export; hashing uses the stored text)."""
    out = dict(record)
    for column in JSON_COLUMNS:
        if isinstance(out.get(column), str):
            out[column] = json.loads(out[column])
    return out


def open_store(folder: Path | None = None, url: str | None = None) -> Store:
    """The store ``--records DIR`` or ``--records-url`` names (not yet connected)."""
    if (folder is None) == (url is None):
        raise StoreError("give exactly one of a records folder (--records) or a database URL (--records-url)")
    if url is not None:
        from gatewise.gateway.records.postgres import PostgresStore

        return PostgresStore(url)
    from gatewise.gateway.records.sqlite import SQLiteStore

    return SQLiteStore(folder)
