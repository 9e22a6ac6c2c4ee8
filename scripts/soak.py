"""Soak and fault run: mixed traffic against a local gateway while models change and fail,
then SIGTERM; every request must get exactly one answer.

    .venv/bin/python scripts/soak.py --seconds 60

It builds a throwaway repository (the test models, plus a slow model that keeps requests in
flight, a model whose engine fails on some inputs and one behind a plugin that raises),
starts ``gatewise``'s server on 127.0.0.1 in a child process, and runs closed-loop clients.
Meanwhile it replaces add-one's version, unloads and reloads tiny-sentiment, and tries a
corrupt version that must fail to load while the old one serves on. At the end it sends
SIGTERM with requests in flight. It prints requests sent and answered, by kind and status,
and exits 1 if a request was unanswered or answered twice, a status was not the one its kind
must get, or the server did not exit 0. Loopback only; bounded by --seconds (at most 600).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import grpc  # noqa: E402
import numpy as np  # noqa: E402
from gatewise.protos import grpc_service_pb2 as pb  # noqa: E402
from gatewise.protos import grpc_service_pb2_grpc as pb_grpc  # noqa: E402
from grpc_health.v1 import health_pb2, health_pb2_grpc  # noqa: E402

from conftest import write_admin_key  # noqa: E402
from models import ADD_ONE_CONFIG, build_repository, write_model  # noqa: E402
from reliability.faults import (  # noqa: E402
    CRASHY_CONFIG,
    FAULTY_CONFIG,
    SLOW_CONFIG,
    FaultyPlugin,
    add_graph,
    crashy_graph,
)
from security.harness import add_one_request, authorised_channel, text_request  # noqa: E402

MAX_SECONDS = 600
DRAINING = {"UNAVAILABLE", "CANCELLED"}
"""What a request may get once SIGTERM was sent: refused or cut at the end of the grace period."""


# ---------------------------------------------------------------------------- requests


def crashy_request(index: int) -> pb.ModelInferRequest:
    request = pb.ModelInferRequest(model_name="crashy")
    request.inputs.add(name="idx", datatype="INT64", shape=[1, 4])
    request.raw_input_contents.append(np.full((1, 4), index, dtype=np.int64).tobytes())
    return request


def bad_dtype_request() -> pb.ModelInferRequest:
    request = pb.ModelInferRequest(model_name="add-one")
    request.inputs.add(name="x", datatype="INT32", shape=[1, 4])
    request.raw_input_contents.append(b"\x00" * 16)
    return request


KINDS: dict[str, tuple[float, object, set[str]]] = {
    # kind: (weight, request factory, statuses it may get before SIGTERM)
    "add-one": (30, lambda: add_one_request(rows=2), {"OK"}),
    "text": (20, lambda: text_request(b"great service", b"awful price"), {"OK", "UNAVAILABLE"}),
    "slow": (10, lambda: add_one_request("slow", rows=1), {"OK"}),
    "engine-fails": (5, lambda: crashy_request(99), {"INTERNAL"}),
    "engine-ok": (5, lambda: crashy_request(3), {"OK"}),
    "plugin-raises": (5, lambda: add_one_request("faulty", rows=1, value=FaultyPlugin.CRASH), {"INTERNAL"}),
    "plugin-refuses": (
        5,
        lambda: add_one_request("faulty", rows=1, value=FaultyPlugin.BAD_INPUT),
        {"INVALID_ARGUMENT"},
    ),  # fmt: skip
    "bad-input": (5, bad_dtype_request, {"INVALID_ARGUMENT"}),
    "unknown-model": (3, lambda: add_one_request("no-such-model"), {"NOT_FOUND"}),
    "stream": (12, None, {"OK"}),
}
"""tiny-sentiment is UNAVAILABLE while the soak has it unloaded; nothing else may fail."""


@dataclass
class Tally:
    sent: int = 0
    answers: collections.Counter = field(default_factory=collections.Counter)
    """(kind, status) -> count."""
    unexpected: list[str] = field(default_factory=list)
    duplicates: int = 0

    @property
    def answered(self) -> int:
        return sum(self.answers.values())

    def record(self, kind: str, status: str, draining: bool) -> None:
        self.answers[(kind, status)] += 1
        allowed = KINDS[kind][2] | (DRAINING if draining else set())
        if status not in allowed and len(self.unexpected) < 20:
            self.unexpected.append(f"{kind}: {status}")
        elif status not in allowed:
            self.unexpected.append("...")


# ---------------------------------------------------------------------------- the run


class Soak:
    def __init__(self, url: str, tally: Tally, seed: int) -> None:
        self.url = url
        self.tally = tally
        self.random = random.Random(seed)
        self.sigterm_sent = asyncio.Event()

    async def client(self, stub: pb_grpc.GRPCInferenceServiceStub) -> None:
        names = list(KINDS)
        weights = [KINDS[name][0] for name in names]
        while not self.sigterm_sent.is_set():
            kind = self.random.choices(names, weights)[0]
            if kind == "stream":
                await self.stream(stub)
                continue
            self.tally.sent += 1
            try:
                await stub.ModelInfer(KINDS[kind][1](), timeout=30)
                status = "OK"
            except grpc.aio.AioRpcError as exc:
                status = exc.code().name
            self.tally.record(kind, status, self.sigterm_sent.is_set())

    async def stream(self, stub: pb_grpc.GRPCInferenceServiceStub) -> None:
        """Three add-one requests on one stream; each needs exactly one in-band answer (or,
        if the stream itself ends in error, that status is the answer of those left)."""
        ids = [f"s{self.tally.sent + index}" for index in range(3)]
        self.tally.sent += len(ids)
        requests = [add_one_request(rows=1, id=request_id) for request_id in ids]
        waiting = set(ids)
        try:
            async for response in stub.ModelStreamInfer(iter(requests), timeout=30):
                request_id = response.infer_response.id
                if request_id not in waiting:
                    self.tally.duplicates += 1
                    continue
                waiting.discard(request_id)
                status = "OK" if not response.error_message else f"in-band: {response.error_message[:60]}"
                self.tally.record("stream", status, self.sigterm_sent.is_set())
            if waiting:
                raise AssertionError(f"stream ended OK without answering {sorted(waiting)}")
        except grpc.aio.AioRpcError as exc:
            for _ in waiting:
                self.tally.record("stream", exc.code().name, self.sigterm_sent.is_set())

    async def changes(self, stub: pb_grpc.GRPCInferenceServiceStub, repository: Path, log: list[str]) -> None:
        """Every ~2 s one change: replace add-one's version, unload/reload tiny-sentiment,
        or try a corrupt version of faulty (the load must fail, version 1 serves on)."""
        step = 0
        while not self.sigterm_sent.is_set():
            await asyncio.sleep(2)
            if self.sigterm_sent.is_set():
                return
            change = step % 3
            step += 1
            try:
                if change == 0:
                    version = 2 + step
                    write_model(repository, "add-one", add_graph(1.0), ADD_ONE_CONFIG, version=version)
                    await stub.RepositoryModelLoad(pb.RepositoryModelLoadRequest(model_name="add-one"), timeout=60)
                    log.append(f"add-one replaced by version {version}")
                elif change == 1:
                    await stub.RepositoryModelUnload(pb.RepositoryModelUnloadRequest(model_name="tiny-sentiment"),
                                                     timeout=60)  # fmt: skip
                    await asyncio.sleep(0.3)
                    await stub.RepositoryModelLoad(pb.RepositoryModelLoadRequest(model_name="tiny-sentiment"),
                                                   timeout=60)  # fmt: skip
                    log.append("tiny-sentiment unloaded and reloaded")
                else:
                    corrupt = repository / "faulty" / "2"
                    corrupt.mkdir(exist_ok=True)
                    (corrupt / "model.onnx").write_bytes(b"not an onnx file")
                    try:
                        await stub.RepositoryModelLoad(pb.RepositoryModelLoadRequest(model_name="faulty"), timeout=60)
                        log.append("UNEXPECTED: a corrupt version of faulty loaded")
                    except grpc.aio.AioRpcError as exc:
                        log.append(f"faulty v2 refused ({exc.code().name}), v1 serves on")
                    shutil.rmtree(corrupt)
            except grpc.aio.AioRpcError as exc:
                log.append(f"UNEXPECTED: change {change} failed: {exc.code().name} {exc.details()}")


async def run(seconds: float, clients: int, seed: int, workdir: Path) -> int:
    repository = build_soak_repository(workdir / "models")
    admin = write_admin_key(workdir / "keys")  # load/unload need repository control and an admin
    port = free_port()
    log_path = workdir / "server.log"
    with log_path.open("w") as log_file:
        server = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(repository), "--port", str(port), "--keys", str(admin.path)],
            cwd=ROOT, stdout=log_file, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip
    url = f"127.0.0.1:{port}"
    tally, changes = Tally(), []
    try:
        await wait_ready(url, server, log_path)
        soak = Soak(url, tally, seed)
        async with authorised_channel(url, admin.metadata) as channel:
            stub = pb_grpc.GRPCInferenceServiceStub(channel)
            started = time.monotonic()
            workers = [asyncio.create_task(soak.client(stub)) for _ in range(clients)]
            changer = asyncio.create_task(soak.changes(stub, repository, changes))
            await asyncio.sleep(seconds)
            in_flight_before = tally.sent - tally.answered
            soak.sigterm_sent.set()
            server.send_signal(signal.SIGTERM)
            await asyncio.wait_for(asyncio.gather(*workers, changer), timeout=120)
            elapsed = time.monotonic() - started
        code = await asyncio.to_thread(server.wait, 60)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    return report(tally, changes, elapsed, in_flight_before, code, log_path)


def report(tally: Tally, changes: list[str], elapsed: float, in_flight: int, code: int, log_path: Path) -> int:
    print(f"soak: {elapsed:.1f} s, {tally.sent} requests sent, {tally.answered} answered, "
          f"{in_flight} in flight at SIGTERM")  # fmt: skip
    by_kind: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for (kind, status), count in tally.answers.items():
        by_kind[kind][status] += count
    print(f"  {'kind':<16}{'answered':>9}  statuses")
    for kind in KINDS:
        counts = by_kind.get(kind, collections.Counter())
        statuses = ", ".join(f"{status} {count}" for status, count in counts.most_common())
        print(f"  {kind:<16}{sum(counts.values()):>9}  {statuses}")
    totals = collections.Counter()
    for (_, status), count in tally.answers.items():
        totals[status.split(":")[0] if status.startswith("in-band") else status] += count
    print("  by status: " + ", ".join(f"{status} {count}" for status, count in totals.most_common()))
    print(f"  changes: {len(changes)} ({collections.Counter(changes).most_common()})")
    print(f"  server exit status: {code}; log: {log_path}")
    problems = []
    if tally.answered != tally.sent:
        problems.append(f"{tally.sent - tally.answered} request(s) never answered")
    if tally.duplicates:
        problems.append(f"{tally.duplicates} request(s) answered more than once")
    if tally.unexpected:
        problems.append(f"unexpected statuses: {tally.unexpected}")
    if any(change.startswith("UNEXPECTED") for change in changes):
        problems.append("a model change went wrong")
    if code != 0:
        problems.append(f"server exited {code}")
    print("soak: OK: every request got exactly one answer" if not problems else "soak: FAILED: " + "; ".join(problems))
    return 0 if not problems else 1


# ---------------------------------------------------------------------------- setup


def build_soak_repository(root: Path) -> Path:
    build_repository(root)
    shutil.rmtree(root / "broken")
    write_model(root, "slow", add_graph(1.0), SLOW_CONFIG.format(delay_ms=300))
    write_model(root, "crashy", crashy_graph(), CRASHY_CONFIG)
    write_model(root, "faulty", add_graph(1.0), FAULTY_CONFIG)
    return root


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def wait_ready(url: str, server: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + 60
    async with grpc.aio.insecure_channel(url) as channel:
        while time.monotonic() < deadline:
            if server.poll() is not None:
                raise SystemExit(f"server exited with {server.returncode}:\n{log_path.read_text()}")
            try:
                response = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=2)
                if response.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.aio.AioRpcError:
                pass
            await asyncio.sleep(0.1)
    raise SystemExit("server not ready within 60 s")


def serve(repository: Path, port: int, keys: Path) -> None:
    """The child: the real GatewayServer with the faulty test plugin registered."""
    from gatewise.gateway.server import GatewayServer, configure_logging, run_loop
    from gatewise.gateway.settings import ServerSettings
    from gatewise.plugins.manager import PluginManager

    configure_logging("INFO")
    settings = ServerSettings(
        repository=repository, grpc_port=port, grace_period_s=10, auth_keys_file=keys, repository_control=True
    )
    plugins = PluginManager(entry_points=False, extra=[("faulty", FaultyPlugin())])
    run_loop(GatewayServer(settings, plugins).serve_until_signalled())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60, help=f"traffic before SIGTERM (at most {MAX_SECONDS})")
    parser.add_argument("--clients", type=int, default=8, help="concurrent closed-loop clients (at most 64)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--keys", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        serve(args.serve, args.port, args.keys)
        return 0
    if not 0 < args.seconds <= MAX_SECONDS or not 0 < args.clients <= 64:
        parser.error(f"--seconds must be in (0, {MAX_SECONDS}] and --clients in [1, 64]")
    workdir = Path(tempfile.mkdtemp(prefix="gatewise-soak-"))
    return asyncio.run(run(args.seconds, args.clients, args.seed, workdir))


if __name__ == "__main__":
    sys.exit(main())
