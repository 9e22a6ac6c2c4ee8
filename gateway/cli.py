"""The ``gatewise`` command: serve, convert, keys, demo, bench."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path
from typing import Annotated, Any, NoReturn

import click
import typer
from typer.core import TyperGroup

from gateway.security.keys import keys_app
from gateway.settings import ServerSettings

COMMANDS_GROUP = "gatewise.commands"
"""Entry points naming Typer apps that become ``gatewise`` sub-commands (``convert`` from this
distribution, ``demo`` and ``bench`` from the lab): loaded only when they run, so the serving
code never imports them."""

INSTALL_HINTS = {
    command: "the gatewise-lab package: pip install -e tools/gatewise-lab"
    " (from a clone of the repository; scripts/bootstrap.sh installs it)"
    for command in ("demo", "bench")
}
"""What to install for a command whose package is absent (the lab is not in the serving wheel)."""


def _command_entry_points() -> dict[str, metadata.EntryPoint]:
    return {entry.name: entry for entry in metadata.entry_points(group=COMMANDS_GROUP)}


class _Commands(TyperGroup):
    """The root command group: the commands declared here, then those of ``COMMANDS_GROUP``."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        own = super().list_commands(ctx)
        return own + sorted(set(_command_entry_points()) - set(own))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands:
            entry = _command_entry_points().get(cmd_name)
            if entry is not None:
                command = typer.main.get_command(entry.load())
                command.name = cmd_name
                self.add_command(command)
            elif cmd_name in INSTALL_HINTS:
                return _missing(cmd_name)
        return super().get_command(ctx, cmd_name)


def _missing(command: str) -> click.Command:
    """A stand-in that says, in one ``error:`` line, what to install for ``command``."""

    def explain() -> NoReturn:
        typer.echo(f"error: gatewise {command} needs {INSTALL_HINTS[command]}", err=True)
        raise typer.Exit(1)

    return click.Command(command, callback=explain, help=f"(not installed: needs {INSTALL_HINTS[command]})")


app = typer.Typer(help="Gatewise: a plugin-based model-serving gateway.", no_args_is_help=True, cls=_Commands)
app.add_typer(keys_app, name="keys")


@app.callback()
def _root() -> None:
    """Convert models, serve them over gRPC, run the demo and the benchmarks."""


Opt = typer.Option


def _default(field: str) -> Any:
    """``ServerSettings``' default for ``field``: serve's defaults are declared there alone."""
    return ServerSettings.model_fields[field].default


@app.command()
def serve(
    repository: Annotated[Path, Opt(help="Model repository folder.", envvar="GATEWISE_REPOSITORY")] = _default(
        "repository"
    ),
    grpc_port: Annotated[int, Opt(help="gRPC port (0: any free port).", envvar="GATEWISE_GRPC_PORT")] = _default(
        "grpc_port"
    ),
    host: Annotated[str, Opt(help="Address to bind.", envvar="GATEWISE_HOST")] = _default("host"),
    metrics_port: Annotated[
        int | None, Opt(help="Serve Prometheus metrics on this port.", envvar="GATEWISE_METRICS_PORT")
    ] = _default("metrics_port"),
    log_level: Annotated[str, Opt(help="DEBUG, INFO, WARNING or ERROR.", envvar="GATEWISE_LOG_LEVEL")] = _default(
        "log_level"
    ),
    workers: Annotated[
        int, Opt(help="Processes sharing the port (SO_REUSEPORT).", envvar="GATEWISE_WORKERS")
    ] = _default("workers"),
    drain_delay: Annotated[
        float,
        Opt(
            help="On SIGTERM, seconds to keep answering with health NOT_SERVING before refusing new calls.",
            envvar=["GATEWISE_DRAIN_DELAY", "GATEWISE_DRAIN_DELAY_S"],
        ),
    ] = _default("drain_delay_s"),
    grace_period: Annotated[
        float,
        Opt(
            help="Seconds accepted calls may take to finish once new calls are refused.",
            envvar=["GATEWISE_GRACE_PERIOD", "GATEWISE_GRACE_PERIOD_S"],
        ),
    ] = _default("grace_period_s"),
    tracing: Annotated[bool, Opt(help="OpenTelemetry spans per stage.", envvar="GATEWISE_TRACING")] = _default(
        "tracing"
    ),
    tls_cert: Annotated[Path | None, Opt(help="PEM certificate chain (TLS).", envvar="GATEWISE_TLS_CERT")] = _default(
        "tls_cert"
    ),
    tls_key: Annotated[Path | None, Opt(help="PEM private key (TLS).", envvar="GATEWISE_TLS_KEY")] = _default(
        "tls_key"
    ),
    tls_client_ca: Annotated[
        Path | None, Opt(help="PEM CA bundle: require client certificates (mTLS).", envvar="GATEWISE_TLS_CLIENT_CA")
    ] = _default("tls_client_ca"),
    auth_keys_file: Annotated[
        Path | None, Opt(help="TOML file of hashed API keys and their models.", envvar="GATEWISE_AUTH_KEYS_FILE")
    ] = _default("auth_keys_file"),
    jwt_public_key: Annotated[
        Path | None, Opt(help="PEM public key that verifies bearer JWTs.", envvar="GATEWISE_JWT_PUBLIC_KEY")
    ] = _default("jwt_public_key"),
    watch_interval: Annotated[
        float | None,
        Opt(
            help="Poll the repository every N seconds for changes.",
            envvar=["GATEWISE_WATCH_INTERVAL", "GATEWISE_WATCH_INTERVAL_S"],
        ),
    ] = _default("watch_interval_s"),
    max_message_bytes: Annotated[
        int, Opt(help="Largest gRPC message, in bytes.", envvar="GATEWISE_MAX_MESSAGE_BYTES")
    ] = _default("max_message_bytes"),
    max_string_bytes: Annotated[
        int, Opt(help="Largest BYTES element, in bytes.", envvar="GATEWISE_MAX_STRING_BYTES")
    ] = _default("max_string_bytes"),
    max_concurrent_streams: Annotated[
        int, Opt(help="Most concurrent streams per connection.", envvar="GATEWISE_MAX_CONCURRENT_STREAMS")
    ] = _default("max_concurrent_streams"),
    max_connection_age: Annotated[
        float | None,
        Opt(
            help="Close client connections gracefully after N seconds, so clients spread over new replicas.",
            envvar=["GATEWISE_MAX_CONNECTION_AGE", "GATEWISE_MAX_CONNECTION_AGE_S"],
        ),
    ] = _default("max_connection_age_s"),
) -> None:
    """Serve every model in REPOSITORY over gRPC until SIGINT or SIGTERM."""
    from gateway.server import run
    from protos.errors import StartupError

    settings = ServerSettings(
        repository=repository,
        grpc_port=grpc_port,
        host=host,
        metrics_port=metrics_port,
        log_level=log_level,
        workers=workers,
        drain_delay_s=drain_delay,
        grace_period_s=grace_period,
        tracing=tracing,
        tls_cert=tls_cert,
        tls_key=tls_key,
        tls_client_ca=tls_client_ca,
        auth_keys_file=auth_keys_file,
        jwt_public_key=jwt_public_key,
        watch_interval_s=watch_interval,
        max_message_bytes=max_message_bytes,
        max_string_bytes=max_string_bytes,
        max_concurrent_streams=max_concurrent_streams,
        max_connection_age_s=max_connection_age,
    )
    try:
        run(settings)
    except StartupError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc


def main() -> None:
    app()


if __name__ == "__main__":
    main()
