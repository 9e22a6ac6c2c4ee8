"""SIGTERM over HTTP follows gRPC's drain: the same burst loses nothing, the drain delay keeps
answering while /v2/health/ready says 503, and a request after the gate closed gets 503 with
``Connection: close``."""

from __future__ import annotations

import asyncio
import collections
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import aiohttp
import httpx
import pytest

from models import add_one_graph, build_repository, write_model
from reliability.faults import SLOW_CONFIG
from security.harness import RunningServer, free_port, start_cli

BURST = 200
RUNS = 20
BODY = {"inputs": [{"name": "text", "datatype": "BYTES", "shape": [1], "data": ["the movie was good"]}]}


@pytest.fixture(scope="module")
def burst_repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_repository(tmp_path_factory.mktemp("http-burst") / "models")


def start_http(repository: Path, log: Path, *flags: str) -> tuple[RunningServer, str]:
    port = free_port()
    return start_cli(repository, log, "--http-port", str(port), *flags), f"http://127.0.0.1:{port}"


async def burst_then_sigterm(base: str, process, delay_s: float = 0.05) -> collections.Counter:
    """BURST requests, each on its own connection so all are on the wire at once (as gRPC's
    burst multiplexes them), SIGTERM after ``delay_s``; count the outcomes."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=BURST)) as session:

        async def call() -> str:
            try:
                async with session.post(f"{base}/v2/models/tiny-sentiment/infer", json=BODY) as response:
                    document = await response.json()
                    if response.status != 200:
                        return f"{response.status}"
                    return "OK" if document["outputs"][0]["name"] == "label" else "WRONG ANSWER"
            except aiohttp.ClientError as exc:
                return type(exc).__name__

        calls = [asyncio.ensure_future(call()) for _ in range(BURST)]
        await asyncio.sleep(delay_s)
        process.send_signal(signal.SIGTERM)
        return collections.Counter(await asyncio.gather(*calls))


@pytest.mark.parametrize("run", range(RUNS))
def test_an_http_burst_at_sigterm_gets_every_answer(run: int, burst_repository: Path, tmp_path: Path) -> None:
    """200 HTTP requests, SIGTERM 50 ms in: 200 real answers, exit 0."""
    server, base = start_http(burst_repository, tmp_path / "server.log")
    outcomes = asyncio.run(burst_then_sigterm(base, server.process))
    code = server.stop(timeout=60)
    assert outcomes == {"OK": BURST}, f"run {run}: {dict(outcomes)}\n{server.log()[-2000:]}"
    assert code == 0, server.log()


def test_drain_delay_answers_then_refuses_with_503_and_connection_close(tmp_path: Path) -> None:
    """With --drain-delay: ready is 503 at once, requests still get answers during the delay; once
    the gate closed (a slow request keeps the server draining) a new one gets 503 and
    ``Connection: close``, and the slow one still gets its answer."""
    repository = build_repository(tmp_path / "models")
    write_model(repository, "slow", add_one_graph(), SLOW_CONFIG.format(delay_ms=6000))
    server, base = start_http(repository, tmp_path / "server.log", "--drain-delay", "1.5")
    slow_body = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 4], "data": [1, 2, 3, 4]}]}
    with httpx.Client(base_url=base, timeout=30) as client, ThreadPoolExecutor(1) as pool:
        slow = pool.submit(httpx.post, f"{base}/v2/models/slow/infer", json=slow_body, timeout=30)
        assert client.get("/v2/health/ready").status_code == 200
        time.sleep(0.3)  # the slow request is admitted
        server.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        while client.get("/v2/health/ready").status_code != 503:
            assert time.monotonic() < deadline, "ready never went false"
            time.sleep(0.02)
        assert client.get("/v2/health/ready").json() == {"ready": False}
        answered = client.post("/v2/models/tiny-sentiment/infer", json=BODY)
        assert answered.status_code == 200, answered.text
        time.sleep(2.5)  # past the delay and the quiet wait: the gate is closed, the slow request in flight
        refused = client.post("/v2/models/tiny-sentiment/infer", json=BODY)
        assert slow.result().status_code == 200
    assert refused.status_code == 503, refused.text
    assert refused.headers["Connection"].lower() == "close"
    assert "shutting down" in refused.json()["error"]
    assert server.stop(timeout=30) == 0
    assert "still answering for 1.5 s" in server.log()
