"""``gatewise bench``: what the gateway costs on top of its engine, in figures.

1. In-process limit: the model's plugin + engine called directly (no gRPC, no queue) at
   batch 1 and at the batcher's max batch size.
2. Through gRPC: a real server process and a closed-loop client (``concurrency``
   coroutines, each sending its next request when the last is answered), and perf_analyzer
   when it can start. Throughput, p50, p99 and errors, then the ratios to (1).
Prints figures; it asserts nothing.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import grpc
import numpy as np
from rich.console import Console
from rich.table import Table

from gateway.batcher import Pending
from gateway.codec import serialize_bytes
from gateway.config import load_config
from gateway.engines import close_all
from gateway.model import split_by_length
from gateway.repository import select_versions
from plugins.context import BatchContext
from plugins.manager import PluginManager
from protos import grpc_service_pb2 as pb
from protos import grpc_service_pb2_grpc as pb_grpc

T = TypeVar("T")

SENTENCES = [
    "Shares rose after the company raised its full-year guidance.",
    "Revenue fell short of expectations and the stock dropped 8 percent in early trading.",
    "The board will meet on Thursday.",
    "Operating margin improved for the third consecutive quarter, driven by lower input costs and a stronger mix.",
    "Analysts cut their price target citing weak demand in Europe.",
    "The bank kept its dividend unchanged.",
    "Quarterly net loss widened as restructuring charges mounted and sales of the flagship product slowed.",
    "Great delivery, the product works exactly as described.",
    "Terrible customer service, I waited two weeks for a reply.",
    "It is okay for the price.",
]


@dataclass
class Row:
    """One measured configuration."""

    name: str
    rows_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int = 0
    note: str = ""
    mean_ms: float = float("nan")


@dataclass
class ServerTime:
    """Mean milliseconds per request by the server's own ModelStatistics, over one measurement."""

    requests: int
    total_ms: float
    queue_ms: float
    compute_ms: float

    @property
    def gateway_ms(self) -> float:
        """Decode, validation, the hand-offs to and from the instance thread, encode."""
        return self.total_ms - self.queue_ms - self.compute_ms


def texts_for(rows: int, offset: int = 0) -> np.ndarray:
    return np.array([SENTENCES[(offset + i) % len(SENTENCES)].encode() for i in range(rows)], dtype=object)


class InProcess:
    """The model's plugin + engine loaded in this process, called directly (no gRPC, no queue)."""

    def __init__(self, repository: Path, model_name: str) -> None:
        from gateway.model import ServedModel

        model_dir = repository / model_name
        config = load_config(model_dir)
        version = select_versions(config, model_dir)[-1]
        self._model = ServedModel.load(config, version, model_dir / version, PluginManager())

    def measure(self, batch_size: int, seconds: float, parallel: bool = False, split: bool = False) -> Row:
        """One batch after another for ``seconds``; with ``parallel``, on every engine instance at once.

        Batch 1 runs on one instance (the latency of a lone request). At the max batch size
        every instance the config asks for runs its own loop in its own thread, as the
        batcher would drive them: the in-process limit of the same configuration. With
        ``split`` each batch runs as the gateway would run it, split by length
        (``split_by_length``) into calls that pad less.
        """
        instances = len(self._model.engines) if parallel else 1
        latencies: list[list[float]] = [[] for _ in range(instances)]
        deadline = time.perf_counter() + seconds

        def loop(instance: int) -> None:
            step = instance
            while time.perf_counter() < deadline or len(latencies[instance]) < 5:
                texts = texts_for(batch_size, step)
                parts = [texts]
                if split:
                    rows = [Pending(payload=text, rows=1, length=len(text)) for text in texts]
                    parts = [np.array([row.payload for row in part], dtype=object) for part in split_by_length(rows)]
                started = time.perf_counter()
                for part in parts:
                    self._model.execute({"text": part}, BatchContext.single(len(part)), instance, record=False)
                latencies[instance].append(time.perf_counter() - started)
                step += instances

        started = time.perf_counter()
        with ThreadPoolExecutor(instances) as pool:
            list(pool.map(loop, range(instances)))
        elapsed = time.perf_counter() - started
        pooled = [latency for per_instance in latencies for latency in per_instance]
        name = f"in-process, batch {batch_size}" + (", split by length" if split else "")
        return _row(name, batch_size * len(pooled) / elapsed, pooled)

    def close(self) -> None:
        close_all(self._model.engines)


