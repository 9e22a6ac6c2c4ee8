"""A request whose deadline passes, or whose client cancels, while it waits in a busy queue
never reaches the engine, and its place in the queue is given back."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
import pytest

from models import add_one_graph, write_model
from reliability.faults import SLOW_CONFIG
from reliability.test_live_updates import wait_until
from security.harness import add_one_request, serving, stub


@pytest.mark.parametrize("how", ["deadline", "cancel"])
async def test_expired_or_cancelled_requests_free_their_work(repository: Path, how: str) -> None:
    write_model(repository, "slow", add_one_graph(), SLOW_CONFIG.format(delay_ms=1500))
    async with serving(repository) as server:
        model = server.repository.get("slow")
        executed = model.stats.execution_count  # warm-up batches
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            client = stub(channel)
            timeout = 0.3 if how == "deadline" else 60
            call = client.ModelInfer(add_one_request("slow", rows=1), timeout=timeout)
            await wait_until(lambda: model.queue_depth == 1, "the request to be queued")
            if how == "cancel":
                call.cancel()
            with pytest.raises((grpc.aio.AioRpcError, asyncio.CancelledError)) as info:
                await call
            if how == "deadline":
                assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
            await wait_until(lambda: model.queue_depth == 0, "the dead request to leave the queue")
            assert model.stats.execution_count == executed, "a dead request reached the engine"
            response = await client.ModelInfer(add_one_request("slow", rows=1), timeout=30)
            assert response.outputs[0].name == "y"
            assert model.stats.execution_count == executed + 1
