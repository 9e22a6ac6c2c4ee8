"""How every RPC enters the server: its bytes decoded safely, then admitted by the drain.

grpc.aio calls a handler's ``request_deserializer`` itself; when that raises, it answers
UNKNOWN and logs a full traceback, for every such message, so a client could fill the log
at will. Here each handler is registered with a deserializer that cannot raise: it returns
an ``Undecodable`` in place of the message, and the wrapped behaviour answers
INVALID_ARGUMENT in one line, logging one line at most every ``LOG_EVERY_S``.

The inference service's calls are also admitted by the ``Drain`` (counted until answered,
refused with UNAVAILABLE once shutdown closed the gate). Health and reflection are only
decoded: a probe must keep hearing NOT_SERVING while the server drains, and their
long-lived streams must never hold shutdown up.

``Registrar`` stands in for the server in the generated ``add_*Servicer_to_server``
functions and wraps every handler they add; nothing runs per call but the wrapper itself
(no server interceptor, which would take grpc.aio off its fast path).
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
from gatewise.gateway.drain import Drain
from gatewise.gateway.throttle import RateLimitedLog
from gatewise.protos.errors import GatewiseError, MalformedMessage, ShuttingDown

log = logging.getLogger("gatewise.admission")

LOG_EVERY_S = 10.0
"""At most one log line per this many seconds about requests that did not parse."""


@dataclass(frozen=True)
class Undecodable:
    """What the deserializer hands on in place of a message that did not parse."""

    error: MalformedMessage


class _RateLimitedWarning:
    """One warning per ``every_s`` (``throttle.RateLimitedLog``); the next says how many were left out."""

    def __init__(self, every_s: float) -> None:
        self._log = RateLimitedLog(log, every_s)

    def __call__(self, message: str) -> None:
        self._log(logging.WARNING, "undecodable", "%s", message)


def _safe_deserializer(method: str, deserialize: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    if deserialize is None:
        return None
    message_class = getattr(deserialize, "__self__", None)
    message_type = getattr(getattr(message_class, "DESCRIPTOR", None), "full_name", "protobuf")

    def decode(raw: bytes) -> Any:
        try:
            return deserialize(raw)
        except Exception as exc:  # noqa: BLE001 - DecodeError and whatever else a parser raises
            problem = str(exc).rsplit(": ", 1)[-1] or type(exc).__name__
            return Undecodable(MalformedMessage(method, message_type, problem))

    return decode


_KINDS = {
    (False, False): "unary_unary",
    (False, True): "unary_stream",
    (True, False): "stream_unary",
    (True, True): "stream_stream",
}
"""The RpcMethodHandler field that holds the behaviour, by (request streams, response streams)."""


def behavior_field(handler: grpc.RpcMethodHandler) -> str:
    """Which of ``handler``'s four behaviour fields its kind uses (``unary_unary`` ...)."""
    return _KINDS[(handler.request_streaming, handler.response_streaming)]


def with_behavior(
    handler: grpc.RpcMethodHandler, behavior: Callable[..., Any], deserializer: Callable[[bytes], Any] | None
) -> grpc.RpcMethodHandler:
    """A handler of ``handler``'s kind and response serializer that runs ``behavior`` on what
    ``deserializer`` makes of the request bytes (None: the bytes themselves)."""
    return handler._replace(request_deserializer=deserializer, **{behavior_field(handler): behavior})


async def _refuse(context: grpc.aio.ServicerContext, error: GatewiseError, warn: Callable[[str], None]) -> None:
    if isinstance(error, MalformedMessage):
        warn(f"refused a request that does not parse: {error.message} (from {context.peer()})")
    await context.abort(error.status, error.message)


async def _decoded(requests: AsyncIterator[Any]) -> AsyncIterator[Any]:
    """A stream's messages; raises the first one's error that did not parse."""
    async for request in requests:
        if isinstance(request, Undecodable):
            raise request.error
        yield request


def wrap_handler(
    method: str, handler: grpc.RpcMethodHandler, drain: Drain | None, warn: Callable[[str], None]
) -> grpc.RpcMethodHandler:
    """``handler`` with a deserializer that cannot raise and, given a ``drain``, admission;
    ``warn`` logs a refused message (rate-limited)."""
    streaming_in = handler.request_streaming
    behavior = getattr(handler, behavior_field(handler))

    def enter(request: Any) -> Any:
        """The check every call makes before its behaviour: admitted, then decoded."""
        if drain is not None:
            drain.admit()
        if streaming_in:
            return _decoded(request)
        if isinstance(request, Undecodable):
            raise request.error
        return request

    if inspect.isasyncgenfunction(behavior):

        async def wrapped(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            try:
                async for response in behavior(enter(request), context):
                    yield response
            except (MalformedMessage, ShuttingDown) as exc:
                await _refuse(context, exc, warn)

    else:

        async def wrapped(request: Any, context: grpc.aio.ServicerContext) -> Any:
            try:
                return await behavior(enter(request), context)
            except (MalformedMessage, ShuttingDown) as exc:
                await _refuse(context, exc, warn)

    return with_behavior(handler, wrapped, _safe_deserializer(method, handler.request_deserializer))


class _WrappedGenericHandler(grpc.GenericRpcHandler):
    def __init__(self, inner: grpc.GenericRpcHandler, wrap: Callable[[str, grpc.RpcMethodHandler], Any]) -> None:
        self._inner = inner
        self._wrap = wrap
        self._wrapped: dict[str, grpc.RpcMethodHandler] = {}

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        method = handler_call_details.method
        if method not in self._wrapped:
            handler = self._inner.service(handler_call_details)
            if handler is None:
                return None
            self._wrapped[method] = self._wrap(method, handler)
        return self._wrapped[method]


class Registrar:
    """Takes the place of the server in ``add_*Servicer_to_server`` and wraps each handler.

    Calls of the services named in ``admitted`` go through ``drain``; the others are only
    decoded safely.
    """

    def __init__(self, server: grpc.aio.Server, drain: Drain, admitted: Sequence[str]) -> None:
        self._server = server
        self._drain = drain
        self._admitted = tuple(f"/{service}/" for service in admitted)
        self._warn = _RateLimitedWarning(LOG_EVERY_S)

    def _wrap(self, method: str, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        drain = self._drain if method.startswith(self._admitted) else None
        return wrap_handler(method, handler, drain, self._warn)

    def add_generic_rpc_handlers(self, handlers: Sequence[grpc.GenericRpcHandler]) -> None:
        self._server.add_generic_rpc_handlers(tuple(_WrappedGenericHandler(h, self._wrap) for h in handlers))

    def add_registered_method_handlers(self, service: str, handlers: Mapping[str, grpc.RpcMethodHandler]) -> None:
        wrapped = {name: self._wrap(f"/{service}/{name}", handler) for name, handler in handlers.items()}
        self._server.add_registered_method_handlers(service, wrapped)
