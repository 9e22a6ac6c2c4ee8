"""The hash chain over real SQLite: verify names the first altered, inserted or deleted record; purge keeps it whole."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from gatewise.gateway.records.build import Draft
from gatewise.gateway.records.chain import verify_chain
from gatewise.gateway.records.cli import records_app
from gatewise.gateway.records.config import RecordsConfig
from gatewise.gateway.records.sqlite import SQLiteStore
from gatewise.gateway.records.writer import Writer, WriterOptions
from typer.testing import CliRunner

from records.support import draft

KEY = b"k" * 32


def write(folder: Path, drafts: list[Draft], key: bytes | None = KEY, checkpoint_every: int = 1000) -> Writer:
    writer = Writer(SQLiteStore(folder), WriterOptions(checkpoint_key=key, checkpoint_every=checkpoint_every))
    writer.open()
    writer.start()
    for item in drafts:
        assert writer.submit(item)
    assert writer.close()
    return writer


def verify(folder: Path, key: bytes | None = KEY) -> list[str]:
    """The finding of every chain, or 'holds'."""
    store = SQLiteStore(folder)
    store.connect()
    with store:
        return [
            str(report.finding) if report.finding else "holds"
            for report in (
                verify_chain(
                    chain["chain"],
                    store.chain_records(chain["chain"]),
                    store.anchor(chain["chain"]),
                    store.checkpoints(chain["chain"]),
                    key,
                )
                for chain in store.chains()
            )
        ]


def sql(folder: Path, statement: str, *params: object) -> list[tuple]:
    with sqlite3.connect(folder / "records.sqlite") as conn:
        return conn.execute(statement, params).fetchall()


@pytest.fixture
def written(tmp_path: Path) -> Path:
    write(tmp_path, [draft(text=f"text number {index}") for index in range(10)], checkpoint_every=4)
    return tmp_path


def test_an_untouched_chain_holds_and_the_cli_says_so(written: Path) -> None:
    """Ten records, checkpoints every four: the chain holds, and ``records verify`` exits 0."""
    assert verify(written) == ["holds"]
    (written / "key").write_bytes(KEY)
    result = CliRunner().invoke(records_app, ["verify", "--records", str(written), "--key-file", str(written / "key")])
    assert result.exit_code == 0, result.output
    assert "the chains hold: 10 record(s)" in result.output


def test_verify_names_an_altered_record(written: Path) -> None:
    """Changing one stored decision breaks that record's own hash."""
    victim = sql(written, "SELECT id FROM records WHERE seq = 5")[0][0]
    sql(written, "UPDATE records SET decision = 'negative' WHERE seq = 5")
    assert verify(written) == [
        f"record {victim} (chain {_chain(written)}, seq 5): altered: its content does not match its hash"
    ]
    result = CliRunner().invoke(records_app, ["verify", "--records", str(written)])
    assert result.exit_code == 1 and victim in result.output


def test_verify_names_the_record_after_a_deleted_one(written: Path) -> None:
    sql(written, "DELETE FROM records WHERE seq = 3")
    finding = verify(written)[0]
    assert "seq 4" in finding and "deleted: seq 3 missing" in finding


def test_verify_finds_a_record_inserted_by_renumbering(written: Path) -> None:
    """An inserted record (the later ones renumbered to make room) does not link to its predecessor."""
    sql(written, "UPDATE records SET seq = seq + 100 WHERE seq >= 6")
    sql(written, "UPDATE records SET seq = seq - 99 WHERE seq >= 106")
    row = sql(written, "SELECT * FROM records WHERE seq = 4")[0]
    columns = [column[1] for column in sql(written, "PRAGMA table_info(records)")]
    forged = dict(zip(columns, row, strict=True))
    forged.update(id="forged", seq=6, outputs=json.dumps({"label": ["negative"]}))
    from gatewise.gateway.records.chain import record_hash

    forged["hash"] = record_hash(forged)
    sql(
        written,
        f"INSERT INTO records ({', '.join(forged)}) VALUES ({', '.join('?' for _ in forged)})",
        *forged.values(),
    )
    finding = verify(written)[0]
    assert "record forged" in finding and "does not link to the previous record" in finding


