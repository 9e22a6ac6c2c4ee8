"""The records schema, as numbered migrations applied in order (``schema_version`` says how far).

Both stores run the same statements; ``{real}`` and ``{int}`` become each dialect's types
(SQLite REAL/INTEGER, PostgreSQL DOUBLE PRECISION/BIGINT). A migration is never edited once
released: a change is a new one, so a store written by an older server upgrades in place.
"""

from __future__ import annotations

MIGRATIONS: tuple[tuple[int, str, tuple[str, ...]], ...] = (
    (
        1,
        "records, chains, checkpoints, anchors",
        (
            """CREATE TABLE chains (
            chain TEXT PRIMARY KEY, writer TEXT NOT NULL, model TEXT NOT NULL, host TEXT NOT NULL,
            pid {int} NOT NULL, started TEXT NOT NULL, closed TEXT, last_seq {int} NOT NULL DEFAULT 0,
            retention_days {int})""",
            """CREATE TABLE records (
            id TEXT PRIMARY KEY, kind TEXT NOT NULL, ref TEXT, chain TEXT NOT NULL, writer TEXT NOT NULL,
            seq {int} NOT NULL, time TEXT NOT NULL, model TEXT NOT NULL, version TEXT, artifact_sha256 TEXT,
            plugin TEXT, plugin_version TEXT, principal TEXT, auth TEXT, request_id TEXT, trace_id TEXT,
            method TEXT, status TEXT NOT NULL, latency_ms {real}, decision TEXT, inputs TEXT, input_digest TEXT,
            outputs TEXT, explanation TEXT, prev_hash TEXT NOT NULL, hash TEXT NOT NULL,
            UNIQUE (chain, seq))""",
            "CREATE INDEX records_time ON records (time)",
            "CREATE INDEX records_model ON records (model, version)",
            "CREATE INDEX records_ref ON records (ref)",
            """CREATE TABLE checkpoints (
            chain TEXT NOT NULL, seq {int} NOT NULL, hash TEXT NOT NULL, time TEXT NOT NULL, mac TEXT NOT NULL,
            PRIMARY KEY (chain, seq))""",
            """CREATE TABLE anchors (
            chain TEXT PRIMARY KEY, seq {int} NOT NULL, hash TEXT NOT NULL, time TEXT NOT NULL, mac TEXT)""",
        ),
    ),
)

LATEST = MIGRATIONS[-1][0]

DIALECTS = {"sqlite": {"real": "REAL", "int": "INTEGER"}, "postgresql": {"real": "DOUBLE PRECISION", "int": "BIGINT"}}


def statements(dialect: str, after: int) -> list[tuple[int, str]]:
    """(version, SQL) of every migration past ``after``, in ``dialect``."""
    types = DIALECTS[dialect]
    return [(version, sql.format(**types)) for version, _, sqls in MIGRATIONS if version > after for sql in sqls]
