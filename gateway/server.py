"""Builds, starts and gracefully stops the gateway: gRPC, and HTTP beside it on the same loop.

One ``GatewayServer`` per process; its two front doors share one data plane and one drain,
so shutdown treats an HTTP request exactly as an RPC. With ``workers > 1`` the parent starts that many
processes that bind the same ports (gRPC and HTTP) with SO_REUSEPORT, each with its own engines, for when
one process's GIL is the limit.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
from collections.abc import Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc
from gatewise.gateway.admission import Registrar
from gatewise.gateway.dataplane import DataPlane
from gatewise.gateway.drain import Drain
from gatewise.gateway.health import Health
from gatewise.gateway.metrics import serve_metrics
from gatewise.gateway.records.setup import recorder_for, start_recorder
from gatewise.gateway.repository import ModelRepository
from gatewise.gateway.residency import Budget
from gatewise.gateway.security import Authenticator, access_interceptor, check_exposure
from gatewise.gateway.security.files import read_private
from gatewise.gateway.servicer import InferenceServicer
from gatewise.gateway.settings import ServerSettings
from gatewise.gateway.watch import RepositoryWatcher
from gatewise.plugins.log_filter import LogRedactionFilter
from gatewise.plugins.manager import PluginManager
from gatewise.protos import grpc_service_pb2 as pb
from gatewise.protos import grpc_service_pb2_grpc as pb_grpc
from gatewise.protos._pool import POOL
from gatewise.protos.errors import StartupError
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection, reflection_pb2, reflection_pb2_grpc

if TYPE_CHECKING:
    from gatewise.gateway.http.server import HttpFrontDoor

log = logging.getLogger("gatewise.server")

INFERENCE_SERVICE = pb.DESCRIPTOR.services_by_name["GRPCInferenceService"].full_name

AUDIT_FLUSH_S = 5.0
"""How long stopping waits for audit plugins to record the last requests."""
QUIET_S = 0.2
"""Shutdown stops taking calls once none was admitted for this long (see ``Drain.wait_quiet``)."""
QUIET_LIMIT_S = 2.0
"""...or after this long, when clients that ignore health keep sending."""


def _register_for_reflection() -> list[str]:
    """Put health's and reflection's own descriptors into the stubs' pool, so reflection
    (which reads one pool) lists every service the server offers."""
    for module in (health_pb2, reflection_pb2):
        try:
            POOL.FindFileByName(module.DESCRIPTOR.name)
        except KeyError:
            POOL.AddSerializedFile(module.DESCRIPTOR.serialized_pb)
    return [
        INFERENCE_SERVICE,
        health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
        reflection.SERVICE_NAME,
    ]


def _http_front_door(server: GatewayServer, settings: ServerSettings) -> HttpFrontDoor:
    """The HTTP listener on ``server``'s data plane, drain, authenticator and audit; aiohttp is
    imported only by a server that serves HTTP."""
    from gatewise.gateway.http.server import HttpFrontDoor, ssl_context

    return HttpFrontDoor(
        server.dataplane,
        settings,
        server.drain,
        server.access,
        server.repository.plugins.post_request_finished,
        ssl_context(settings),
    )


def _connection_age_options(settings: ServerSettings) -> list[tuple[str, int]]:
    """gRPC's own max-connection-age: GOAWAY after the age, then the grace period for the
    calls still on that connection, which the client does not retry (they are answered)."""
    if settings.max_connection_age_s is None:
        return []
    return [
        ("grpc.max_connection_age_ms", int(settings.max_connection_age_s * 1000)),
        ("grpc.max_connection_age_grace_ms", int(settings.grace_period_s * 1000)),
    ]


def _credentials(settings: ServerSettings) -> grpc.ServerCredentials | None:
    """TLS credentials from the PEM files, or None for plaintext; StartupError names a bad setting."""
    if settings.tls_cert is None and settings.tls_key is None:
        if settings.tls_client_ca is not None:  # else the port would be plaintext, and nobody checked
            raise StartupError("tls_client_ca (mutual TLS) needs tls_cert and tls_key")
        return None
    if settings.tls_cert is None or settings.tls_key is None:
        raise StartupError("TLS needs both tls_cert and tls_key")
    ca = _read("tls_client_ca", settings.tls_client_ca) if settings.tls_client_ca else None
    return grpc.ssl_server_credentials(
        [(read_private("tls_key", settings.tls_key), _read("tls_cert", settings.tls_cert))],
        root_certificates=ca,
        require_client_auth=ca is not None,
    )


def _read(setting: str, path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise StartupError(f"{setting} {path}: cannot read ({exc.strerror})") from exc


class GatewayServer:
    """The gateway in one process: repository, servicers, health, reflection, metrics."""

    def __init__(self, settings: ServerSettings, plugins: PluginManager | None = None) -> None:
        self.settings = settings
        # TLS and auth files are read first, so a bad one stops the server before any model loads.
        self._warnings = check_exposure(settings)
        self._credentials = _credentials(settings)
        self.health = Health()
        budget = Budget(
            host=settings.memory_budget_bytes,
            device=settings.device_memory_budget_bytes,
            models=settings.max_resident_models,
        )
        self.repository = ModelRepository(
            settings.repository,
            plugins or PluginManager(),
            self.health.set_model,
            budget=budget,
            default_load=settings.default_load,
            workers=settings.workers,
        )
        self.access = access_interceptor(settings, self.repository.plugins.post_request_finished)
        """Authenticates and authorises every call; ``reload_credentials`` swaps its keys."""
        self.drain = Drain()
        self.recorder = recorder_for(settings, self.repository.plugins)
        self.dataplane = DataPlane(self.repository, settings, self.drain, self.recorder)
        self.servicer = InferenceServicer(self.dataplane)
        check_console(settings)
        self.http = _http_front_door(self, settings) if settings.http_port else None
        """The HTTP/REST front door on the same data plane and drain; None with ``http_port`` 0."""
        self.port: int | None = None
        self._server: grpc.aio.Server | None = None
        self._stopping = False
        self.watcher = (
            RepositoryWatcher(self.repository, settings.watch_interval_s) if settings.watch_interval_s else None
        )
        self.log_filter = LogRedactionFilter(self.repository.plugins)
        """Applies the plugins' ``gatewise_redact_log`` to gatewise log records while serving."""
        self._filtered: list[logging.Handler] = []

    async def start(self) -> int:
        """Bind, start serving health at once, then load every model; returns the port.

        With several workers the order is reversed: the kernel hands every socket in a
        SO_REUSEPORT group its share of new connections, ready or not, so a worker joins
        the port only once its models are loaded.
        """
        self._install_log_filter()
        try:
            return await self._start()
        except BaseException:
            self._remove_log_filter()
            raise

    async def _start(self) -> int:
        settings = self.settings
        await start_recorder(self.recorder, settings)
        join_when_ready = settings.workers > 1
        if join_when_ready:
            await self._load_models()
        options = [
            ("grpc.max_receive_message_length", settings.max_message_bytes),
            ("grpc.max_send_message_length", settings.max_message_bytes),
            ("grpc.max_concurrent_streams", settings.max_concurrent_streams),
            *_connection_age_options(settings),
            ("grpc.so_reuseport", 1 if settings.workers > 1 else 0),
        ]
        server = grpc.aio.server(options=options, interceptors=[self.access])
        registrar = Registrar(server, self.drain, admitted=[INFERENCE_SERVICE])
        pb_grpc.add_GRPCInferenceServiceServicer_to_server(self.servicer, registrar)
        health_pb2_grpc.add_HealthServicer_to_server(self.health.servicer, registrar)
        reflection_servicer = reflection.aio.ReflectionServicer(_register_for_reflection(), pool=POOL)
        reflection_pb2_grpc.add_ServerReflectionServicer_to_server(reflection_servicer, registrar)
        address = f"{settings.host}:{settings.grpc_port}"
        credentials = self._credentials
        try:
            if credentials is None:
                self.port = server.add_insecure_port(address)
            else:
                self.port = server.add_secure_port(address, credentials)
        except RuntimeError as exc:  # grpc's only signal: "Failed to bind to address ..."
            raise StartupError(f"cannot listen on {address}: is another process using the port? ({exc})") from exc
        for warning in self._warnings:
            log.warning("%s", warning)
        if self.access.authenticator is not None:
            log.info("authentication on: %s", self.access.authenticator.describe())
        elif self.access.certificates is not None:
            admins = ", ".join(sorted(self.access.certificates.admin_names)) or "none"
            log.info("authentication on: client certificates (mutual TLS); administrators: %s", admins)
        await self.health.set_server(False)
        await server.start()
        self._server = server
        log.info("gRPC listening on %s:%d", settings.host, self.port)
        if self.http is not None:
            await self.http.start()
        if settings.metrics_port is not None:
            metrics_port = serve_metrics(settings.metrics_port, settings.metrics_host)
            log.info("metrics on http://%s:%d/metrics", settings.metrics_host, metrics_port)
        if not join_when_ready:
            await self._load_models()
        self.dataplane.ready = True
        await self.health.set_server(True)
        ready = sorted({name for name, _, state, _ in self.repository.index() if state == "READY"})
        waiting = sorted(
            name for name, entry in self.repository.entries.items() if entry.on_demand and not entry.versions
        )
        log.info("server ready: %d model(s) serving: %s", len(ready), ", ".join(ready) or "none")
        if waiting:
            log.info("%d model(s) load on demand: %s", len(waiting), ", ".join(waiting))
        return self.port

    async def _load_models(self) -> None:
        if self.watcher is not None:
            await self.watcher.prime()
        await self.repository.load_all()
        if self.watcher is not None:
            self.watcher.start()
            log.info("watching %s every %.1f s", self.settings.repository, self.settings.watch_interval_s)

    async def stop(self) -> None:
        """Stop without losing a call that was sent before the signal.

        Health goes NOT_SERVING at once and the server keeps answering for the drain delay,
        so load balancers stop routing here; then it takes calls until the backlog already
        on the wire is matched (``Drain.wait_quiet``), closes the gate (later calls get
        UNAVAILABLE, safe to retry), and finishes what it admitted within the grace period.
        Only then are health and reflection streams cut.
        """
        if self._stopping:
            return
        self._stopping = True
        settings = self.settings
        self.dataplane.ready = False
        await self.health.shutting_down()
        if self.watcher is not None:
            await self.watcher.stop()
        if self._server is not None:
            if settings.drain_delay_s > 0:
                log.info("shutting down: health is NOT_SERVING; still answering for %.1f s", settings.drain_delay_s)
                await asyncio.sleep(settings.drain_delay_s)
            grace = settings.grace_period_s
            deadline = asyncio.get_running_loop().time() + grace
            await self.drain.wait_quiet(QUIET_S, min(QUIET_LIMIT_S, grace))
            self.drain.close()
            log.info("draining: up to %.1f s for %d in-flight request(s)", grace, self.drain.count)
            try:
                remaining = max(0.0, deadline - asyncio.get_running_loop().time())
                await asyncio.wait_for(self.drain.wait_idle(), remaining)
            except TimeoutError:
                log.warning("grace period over: cancelling %d in-flight request(s)", self.drain.count)
            else:
                remaining = max(0.0, deadline - asyncio.get_running_loop().time())
                await self.drain.wait_quiet(QUIET_S, min(QUIET_LIMIT_S, remaining))
            await self._server.stop(None)
            if self.http is not None:
                await self.http.stop()
            log.info("refused %d call(s) after the gate closed (UNAVAILABLE, safe to retry)", self.drain.refused)
        await self.recorder.close()
        await self.repository.close()
        if not await asyncio.to_thread(self.repository.plugins.close_audit, AUDIT_FLUSH_S):
            log.warning("audit plugins did not finish within %.0f s; their last events may be missing", AUDIT_FLUSH_S)
        log.info("stopped")
        self._remove_log_filter()

    def _install_log_filter(self) -> None:
        """Put ``log_filter`` on the root logger's handlers (where gatewise records end up;
        a filter on the ``gatewise`` logger itself would miss its children's records)."""
        for handler in logging.getLogger().handlers:
            if self.log_filter not in handler.filters:
                handler.addFilter(self.log_filter)
                self._filtered.append(handler)

    def _remove_log_filter(self) -> None:
        for handler in self._filtered:
            handler.removeFilter(self.log_filter)
        self._filtered.clear()

    async def reload_credentials(self) -> bool:
        """Re-read the API key file, the JWT public key and the JWKS (SIGHUP) for calls that
        arrive from now on; calls in flight keep their principal. A bad file keeps the old
        credentials in place and is logged; returns whether the new ones took effect."""
        try:
            authenticator = await asyncio.to_thread(Authenticator.from_settings, self.settings)
        except StartupError as exc:
            log.error("credentials not reloaded, the previous ones stay in use: %s", exc)
            return False
        except Exception:
            log.exception("credentials not reloaded, the previous ones stay in use")
            return False
        self.access.reload(authenticator)
        described = authenticator.describe() if authenticator is not None else "no keys configured"
        log.info("credentials reloaded: %s", described)
        return True

    async def serve_until_signalled(self) -> None:
        """Run until SIGINT or SIGTERM, then stop gracefully; SIGHUP reloads credentials."""
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        reloads: set[asyncio.Task[bool]] = set()

        def reload() -> None:
            task = loop.create_task(self.reload_credentials())
            reloads.add(task)
            task.add_done_callback(reloads.discard)

        loop.add_signal_handler(signal.SIGHUP, reload)
        try:
            await self.start()
        except BaseException:
            await self.stop()  # a half-started server must not outlive its event loop
            raise
        await stop.wait()
        await self.stop()


