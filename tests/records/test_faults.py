"""Records under faults: a killed server, a full disk, PostgreSQL restarted mid-run, a store down under ``require``."""

from __future__ import annotations

import json
import resource
import signal
import sqlite3
import threading
from pathlib import Path

import pytest
from gatewise.gateway.records.cli import records_app
from tritonclient.utils import InferenceServerException
from typer.testing import CliRunner

from conftest import free_port, start_server, stop_server
from models import write_classifier
from records.support import Postgres, ask, metric, sqlite_rows, wait_for


def repository_with(root: Path, **policies: str) -> Path:
    """One tiny finance classifier per name, each with ``[records]`` at the given policy."""
    repository = root / "models"
    for name, policy in policies.items():
        folder = write_classifier(repository, name, plugin="finance")
        (folder / "config.toml").write_text(
            (folder / "config.toml").read_text() + f'\n[records]\npolicy = "{policy}"\n'
        )
    return repository


def verify(*store: str) -> str:
    result = CliRunner().invoke(records_app, ["verify", *store], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.output


def integrity(folder: Path) -> str:
    with sqlite3.connect(folder / "records.sqlite") as conn:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]


def test_sigkill_under_drop_keeps_every_committed_record_and_a_whole_store(tmp_path: Path) -> None:
    """Killed mid-load: SQLite's integrity_check passes, the chain verifies (left open: a crash), and every
    request answered before the writer last caught up is there; only the last commit interval can be missing."""
    repository = repository_with(tmp_path, **{"tiny-finance": "drop"})
    server = start_server(repository, tmp_path / "server.log", "--records", str(tmp_path / "records"), metrics=True)
    metrics_url = server.metrics_url
    try:
        for index in range(40):
            ask(server.url, "tiny-finance", f"good service {index}", request_id=f"before-{index}")
        wait_for(lambda: metric(metrics_url, "gatewise_records_written_total") >= 40, "the first 40 records")
        answered: list[str] = []
        stop = threading.Event()

        def load(worker: int) -> None:
            index = 0
            while not stop.is_set():
                try:
                    ask(server.url, "tiny-finance", "great price", request_id=f"during-{worker}-{index}")
                    answered.append(f"during-{worker}-{index}")
                except InferenceServerException:
                    return  # the server is gone
                index += 1

        threads = [threading.Thread(target=load, args=(worker,)) for worker in range(4)]
        for thread in threads:
            thread.start()
        wait_for(lambda: len(answered) >= 100, "requests answered under load")
        server.process.send_signal(signal.SIGKILL)
        server.process.wait()
        stop.set()
        for thread in threads:
            thread.join(30)
    finally:
        server.stop()
    assert integrity(tmp_path / "records") == "ok"
    kept = {row["request_id"] for row in sqlite_rows(tmp_path / "records")}
    assert {f"before-{index}" for index in range(40)} <= kept
    assert len(kept & set(answered)) > 0  # records kept while under load, up to the kill
    output = verify("--records", str(tmp_path / "records"))
    assert "open: serving, or crashed" in output and "the chains hold" in output


def _file_size_limit(limit: int):
    def apply() -> None:
        # Writes past ``limit`` fail with EFBIG (Python ignores SIGXFSZ): the disk is full, as far as SQLite can tell.
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def test_a_full_disk_drops_under_drop_refuses_under_require_and_leaves_the_store_whole(tmp_path: Path) -> None:
    repository = repository_with(tmp_path, **{"tiny-drop": "drop", "tiny-require": "require"})
    server = start_server(
        repository,
        tmp_path / "server.log",
        "--records",
        str(tmp_path / "records"),
        "--log-level",
        "WARNING",
        preexec_fn=_file_size_limit(192 * 1024),
        metrics=True,
    )
    metrics_url = server.metrics_url
    try:
        long_text = "good service " * 150
        sent = 0
        while metric(metrics_url, "gatewise_records_dropped_total", reason="store_error") == 0:
            assert sent < 3000, "the records file never filled up"
            ask(server.url, "tiny-drop", long_text, request_id=f"drop-{sent}")  # answered all along
            sent += 1
        with pytest.raises(InferenceServerException, match="UNAVAILABLE|could not be kept") as refused:
            ask(server.url, "tiny-require", long_text, request_id="require-1")
        assert "records policy is 'require'" in str(refused.value)
        ask(server.url, "tiny-drop", "good", request_id="still-answered")
    finally:
        assert stop_server(server) == 0
    assert integrity(tmp_path / "records") == "ok"
    assert "the chains hold" in verify("--records", str(tmp_path / "records"))


