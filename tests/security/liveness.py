"""A second, well-behaved client: ServerLive back to back on its own connection while an attack runs."""

from __future__ import annotations

import threading
import time
from types import TracebackType

import grpc
from gatewise.protos import grpc_service_pb2 as pb
from gatewise.protos import grpc_service_pb2_grpc as pb_grpc


class LivenessProbe:
    """Calls ServerLive in a thread until closed; ``worst`` is the slowest answer, in seconds.

    A call that fails or times out counts as ``timeout_s``: a stalled server cannot look healthy.
    """

    def __init__(self, url: str, timeout_s: float = 30.0) -> None:
        self.url = url
        self.timeout_s = timeout_s
        self.worst = 0.0
        self.calls = 0
        self._stop = threading.Event()
        self._channel = grpc.insecure_channel(url)
        self._stub = pb_grpc.GRPCInferenceServiceStub(self._channel)
        self._thread = threading.Thread(target=self._run, name="liveness-probe", daemon=True)

    def __enter__(self) -> LivenessProbe:
        self._stub.ServerLive(pb.ServerLiveRequest(), timeout=self.timeout_s, wait_for_ready=True)  # connected
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join(self.timeout_s + 5)
        self._channel.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.perf_counter()
            try:
                self._stub.ServerLive(pb.ServerLiveRequest(), timeout=self.timeout_s)
                took = time.perf_counter() - started
            except grpc.RpcError:
                took = self.timeout_s
            self.worst = max(self.worst, took)
            self.calls += 1
            self._stop.wait(0.005)
