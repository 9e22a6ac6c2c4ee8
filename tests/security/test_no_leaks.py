"""At DEBUG, the server log and the metrics hold neither request payloads nor tokens;
the audit log says who called which model, with what outcome."""

from __future__ import annotations

import json
import urllib.request
import uuid
from pathlib import Path

import grpc
import numpy as np
from gatewise.protos import grpc_service_pb2 as pb

from security.conftest import Keys
from security.harness import add_one_request, bearer, free_port, start_cli, stub, text_request


def test_logs_and_metrics_hold_no_payloads_or_tokens(repository: Path, keys: Keys, tmp_path: Path) -> None:
    canary = f"canary{uuid.uuid4().hex[:12]}"
    secret_text = f"great service for account {canary}".encode()
    wrong_token = f"gw_{canary}WRONGTOKEN"
    metrics_port = free_port()
    server = start_cli(
        repository, tmp_path / "server.log", "--log-level", "DEBUG", "--auth-keys-file", str(keys.path),
        "--metrics-port", str(metrics_port),
    )  # fmt: skip
    try:
        with grpc.insecure_channel(server.url) as channel:
            client = stub(channel)
            alice = bearer(keys.alice)
            client.ModelInfer(text_request(secret_text, b"awful " + canary.encode()), metadata=alice, timeout=10)
            client.ModelInfer(add_one_request(value=98765.4321), metadata=alice, timeout=10)
            failing = [
                (text_request(secret_text, b"\xff" + canary.encode()), alice),  # invalid UTF-8: INVALID_ARGUMENT
                (text_request(secret_text, model="broken"), alice),  # not alice's: PERMISSION_DENIED
                (text_request(secret_text), bearer(wrong_token)),  # UNAUTHENTICATED
                (text_request(secret_text), ()),
            ]
            for request, metadata in failing:
                try:
                    client.ModelInfer(request, metadata=metadata, timeout=10)
                except grpc.RpcError:
                    pass
            stream = client.ModelStreamInfer(iter([text_request(secret_text, id="s1")]), metadata=alice, timeout=10)
            assert [response.infer_response.id for response in stream] == ["s1"]
            client.ModelStatistics(pb.ModelStatisticsRequest(name="tiny-sentiment"), metadata=alice, timeout=10)
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10) as response:
            metrics = response.read().decode()
    finally:
        assert server.stop() == 0
    log = server.log()
    assert "DEBUG" in log and "gatewise_requests" in metrics  # both really were produced
    float_forms = [str(np.float32(98765.4321)), "98765.43"]
    for forbidden in [canary, keys.alice, keys.admin, wrong_token, *float_forms]:
        assert forbidden not in log, f"{forbidden!r} leaked into the log"
        assert forbidden not in metrics, f"{forbidden!r} leaked into the metrics"
    audit = [
        json.loads(line.split("gatewise.audit: ", 1)[1]) for line in log.splitlines() if "gatewise.audit: " in line
    ]
    seen = {(event["principal"], event["model"], event["status"]) for event in audit}
    assert ("alice", "tiny-sentiment", "OK") in seen
    assert ("alice", "add-one", "OK") in seen
    assert ("alice", "tiny-sentiment", "INVALID_ARGUMENT") in seen
    assert ("alice", "broken", "PERMISSION_DENIED") in seen  # refused calls are audited too
    assert ("<unauthenticated>", "", "UNAUTHENTICATED") in seen
    assert all(set(event) == {"event", "time", "principal", "via", "method", "model", "version", "request_id", "status",
                              "rows", "duration_ms"} for event in audit)  # fmt: skip