def test_a_rebuilt_chain_fails_against_its_signed_checkpoints(written: Path) -> None:
    """Whoever rewrites a record and re-hashes the rest of the chain cannot sign checkpoints without the key."""
    from gatewise.gateway.records.chain import GENESIS, record_hash

    sql(written, "UPDATE records SET decision = 'negative' WHERE seq = 2")
    columns = [column[1] for column in sql(written, "PRAGMA table_info(records)")]
    previous = GENESIS
    for row in sql(written, "SELECT * FROM records ORDER BY seq"):
        record = dict(zip(columns, row, strict=True))
        record["prev_hash"] = previous
        record["hash"] = record_hash(record)
        sql(
            written,
            "UPDATE records SET prev_hash = ?, hash = ? WHERE id = ?",
            record["prev_hash"],
            record["hash"],
            record["id"],
        )
        previous = record["hash"]
    assert "seq 4): rewritten: it differs from the signed checkpoint" in verify(written)[0]


def test_deleting_the_last_records_is_found_by_the_final_checkpoint(written: Path) -> None:
    """A clean close signs each chain's end, so cutting off the tail is found too."""
    sql(written, "DELETE FROM records WHERE seq >= 9")
    assert "names seq 10, past the chain's last record" in verify(written)[0]


def test_purge_keeps_the_rest_verifiable_and_refuses_a_forged_anchor(tmp_path: Path) -> None:
    """Purging the old part of a chain leaves an anchor; the rest still verifies, also against a signed key."""
    old = [draft(text=f"old {index}", time=f"2020-01-0{index + 1}T00:00:00.000000Z") for index in range(5)]
    write(tmp_path, old + [draft(text=f"new {index}") for index in range(5)], checkpoint_every=3)
    (tmp_path / "key").write_bytes(KEY)
    runner = CliRunner()
    result = runner.invoke(
        records_app, ["purge", "--records", str(tmp_path), "--older-than", "365d", "--key-file", str(tmp_path / "key")]
    )
    assert result.exit_code == 0 and "purged 5 record(s)" in result.output, result.output
    assert sql(tmp_path, "SELECT MIN(seq), COUNT(*) FROM records") == [(6, 5)]
    assert verify(tmp_path) == ["holds"]
    sql(tmp_path, "UPDATE anchors SET seq = 4")
    assert "anchor's signature does not match" in verify(tmp_path)[0]


def test_purge_by_retention_uses_each_chains_own_days(tmp_path: Path) -> None:
    kept = Draft(**{**draft(model="kept", time="2020-01-01T00:00:00.000000Z").__dict__, "id": "k1"})
    short = draft(model="short", time="2020-01-01T00:00:00.000000Z")
    short.config = RecordsConfig(retention_days=30)
    write(tmp_path, [kept, short])
    (tmp_path / "key").write_bytes(KEY)
    result = CliRunner().invoke(records_app, ["purge", "--records", str(tmp_path), "--key-file", str(tmp_path / "key")])
    assert result.exit_code == 0 and "purged 1 record(s)" in result.output
    assert [row[0] for row in sql(tmp_path, "SELECT model FROM records")] == ["kept"]
    assert verify(tmp_path, key=KEY) == ["holds", "holds"]
    result = CliRunner().invoke(records_app, ["purge", "--records", str(tmp_path), "--older-than", "1d"])
    assert "purged 1 record(s)" in result.output
    assert verify(tmp_path, key=None) == ["holds", "holds"]  # an unsigned anchor: holds without a key ...
    assert "anchor's signature does not match" in verify(tmp_path, key=KEY)[0]  # ... but not against one


def test_a_store_written_at_schema_1_opens_and_reports_its_version(tmp_path: Path) -> None:
    """Migrations are recorded: reopening applies nothing twice."""
    write(tmp_path, [draft()])
    store = SQLiteStore(tmp_path)
    store.connect()
    with store:
        assert store.migrate() == 1
    assert sql(tmp_path, "SELECT version FROM schema_version") == [(1,)]


def _chain(folder: Path) -> str:
    return sql(folder, "SELECT chain FROM chains")[0][0]
