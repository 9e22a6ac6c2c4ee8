"""Decision records from a real server into SQLite: what a record holds, which models keep them, and the CLI on them."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import tritonclient.grpc as triton
from gatewise.gateway.records.cli import records_app
from tritonclient.utils import InferenceServerException
from typer.testing import CliRunner

from conftest import RunningServer, start_server, stop_server
from models import write_classifier
from records.support import ask, metric, sqlite_rows, wait_for

CARD = "4111 1111 1111 1111"
KEY = b"checkpoint-key-0123456789abcdef"
DIGEST_KEY = b"digest-key-0123456789abcdef-0123"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    root = tmp_path_factory.mktemp("records")
    repository = root / "models"
    finance = write_classifier(repository, "tiny-finance", plugin="finance")
    (finance / "config.toml").write_text(
        (finance / "config.toml").read_text() + '\n[records]\nexplanation = "always"\n'
    )
    write_classifier(repository, "tiny-plain")
    write_classifier(repository, "listed-plain")
    (root / "digest-key").write_bytes(DIGEST_KEY)
    digested = write_classifier(repository, "tiny-digest", plugin="finance")
    (digested / "config.toml").write_text(
        (digested / "config.toml").read_text()
        + f'\n[records]\ninputs = "digest"\ndigest_key_file = "{root / "digest-key"}"\n'
    )
    bad = write_classifier(repository, "bad-records")
    (bad / "config.toml").write_text((bad / "config.toml").read_text() + '\n[records]\npolicy = "sometimes"\n')
    (root / "key").write_bytes(KEY)
    running = start_server(
        repository,
        root / "server.log",
        "--records",
        str(root / "records"),
        "--records-key-file",
        str(root / "key"),
        "--records-models",
        "listed-*, other",
        metrics=True,
    )
    running.records = root / "records"  # type: ignore[attr-defined]
    running.key = root / "key"  # type: ignore[attr-defined]
    yield running
    stop_server(running)


def decisions(server: RunningServer, request_id: str) -> list[dict]:
    return [row for row in sqlite_rows(server.records) if row["request_id"] == request_id and row["kind"] == "decision"]


def test_an_answer_leaves_a_record_of_who_what_which_artifact_and_the_redacted_input(server: RunningServer) -> None:
    """The record names the model file's SHA-256, the plugin, the caller; the card number is its tag."""
    result = ask(server.url, "tiny-finance", f"great service, card {CARD}", request_id="answer-1")
    [record] = wait_for(lambda: decisions(server, "answer-1"), "the answer's record")
    model_file = server.repository / "tiny-finance" / "1" / "model.onnx"
    assert record["artifact_sha256"] == hashlib.sha256(model_file.read_bytes()).hexdigest()
    assert (record["model"], record["version"], record["plugin"], record["status"]) == (
        "tiny-finance",
        "1",
        "finance",
        "OK",
    )
    assert (record["principal"], record["auth"], record["method"]) == ("anonymous", "none", "ModelInfer")
    assert json.loads(record["inputs"]) == {"text": ["great service, card [CARD]"]}
    assert record["decision"] == result.as_numpy("label")[0].decode() == json.loads(record["outputs"])["label"][0]
    assert record["latency_ms"] > 0 and len(record["hash"]) == 64