def run_loop(main: Coroutine[Any, Any, None]) -> None:
    """Run on uvloop where it is installed: grpc.aio's per-call cost is much lower on it
    (docs/benchmarks.md has the figure)."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
    else:
        uvloop.run(main)


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)-7s %(process)d %(name)s: %(message)s",
    )


def check_console(settings: ServerSettings) -> None:
    """StartupError when ``--console`` cannot work as configured: it needs the HTTP port, and one process
    (its sessions live in that process's memory; another worker would not know a browser's session)."""
    if not settings.console:
        return
    if not settings.http_port:
        raise StartupError("--console is served on the HTTP port, and --http-port is 0 (no HTTP): give a port")
    if settings.workers > 1:
        raise StartupError(
            f"--console keeps sign-in sessions in one process's memory, and with --workers {settings.workers} "
            "a browser's requests reach processes that do not know its session: serve the console with "
            "--workers 1 (for example from a replica of its own)"
        )


def run(settings: ServerSettings) -> None:
    """Serve in this process, or in ``settings.workers`` processes sharing the port."""
    configure_logging(settings.log_level)
    check_exposure(settings)  # once, before any worker starts: one error line
    check_console(settings)
    if not settings.repository.is_dir():
        raise StartupError(f"model repository {settings.repository} is not a folder")
    if settings.workers == 1:
        run_loop(GatewayServer(settings).serve_until_signalled())
        _exiting()
        return
    if settings.grpc_port == 0:
        raise StartupError("--workers needs a fixed --grpc-port: processes share it through SO_REUSEPORT")
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(target=_worker, args=(_worker_settings(settings, index),), name=f"gatewise-{index}")
        for index in range(settings.workers)
    ]
    for process in workers:
        process.start()
    forward = lambda signum, frame: [p.terminate() for p in workers if p.is_alive()]  # noqa: E731
    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    reload = lambda signum, frame: [os.kill(p.pid, signal.SIGHUP) for p in workers if p.is_alive()]  # noqa: E731
    signal.signal(signal.SIGHUP, reload)
    for process in workers:
        process.join()
    failed = [process.name for process in workers if process.exitcode not in (0, -signal.SIGTERM)]
    if failed:
        raise StartupError(f"{', '.join(failed)} exited with an error (see the log above)")


def _worker_settings(settings: ServerSettings, index: int) -> ServerSettings:
    """Each worker serves its own metrics on metrics_port + index (Prometheus scrapes each)."""
    metrics_port = None if settings.metrics_port is None else settings.metrics_port + index
    return settings.model_copy(update={"metrics_port": metrics_port})


def _worker(settings: ServerSettings) -> None:
    configure_logging(settings.log_level)
    try:
        run_loop(GatewayServer(settings).serve_until_signalled())
    except StartupError as exc:
        log.error("%s", exc)
        raise SystemExit(1) from exc
    _exiting()


def _exiting() -> None:
    """Once stopped, a repeated SIGTERM/SIGINT (an impatient supervisor) must not kill the
    interpreter's teardown: the stop already finished, so the exit status stays 0. (Closing
    the event loop put the default handlers back.)"""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
