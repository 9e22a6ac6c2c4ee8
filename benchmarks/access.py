"""What the always-installed access interceptor costs a server without authentication.

    .venv/bin/python benchmarks/access.py [--rounds 5] [--seconds 3] [--clients 16]

Since repository control must be refused to the anonymous caller, ``gatewise serve`` installs
``gateway.security.AuthInterceptor`` even with no keys configured; on calls the anonymous
caller may make it returns the handler untouched. This compares, in interleaved rounds, the
same in-process server with that interceptor and with none (main before secure defaults),
calling ModelInfer on the tiny add-one model from 16 concurrent clients in the same process.
The figure is process CPU time per request (client and server together), which a machine
shared with other work disturbs far less than requests per second.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from unittest import mock

sys.path[:0] = [str(Path(__file__).resolve().parent.parent / "tests")]

import grpc  # noqa: E402
from gatewise.gateway.server import GatewayServer  # noqa: E402
from gatewise.gateway.settings import ServerSettings  # noqa: E402
from gatewise.plugins.manager import PluginManager  # noqa: E402

from models import build_repository  # noqa: E402
from security.harness import add_one_request, stub  # noqa: E402


async def cpu_per_request(repository: Path, interceptor: bool, seconds: float, clients: int) -> float:
    """Microseconds of process CPU time per answered ModelInfer."""
    server = GatewayServer(ServerSettings(repository=repository, grpc_port=0), PluginManager(entry_points=False))
    make = grpc.aio.server
    plain = mock.patch.object(grpc.aio, "server", lambda options, interceptors: make(options=options))
    with plain if not interceptor else mock.patch.object(grpc.aio, "server", make):
        await server.start()
    count = 0
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            client, request = stub(channel), add_one_request(rows=1)
            for _ in range(50):  # warm-up
                await client.ModelInfer(request)
            started, end = time.process_time(), time.perf_counter() + seconds

            async def loop() -> None:
                nonlocal count
                while time.perf_counter() < end:
                    await client.ModelInfer(request)
                    count += 1

            await asyncio.gather(*[loop() for _ in range(clients)])
            cpu = time.process_time() - started
    finally:
        await server.stop()
    return cpu / count * 1e6


async def main(rounds: int, seconds: float, clients: int) -> None:
    repository = build_repository(Path(tempfile.mkdtemp()) / "models")
    figures: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(rounds):
        for interceptor in (False, True):
            figures[interceptor].append(await cpu_per_request(repository, interceptor, seconds, clients))
    for interceptor, values in figures.items():
        name = "access interceptor" if interceptor else "no interceptor    "
        rows = " ".join(f"{value:5.0f}" for value in values)
        print(f"{name}  median {statistics.median(values):5.0f} us CPU/request  (rounds: {rows})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--clients", type=int, default=16)
    args = parser.parse_args()
    asyncio.run(main(args.rounds, args.seconds, args.clients))
