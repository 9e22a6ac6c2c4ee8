"""HTTP beside gRPC on one server: the same single-row requests through both front doors.

``gatewise bench --http`` runs interleaved rounds of: the in-process batch-1 call; gRPC,
HTTP with binary tensors and HTTP with JSON at concurrency 1 (the added latency) and at the
highest concurrency (throughput). The HTTP client is aiohttp on uvloop with one keep-alive
connection per caller, as a service calling the gateway would use it; the gRPC client is the
bench's own (``clients.closed_loop``). Works for a text model (``text`` BYTES) and for a
tensor model (each input filled with ones, one row), such as the tests' add-one, where the
front door's own cost is all there is to measure.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
from gatewise.gateway.codec import serialize_bytes
from gatewise.protos import grpc_service_pb2 as pb
from gatewise.protos.tensors import DATATYPE_TO_NUMPY
from rich.console import Console

from gatewise_lab.bench.clients import ANSWER_TIMEOUT_S, closed_loop_over, drive, run_client
from gatewise_lab.bench.inprocess import InProcess
from gatewise_lab.bench.plan import BenchPlan
from gatewise_lab.bench.rows import Row, measured_row
from gatewise_lab.bench.run import print_table, summarise
from gatewise_lab.bench.workload import SENTENCES
from gatewise_lab.serving import free_port, serve_command

HEADER = "Inference-Header-Content-Length"


def start_both(repository: Path, workers: int, *extra: str) -> tuple[subprocess.Popen, str, str]:
    """``gatewise serve`` with gRPC and HTTP (``extra``: more serve flags); returns once HTTP's ready route says so."""
    grpc_port, http_port = free_port(), free_port()
    flags = ("--http-port", str(http_port), "--workers", str(workers), "--log-level", "WARNING", *extra)
    process = subprocess.Popen(serve_command(repository, grpc_port, *flags))
    base = f"http://127.0.0.1:{http_port}"
    wait_until_ready(process, f"{base}/v2/health/ready", "the gateway")
    return process, f"127.0.0.1:{grpc_port}", base


def wait_until_ready(process: subprocess.Popen, ready_url: str, what: str, seconds: float = 120) -> None:
    """Poll ``ready_url`` until it answers 200; kill ``process`` and say so after ``seconds``."""
    import urllib.request

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(ready_url, timeout=1) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"{what} did not become ready within {seconds:g} s")


class Payloads:
    """One single-row request per variant, in each wire format, built once before the clock starts."""

    def __init__(self, base: str, model_name: str, headers: dict[str, str] | None = None) -> None:
        """From the model's public signature, as the server's metadata route reports it (``headers``: an
        ``authorization`` for a server with keys)."""
        import urllib.request

        request = urllib.request.Request(f"{base}/v2/models/{model_name}", headers=headers or {})
        with urllib.request.urlopen(request, timeout=10) as answer:
            inputs = json.loads(answer.read())["inputs"]
        self.model = model_name
        self.tensors: list[list[tuple[str, str, list[int], np.ndarray]]] = []
        if [(spec["name"], spec["datatype"]) for spec in inputs] == [("text", "BYTES")]:
            for sentence in SENTENCES:
                self.tensors.append([("text", "BYTES", [1], np.array([sentence.encode()], dtype=object))])
        else:
            row = []
            for spec in inputs:
                shape = [1, *(1 if dim == -1 else dim for dim in spec["shape"][1:])]
                array = np.ones(shape, dtype=DATATYPE_TO_NUMPY[spec["datatype"]])
                row.append((spec["name"], spec["datatype"], shape, array))
            self.tensors.append(row)

    def grpc(self) -> list[pb.ModelInferRequest]:
        requests = []
        for row in self.tensors:
            request = pb.ModelInferRequest(model_name=self.model)
            for name, datatype, shape, array in row:
                request.inputs.add(name=name, datatype=datatype, shape=shape)
                raw = serialize_bytes(array) if datatype == "BYTES" else array.tobytes()
                request.raw_input_contents.append(raw)
            requests.append(request)
        return requests

    def json(self) -> list[bytes]:
        def data(array: np.ndarray) -> list[Any]:
            flat = array.reshape(-1)
            return [value.decode() for value in flat] if array.dtype == object else flat.tolist()

        return [
            json.dumps(
                {"inputs": [{"name": n, "datatype": d, "shape": s, "data": data(a)} for n, d, s, a in row]}
            ).encode()
            for row in self.tensors
        ]

    def binary(self) -> list[tuple[bytes, int]]:
        bodies = []
        for row in self.tensors:
            blobs = [serialize_bytes(a) if d == "BYTES" else a.tobytes() for _, d, _, a in row]
            inputs = [
                {"name": n, "datatype": d, "shape": s, "parameters": {"binary_data_size": len(blob)}}
                for (n, d, s, _), blob in zip(row, blobs, strict=True)
            ]
            header = json.dumps({"inputs": inputs, "parameters": {"binary_data_output": True}}).encode()
            bodies.append((header + b"".join(blobs), len(header)))
        return bodies


