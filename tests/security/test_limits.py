"""Every limit answers with a clear error, and the server keeps serving afterwards."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from gatewise.protos import grpc_service_pb2 as pb

from security.harness import add_one_request, serving, stub, text_request


async def still_serves(channel: grpc.aio.Channel) -> None:
    response = await stub(channel).ModelInfer(add_one_request(), timeout=10)
    assert response.outputs[0].name == "y"


async def test_message_over_max_message_bytes_is_resource_exhausted(repository: Path) -> None:
    async with serving(repository, max_message_bytes=64 * 1024) as server:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await stub(channel).ModelInfer(add_one_request(rows=8192), timeout=10)  # 128 KiB of FP32
            assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "larger than max" in info.value.details()
            await still_serves(channel)


async def test_rows_over_max_batch_size_and_long_strings_are_invalid(repository: Path) -> None:
    """max_batch_size bounds rows per request; max_string_bytes bounds each BYTES element, raw or typed."""
    async with serving(repository, max_string_bytes=32) as server:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            client = stub(channel)
            too_many = client.ModelInfer(text_request(*[b"good"] * 9), timeout=10)
            typed = pb.ModelInferRequest(model_name="tiny-sentiment")
            typed.inputs.add(name="text", datatype="BYTES", shape=[1]).contents.bytes_contents.append(b"y" * 33)
            cases = [
                (too_many, "request for model 'tiny-sentiment' has 9 rows, more than max_batch_size 8"),
                (client.ModelInfer(text_request(b"x" * 33), timeout=10), "element 0 is 33 bytes, over the limit of 32"),
                (client.ModelInfer(typed, timeout=10), "element 0 is over the limit of 32 bytes"),
            ]
            for call, message in cases:
                with pytest.raises(grpc.aio.AioRpcError) as info:
                    await call
                assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
                assert message in info.value.details()
            assert (await client.ModelInfer(text_request(b"x" * 32), timeout=10)).outputs
            await still_serves(channel)


async def test_max_concurrent_streams_holds_back_the_extra_stream_on_that_connection(repository: Path) -> None:
    """With 2 streams open on one connection, a third waits (here: until its deadline); another
    connection is served, and the held-back one goes through once a stream closes."""
    async with serving(repository, max_concurrent_streams=2) as server:
        target = f"127.0.0.1:{server.port}"
        release = asyncio.Event()

        async def held_open(request_id: str) -> AsyncIterator[pb.ModelInferRequest]:
            yield add_one_request(id=request_id)
            await release.wait()

        own_connection = [("grpc.use_local_subchannel_pool", 1)]  # channels may share one otherwise
        busy = grpc.aio.insecure_channel(target, options=own_connection)
        other = grpc.aio.insecure_channel(target, options=own_connection)
        async with busy, other:
            streams = [stub(busy).ModelStreamInfer(held_open(str(index)), timeout=60) for index in range(2)]
            for stream in streams:  # both are open at the server: each answered its first request
                assert (await stream.read()).infer_response.outputs
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await stub(busy).ModelInfer(add_one_request(), timeout=1.5)
            assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
            await still_serves(other)
            release.set()
            for stream in streams:
                assert await stream.read() is grpc.aio.EOF
            await still_serves(busy)
