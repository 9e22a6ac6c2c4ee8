"""Loading, replacing and unloading models under traffic fails no request: in-flight
requests finish on the version they started on, new ones go to the new version once warm."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
import numpy as np
from gatewise.gateway.server import GatewayServer
from gatewise.protos import grpc_service_pb2 as pb

from conftest import write_admin_key
from models import ADD_ONE_CONFIG, add_one_graph, write_model
from reliability.faults import SLOW_CONFIG, add_graph
from security.harness import add_one_request, authorised_channel, serving, stub


def added(response: pb.ModelInferResponse) -> float:
    """What the serving version adds to x (requests send x = 0)."""
    return float(np.frombuffer(response.raw_output_contents[0], dtype=np.float32)[0])


async def wait_until(condition, what: str, timeout: float = 30) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


async def test_replace_reload_and_unload_under_traffic_fail_nothing(repository: Path) -> None:
    """Four clients call add-one while it is replaced by version 2 and reloaded, and another
    model is unloaded and loaded again: zero failures, and each answer matches its version."""
    admin = write_admin_key(repository.parent / "keys")
    async with serving(repository, **admin.settings) as server:
        async with authorised_channel(f"127.0.0.1:{server.port}", admin.metadata) as channel:
            client = stub(channel)
            stop, replaced = asyncio.Event(), asyncio.Event()
            answers: list[tuple[bool, str, float]] = []
            failures: list[grpc.aio.AioRpcError] = []

            async def caller() -> None:
                while not stop.is_set():
                    sent_after_replace = replaced.is_set()
                    try:
                        response = await client.ModelInfer(add_one_request(rows=1, value=0.0), timeout=30)
                    except grpc.aio.AioRpcError as exc:
                        failures.append(exc)
                    else:
                        answers.append((sent_after_replace, response.model_version, added(response)))

            callers = [asyncio.create_task(caller()) for _ in range(4)]
            await wait_until(lambda: len(answers) >= 20, "traffic on version 1")
            write_model(repository, "add-one", add_graph(2.0), ADD_ONE_CONFIG, version=2)
            await client.RepositoryModelLoad(pb.RepositoryModelLoadRequest(model_name="add-one"), timeout=60)
            replaced.set()
            count = len(answers)
            await wait_until(lambda: len(answers) >= count + 20, "traffic on version 2")
            for request in (pb.RepositoryModelUnloadRequest(model_name="tiny-sentiment"),):
                await client.RepositoryModelUnload(request, timeout=60)
            await client.RepositoryModelLoad(pb.RepositoryModelLoadRequest(model_name="tiny-sentiment"), timeout=60)
            await client.RepositoryModelLoad(pb.RepositoryModelLoadRequest(model_name="add-one"), timeout=60)
            count = len(answers)
            await wait_until(lambda: len(answers) >= count + 20, "traffic after the reload")
            stop.set()
            await asyncio.gather(*callers)
    assert failures == []
    assert {(version, value) for _, version, value in answers} == {("1", 1.0), ("2", 2.0)}
    assert {version for after, version, _ in answers if after} == {"2"}


async def test_in_flight_requests_finish_on_the_old_version(repository: Path) -> None:
    """Requests queued on version 1 when version 2 is loaded, or when the model is unloaded,
    are answered by version 1; the next request goes to version 2, or is UNAVAILABLE after unload."""
    write_model(repository, "slow", add_one_graph(), SLOW_CONFIG.format(delay_ms=1000))
    admin = write_admin_key(repository.parent / "keys")
    async with serving(repository, **admin.settings) as server:
        async with authorised_channel(f"127.0.0.1:{server.port}", admin.metadata) as channel:
            client = stub(channel)
            in_flight = await queue_three(server, client)
            write_model(repository, "slow", add_graph(2.0), SLOW_CONFIG.format(delay_ms=1000), version=2)
            await client.RepositoryModelLoad(pb.RepositoryModelLoadRequest(model_name="slow"), timeout=60)
            assert [(r.model_version, added(r)) for r in await asyncio.gather(*in_flight)] == [("1", 1.0)] * 3
            response = await client.ModelInfer(add_one_request("slow", rows=1, value=0.0), timeout=30)
            assert (response.model_version, added(response)) == ("2", 2.0)

            in_flight = await queue_three(server, client)
            await client.RepositoryModelUnload(pb.RepositoryModelUnloadRequest(model_name="slow"), timeout=60)
            assert [r.model_version for r in await asyncio.gather(*in_flight)] == ["2"] * 3
            try:
                await client.ModelInfer(add_one_request("slow", rows=1), timeout=30)
            except grpc.aio.AioRpcError as exc:
                assert exc.code() == grpc.StatusCode.UNAVAILABLE
                assert "model 'slow' is not ready (UNAVAILABLE): unloaded" in exc.details()
            else:
                raise AssertionError("an unloaded model answered")


async def queue_three(server: GatewayServer, client) -> list[asyncio.Future]:
    """Three requests waiting in slow's queue (its delay holds them there)."""
    tasks = [
        asyncio.ensure_future(client.ModelInfer(add_one_request("slow", rows=1, value=0.0), timeout=60))
        for _ in range(3)
    ]
    await wait_until(lambda: server.repository.get("slow").queue_depth == 3, "three queued requests")
    return tasks
