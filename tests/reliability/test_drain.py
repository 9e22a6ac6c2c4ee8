"""SIGTERM: health goes NOT_SERVING first, in-flight requests finish within the grace
period, the process exits 0, and a watching load balancer does not hold it up."""

from __future__ import annotations

import asyncio
import re
import signal
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from models import add_one_graph, write_model
from reliability.faults import SLOW_CONFIG
from security.harness import add_one_request, free_port, start_cli, stub


def metric(metrics_port: int, series: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10) as response:
        text = response.read().decode()
    match = re.search(rf"^{re.escape(series)} ([0-9.]+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def watch_health(url: str, seen: list[tuple[float, int]], stop: threading.Event) -> None:
    """A load balancer's Watch stream: records (time, status) until NOT_SERVING."""
    with grpc.insecure_channel(url) as channel:
        try:
            for response in health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest(), timeout=60):
                seen.append((time.monotonic(), response.status))
                if stop.is_set():
                    return
        except grpc.RpcError:
            pass


def run_drain(tmp_path: Path, repository: Path, delay_ms: int, grace_s: float) -> tuple[list, list, int, str]:
    write_model(repository, "slow", add_one_graph(), SLOW_CONFIG.format(delay_ms=delay_ms))
    metrics_port = free_port()
    server = start_cli(
        repository, tmp_path / "server.log", "--grace-period", str(grace_s), "--metrics-port", str(metrics_port)
    )
    seen: list[tuple[float, int]] = []
    watcher = threading.Thread(target=watch_health, args=(server.url, seen, threading.Event()), daemon=True)
    watcher.start()
    outcomes: list[tuple[float, str]] = []

    def call() -> None:
        with grpc.insecure_channel(server.url) as channel:
            try:
                stub(channel).ModelInfer(add_one_request("slow", rows=1), timeout=60)
                outcomes.append((time.monotonic(), "OK"))
            except grpc.RpcError as exc:
                outcomes.append((time.monotonic(), exc.code().name))

    with ThreadPoolExecutor(4) as pool:
        for _ in range(4):
            pool.submit(call)
        deadline = time.monotonic() + 30
        while metric(metrics_port, 'gatewise_queue_depth{model="slow"}') < 4:
            assert time.monotonic() < deadline, "requests never queued"
            time.sleep(0.02)
        assert metric(metrics_port, "gatewise_in_flight") == 4  # the autoscaling signal sees them too
        server.process.send_signal(signal.SIGTERM)
    code = server.stop(timeout=60)
    watcher.join(timeout=30)
    return seen, outcomes, code, server.log()


def test_sigterm_drains_in_flight_requests_after_health_says_not_serving(tmp_path: Path, repository: Path) -> None:
    seen, outcomes, code, log = run_drain(tmp_path, repository, delay_ms=2000, grace_s=60)
    assert code == 0, log
    assert [status for _, status in outcomes] == ["OK"] * 4, log
    not_serving = [when for when, status in seen if status == health_pb2.HealthCheckResponse.NOT_SERVING]
    assert not_serving and not_serving[0] < min(when for when, _ in outcomes), seen
    assert "draining: up to 60.0 s for 4 in-flight request(s)" in log
    assert "grace period over" not in log  # done when the requests were, not after 60 s


def test_sigterm_cancels_what_outlives_the_grace_period_and_exits_0(tmp_path: Path, repository: Path) -> None:
    """Grace 0.5 s, requests that need 4 s: each gets one clear error, the process exits 0."""
    _, outcomes, code, log = run_drain(tmp_path, repository, delay_ms=4000, grace_s=0.5)
    assert code == 0, log
    assert len(outcomes) == 4 and {status for _, status in outcomes} <= {"CANCELLED", "UNAVAILABLE"}, outcomes
    assert "grace period over: cancelling 4 in-flight request(s)" in log


async def test_max_connection_age_closes_connections_without_failing_calls(repository: Path) -> None:
    """Connections are closed after max_connection_age_s (clients reconnect and re-resolve);
    a call still running on an aged connection is answered within the grace period."""
    from security.harness import serving

    write_model(repository, "slow", add_one_graph(), SLOW_CONFIG.format(delay_ms=1500))
    async with serving(repository, max_connection_age_s=0.5) as server:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            states = []
            slow = asyncio.ensure_future(stub(channel).ModelInfer(add_one_request("slow", rows=1), timeout=30))
            deadline = time.monotonic() + 10
            while len(states) < 3 and time.monotonic() < deadline:  # READY -> IDLE (GOAWAY) -> ... READY again
                state = channel.get_state(try_to_connect=True)
                if not states or states[-1] != state:
                    states.append(state)
                await stub(channel).ModelInfer(add_one_request("add-one", rows=1), timeout=10)
                await asyncio.sleep(0.05)
            answer = await slow
    assert answer.outputs[0].name == "y"
    assert grpc.ChannelConnectivity.IDLE in states or grpc.ChannelConnectivity.CONNECTING in states, states
