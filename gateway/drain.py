"""Counts in-flight inference RPCs so shutdown can stop as soon as they are done.

``grpc.aio.Server.stop(grace)`` waits for every open RPC, and a load balancer's health
``Watch`` stream never ends by itself: the server would always sit out the whole grace
period. So shutdown waits for this count to reach zero (or the grace period to pass),
then cancels what is left, which is only health and reflection streams.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc

COUNTED_PREFIX = "/inference.GRPCInferenceService/"


class InFlight(grpc.aio.ServerInterceptor):
    """An interceptor that tracks how many inference RPCs are running."""

    def __init__(self) -> None:
        self.count = 0
        self._idle = asyncio.Event()
        self._idle.set()

    async def wait_idle(self) -> None:
        await self._idle.wait()

    def _enter(self) -> None:
        self.count += 1
        self._idle.clear()

    def _exit(self) -> None:
        self.count -= 1
        if self.count == 0:
            self._idle.set()

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler | None]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = await continuation(details)
        if handler is None or not details.method.startswith(COUNTED_PREFIX):
            return handler
        if handler.unary_unary is not None:
            behavior = handler.unary_unary

            async def unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
                self._enter()
                try:
                    return await behavior(request, context)
                finally:
                    self._exit()

            return grpc.unary_unary_rpc_method_handler(
                unary, handler.request_deserializer, handler.response_serializer
            )
        if handler.stream_stream is not None:
            stream = handler.stream_stream

            async def streaming(requests: AsyncIterator[Any], context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
                self._enter()
                try:
                    async for response in stream(requests, context):
                        yield response
                finally:
                    self._exit()

            return grpc.stream_stream_rpc_method_handler(
                streaming, handler.request_deserializer, handler.response_serializer
            )
        return handler
