"""Audit hooks run in the audit thread, never on the event loop: a slow audit sink delays no
answer, events arrive in order, and a full audit queue drops events rather than blocking.
Also: a model name the repository does not have never becomes a metrics label."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from pathlib import Path

import gatewise.plugins.audit_delivery
import grpc
import pytest
from gatewise.gateway import metrics
from gatewise.plugins.hookspecs import hookimpl
from gatewise.plugins.manager import PluginManager
from prometheus_client import REGISTRY

from conftest import request_finished_event
from security.harness import add_one_request, serving, stub

HOOK_SECONDS = 0.4


class SlowAuditor:
    """An audit sink that takes HOOK_SECONDS per event (a remote collector that is slow)."""

    def __init__(self, seconds: float = HOOK_SECONDS) -> None:
        self.seconds = seconds
        self.events: list[tuple[str, str]] = []
        self.threads: set[str] = set()

    @hookimpl
    def gatewise_request_finished(self, request_id: str, status: str) -> None:
        time.sleep(self.seconds)
        self.threads.add(threading.current_thread().name)
        self.events.append((request_id, status))


async def test_a_slow_audit_hook_delays_no_answer(repository: Path) -> None:
    """Six requests against a sink that needs 0.4 s per event answer in well under 0.4 s each,
    concurrent ones too; every event still arrives, in order, off the event loop's thread."""
    auditor = SlowAuditor()
    plugins = PluginManager(entry_points=False, extra=[("slow-audit", auditor)])
    async with serving(repository, plugins) as server, grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        client = stub(channel)
        await client.ModelInfer(add_one_request(id="warm"), timeout=10)
        started = time.perf_counter()
        for index in range(3):
            await client.ModelInfer(add_one_request(id=f"seq-{index}"), timeout=10)
        await asyncio.gather(*(client.ModelInfer(add_one_request(id=f"par-{i}"), timeout=10) for i in range(3)))
        elapsed = time.perf_counter() - started
        assert elapsed < HOOK_SECONDS, f"6 answers took {elapsed:.2f} s: the audit hook ran on the request path"
        assert await asyncio.to_thread(plugins.flush_audit, 10)
    assert [request_id for request_id, _ in auditor.events][:4] == ["warm", "seq-0", "seq-1", "seq-2"]
    assert sorted(request_id for request_id, _ in auditor.events[4:]) == ["par-0", "par-1", "par-2"]
    assert auditor.threads == {"gatewise-audit"}


def test_a_full_audit_queue_drops_events_instead_of_blocking(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Past AUDIT_QUEUE_SIZE waiting events, posting returns at once: the event is dropped,
    counted in gatewise_audit_dropped_total and logged; the rest are still delivered."""
    monkeypatch.setattr(gatewise.plugins.audit_delivery, "AUDIT_QUEUE_SIZE", 2)
    auditor = SlowAuditor(seconds=0.2)
    manager = PluginManager(entry_points=False, extra=[("slow-audit", auditor)])
    before = REGISTRY.get_sample_value("gatewise_audit_dropped_total") or 0.0
    started = time.perf_counter()
    for index in range(6):
        manager.post_request_finished(
            **request_finished_event(request_id=str(index), principal="p", principal_via="key")
        )
    assert time.perf_counter() - started < 0.1
    assert manager.close_audit(10)
    delivered = len(auditor.events)
    dropped = REGISTRY.get_sample_value("gatewise_audit_dropped_total") - before
    assert 2 <= delivered <= 3 and delivered + dropped == 6
    assert "audit queue full" in caplog.text


def test_a_raising_audit_hook_is_logged_in_the_audit_thread(caplog: pytest.LogCaptureFixture) -> None:
    class Broken:
        @hookimpl
        def gatewise_request_finished(self) -> None:
            raise RuntimeError("audit store down")

    manager = PluginManager(entry_points=False, extra=[("broken", Broken())])
    caplog.set_level(logging.ERROR, logger="gatewise.plugins")
    manager.post_request_finished(**request_finished_event(principal="p", principal_via="key"))
    assert manager.close_audit(10)
    assert "plugin 'broken' failed in gatewise_request_finished" in caplog.text


def _requests_total(model: str, status: str) -> float:
    return (
        REGISTRY.get_sample_value("gatewise_requests_total", {"model": model, "status": status, "protocol": "grpc"})
        or 0.0
    )


async def test_unknown_model_names_never_become_metric_labels(repository: Path) -> None:
    """A client-chosen name for a model that is not in the repository is counted as '<unknown>';
    a model the repository knows keeps its own label even when it is not serving."""
    name = f"no-such-model-{uuid.uuid4().hex}"
    unknown_before = _requests_total(metrics.UNKNOWN_MODEL, "NOT_FOUND")
    broken_before = _requests_total("broken", "UNAVAILABLE")
    async with serving(repository) as server, grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        client = stub(channel)
        for model, code in ((name, grpc.StatusCode.NOT_FOUND), ("broken", grpc.StatusCode.UNAVAILABLE)):
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await client.ModelInfer(add_one_request(model), timeout=10)
            assert info.value.code() == code
    assert _requests_total(metrics.UNKNOWN_MODEL, "NOT_FOUND") == unknown_before + 1
    assert _requests_total("broken", "UNAVAILABLE") == broken_before + 1
    labels = {sample.labels.get("model") for family in REGISTRY.collect() for sample in family.samples}
    assert name not in labels
