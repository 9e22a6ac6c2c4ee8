"""The auth interceptor: authenticate from metadata before the body is parsed.

Who the caller is comes from one of three places: a bearer token (API key or JWT) when an
``Authenticator`` is configured; else the client certificate, when mutual TLS is the only
authentication (``CertificatePrincipals``); else nobody: ``ANONYMOUS``, whose calls pass
untouched except load/unload, which it may never make.

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
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any

import grpc
from gatewise.gateway.admission import Undecodable, with_behavior
from gatewise.gateway.security.principal import ANONYMOUS, PRINCIPAL, Principal
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

UNAUTHENTICATED = Principal("<unauthenticated>", via="none")
"""The principal an audit event names for a call refused UNAUTHENTICATED."""

Resolve = Callable[[grpc.aio.ServicerContext], Principal]
"""The caller of one call, read from its context once grpc runs the handler."""


class CertificatePrincipals:
    """Mutual TLS as the only authentication: the client certificate's common name is the
    principal, which may call every model (the CA vouched for it) and is an administrator
    only when its name is listed in ``admin_names`` (``--tls-admin-clients``)."""

    def __init__(self, admin_names: Iterable[str] = ()) -> None:
        self.admin_names = frozenset(admin_names)

    def __call__(self, context: grpc.aio.ServicerContext) -> Principal:
        auth = context.auth_context()
        names = auth.get("x509_common_name") or auth.get("x509_subject_alternative_name") or []
        return self.principal(names[0].decode("utf-8", "replace") if names else "")

    def principal(self, name: str) -> Principal:
        """The principal of a verified certificate named ``name`` (each front door reads the name its own way)."""
        if not name:  # the TLS layer verified a chain but the leaf names nobody: usable, never admin
            return Principal("<certificate>", ("*",), False, via="certificate")
        return Principal(name, ("*",), name in self.admin_names, via="certificate")


class AuthInterceptor(grpc.aio.ServerInterceptor):
    """Authentication and per-model authorisation for every non-exempt RPC.

    ``authenticator`` may be swapped at any time (``reload``): a call uses the one in place
    when it arrived, so calls in flight keep the principal they were admitted with.
    """

    def __init__(
        self,
        authenticator: Authenticator | None,
        audit: Audit | None = None,
        *,
        repository_control: bool = False,
        certificates: CertificatePrincipals | None = None,
    ) -> None:
        self.authenticator = authenticator
        self.audit: Audit = audit or (lambda **event: None)
        self.repository_control = repository_control
        self.certificates = certificates

    def reload(self, authenticator: Authenticator | None) -> None:
        """Use ``authenticator`` for calls that arrive from now on."""
        self.authenticator = authenticator

    async def intercept_service(
        self, continuation: Continuation, details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler | None:
        handler = await continuation(details)
        if handler is None or is_exempt(details.method):
            return handler
        rule = RULES.get(details.method, Rule())
        authenticator = self.authenticator
        if authenticator is None and self.certificates is None and not rule.admin:
            return handler  # the anonymous caller, on a call it may make: nothing to wrap
        call = _Call(details.method, self.audit)
        if authenticator is not None:
            try:
                principal = authenticator.authenticate(details.invocation_metadata)
            except AuthError as exc:
                return _refusing(handler, call, exc, UNAUTHENTICATED)
            except Exception:
                log.exception("authenticating %s failed unexpectedly", details.method)
                error = AuthError("credentials could not be verified")
                return _refusing(handler, call, error, UNAUTHENTICATED)
            return _checked(handler, call, lambda context: principal, rule, self.repository_control)
        if self.certificates is not None:
            return _checked(handler, call, self.certificates, rule, self.repository_control)
        # The anonymous caller asking to load or unload: refused, whatever the settings.
        return _checked(handler, call, lambda context: ANONYMOUS, rule, self.repository_control)


class _Call:
    """One intercepted RPC: its method, when it arrived, and how to audit a refusal."""

    def __init__(self, method: str, audit: Audit) -> None:
        self.method = method
        self.started = time.perf_counter()
        self._audit = audit

    def refused(
        self, principal: Principal, status: grpc.StatusCode, request: Any = None, rule: Rule | None = None
    ) -> None:
        """Audit a refusal; ``request`` only where grpc already parsed it (an authenticated caller)."""
        try:
            model = rule.model_of(request) if request is not None and rule and rule.model_of else ""
            version = (getattr(request, "model_version", "") or getattr(request, "version", "")) if request else ""
            self._audit(
                model_name=model,
                model_version=version,
                request_id=getattr(request, "id", "") if request is not None else "",
                principal=principal.name,
                principal_via=principal.via,
                status=status.name,
                rows=0,
                duration_s=time.perf_counter() - self.started,
                method=self.method.rsplit("/", 1)[-1],
            )
        except Exception:
            log.exception("auditing a refused %s failed", self.method)


def _refusing(
    handler: grpc.RpcMethodHandler, call: _Call, error: GatewiseError, principal: Principal
) -> grpc.RpcMethodHandler:
    """A handler of the same kind that reads nothing and answers ``error``'s status."""

    async def refuse(request: Any, context: grpc.aio.ServicerContext) -> None:
        _refusals(logging.INFO, f"refused {error.status.name}", "refused %s from %s: %s", call.method,
                  clip(context.peer()), clip(error.message, 4 * QUOTE_CHARS))  # fmt: skip
        call.refused(principal, error.status)
        await context.abort(error.status, error.message)

    return with_behavior(handler, refuse, None)


