"""What every HTTP request goes through, in one aiohttp middleware, in the order gRPC applies it:

1. CORS: only with ``--cors-origins``; a preflight from a listed origin is answered here.
2. Authentication (``Authorization: Bearer``, the same ``Authenticator`` as gRPC's
   interceptor) and authorisation against the ``{model}`` in the path (``security.rules``'
   ``authorise_model``), before the body is read; refusals are audited as on gRPC.
3. Admission by the drain: counted until the answer was handed to the transport (the
   response is written here, inside the count), or 503 with ``Connection: close`` once
   shutdown closed the gate.
4. Errors: ``{"error": "..."}`` with the status ``errors.http_error`` gives.

Probes (``/v2/health/*``) and the OpenAPI document need no credentials and are not admitted:
a probe keeps hearing "not ready" while the server drains.

With ``--console``, a request with no ``Authorization`` header may instead carry the console's
session cookie: its credential (kept server side) is authenticated as if it had been sent, and
a state-changing request so authenticated needs the session's ``X-CSRF-Token`` (403 without).
Responses under ``/console`` get the console's security headers. Without ``--console`` none of
this runs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from gatewise.gateway.console.session import COOKIE, CSRF_HEADER, SAFE_METHODS, Sessions
from gatewise.gateway.drain import Drain
from gatewise.gateway.http.errors import http_error
from gatewise.gateway.http.routes import PRINCIPAL, Handler, Rule, json_response
from gatewise.gateway.security.interceptor import (
    UNAUTHENTICATED,
    Audit,
    AuthInterceptor,
    CertificatePrincipals,
)
from gatewise.gateway.security.principal import ANONYMOUS, Principal
from gatewise.gateway.security.rules import authorise_model
from gatewise.gateway.security.tokens import Authenticator
from gatewise.gateway.throttle import RateLimitedLog
from gatewise.protos.errors import AuthError, Forbidden, GatewiseError, ShuttingDown
from gatewise.protos.quoting import QUOTE_CHARS, clip

log = logging.getLogger("gatewise.http")
_refusals = RateLimitedLog(log)
"""Refusals are logged at most once per kind every few seconds, as on gRPC: a client can make them at will."""

_CORS_METHODS = "GET, POST, OPTIONS"
_CORS_HEADERS = "Authorization, Content-Type, Content-Encoding, Inference-Header-Content-Length, traceparent"


def error_response(status: int, message: str, *, close: bool = False) -> web.Response:
    response = json_response({"error": message}, status)
    if status == 401:
        response.headers["WWW-Authenticate"] = "Bearer"
    if close:
        response.force_close()
    return response


@dataclass(frozen=True)
class ConsoleGate:
    """What the middleware needs of the console: its sessions, and the headers its responses carry."""

    sessions: Sessions
    harden: Callable[[web.StreamResponse], web.StreamResponse]
    prefix: str = "/console"


def front_door(
    drain: Drain, access: AuthInterceptor, audit: Audit, cors_origins: list[str], console: ConsoleGate | None = None
) -> Callable[[web.Request, Handler], Any]:
    """The middleware. ``access`` is gRPC's own interceptor, read per request: its authenticator
    (swapped on SIGHUP), client-certificate principals, and whether repository control is on.
    ``audit`` receives a ``gatewise_request_finished`` event per refused call. ``console``: the
    console's sessions (None: no console, and no cookie is ever read)."""
    any_origin = "*" in cors_origins
    origins = frozenset(cors_origins)

    def allowed_origin(request: web.Request) -> str | None:
        origin = request.headers.get("Origin")
        if origin is None or not (any_origin or origin in origins):
            return None
        return origin

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        origin = allowed_origin(request) if origins else None
        if console is not None and request.path.startswith(console.prefix):
            harden = console.harden
            if origin is None:
                return await _answer(request, handler, harden)
            return await _answer(request, handler, lambda response: harden(_with_cors(response, origin)))
        if origin is None:
            return await _answer(request, handler, _unchanged)
        if request.method == "OPTIONS":
            return _with_cors(web.Response(status=204), origin, preflight=True)
        return await _answer(request, handler, lambda response: _with_cors(response, origin))

    async def _answer(
        request: web.Request, handler: Handler, finish: Callable[[web.StreamResponse], web.StreamResponse]
    ) -> web.StreamResponse:
        rule: Rule | None = getattr(handler, "rule", None)
        if rule is None:  # no route: aiohttp's own 404 / 405
            try:
                return finish(await handler(request))
            except web.HTTPException as exc:
                return finish(error_response(exc.status, _reason(exc)))
        if rule.exempt:
            return finish(await _run(request, handler))
        started = time.perf_counter()
        principal: Principal | None = None
        try:
            credential = _session_credential(console.sessions, request) if console is not None else None
            principal = principal_of(access, request, credential)
            if rule.model_scoped:
                model = request.match_info.get("model", "")
                authorise_model(principal, model, admin=rule.admin, repository_control=access.repository_control)
            if principal is not ANONYMOUS:
                request[PRINCIPAL] = principal
            drain.enter()
        except AuthError as exc:
            _refusals(logging.INFO, "refused UNAUTHENTICATED", "refused %s %s from %s: %s", request.method,
                      clip(request.path), clip(str(request.remote)), clip(exc.message, 4 * QUOTE_CHARS))  # fmt: skip
            _audit_refusal(audit, rule, request, UNAUTHENTICATED.name, exc, started, with_model=False)
            return finish(error_response(exc.http_status, exc.message))
        except Forbidden as exc:
            _refusals(logging.INFO, "denied", "denied %s from %s: %s", clip(exc.principal), clip(str(request.remote)),
                      clip(exc.message, 4 * QUOTE_CHARS))  # fmt: skip
            via = principal.via if principal is not None else "none"
            _audit_refusal(audit, rule, request, exc.principal, exc, started, with_model=True, via=via)
            return finish(error_response(exc.http_status, exc.message))
        except ShuttingDown as exc:
            return finish(error_response(exc.http_status, exc.message, close=True))
        try:
            response = finish(await _run(request, handler))
            # Sent inside the count: shutdown must not cut an answer that was computed but not yet written.
            await response.prepare(request)
            await response.write_eof()
            return response
        finally:
            drain.leave()

    return middleware


