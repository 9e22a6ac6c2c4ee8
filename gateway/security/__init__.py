"""Security for the gateway: bearer-token authentication, per-model authorisation.

    principal.py    Principal and the PRINCIPAL context variable
    keys.py         the hashed API key file, and ``python -m gateway.security.keys new``
    tokens.py       Authenticator: bearer token -> Principal (API key or JWT)
    rules.py        which RPCs are exempt, model-scoped or admin-only
    interceptor.py  the grpc.aio interceptor that enforces all of it

Its errors (AuthError, Forbidden, KeyFileError) are in ``protos.errors``. TLS itself is
grpc's (``gateway.server._credentials``); see docs/security.md.
"""

from __future__ import annotations

from pathlib import Path

from gatewise.gateway.security.interceptor import Audit, AuthInterceptor
from gatewise.gateway.security.keys import hash_key, load_keys, new_token
from gatewise.gateway.security.principal import ANONYMOUS, Principal, current_principal
from gatewise.gateway.security.tokens import Authenticator

__all__ = [
    "ANONYMOUS",
    "AuthInterceptor",
    "Authenticator",
    "Principal",
    "auth_interceptors",
    "current_principal",
    "hash_key",
    "load_keys",
    "new_token",
]


def auth_interceptors(
    keys_file: Path | None, jwt_public_key: Path | None, audit: Audit | None = None
) -> list[AuthInterceptor]:
    """The server's interceptors: none when neither keys nor a JWT key is configured.

    ``audit`` receives a ``gatewise_request_finished`` event for every refused call and
    must return at once (the server passes ``PluginManager.post_request_finished``).
    """
    if keys_file is None and jwt_public_key is None:
        return []
    return [AuthInterceptor(Authenticator.from_files(keys_file, jwt_public_key), audit)]
