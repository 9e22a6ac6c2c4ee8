"""Who is calling: the identity a bearer token proves, and the models it may call.

The auth interceptor sets ``PRINCIPAL`` for the RPC it lets through, so the servicer (and
the audit hook) learn the caller without reading metadata a client could forge.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from fnmatch import fnmatchcase


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: a key's name or a JWT's ``sub``."""

    name: str
    models: tuple[str, ...] = ()
    """Glob patterns (``finance-*``) of the models it may call; ``*`` is every model."""
    admin: bool = False
    """May load and unload models (RepositoryModelLoad / RepositoryModelUnload)."""
    via: str = "key"
    """How it was proved: ``key`` (static API key), ``jwt``, ``certificate`` (mutual TLS),
    or ``none`` (nothing: the anonymous caller of a server without authentication)."""

    @property
    def authenticated(self) -> bool:
        """Whether a credential proved this identity (the name alone proves nothing)."""
        return self.via != "none"

    def allows(self, model: str) -> bool:
        """Case-sensitive glob match; the empty name (every model) matches only ``*``."""
        return any(fnmatchcase(model, pattern) for pattern in self.models)


ANONYMOUS = Principal("anonymous", models=("*",), admin=False, via="none")
"""Without authentication configured, every caller is this: it may call every model, and is
never an administrator (it cannot load or unload models)."""

PRINCIPAL: ContextVar[Principal | None] = ContextVar("gatewise_principal", default=None)


def current_principal() -> Principal | None:
    """The principal of the RPC running in this context, or None outside an authenticated RPC."""
    return PRINCIPAL.get()
