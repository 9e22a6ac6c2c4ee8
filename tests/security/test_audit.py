"""The built-in audit plugin: one JSON line per request, who/which model/when/status, no data."""

from __future__ import annotations

import json
import logging

import pytest
from gatewise.plugins.manager import PluginManager

EVENT = dict(
    model_name="finance-sentiment", model_version="2", principal="alice", principal_via="key", status="OK", rows=3,
    duration_s=0.012, method="ModelInfer",
)  # fmt: skip


def records(caplog: pytest.LogCaptureFixture) -> list[tuple[int, dict]]:
    return [(r.levelno, json.loads(r.getMessage())) for r in caplog.records if r.name == "gatewise.audit"]


def test_audit_is_registered_and_logs_who_what_when(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="gatewise.audit")
    plugins = PluginManager(entry_points=False)
    assert "audit" in plugins.names
    plugins.request_finished(request_id="req-1", **EVENT)
    [(level, record)] = records(caplog)
    assert level == logging.INFO
    assert record | {"time": "t"} == {
        "event": "request", "time": "t", "principal": "alice", "via": "key", "method": "ModelInfer",
        "model": "finance-sentiment", "version": "2", "request_id": "req-1", "status": "OK", "rows": 3,
        "duration_ms": 12.0,
    }  # fmt: skip
    assert record["time"].endswith("+00:00")


def test_request_ids_cannot_forge_lines_or_carry_text(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="gatewise.audit")
    PluginManager(entry_points=False).request_finished(request_id="x\n2026 INFO forged" + "y" * 100, **EVENT)
    [(_, record)] = records(caplog)
    assert "\n" not in caplog.text.strip()
    assert record["request_id"].startswith("x?2026 INFO forged") and record["request_id"].endswith("y...")
    assert len(record["request_id"]) == 64 + 3


ANONYMOUS = {"principal": "anonymous", "principal_via": "none"}


def test_unauthenticated_successes_are_audited_at_debug_only(caplog: pytest.LogCaptureFixture) -> None:
    """No credential proved who called: an OK answer is a DEBUG line, nothing at INFO."""
    caplog.set_level(logging.INFO, logger="gatewise.audit")
    PluginManager(entry_points=False).request_finished(request_id="r", **(EVENT | ANONYMOUS))
    assert records(caplog) == []
    caplog.set_level(logging.DEBUG, logger="gatewise.audit")
    PluginManager(entry_points=False).request_finished(request_id="r", **(EVENT | ANONYMOUS))
    assert [level for level, _ in records(caplog)] == [logging.DEBUG]


@pytest.mark.parametrize("via", ["key", "jwt", "certificate"])
def test_a_principal_named_anonymous_is_audited_by_how_it_authenticated(
    caplog: pytest.LogCaptureFixture, via: str
) -> None:
    """A key, JWT subject or certificate that calls itself "anonymous" is still audited at INFO."""
    caplog.set_level(logging.INFO, logger="gatewise.audit")
    PluginManager(entry_points=False).request_finished(request_id="r", **(EVENT | ANONYMOUS | {"principal_via": via}))
    assert [(level, record["via"]) for level, record in records(caplog)] == [(logging.INFO, via)]


def test_refusals_of_the_anonymous_caller_are_audited_at_info(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="gatewise.audit")
    event = EVENT | ANONYMOUS | {"status": "PERMISSION_DENIED", "method": "RepositoryModelUnload"}
    PluginManager(entry_points=False).request_finished(request_id="r", **event)
    assert [(level, record["status"]) for level, record in records(caplog)] == [(logging.INFO, "PERMISSION_DENIED")]