async def closed_loop(url: str, model_name: str, concurrency: int, seconds: float) -> Row:
    """``concurrency`` clients each keep one single-row request in flight for ``seconds``."""
    requests = []
    for index in range(len(SENTENCES)):
        request = pb.ModelInferRequest(model_name=model_name)
        request.inputs.add(name="text", datatype="BYTES", shape=[1])
        request.raw_input_contents.append(serialize_bytes(texts_for(1, index)))
        requests.append(request)
    latencies: list[float] = []
    errors = 0
    options = [("grpc.use_local_subchannel_pool", 1)]
    async with grpc.aio.insecure_channel(url, options=options) as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        await stub.ModelInfer(requests[0])  # connect before the clock starts
        loop = asyncio.get_running_loop()
        stop_at = loop.time() + seconds

        async def client(index: int) -> None:
            nonlocal errors
            step = index
            while loop.time() < stop_at:
                started = time.perf_counter()
                try:
                    await stub.ModelInfer(requests[step % len(requests)], timeout=30)
                    latencies.append(time.perf_counter() - started)
                except grpc.aio.AioRpcError:
                    errors += 1
                step += 1

        started = loop.time()
        await asyncio.gather(*(client(index) for index in range(concurrency)))
        elapsed = loop.time() - started
    return _row(f"gRPC, concurrency {concurrency}", len(latencies) / elapsed, latencies, errors)


def perf_analyzer_env() -> dict[str, str]:
    """perf_analyzer links libcudart.so.12 even for CPU runs: point it at the pip wheel's copy."""
    env = dict(os.environ)
    try:
        import nvidia.cuda_runtime
    except ImportError:
        return env
    lib = Path(next(iter(nvidia.cuda_runtime.__path__))) / "lib"
    env["LD_LIBRARY_PATH"] = f"{lib}:{env.get('LD_LIBRARY_PATH', '')}"
    return env


def find_perf_analyzer() -> str | None:
    """The binary tritonclient's wheel put beside this interpreter, else one on PATH.

    Looking beside ``sys.executable`` first finds it when the virtual environment is used
    without being activated (``.venv/bin/python -m ...``), as the scripts and CI do.
    """
    beside = Path(sys.executable).parent / "perf_analyzer"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("perf_analyzer")


def perf_analyzer_row(url: str, model_name: str, concurrency: int, seconds: float) -> Row | None:
    """perf_analyzer's own figures, when its binary and libraries are present."""
    binary = find_perf_analyzer()
    if binary is None:
        return None
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as data:
        data.write('{"data": [' + ",".join(f'{{"text": ["{s}"]}}' for s in SENTENCES) + "]}")
    env = perf_analyzer_env()
    command = [
        binary, "-m", model_name, "-i", "grpc", "-u", url, "--input-data", data.name, "--shape", "text:1",
        "--concurrency-range", str(concurrency), "--measurement-interval", str(int(seconds * 1000 / 3)),
        "--stability-percentage", "50", "--max-trials", "20",
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env, check=False)
    os.unlink(data.name)
    if done.returncode != 0:
        return Row(f"perf_analyzer, concurrency {concurrency}", 0, 0, 0, 1, (done.stdout + done.stderr)[-200:])
    throughput = float(re.search(r"Throughput: ([\d.]+) infer/sec", done.stdout).group(1))
    p50 = float(re.search(r"p50 latency: (\d+) usec", done.stdout).group(1)) / 1000
    p99 = float(re.search(r"p99 latency: (\d+) usec", done.stdout).group(1)) / 1000
    return Row(f"perf_analyzer, concurrency {concurrency}", throughput, p50, p99)