def _checked(
    handler: grpc.RpcMethodHandler, call: _Call, resolve: Resolve, rule: Rule, repository_control: bool
) -> grpc.RpcMethodHandler:
    if handler.unary_unary is not None:
        behavior = handler.unary_unary

        async def unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
            principal = resolve(context)
            if not isinstance(request, Undecodable):  # the behaviour answers INVALID_ARGUMENT
                await _authorise_or_abort(principal, rule, request, context, call, repository_control)
            PRINCIPAL.set(principal)
            return await behavior(request, context)

        return with_behavior(handler, unary, handler.request_deserializer)
    if handler.stream_stream is not None:
        stream = handler.stream_stream

        async def streaming(requests: AsyncIterator[Any], context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            principal = resolve(context)
            PRINCIPAL.set(principal)
            refused: list[Forbidden] = []
            allowed = _allowed(requests, principal, rule, refused, call, repository_control)
            async for response in stream(allowed, context):
                yield response
            if refused:
                await _abort(context, refused[0])

        return with_behavior(handler, streaming, handler.request_deserializer)
    # The inference service has no other kinds; refuse rather than let one through unchecked.
    error = _Unsupported(f"{call.method} is not served with authentication on")
    return _refusing(handler, call, error, UNAUTHENTICATED)


async def _allowed(
    requests: AsyncIterator[Any],
    principal: Principal,
    rule: Rule,
    refused: list[Forbidden],
    call: _Call,
    repository_control: bool,
) -> AsyncIterator[Any]:
    """Pass requests on until the first one the principal may not make."""
    async for request in requests:
        if isinstance(request, Undecodable):  # the behaviour answers INVALID_ARGUMENT
            yield request
            return
        try:
            authorise(principal, rule, request, repository_control)
        except Forbidden as exc:
            call.refused(principal, exc.status, request, rule)
            refused.append(exc)
            return
        yield request


async def _authorise_or_abort(
    principal: Principal,
    rule: Rule,
    request: Any,
    context: grpc.aio.ServicerContext,
    call: _Call,
    repository_control: bool,
) -> None:
    try:
        authorise(principal, rule, request, repository_control)
    except Forbidden as exc:
        call.refused(principal, exc.status, request, rule)
        await _abort(context, exc)


async def _abort(context: grpc.aio.ServicerContext, error: Forbidden) -> None:
    _refusals(logging.INFO, "denied", "denied %s from %s: %s", clip(error.principal), clip(context.peer()),
              clip(error.message, 4 * QUOTE_CHARS))  # fmt: skip
    await context.abort(error.status, error.message)


class _Unsupported(GatewiseError):
    status = grpc.StatusCode.UNIMPLEMENTED
