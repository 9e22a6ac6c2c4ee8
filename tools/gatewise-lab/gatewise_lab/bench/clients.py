"""Closed-loop gRPC clients: each of ``concurrency`` callers sends its next request when the last is answered.

Unary ModelInfer, as most clients call; ModelStreamInfer, where every caller shares one
stream; and empty calls, the floor that any gRPC round trip costs on the machine. All run on
uvloop where it is installed, so the client takes as little as it can of the CPUs it shares
with the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import grpc
from gatewise.gateway.codec import serialize_bytes
from gatewise.protos import grpc_service_pb2 as pb
from gatewise.protos import grpc_service_pb2_grpc as pb_grpc

from gatewise_lab.bench.rows import Row, measured_row
from gatewise_lab.bench.workload import SENTENCES, texts_for

T = TypeVar("T")

CHANNEL_OPTIONS = [("grpc.use_local_subchannel_pool", 1)]
"""A channel of its own per measurement, never one shared with an earlier measurement."""
ANSWER_TIMEOUT_S = 30.0
"""Longer than any answer takes here: a request still unanswered after it counts as an error."""


def single_row_requests(model_name: str) -> list[pb.ModelInferRequest]:
    """One single-row request per sentence, cycled through by every client alike."""
    requests = []
    for index in range(len(SENTENCES)):
        request = pb.ModelInferRequest(model_name=model_name)
        request.inputs.add(name="text", datatype="BYTES", shape=[1])
        request.raw_input_contents.append(serialize_bytes(texts_for(1, index)))
        requests.append(request)
    return requests


async def drive(
    call: Callable[[int], Awaitable[bool]],
    concurrency: int,
    seconds: float,
    stop_on: tuple[type[BaseException], ...] = (),
) -> tuple[float, list[float], int]:
    """The closed loop itself: ``concurrency`` callers, each awaiting ``call(step)`` then the next, for ``seconds``.

    ``call`` says whether its answer was good; a good one is timed, a bad one counted as an
    error. An exception in ``stop_on`` counts as one error and ends that caller (the channel
    it needs is gone). Returns (answers per second, latencies in seconds, errors).
    """
    latencies: list[float] = []
    errors = 0
    loop = asyncio.get_running_loop()
    stop_at = loop.time() + seconds

    async def caller(index: int) -> None:
        nonlocal errors
        step = index
        while loop.time() < stop_at:
            sent = time.perf_counter()
            try:
                answered = await call(step)
            except stop_on:
                errors += 1
                return
            if answered:
                latencies.append(time.perf_counter() - sent)
            else:
                errors += 1
            step += 1

    started = loop.time()
    await asyncio.gather(*(caller(index) for index in range(concurrency)))
    return len(latencies) / (loop.time() - started), latencies, errors


async def closed_loop(url: str, model_name: str, concurrency: int, seconds: float) -> Row:
    """``concurrency`` callers each keep one single-row ModelInfer in flight for ``seconds``."""
    return await closed_loop_over(url, single_row_requests(model_name), concurrency, seconds)


async def closed_loop_over(url: str, requests: list[pb.ModelInferRequest], concurrency: int, seconds: float) -> Row:
    """``concurrency`` callers each keep one of ``requests`` (in turn) in flight for ``seconds``."""
    async with grpc.aio.insecure_channel(url, options=CHANNEL_OPTIONS) as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        with contextlib.suppress(grpc.aio.AioRpcError):
            await stub.ModelInfer(requests[0])  # connect before the clock starts; a failure shows in the measured calls

        async def call(step: int) -> bool:
            try:
                await stub.ModelInfer(requests[step % len(requests)], timeout=ANSWER_TIMEOUT_S)
            except grpc.aio.AioRpcError:
                return False
            return True

        rate, latencies, errors = await drive(call, concurrency, seconds)
    return measured_row(f"gRPC, concurrency {concurrency}", rate, latencies, errors)


class StreamClosed(Exception):
    """The stream failed or ended while a request was still waiting for its answer."""


async def closed_loop_stream(url: str, model_name: str, concurrency: int, seconds: float) -> Row:
    """``concurrency`` callers share one ModelStreamInfer stream, each with one request in flight.

    Answers come back as they finish and are matched to their caller by request id. An
    answer that carries an error message counts as an error. If the stream fails or ends,
    every caller still waiting gets StreamClosed and stops, counted as one error each; so
    does a caller whose answer does not come within ``ANSWER_TIMEOUT_S``.
    """
    templates = single_row_requests(model_name)
    waiting: dict[str, asyncio.Future[pb.ModelStreamInferResponse]] = {}
    ids = itertools.count()
    closed: StreamClosed | None = None
    async with grpc.aio.insecure_channel(url, options=CHANNEL_OPTIONS) as channel:
        stream = pb_grpc.GRPCInferenceServiceStub(channel).ModelStreamInfer(timeout=seconds + 2 * ANSWER_TIMEOUT_S)
        write_lock = asyncio.Lock()  # grpc.aio allows one write in flight per call
        loop = asyncio.get_running_loop()

        async def read_answers() -> None:
            nonlocal closed
            try:
                async for answer in stream:
                    future = waiting.pop(answer.infer_response.id, None)
                    if future is not None:  # None: its caller gave up waiting (ANSWER_TIMEOUT_S)
                        future.set_result(answer)
                closed = StreamClosed("the server ended the stream")
            except grpc.aio.AioRpcError as exc:
                closed = StreamClosed(f"the stream failed: {exc.code().name}: {exc.details()}")
            finally:
                for future in waiting.values():
                    if not future.done():
                        future.set_exception(closed or StreamClosed("the client stopped reading"))
                waiting.clear()

        async def infer(step: int) -> pb.ModelStreamInferResponse:
            if closed is not None:
                raise closed
            request = pb.ModelInferRequest()
            request.CopyFrom(templates[step % len(templates)])
            request.id = str(next(ids))
            waiting[request.id] = answer = loop.create_future()
            try:
                async with write_lock:
                    await stream.write(request)
            except (grpc.aio.AioRpcError, asyncio.InvalidStateError) as exc:  # InvalidState: the call is over
                waiting.pop(request.id, None)
                if answer.done():
                    answer.exception()  # the reader failed it first; retrieved, so nothing is logged
                raise StreamClosed(f"could not send: {exc}") from exc
            try:
                return await asyncio.wait_for(answer, ANSWER_TIMEOUT_S)
            finally:
                waiting.pop(request.id, None)

        reader = asyncio.create_task(read_answers())
        with contextlib.suppress(StreamClosed, TimeoutError):
            await infer(0)  # connect before the clock starts; a failure shows in the measured calls

        async def call(step: int) -> bool:
            answer = await infer(step)
            return not answer.error_message

        rate, latencies, errors = await drive(call, concurrency, seconds, stop_on=(StreamClosed, TimeoutError))
        await stream.done_writing()
        await reader
    return measured_row(f"gRPC stream, concurrency {concurrency}", rate, latencies, errors)


FLOOR = "gRPC floor: empty call"


async def empty_calls(url: str, wait_s: float, seconds: float) -> Row:
    """ServerLive, one at a time, each sent after the client waited ``wait_s``.

    With ``wait_s`` set to the model's batch-1 time this is the floor under the
    concurrency-1 row: what a round trip with no work in it costs when both ends have
    been idle as long as a lone inference takes (on a VM, threads that slept wake slowly).
    It has latencies but no throughput worth the name, so its rows/s is NaN.
    """
    latencies: list[float] = []
    errors = 0
    async with grpc.aio.insecure_channel(url, options=CHANNEL_OPTIONS) as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        await stub.ServerLive(pb.ServerLiveRequest())
        stop_at = time.perf_counter() + seconds
        while time.perf_counter() < stop_at:
            await asyncio.sleep(wait_s)
            sent = time.perf_counter()
            try:
                await stub.ServerLive(pb.ServerLiveRequest(), timeout=ANSWER_TIMEOUT_S)
                latencies.append(time.perf_counter() - sent)
            except grpc.aio.AioRpcError:
                errors += 1
    return measured_row(FLOOR, float("nan"), latencies, errors)


def run_client(main: Coroutine[Any, Any, T]) -> T:
    """Run one client coroutine, on uvloop where installed."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)
