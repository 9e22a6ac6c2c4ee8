"""Security for the gateway: authentication, per-model authorisation, secure defaults.

    principal.py    Principal, ANONYMOUS and the PRINCIPAL context variable
    keys.py         the hashed API key file, and ``gatewise keys new|hash``
    tokens.py       Authenticator: bearer token -> Principal (API key or JWT: issuer,
                    audience, lifetime, keys by kid from a JWKS)
    rules.py        which RPCs are exempt, model-scoped or admin-only
    interceptor.py  the grpc.aio interceptor that enforces all of it
    views.py        what RepositoryIndex shows a principal
    exposure.py     refusing to start exposed without authentication
    files.py        refusing secrets that others may read

Its errors (AuthError, Forbidden, KeyFileError) are in ``protos.errors``. TLS itself is
grpc's (``gateway.server._credentials``); see docs/security.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gatewise.gateway.security.exposure import check_exposure, is_loopback
from gatewise.gateway.security.interceptor import Audit, AuthInterceptor, CertificatePrincipals
from gatewise.gateway.security.keys import hash_key, load_keys, new_token
from gatewise.gateway.security.principal import ANONYMOUS, Principal, current_principal
from gatewise.gateway.security.tokens import Authenticator
from gatewise.gateway.security.views import visible_index

if TYPE_CHECKING:
    from gatewise.gateway.settings import ServerSettings

__all__ = [
    "ANONYMOUS",
    "AuthInterceptor",
    "Authenticator",
    "Principal",
    "access_interceptor",
    "check_exposure",
    "current_principal",
    "hash_key",
    "is_loopback",
    "load_keys",
    "new_token",
    "visible_index",
]


def access_interceptor(settings: ServerSettings, audit: Audit | None = None) -> AuthInterceptor:
    """The server's one interceptor: tokens when keys or JWT keys are configured, else client
    certificates under mutual TLS, else the anonymous caller (who may never load or unload).

    ``audit`` receives a ``gatewise_request_finished`` event for every refused call and
    must return at once (the server passes ``PluginManager.post_request_finished``).
    """
    authenticator = Authenticator.from_settings(settings)
    certificates = None
    if authenticator is None and settings.tls_client_ca is not None:
        certificates = CertificatePrincipals(settings.tls_admin_clients)
    return AuthInterceptor(
        authenticator, audit, repository_control=settings.repository_control, certificates=certificates
    )
