"""Serves the HTTP routes beside gRPC: same process, same event loop, same data plane and drain.

aiohttp was chosen by measurement (docs/architecture.md): on uvloop it answered the add-one
infer faster than uvicorn with Starlette, and it bounds what a slow client can hold by
itself: header lines and fields (``MAX_FIELD_BYTES``, ``MAX_HEADERS``), a connection that
sends no complete request headers within ``http_keepalive_timeout_s`` of opening or of its
last answer is closed (aiohttp's keep-alive timer starts at connect and is not reset by
bytes that trickle in), and a body must arrive within ``http_read_timeout_s``. Request
bodies sent with ``Content-Encoding: gzip`` or ``deflate`` are decompressed by aiohttp's
parser and the decompressed size is capped by ``client_max_size`` (the message limit).
"""

from __future__ import annotations

import logging
import ssl
from typing import TYPE_CHECKING

from aiohttp import web
from gatewise.gateway.dataplane import DataPlane
from gatewise.gateway.drain import Drain
from gatewise.gateway.http.middleware import front_door
from gatewise.gateway.http.routes import Routes
from gatewise.gateway.security.interceptor import Audit, AuthInterceptor
from gatewise.gateway.settings import ServerSettings
from gatewise.protos.errors import StartupError

if TYPE_CHECKING:
    from gatewise.gateway.console.routes import ConsoleRoutes

log = logging.getLogger("gatewise.http")

MAX_FIELD_BYTES = 8190
"""Longest request line or header field (aiohttp's default, as nginx's 8 KiB): 431/400 past it."""
MAX_HEADERS = 100
"""Most header fields in one request."""
SHUTDOWN_S = 1.0
"""What the hard stop leaves connections after the drain finished every admitted request."""


class HttpFrontDoor:
    """The HTTP listener of one gateway process."""

    def __init__(
        self,
        dataplane: DataPlane,
        settings: ServerSettings,
        drain: Drain,
        access: AuthInterceptor,
        audit: Audit,
        ssl_context: ssl.SSLContext | None,
    ) -> None:
        self.settings = settings
        self._ssl = ssl_context
        self.console = _console(dataplane, settings, access) if settings.console else None
        """The browser console (``--console``); None: no console route, and no cookie is ever read."""
        gate = self.console.gate if self.console is not None else None
        self.app = web.Application(
            client_max_size=settings.max_message_bytes,
            middlewares=[front_door(drain, access, audit, settings.cors_origins, gate)],
        )
        Routes(dataplane, settings).add_to(self.app.router)
        if self.console is not None:
            self.console.add_to(self.app.router)
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    async def start(self) -> int:
        settings = self.settings
        runner = web.AppRunner(
            self.app,
            access_log=None,  # a URL can carry what the log must not; metrics count requests instead
            handle_signals=False,
            keepalive_timeout=settings.http_keepalive_timeout_s,
            max_line_size=MAX_FIELD_BYTES,
            max_field_size=MAX_FIELD_BYTES,
            max_headers=MAX_HEADERS,
            shutdown_timeout=SHUTDOWN_S,
        )
        await runner.setup()
        site = web.TCPSite(
            runner,
            settings.host,
            settings.http_port,
            ssl_context=self._ssl,
            reuse_port=settings.workers > 1,
            backlog=1024,
        )
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            address = f"{settings.host}:{settings.http_port}"
            raise StartupError(
                f"cannot listen on {address} (HTTP): is another process using the port? ({exc.strerror})"
            ) from exc
        self._runner = runner
        self.port = settings.http_port
        scheme = "https" if self._ssl else "http"
        log.info("HTTP listening on %s://%s:%d", scheme, settings.host, self.port)
        return self.port

    async def stop(self) -> None:
        """Close the listener and the connections; the drain already finished every admitted request."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self.console is not None:
            await self.console.close()


def _console(dataplane: DataPlane, settings: ServerSettings, access: AuthInterceptor) -> ConsoleRoutes:
    """The console's routes; Jinja2 and the console's modules are imported only by a server that serves it."""
    from gatewise.gateway.console.routes import ConsoleRoutes

    return ConsoleRoutes(dataplane, settings, access)


def ssl_context(settings: ServerSettings) -> ssl.SSLContext | None:
    """The same certificate, key and client CA as gRPC's credentials (None: plain HTTP)."""
    if settings.tls_cert is None or settings.tls_key is None:
        return None  # gRPC's _credentials has already refused a half-configured pair
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(settings.tls_cert, settings.tls_key)
        if settings.tls_client_ca is not None:
            context.load_verify_locations(cafile=settings.tls_client_ca)
            context.verify_mode = ssl.CERT_REQUIRED
    except (OSError, ssl.SSLError) as exc:
        raise StartupError(f"HTTPS: cannot use tls_cert/tls_key/tls_client_ca ({exc})") from exc
    return context