def test_postgres_restarted_mid_run_the_writer_reconnects_and_the_chain_continues(
    tmp_path: Path, postgres: Postgres, pg_url: str
) -> None:
    """While PostgreSQL is down, drop answers and require refuses; once it is back, both record again."""
    repository = repository_with(tmp_path, **{"tiny-drop": "drop", "tiny-require": "require"})
    server = start_server(repository, tmp_path / "server.log", "--records-url", pg_url)
    try:
        ask(server.url, "tiny-drop", "good", request_id="before")
        ask(server.url, "tiny-require", "good", request_id="before-require")
        postgres.stop("immediate")
        try:
            ask(server.url, "tiny-drop", "good", request_id="while-down")  # answered, record dropped
            with pytest.raises(InferenceServerException, match="could not be kept"):
                ask(server.url, "tiny-require", "good", request_id="refused-while-down")
        finally:
            postgres.start()

        def recorded_again() -> bool:
            try:
                ask(server.url, "tiny-require", "good", request_id="after-require")
            except InferenceServerException:
                return False
            return True

        wait_for(recorded_again, "a require answer once PostgreSQL is back")
        ask(server.url, "tiny-drop", "good", request_id="after")
        wait_for(lambda: "after" in _request_ids(pg_url), "the drop model's record after the restart")
    finally:
        assert stop_server(server) == 0
    ids = _request_ids(pg_url)
    assert {"before", "before-require", "after-require", "after"} <= ids
    assert "the chains hold" in verify("--records-url", pg_url)
    kept = _count(pg_url)
    purged = CliRunner().invoke(records_app, ["purge", "--records-url", pg_url, "--older-than", "0s"])
    assert purged.exit_code == 0 and f"purged {kept} record(s)" in purged.output, purged.output
    assert "the chains hold: 0 record(s)" in verify("--records-url", pg_url)  # from each chain's anchor


def test_require_with_the_store_unreachable_at_start_up_is_one_error_line(tmp_path: Path, postgres: Postgres) -> None:
    repository = repository_with(tmp_path, **{"tiny-drop": "drop"})
    dead = f"postgresql://gatewise@127.0.0.1:{free_port()}/postgres"
    with pytest.raises(RuntimeError, match="exited with 1") as failed:
        start_server(repository, tmp_path / "server.log", "--records-url", dead, "--records-policy", "require")
    errors = [line for line in str(failed.value).splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "decision records" in errors[0] and "127.0.0.1" in errors[0]
    # Under drop: a warning, and the server serves.
    server = start_server(repository, tmp_path / "drop.log", "--records-url", dead)
    try:
        ask(server.url, "tiny-drop", "good")
        assert "records are dropped until it is reachable" in server.log()
    finally:
        assert stop_server(server) == 0


def _count(url: str) -> int:
    import psycopg

    with psycopg.connect(url) as conn:
        return conn.execute("SELECT COUNT(*) FROM records").fetchone()[0]


def _request_ids(url: str) -> set[str]:
    import psycopg

    with psycopg.connect(url) as conn:
        return {row[0] for row in conn.execute("SELECT request_id FROM records")}


def test_export_jsonl_gives_the_json_columns_as_objects(tmp_path: Path) -> None:
    """export --format jsonl round-trips the stored JSON columns (outputs as objects, not strings)."""
    repository = repository_with(tmp_path, **{"tiny-finance": "drop"})
    server = start_server(repository, tmp_path / "server.log", "--records", str(tmp_path / "records"))
    try:
        ask(server.url, "tiny-finance", "good", request_id="one")
        wait_for(lambda: sqlite_rows(tmp_path / "records"), "the record")
    finally:
        stop_server(server)
    result = CliRunner().invoke(
        records_app, ["export", "--records", str(tmp_path / "records"), "--out", str(tmp_path / "out.jsonl")]
    )
    assert result.exit_code == 0
    [line] = [json.loads(text) for text in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert line["outputs"]["label"] == ["positive"] and line["request_id"] == "one"


def test_a_records_folder_that_cannot_be_created_is_one_error_line_under_require(tmp_path: Path) -> None:
    """A path below a plain file can never be a folder, whoever runs the test (root included)."""
    repository = repository_with(tmp_path, **{"tiny-drop": "drop"})
    (tmp_path / "plain-file").write_text("")
    folder = tmp_path / "plain-file" / "records"
    with pytest.raises(RuntimeError, match="exited with 1") as failed:
        start_server(repository, tmp_path / "server.log", "--records", str(folder), "--records-policy", "require")
    errors = [line for line in str(failed.value).splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and f"records folder {folder}: cannot create" in errors[0]
