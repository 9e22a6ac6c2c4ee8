"""The measured ``gatewise serve`` process, and what its own ModelStatistics say per request."""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import grpc
from gatewise.protos import grpc_service_pb2 as pb
from gatewise.protos import grpc_service_pb2_grpc as pb_grpc

from gatewise_lab.serving import free_port, serve_command


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


def start_server(repository: Path, workers: int, *extra: str) -> tuple[subprocess.Popen, str]:
    """A real server on a free loopback port (``extra``: more serve flags), returned once ServerReady says so."""
    port = free_port()
    process = subprocess.Popen(
        serve_command(repository, port, "--workers", str(workers), "--log-level", "WARNING", *extra)
    )
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