async def http_closed_loop(
    base: str, payloads: Payloads, binary: bool, concurrency: int, seconds: float, extra: dict[str, str] | None = None
) -> Row:
    """``concurrency`` callers, each with its own keep-alive connection and one request in flight; ``extra``:
    headers every request carries (an ``authorization`` for a server with keys)."""
    url = f"{base}/v2/models/{payloads.model}/infer"
    bodies = payloads.binary() if binary else [(body, None) for body in payloads.json()]
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=ANSWER_TIMEOUT_S)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def call(step: int) -> bool:
            body, header = bodies[step % len(bodies)]
            headers = {HEADER: str(header)} if header is not None else {"Content-Type": "application/json"}
            headers.update(extra or {})
            try:
                async with session.post(url, data=body, headers=headers) as answer:
                    await answer.read()
                    return answer.status == 200
            except aiohttp.ClientError:
                return False

        await call(0)  # connect before the clock starts
        rate, latencies, errors = await drive(call, concurrency, seconds)
    kind = "binary" if binary else "JSON"
    return measured_row(f"HTTP {kind}, concurrency {concurrency}", rate, latencies, errors)


async def grpc_closed_loop(url: str, payloads: Payloads, concurrency: int, seconds: float) -> Row:
    return await closed_loop_over(url, payloads.grpc(), concurrency, seconds)


def run_http_bench(plan: BenchPlan, console: Console) -> list[Row]:
    """Interleaved rounds of gRPC, HTTP binary and HTTP JSON at each concurrency, beside in-process batch 1."""
    measured: dict[str, list[Row]] = {}
    console.print(
        f"[bold]{plan.model}[/]: gRPC vs HTTP, {plan.rounds} interleaved rounds, {plan.seconds:g} s per row per round"
    )
    local = None
    try:
        process, grpc_url, base = start_both(plan.repository, plan.workers)
        try:
            payloads = Payloads(base, plan.model)
            if payloads.tensors[0][0][0] == "text":  # the in-process call needs a text model's plugin
                local = InProcess(plan.repository, plan.model)
            for round_index in range(plan.rounds):
                console.print(f"round {round_index + 1}/{plan.rounds} ...")
                if local is not None:
                    measured.setdefault("in-process, batch 1", []).append(local.measure(1, plan.seconds))
                for concurrency in plan.concurrencies:
                    for row in (
                        run_client(grpc_closed_loop(grpc_url, payloads, concurrency, plan.seconds)),
                        run_client(http_closed_loop(base, payloads, True, concurrency, plan.seconds)),
                        run_client(http_closed_loop(base, payloads, False, concurrency, plan.seconds)),
                    ):
                        measured.setdefault(row.name, []).append(row)
        finally:
            process.terminate()
            process.wait(timeout=60)
    finally:
        if local is not None:
            local.close()
    rows = {name: summarise(found) for name, found in measured.items()}
    print_table(
        console,
        f"gatewise bench --http: {plan.model}, {plan.workers} worker(s), {os.cpu_count()} CPUs",
        list(rows.values()),
    )
    for concurrency in plan.concurrencies:
        grpc_row = rows[f"gRPC, concurrency {concurrency}"]
        for kind in ("binary", "JSON"):
            http_row = rows[f"HTTP {kind}, concurrency {concurrency}"]
            console.print(
                f"concurrency {concurrency}: HTTP {kind} / gRPC rows/s "
                f"{http_row.rows_per_s / grpc_row.rows_per_s:.2f}x; "
                f"p50 {http_row.p50_ms:.2f} vs {grpc_row.p50_ms:.2f} ms ({http_row.p50_ms - grpc_row.p50_ms:+.2f} ms)"
            )
    if local is not None and 1 in plan.concurrencies:
        base_ms = rows["in-process, batch 1"].p50_ms
        for name in ("gRPC, concurrency 1", "HTTP binary, concurrency 1", "HTTP JSON, concurrency 1"):
            console.print(
                f"latency added at concurrency 1, {name} p50 - in-process batch-1 p50: "
                f"{rows[name].p50_ms - base_ms:+.2f} ms"
            )
    errors = sum(row.errors for found in measured.values() for row in found)
    console.print(f"errors at every level, every round: {errors}")
    return list(rows.values())
