"""Which RPCs need what: exempt probes, model-scoped calls, admin-only calls.

Authorisation needs the model name, which for ModelInfer lives in the request body; so
the interceptor authenticates first (from metadata, body untouched) and only then lets the
body be parsed, and checks the model named in it before the servicer runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gatewise.gateway.security.principal import Principal
from gatewise.protos.errors import Forbidden

SERVICE = "/inference.GRPCInferenceService/"

EXEMPT_PREFIXES = (
    "/grpc.health.v1.Health/",
    "/grpc.reflection.v1alpha.ServerReflection/",
    "/grpc.reflection.v1.ServerReflection/",
)
"""Load balancers and tools probe these without credentials; they reveal no model data."""
EXEMPT_METHODS = frozenset({SERVICE + "ServerLive", SERVICE + "ServerReady"})
"""Triton-style liveness/readiness probes: a yes/no about the server, nothing more."""


@dataclass(frozen=True)
class Rule:
    """What a method requires beyond a valid token."""

    model_of: Callable[[Any], str] | None = None
    """Reads the model name from the parsed request; None: not model-scoped."""
    admin: bool = False


def _model_name(request: Any) -> str:
    return request.model_name


def _name(request: Any) -> str:
    return request.name


RULES: dict[str, Rule] = {
    SERVICE + "ModelInfer": Rule(_model_name),
    SERVICE + "ModelStreamInfer": Rule(_model_name),
    SERVICE + "ModelReady": Rule(_name),
    SERVICE + "ModelMetadata": Rule(_name),
    SERVICE + "ModelConfig": Rule(_name),
    SERVICE + "ModelStatistics": Rule(_name),  # "" (every model) needs the pattern "*"
    SERVICE + "RepositoryModelLoad": Rule(_model_name, admin=True),
    SERVICE + "RepositoryModelUnload": Rule(_model_name, admin=True),
}
"""Methods not listed (ServerMetadata, RepositoryIndex) need only a valid token; RepositoryIndex
lists only the models the principal may call (``gateway.security.views``)."""


def is_exempt(method: str) -> bool:
    return method in EXEMPT_METHODS or method.startswith(EXEMPT_PREFIXES)


def authorise(principal: Principal, rule: Rule, request: Any, repository_control: bool = False) -> None:
    """Raise Forbidden when ``principal`` may not make this request.

    Load and unload need repository control switched on (``--repository-control``) and an
    admin principal; the anonymous caller of a server without authentication never is one.
    """
    if rule.model_of is None:
        return
    authorise_model(principal, rule.model_of(request), admin=rule.admin, repository_control=repository_control)


def authorise_model(principal: Principal, model: str, *, admin: bool = False, repository_control: bool = False) -> None:
    """Raise Forbidden when ``principal`` may not call ``model`` ("" is every model), or where ``admin``
    is needed (load, unload) when repository control is off or the principal is not an authenticated
    administrator: the one rule both front doors apply."""
    if admin and not repository_control:
        raise Forbidden(
            principal.name,
            f"load or unload models (model {model!r}): repository control is off "
            "(start the server with --repository-control to allow it to admin principals)",
        )
    if admin and not (principal.admin and principal.authenticated):
        raise Forbidden(principal.name, f"load or unload models (model {model!r}); it needs admin")
    if not principal.allows(model):
        what = f"call model {model!r}" if model else "read every model's statistics (needs models = ['*'])"
        raise Forbidden(principal.name, what)