def run_client(main: Coroutine[Any, Any, Row]) -> Row:
    """The client runs on uvloop too where installed, so it takes less of the shared CPUs."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


def _row(name: str, rate: float, latencies: list[float], errors: int = 0) -> Row:
    if not latencies:
        return Row(name, rate, float("nan"), float("nan"), errors)
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return Row(
        name, rate, statistics.median(ordered) * 1000, p99 * 1000, errors, mean_ms=statistics.fmean(ordered) * 1000
    )


def server_statistics(url: str, model_name: str) -> pb.InferStatistics:
    with grpc.insecure_channel(url) as channel:
        response = pb_grpc.GRPCInferenceServiceStub(channel).ModelStatistics(
            pb.ModelStatisticsRequest(name=model_name), timeout=10
        )
    return response.model_stats[0].inference_stats


def server_time(before: pb.InferStatistics, after: pb.InferStatistics) -> ServerTime:
    """What the server reports between two ModelStatistics snapshots, per request."""
    requests = max(after.success.count - before.success.count, 1)

    def per_request(field: str) -> float:
        return (getattr(after, field).ns - getattr(before, field).ns) / requests / 1e6

    compute = sum(per_request(field) for field in ("compute_input", "compute_infer", "compute_output"))
    return ServerTime(requests, per_request("success"), per_request("queue"), compute)


def print_breakdown(console: Console, rounds: list[tuple[Row, ServerTime]], batch_one: Row) -> None:
    """Where a lone request's time goes, by the server's own ModelStatistics (means, median round)."""
    row, server = median_round(rounds, key=lambda pair: pair[0].rows_per_s)
    console.print(
        f"concurrency 1, mean ms per request (median round, {server.requests} requests): "
        f"client {row.mean_ms:.2f} = server compute {server.compute_ms:.2f} "
        f"(in-process batch 1: {batch_one.mean_ms:.2f}) + queue {server.queue_ms:.2f} "
        f"+ gateway {server.gateway_ms:.2f} (decode, hand-offs, encode) "
        f"+ gRPC and client {row.mean_ms - server.total_ms:.2f}"
    )


def start_server(repository: Path, workers: int) -> tuple[subprocess.Popen, str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [
        sys.executable, "-m", "gateway.cli", "serve", "--repository", str(repository),
        "--grpc-port", str(port), "--workers", str(workers), "--log-level", "WARNING",
    ]  # fmt: skip
    process = subprocess.Popen(command)
    url = f"127.0.0.1:{port}"
    with grpc.insecure_channel(url) as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if stub.ServerReady(pb.ServerReadyRequest(), timeout=1).ready:
                    return process, url
            except grpc.RpcError:
                time.sleep(0.2)
    process.kill()
    raise RuntimeError("the gateway did not become ready within 120 s")


def median_round(rounds: list[T], key: Callable[[T], float] = lambda row: row.rows_per_s) -> T:
    """The round with the median throughput: one slow or lucky round on a shared CPU moves no figure."""
    return sorted(rounds, key=key)[len(rounds) // 2]


def run_bench(
    repository: Path,
    model_name: str,
    concurrencies: list[int],
    seconds: float,
    workers: int,
    console: Console,
    rounds: int = 3,
) -> list[Row]:
    """Interleaved rounds (every configuration once per round), the median round per row.

    Interleaving spreads any drift of a shared machine over every row alike, so the ratios
    compare like with like. The in-process model stays loaded, idle, while gRPC is measured.
    """
    config = load_config(repository / model_name)
    max_batch = config.batching.max_batch_size
    console.print(f"[bold]{model_name}[/]: {rounds} interleaved rounds, {seconds:g} s per row per round")
    local_model = InProcess(repository, model_name)
    process, url = start_server(repository, workers)
    measured: dict[str, list[Row]] = {}
    single_request: list[tuple[Row, ServerTime]] = []
    try:
        for round_index in range(rounds):
            console.print(f"round {round_index + 1}/{rounds} ...")
            for batch_size, split in ((1, False), (max_batch, False), (max_batch, True)):
                row = local_model.measure(batch_size, seconds, parallel=batch_size > 1, split=split)
                measured.setdefault(row.name, []).append(row)
            for concurrency in concurrencies:
                before = server_statistics(url, model_name) if concurrency == 1 else None
                row = run_client(closed_loop(url, model_name, concurrency, seconds))
                measured.setdefault(row.name, []).append(row)
                if before is not None:
                    single_request.append((row, server_time(before, server_statistics(url, model_name))))
        analyzers = [
            perf_analyzer_row(url, model_name, level, seconds)
            for level in sorted({min(concurrencies), max(concurrencies)})
        ]
    finally:
        local_model.close()
        process.terminate()
        process.wait(timeout=60)
    rows = [median_round(found) for found in measured.values()]
    rows += [row for row in analyzers if row is not None]
    local = {row.name: row for row in rows}
    table = Table(title=f"gatewise bench: {model_name}, {workers} worker(s), {os.cpu_count()} CPUs")
    for column in ("configuration", "rows/s", "p50 ms", "p99 ms", "errors"):
        table.add_column(column, justify="left" if column == "configuration" else "right")
    for row in rows:
        table.add_row(row.name, f"{row.rows_per_s:.1f}", f"{row.p50_ms:.2f}", f"{row.p99_ms:.2f}", str(row.errors))
    console.print(table)
    for row in rows:
        if row.note:
            console.print(f"{row.name} failed: {row.note.strip()}")
    batch_one, batch_max = local["in-process, batch 1"], local[f"in-process, batch {max_batch}"]
    batch_split = local[f"in-process, batch {max_batch}, split by length"]
    best = local[f"gRPC, concurrency {max(concurrencies)}"]
    single = local.get("gRPC, concurrency 1")
    console.print(
        f"throughput ratio, gRPC concurrency {max(concurrencies)} / in-process batch {max_batch}: "
        f"{best.rows_per_s / batch_max.rows_per_s:.2f}x (target >= 0.90x); "
        f"/ in-process batch {max_batch} split by length as the gateway runs it: "
        f"{best.rows_per_s / batch_split.rows_per_s:.2f}x"
    )
    if single is not None:
        console.print(
            f"latency added at concurrency 1, gRPC p50 - in-process batch-1 p50: "
            f"{single.p50_ms - batch_one.p50_ms:+.2f} ms (target <= +1.00 ms)"
        )
    if single_request:
        print_breakdown(console, single_request, batch_one)
    analyzer_top = local.get(f"perf_analyzer, concurrency {max(concurrencies)}")
    analyzer_1 = local.get("perf_analyzer, concurrency 1")
    if analyzer_top is not None and analyzer_1 is not None:
        console.print(
            f"with perf_analyzer (C++) as the client: {analyzer_top.rows_per_s / batch_max.rows_per_s:.2f}x throughput, "
            f"{analyzer_1.p50_ms - batch_one.p50_ms:+.2f} ms at concurrency 1"
        )
    errors = sum(row.errors for found in measured.values() for row in found) + sum(
        row.errors for row in analyzers if row
    )
    console.print(f"errors at every level, every round: {errors}")
    return rows
