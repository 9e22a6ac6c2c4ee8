"""Standard gRPC health (``grpc.health.v1``): the empty name is the server, each model
name is that model's own readiness, so a dead model is visible to a load balancer."""

from __future__ import annotations

import asyncio

from grpc_health.v1 import health, health_pb2

SERVER_NAMES = ("", "inference.GRPCInferenceService")


class Health:
    """Wraps grpcio-health-checking's aio servicer with server- and model-level setters."""

    def __init__(self) -> None:
        self.servicer = health.aio.HealthServicer()
        self._tasks: set[asyncio.Task] = set()

    async def set_server(self, serving: bool) -> None:
        for name in SERVER_NAMES:
            await self.servicer.set(name, _status(serving))

    def set_model(self, name: str, serving: bool) -> None:
        """Callable from synchronous code on the loop (the repository's change callback)."""
        task = asyncio.get_running_loop().create_task(self.servicer.set(name, _status(serving)))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def shutting_down(self) -> None:
        """Every name NOT_SERVING, so load balancers stop sending before the drain."""
        await self.servicer.enter_graceful_shutdown()


def _status(serving: bool) -> int:
    return health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
