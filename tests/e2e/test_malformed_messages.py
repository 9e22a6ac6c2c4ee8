"""A request whose bytes are not the method's protobuf: INVALID_ARGUMENT with one line, for
every RPC the server offers, and at most one log line however many arrive."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
from gatewise.protos import grpc_service_pb2 as pb
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection_pb2

from security.harness import serving

GARBAGE = b"\xff\xff\xff\xff\x0f not a protobuf"

INFERENCE = pb.DESCRIPTOR.services_by_name["GRPCInferenceService"]
HEALTH = health_pb2.DESCRIPTOR.services_by_name["Health"]
REFLECTION = reflection_pb2.DESCRIPTOR.services_by_name["ServerReflection"]
METHODS = [
    (f"/{service.full_name}/{method.name}", method.client_streaming, method.server_streaming)
    for service in (INFERENCE, HEALTH, REFLECTION)
    for method in service.methods
]


def call(channel: grpc.aio.Channel, path: str, streams_in: bool, streams_out: bool):
    kind = {
        (False, False): channel.unary_unary,
        (False, True): channel.unary_stream,
        (True, False): channel.stream_unary,
        (True, True): channel.stream_stream,
    }[(streams_in, streams_out)]
    return kind(path)(iter([GARBAGE]) if streams_in else GARBAGE, timeout=10)


async def outcome(rpc) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        if hasattr(rpc, "__aiter__"):
            async for _ in rpc:
                pass
        else:
            await rpc
    return info.value


@pytest.mark.parametrize(("path", "streams_in", "streams_out"), METHODS, ids=[path for path, _, _ in METHODS])
async def test_every_rpc_answers_invalid_argument_naming_the_message(
    repository: Path, caplog: pytest.LogCaptureFixture, path: str, streams_in: bool, streams_out: bool
) -> None:
    async with serving(repository) as server, grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        error = await outcome(call(channel, path, streams_in, streams_out))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, (error.code(), error.details())
    assert f"{path}: the request is not a valid" in error.details() and "\n" not in error.details()
    assert "Traceback" not in caplog.text and "DecodeError" not in caplog.text


async def test_a_flood_of_bad_messages_logs_one_line(repository: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = "/inference.GRPCInferenceService/ModelInfer"
    async with serving(repository) as server, grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        codes = {(await outcome(call(channel, path, False, False))).code() for _ in range(50)}
        ready = await channel.unary_unary(
            "/inference.GRPCInferenceService/ServerReady",
            request_serializer=pb.ServerReadyRequest.SerializeToString,
            response_deserializer=pb.ServerReadyResponse.FromString,
        )(pb.ServerReadyRequest(), timeout=10)
    assert codes == {grpc.StatusCode.INVALID_ARGUMENT}
    assert ready.ready, "the server still answers well-formed calls"
    assert sum("does not parse" in record.getMessage() for record in caplog.records) == 1