async def _run(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:
        return error_response(exc.status, _reason(exc), close=exc.status in (408, 413))
    except Exception as exc:  # noqa: BLE001 - every failure becomes a status, never a dead connection
        status, message = http_error(exc, f"{request.method} {request.match_info.route.resource.canonical}")
        close = isinstance(exc, GatewiseError) and exc.http_status == 413  # the rest of the body is not read
        return error_response(status, message, close=close)


def _session_credential(sessions: Sessions, request: web.Request) -> str | None:
    """The credential of the console session whose cookie a request without ``Authorization`` carries.

    A state-changing request so authenticated must echo the session's CSRF token: another site
    can make the browser send the cookie (were SameSite ever relaxed), never read the token.
    """
    if "Authorization" in request.headers:
        return None
    session = sessions.get(request.cookies.get(COOKIE))
    if session is None:
        return None
    if request.method not in SAFE_METHODS and not session.csrf_matches(request.headers.get(CSRF_HEADER)):
        what = f"{request.method} with the console's session cookie unless {CSRF_HEADER} holds that session's token"
        raise Forbidden(session.principal, what)
    return session.credential


def principal_of(access: AuthInterceptor, request: web.Request, credential: str | None = None) -> Principal:
    """The caller, as gRPC's interceptor would decide it (AuthError when its credential is refused): a
    bearer token when tokens are configured (``credential``: a console session's, instead of the
    header), else the client certificate under mutual TLS, else the anonymous caller."""
    authenticator = access.authenticator
    if authenticator is not None:
        if credential is not None:
            pairs = [("authorization", f"Bearer {credential}")]
        else:
            pairs = [("authorization", value) for value in request.headers.getall("Authorization", ())]
        return _authenticate_pairs(authenticator, request, pairs)
    if access.certificates is not None:
        return _certificate_principal(access.certificates, request)
    return ANONYMOUS


def _certificate_principal(certificates: CertificatePrincipals, request: web.Request) -> Principal:
    """The verified client certificate's common name (the TLS layer refused any other certificate)."""
    transport = request.transport
    peer = transport.get_extra_info("peercert") if transport is not None else None
    names = [value for rdn in (peer or {}).get("subject", ()) for key, value in rdn if key == "commonName"]
    return certificates.principal(names[0] if names else "")


def _authenticate_pairs(authenticator: Authenticator, request: web.Request, pairs: list[tuple[str, str]]) -> Principal:
    try:
        return authenticator.authenticate(pairs)
    except AuthError:
        raise
    except Exception:
        log.exception("authenticating %s %s failed unexpectedly", request.method, request.path)
        raise AuthError("credentials could not be verified") from None


def _audit_refusal(
    audit: Audit,
    rule: Rule,
    request: web.Request,
    principal: str,
    error: GatewiseError,
    started: float,
    *,
    with_model: bool,
    via: str = "none",
) -> None:
    try:
        audit(
            model_name=request.match_info.get("model", "") if with_model else "",
            model_version=request.match_info.get("version", "") if with_model else "",
            request_id="",
            principal=principal,
            principal_via=via,
            status=error.status.name,
            rows=0,
            duration_s=time.perf_counter() - started,
            method=rule.method,
        )
    except Exception:
        log.exception("auditing a refused %s failed", rule.method)


def _reason(exc: web.HTTPException) -> str:
    text = exc.text or ""
    if exc.status in (404, 405) or not text or text.startswith(f"{exc.status}:"):
        return {404: "no such route", 405: "method not allowed on this route"}.get(exc.status, exc.reason)
    return text


def _unchanged(response: web.StreamResponse) -> web.StreamResponse:
    return response


def _with_cors(response: web.StreamResponse, origin: str, *, preflight: bool = False) -> web.StreamResponse:
    response.headers["Access-Control-Allow-Origin"] = origin
    response.headers["Vary"] = "Origin"
    response.headers["Access-Control-Expose-Headers"] = "Inference-Header-Content-Length"
    if preflight:
        response.headers["Access-Control-Allow-Methods"] = _CORS_METHODS
        response.headers["Access-Control-Allow-Headers"] = _CORS_HEADERS
        response.headers["Access-Control-Max-Age"] = "600"
    return response
