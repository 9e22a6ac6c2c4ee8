"""--watch-interval: models added, changed and removed on disk are loaded, reloaded and
unloaded, under traffic, with no failed request; a bad change leaves the old version serving."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import grpc
import pytest

from models import ADD_ONE_CONFIG, write_model
from reliability.faults import add_graph
from reliability.test_live_updates import added, wait_until
from security.harness import add_one_request, serving, stub


async def test_watch_follows_the_repository_under_traffic(repository: Path, caplog: pytest.LogCaptureFixture) -> None:
    async with serving(repository, watch_interval_s=0.1) as server:
        repo = server.repository
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            client = stub(channel)
            stop = asyncio.Event()
            versions: list[tuple[str, float]] = []
            failures: list[grpc.aio.AioRpcError] = []

            async def caller() -> None:
                while not stop.is_set():
                    try:
                        response = await client.ModelInfer(add_one_request(rows=1, value=0.0), timeout=30)
                        versions.append((response.model_version, added(response)))
                    except grpc.aio.AioRpcError as exc:
                        failures.append(exc)

            callers = [asyncio.create_task(caller()) for _ in range(2)]
            write_model(repository, "add-one", add_graph(2.0), ADD_ONE_CONFIG, version=2)
            await wait_until(lambda: versions and versions[-1][0] == "2", "version 2 to serve")
            write_model(repository, "add-two", add_graph(2.0), ADD_ONE_CONFIG.replace("add-one", "add-two"))
            shutil.rmtree(repository / "tiny-sentiment")
            await wait_until(lambda: repo.is_ready("add-two") and not repo.is_ready("tiny-sentiment"), "add/remove")
            (repository / "add-one" / "config.toml").write_text('name = "add-one"\nbogus = 1\n')
            await wait_until(lambda: "model add-one failed to load" in caplog.text, "the bad config to be tried")
            count = len(versions)
            await wait_until(lambda: len(versions) > count + 10, "traffic after the bad change")
            stop.set()
            await asyncio.gather(*callers)
    assert failures == []
    assert {pair for pair in versions} == {("1", 1.0), ("2", 2.0)}
    assert versions[-1] == ("2", 2.0)