def test_digest_inputs_keep_the_keyed_digest_of_the_raw_input_and_not_the_input(server: RunningServer) -> None:
    """``inputs = "digest"``: the key file named in config.toml is the server's, read by the writer."""
    text = f"refund to card {CARD}"
    ask(server.url, "tiny-digest", text, request_id="digest-1")
    [record] = wait_for(lambda: decisions(server, "digest-1"), "the digest record")
    canonical = json.dumps({"text": [text]}, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert record["inputs"] is None
    assert record["input_digest"] == hmac.new(DIGEST_KEY, canonical.encode(), hashlib.sha256).hexdigest()


def test_a_refused_request_leaves_a_record_with_its_status(server: RunningServer) -> None:
    client = triton.InferenceServerClient(server.url)
    tensor = triton.InferInput("text", [1], "INT32")
    tensor.set_data_from_numpy(np.array([7], dtype=np.int32))
    with pytest.raises(InferenceServerException, match="INVALID_ARGUMENT|datatype"):
        client.infer("tiny-finance", [tensor], request_id="refused-1")
    client.close()
    [record] = wait_for(lambda: decisions(server, "refused-1"), "the refusal's record")
    assert record["status"] == "INVALID_ARGUMENT" and record["outputs"] is None and record["decision"] is None


def test_a_model_without_a_records_table_keeps_none(server: RunningServer) -> None:
    ask(server.url, "tiny-plain", "good", request_id="plain-1")
    ask(server.url, "tiny-finance", "good", request_id="after-plain")
    wait_for(lambda: decisions(server, "after-plain"), "the later record")
    assert not [row for row in sqlite_rows(server.records) if row["model"] == "tiny-plain"]


def test_a_model_the_server_lists_is_recorded_without_a_table_of_its_own(server: RunningServer) -> None:
    """--records-models globs: the defaults apply (redacted inputs, outputs, drop)."""
    ask(server.url, "listed-plain", f"good {CARD}", request_id="listed-1")
    [record] = wait_for(lambda: decisions(server, "listed-1"), "the listed model's record")
    assert record["model"] == "listed-plain" and json.loads(record["inputs"]) == {"text": ["good [CARD]"]}


def test_a_malformed_records_table_refuses_that_model_naming_the_key(server: RunningServer) -> None:
    client = triton.InferenceServerClient(server.url)
    index = {model["name"]: model for model in client.get_model_repository_index(as_json=True)["models"]}
    client.close()
    assert index["bad-records"]["state"] == "UNAVAILABLE"
    assert "records.policy" in index["bad-records"]["reason"]
    assert index["tiny-plain"]["state"] == "READY"


def test_a_sampled_explanation_is_kept_beside_its_decision_and_drawn_by_show(server: RunningServer) -> None:
    """explanation = "always": computed after the answer, kept as a record that refers to the decision."""
    ask(server.url, "tiny-finance", f"awful price, card {CARD}", request_id="explained-1")
    [decision] = wait_for(lambda: decisions(server, "explained-1"), "the decision")
    assert decision["explanation"] is None  # the client did not ask: nothing computed before answering
    [attached] = wait_for(
        lambda: [row for row in sqlite_rows(server.records) if row["ref"] == decision["id"]],
        "the background explanation",
    )
    assert attached["kind"] == "explanation" and attached["inputs"] is None
    words = [unit["text"] for unit in json.loads(attached["explanation"])[0]["attributions"]]
    assert "[CARD]" in words and "awful" in words and not any("4111" in word for word in words)
    shown = CliRunner().invoke(records_app, ["show", decision["id"][:10], "--records", str(server.records)])
    assert shown.exit_code == 0, shown.output
    assert "explanation computed in the background" in shown.output and "awful" in shown.output


def test_query_filters_by_model_and_decision(server: RunningServer) -> None:
    ask(server.url, "tiny-finance", "good great good", request_id="query-1")
    wait_for(lambda: decisions(server, "query-1"), "the record")
    runner = CliRunner()
    result = runner.invoke(
        records_app,
        [
            "query",
            "--records",
            str(server.records),
            "--model",
            "tiny-finance",
            "--decision",
            "positive",
            "--since",
            "1h",
        ],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 0 and "tiny-finance" in result.output and "positive" in result.output
    none = runner.invoke(records_app, ["query", "--records", str(server.records), "--model", "tiny-plain"])
    assert "(0 shown)" in none.output


def test_metrics_count_what_was_written(server: RunningServer) -> None:
    ask(server.url, "tiny-finance", "good", request_id="metric-1")
    wait_for(lambda: decisions(server, "metric-1"), "the record")
    assert metric(server.metrics_url, "gatewise_records_written_total", model="tiny-finance") >= 1
    assert metric(server.metrics_url, "gatewise_records_commit_seconds_count") >= 1
    assert metric(server.metrics_url, "gatewise_records_queue_depth") == 0


def test_export_writes_every_field_as_jsonl_and_parquet(server: RunningServer, tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    ask(server.url, "tiny-finance", "good", request_id="export-1")
    wait_for(lambda: decisions(server, "export-1"), "the record")
    runner = CliRunner()
    result = runner.invoke(
        records_app, ["export", "--records", str(server.records), "--out", str(tmp_path / "r.jsonl")]
    )
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in (tmp_path / "r.jsonl").read_text().splitlines()]
    assert any(line["request_id"] == "export-1" and line["hash"] for line in lines)
    result = runner.invoke(
        records_app,
        ["export", "--records", str(server.records), "--format", "parquet", "--out", str(tmp_path / "r.parquet")],
    )
    assert result.exit_code == 0, result.output
    assert pq.read_table(tmp_path / "r.parquet").num_rows == len(lines)


def test_after_a_clean_stop_the_chains_hold_against_the_key(server: RunningServer) -> None:
    """Last, on purpose: stops the module's server, then verifies what it wrote, signatures included."""
    assert stop_server(server) == 0
    result = CliRunner().invoke(
        records_app, ["verify", "--records", str(server.records), "--key-file", str(server.key)]
    )
    assert result.exit_code == 0, result.output
    assert "cleanly" in result.output and "the chains hold" in result.output
