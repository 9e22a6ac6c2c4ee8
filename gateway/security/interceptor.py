"""The auth interceptor: authenticate from metadata before the body is parsed.

An unauthenticated call gets a replacement handler with no request deserializer, so its
body stays bytes that nobody reads, and UNAUTHENTICATED. An authenticated call gets the
real handler wrapped: after grpc parsed the body, the model it names is checked
(PERMISSION_DENIED), then ``PRINCIPAL`` is set for the servicer and the audit hook.
On a stream, requests before a forbidden one are answered, then the stream ends with
PERMISSION_DENIED.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc

from gateway.errors import GatewiseError
from gateway.security.principal import PRINCIPAL, AuthError, Forbidden, Principal
from gateway.security.rules import RULES, Rule, authorise, is_exempt
from gateway.security.tokens import Authenticator

log = logging.getLogger("gatewise.security")

Continuation = Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler | None]]


class AuthInterceptor(grpc.aio.ServerInterceptor):
    """Bearer-token authentication and per-model authorisation for every non-exempt RPC."""

    def __init__(self, authenticator: Authenticator) -> None:
        self.authenticator = authenticator

    async def intercept_service(
        self, continuation: Continuation, details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler | None:
        handler = await continuation(details)
        if handler is None or is_exempt(details.method):
            return handler
        try:
            principal = self.authenticator.authenticate(details.invocation_metadata)
        except AuthError as exc:
            return _refusing(handler, details.method, exc)
        except Exception:  # noqa: BLE001 - a token that breaks a verifier is still not proof
            log.exception("authenticating %s failed unexpectedly", details.method)
            return _refusing(handler, details.method, AuthError("credentials could not be verified"))
        return _checked(handler, details.method, principal, RULES.get(details.method, Rule()))


def _refusing(handler: grpc.RpcMethodHandler, method: str, error: GatewiseError) -> grpc.RpcMethodHandler:
    """A handler of the same kind that reads nothing and answers ``error``'s status."""

    async def refuse(request: Any, context: grpc.aio.ServicerContext) -> None:
        log.info("refused %s from %s: %s", method, context.peer(), error.message)
        await context.abort(error.status, error.message)

    return _handler(handler, refuse, deserializer=None)


def _checked(handler: grpc.RpcMethodHandler, method: str, principal: Principal, rule: Rule) -> grpc.RpcMethodHandler:
    if handler.unary_unary is not None:
        behavior = handler.unary_unary

        async def unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
            await _authorise_or_abort(principal, rule, request, context)
            PRINCIPAL.set(principal)
            return await behavior(request, context)

        return _handler(handler, unary)
    if handler.stream_stream is not None:
        stream = handler.stream_stream

        async def streaming(requests: AsyncIterator[Any], context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            PRINCIPAL.set(principal)
            refused: list[Forbidden] = []
            async for response in stream(_allowed(requests, principal, rule, refused), context):
                yield response
            if refused:
                await _abort(context, refused[0])

        return _handler(handler, streaming)
    # The inference service has no other kinds; refuse rather than let one through unchecked.
    return _refusing(handler, method, _Unsupported(f"{method} is not served with authentication on"))


async def _allowed(
    requests: AsyncIterator[Any], principal: Principal, rule: Rule, refused: list[Forbidden]
) -> AsyncIterator[Any]:
    """Pass requests on until the first one the principal may not make."""
    async for request in requests:
        try:
            authorise(principal, rule, request)
        except Forbidden as exc:
            refused.append(exc)
            return
        yield request


async def _authorise_or_abort(principal: Principal, rule: Rule, request: Any, context: grpc.aio.ServicerContext) -> None:
    try:
        authorise(principal, rule, request)
    except Forbidden as exc:
        await _abort(context, exc)


async def _abort(context: grpc.aio.ServicerContext, error: Forbidden) -> None:
    log.info("denied %s from %s: %s", error.principal, context.peer(), error.message)
    await context.abort(error.status, error.message)


class _Unsupported(GatewiseError):
    status = grpc.StatusCode.UNIMPLEMENTED


_KINDS = {
    (False, False): grpc.unary_unary_rpc_method_handler,
    (False, True): grpc.unary_stream_rpc_method_handler,
    (True, False): grpc.stream_unary_rpc_method_handler,
    (True, True): grpc.stream_stream_rpc_method_handler,
}
_KEEP = object()


def _handler(
    original: grpc.RpcMethodHandler, behavior: Callable[..., Any], deserializer: Any = _KEEP
) -> grpc.RpcMethodHandler:
    """A handler of ``original``'s kind and serializers running ``behavior``."""
    make = _KINDS[(original.request_streaming, original.response_streaming)]
    return make(
        behavior,
        request_deserializer=original.request_deserializer if deserializer is _KEEP else deserializer,
        response_serializer=original.response_serializer,
    )
