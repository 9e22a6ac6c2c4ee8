"""Refusing to start in a state nobody should run by accident.

One check, run before anything binds, for every front door that listens on the configured
host (gRPC, and HTTP where it is served): a non-loopback address with no authentication at
all is refused unless ``--allow-unauthenticated`` says a mesh or proxy authenticates callers;
``--repository-control`` with no way to be an administrator is refused too. Where the check
passes with weakened settings, the log says what is given up.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING

from gatewise.protos.errors import StartupError

if TYPE_CHECKING:
    from gatewise.gateway.settings import ServerSettings


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine (``localhost`` included)."""
    name = host.strip("[]")
    if name.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def authenticates(settings: ServerSettings) -> bool:
    """Whether every call must prove who it is: tokens, or client certificates."""
    tokens = settings.auth_keys_file or settings.jwt_public_key or settings.jwt_jwks_file
    mutual_tls = settings.tls_client_ca is not None and settings.tls_cert is not None and settings.tls_key is not None
    return bool(tokens) or mutual_tls


def check_exposure(settings: ServerSettings) -> list[str]:
    """StartupError (one line, naming the flag) for an exposed server without authentication;
    otherwise the warnings to log about what the settings give up (the caller logs them once)."""
    tokens = bool(settings.auth_keys_file or settings.jwt_public_key or settings.jwt_jwks_file)
    warnings = []
    if not is_loopback(settings.host) and not authenticates(settings):
        if not settings.allow_unauthenticated:
            raise StartupError(
                f"refusing to serve {settings.host} without authentication: configure --auth-keys-file, "
                "--jwt-public-key/--jwt-jwks-file or --tls-client-ca, or pass --allow-unauthenticated "
                "where a service mesh or proxy authenticates every caller"
            )
        warnings.append(
            f"serving {settings.host} without authentication (--allow-unauthenticated): whoever reaches "
            "the port may call every model; a mesh or proxy must authenticate callers"
        )
    if settings.repository_control and not tokens and not (settings.tls_client_ca and settings.tls_admin_clients):
        raise StartupError(
            "--repository-control needs an administrator, and the anonymous caller never is one: "
            "configure --auth-keys-file (a key with admin = true), JWTs (the admin claim) "
            "or --tls-client-ca with --tls-admin-clients"
        )
    if settings.jwt_public_key or settings.jwt_jwks_file:
        if settings.jwt_audience is None:
            warnings.append(
                "JWT audience not checked (no --jwt-audience): a token issued for another service is accepted"
            )
        if settings.jwt_issuer is None:
            warnings.append("JWT issuer not checked (no --jwt-issuer): any holder of a configured key may issue tokens")
    if settings.metrics_port is not None and not is_loopback(settings.metrics_host):
        warnings.append(
            f"metrics on {settings.metrics_host} are plain HTTP without authentication: limit who reaches the port"
        )
    return warnings
