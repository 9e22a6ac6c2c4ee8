"""The auth interceptor: authenticate from metadata before the body is parsed.

An unauthenticated call gets a replacement handler with no request deserializer, so its
body stays bytes that nobody reads, and UNAUTHENTICATED. An authenticated call gets the
real handler wrapped: after grpc parsed the body, the model it names is checked
(PERMISSION_DENIED), then ``PRINCIPAL`` is set for the servicer and the audit hook.
On a stream, requests before a forbidden one are answered, then the stream ends with
PERMISSION_DENIED.

Every refusal is also an audit event (``gatewise_request_finished``, through the audit
thread, never on the event loop): principal "<unauthenticated>" and no model for an
UNAUTHENTICATED call (its body is never read), the principal and the model it named for a
PERMISSION_DENIED one.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from gatewise.gateway.admission import Undecodable, with_behavior
from gatewise.gateway.security.principal import PRINCIPAL, Principal
from gatewise.gateway.security.rules import RULES, Rule, authorise, is_exempt
from gatewise.gateway.security.tokens import Authenticator
from gatewise.gateway.throttle import RateLimitedLog
from gatewise.protos.errors import AuthError, Forbidden, GatewiseError
from gatewise.protos.quoting import QUOTE_CHARS, clip

log = logging.getLogger("gatewise.security")
_refusals = RateLimitedLog(log)
"""Refusals are logged at most once per kind every few seconds: a client can make them at will."""

Continuation = Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler | None]]
Audit = Callable[..., None]
"""Takes a ``gatewise_request_finished`` event by keyword and returns at once
(``PluginManager.post_request_finished``)."""

UNAUTHENTICATED_PRINCIPAL = "<unauthenticated>"
"""The principal an audit event names for a call refused UNAUTHENTICATED."""


class AuthInterceptor(grpc.aio.ServerInterceptor):
    """Bearer-token authentication and per-model authorisation for every non-exempt RPC."""

    def __init__(self, authenticator: Authenticator, audit: Audit | None = None) -> None:
        self.authenticator = authenticator
        self.audit: Audit = audit or (lambda **event: None)

    async def intercept_service(
        self, continuation: Continuation, details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler | None:
        handler = await continuation(details)
        if handler is None or is_exempt(details.method):
            return handler
        call = _Call(details.method, self.audit)
        try:
            principal = self.authenticator.authenticate(details.invocation_metadata)
        except AuthError as exc:
            return _refusing(handler, call, exc, UNAUTHENTICATED_PRINCIPAL)
        except Exception:
            log.exception("authenticating %s failed unexpectedly", details.method)
            error = AuthError("credentials could not be verified")
            return _refusing(handler, call, error, UNAUTHENTICATED_PRINCIPAL)
        return _checked(handler, call, principal, RULES.get(details.method, Rule()))


class _Call:
    """One intercepted RPC: its method, when it arrived, and how to audit a refusal."""

    def __init__(self, method: str, audit: Audit) -> None:
        self.method = method
        self.started = time.perf_counter()
        self._audit = audit

    def refused(self, principal: str, status: grpc.StatusCode, request: Any = None, rule: Rule | None = None) -> None:
        """Audit a refusal; ``request`` only where grpc already parsed it (an authenticated caller)."""
        try:
            model = rule.model_of(request) if request is not None and rule and rule.model_of else ""
            version = (getattr(request, "model_version", "") or getattr(request, "version", "")) if request else ""
            self._audit(
                model_name=model,
                model_version=version,
                request_id=getattr(request, "id", "") if request is not None else "",
                principal=principal,
                status=status.name,
                rows=0,
                duration_s=time.perf_counter() - self.started,
                method=self.method.rsplit("/", 1)[-1],
            )
        except Exception:
            log.exception("auditing a refused %s failed", self.method)


def _refusing(
    handler: grpc.RpcMethodHandler, call: _Call, error: GatewiseError, principal: str
) -> grpc.RpcMethodHandler:
    """A handler of the same kind that reads nothing and answers ``error``'s status."""

    async def refuse(request: Any, context: grpc.aio.ServicerContext) -> None:
        _refusals(logging.INFO, f"refused {error.status.name}", "refused %s from %s: %s", call.method,
                  clip(context.peer()), clip(error.message, 4 * QUOTE_CHARS))  # fmt: skip
        call.refused(principal, error.status)
        await context.abort(error.status, error.message)

    return with_behavior(handler, refuse, None)


def _checked(handler: grpc.RpcMethodHandler, call: _Call, principal: Principal, rule: Rule) -> grpc.RpcMethodHandler:
    if handler.unary_unary is not None:
        behavior = handler.unary_unary

        async def unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
            if not isinstance(request, Undecodable):  # the behaviour answers INVALID_ARGUMENT
                await _authorise_or_abort(principal, rule, request, context, call)
            PRINCIPAL.set(principal)
            return await behavior(request, context)

        return with_behavior(handler, unary, handler.request_deserializer)
    if handler.stream_stream is not None:
        stream = handler.stream_stream

        async def streaming(requests: AsyncIterator[Any], context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            PRINCIPAL.set(principal)
            refused: list[Forbidden] = []
            async for response in stream(_allowed(requests, principal, rule, refused, call), context):
                yield response
            if refused:
                await _abort(context, refused[0])

        return with_behavior(handler, streaming, handler.request_deserializer)
    # The inference service has no other kinds; refuse rather than let one through unchecked.
    error = _Unsupported(f"{call.method} is not served with authentication on")
    return _refusing(handler, call, error, principal.name)


async def _allowed(
    requests: AsyncIterator[Any], principal: Principal, rule: Rule, refused: list[Forbidden], call: _Call
) -> AsyncIterator[Any]:
    """Pass requests on until the first one the principal may not make."""
    async for request in requests:
        if isinstance(request, Undecodable):  # the behaviour answers INVALID_ARGUMENT
            yield request
            return
        try:
            authorise(principal, rule, request)
        except Forbidden as exc:
            call.refused(principal.name, exc.status, request, rule)
            refused.append(exc)
            return
        yield request


async def _authorise_or_abort(
    principal: Principal, rule: Rule, request: Any, context: grpc.aio.ServicerContext, call: _Call
) -> None:
    try:
        authorise(principal, rule, request)
    except Forbidden as exc:
        call.refused(principal.name, exc.status, request, rule)
        await _abort(context, exc)


async def _abort(context: grpc.aio.ServicerContext, error: Forbidden) -> None:
    _refusals(logging.INFO, "denied", "denied %s from %s: %s", clip(error.principal), clip(context.peer()),
              clip(error.message, 4 * QUOTE_CHARS))  # fmt: skip
    await context.abort(error.status, error.message)


class _Unsupported(GatewiseError):
    status = grpc.StatusCode.UNIMPLEMENTED
