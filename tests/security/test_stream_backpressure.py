"""ModelStreamInfer backpressure: a client that sends and never reads cannot grow the server's memory.

The server reads at most ``max_stream_inflight`` requests ahead of the answers the client has
taken; past that it stops reading, HTTP/2 flow control stops the client's writes, and the
server holds a bounded amount however much the client tries to send.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest
from gatewise.protos import grpc_service_pb2 as pb

from models import build_repository, write_echo
from security.harness import RunningServer, add_one_request, start_server, stub
from security.liveness import LivenessProbe

ROWS, WIDTH = 16, 16384  # 1 MiB of FP32 per request, and per answer (the echo model returns its input)
ATTEMPTS = 400  # 400 MiB of requests, 400 MiB of answers, if the server took everything
GROWTH_BOUND = 160 << 20
"""4 requests in flight and their answers (8 MiB), decoding copies, HTTP/2 windows and grpc's
buffers stay far below this; a server that read everything would hold hundreds of MiB."""


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for process {pid}")


@pytest.fixture
def echo_server(tmp_path: Path) -> Iterator[RunningServer]:
    repository = build_repository(tmp_path / "models")
    write_echo(repository)
    server = start_server(repository, tmp_path / "server.log", "--max-stream-inflight", "4")
    yield server
    server.stop()


def echo_request(index: int) -> pb.ModelInferRequest:
    request = pb.ModelInferRequest(model_name="echo", id=str(index))
    request.inputs.add(name="x", datatype="FP32", shape=[ROWS, WIDTH])
    request.raw_input_contents.append(np.full((ROWS, WIDTH), index, dtype=np.float32).tobytes())
    return request


async def test_a_stream_client_that_never_reads_is_held_back_and_others_are_served(
    echo_server: RunningServer,
) -> None:
    """Writes stall long before 400 MiB, server RSS stays bounded, and another client is answered meanwhile."""
    options = [("grpc.max_send_message_length", 64 << 20), ("grpc.max_receive_message_length", 64 << 20)]
    baseline = rss_bytes(echo_server.process.pid)
    async with grpc.aio.insecure_channel(echo_server.url, options=options) as channel:
        call = stub(channel).ModelStreamInfer()
        written = 0
        for index in range(ATTEMPTS):
            try:
                await asyncio.wait_for(call.write(echo_request(index)), timeout=3)
            except TimeoutError:
                break  # the server stopped reading: flow control holds this client back
            written += 1
        await asyncio.sleep(1)  # whatever the server would still take, it takes now
        grown = rss_bytes(echo_server.process.pid) - baseline
        with LivenessProbe(echo_server.url) as probe:
            async with grpc.aio.insecure_channel(echo_server.url) as other:
                answer = await stub(other).ModelInfer(add_one_request(), timeout=10)
        call.cancel()
    assert answer.outputs[0].name == "y"
    assert probe.calls > 0 and probe.worst < 1.0
    assert written < ATTEMPTS // 4, f"the server took {written} MiB from a client that never reads"
    assert grown < GROWTH_BOUND, f"server RSS grew {grown >> 20} MiB for a client that never reads"


async def test_a_stream_that_reads_gets_every_answer_in_order_of_ids(echo_server: RunningServer) -> None:
    """Backpressure holds a fast writer back without losing or duplicating answers (30 requests, 4 in flight)."""
    options = [("grpc.max_send_message_length", 64 << 20), ("grpc.max_receive_message_length", 64 << 20)]
    async with grpc.aio.insecure_channel(echo_server.url, options=options) as channel:

        async def requests():
            for index in range(30):
                yield echo_request(index)

        answers = [response async for response in stub(channel).ModelStreamInfer(requests(), timeout=120)]
    assert sorted(int(answer.infer_response.id) for answer in answers) == list(range(30))
    assert not any(answer.error_message for answer in answers)
    first = answers[0].infer_response
    values = np.frombuffer(first.raw_output_contents[0], dtype=np.float32)
    assert values.size == ROWS * WIDTH and np.all(values == int(first.id))
