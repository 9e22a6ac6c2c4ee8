"""The ``gatewise`` command: serve, convert, keys, demo, bench."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, NoReturn

import typer

from converters.cli import convert_app
from gateway.security.keys import keys_app

app = typer.Typer(help="Gatewise: a plugin-based model-serving gateway.", no_args_is_help=True)
app.add_typer(convert_app, name="convert")
app.add_typer(keys_app, name="keys")


@app.callback()
def _root() -> None:
    """Convert models, serve them over gRPC, run the demo and the benchmarks."""


Opt = typer.Option


@app.command()
def serve(
    repository: Annotated[Path, Opt(help="Model repository folder.", envvar="GATEWISE_REPOSITORY")] = Path("models"),
    grpc_port: Annotated[int, Opt(help="gRPC port (0: any free port).", envvar="GATEWISE_GRPC_PORT")] = 8001,
    host: Annotated[str, Opt(help="Address to bind.", envvar="GATEWISE_HOST")] = "127.0.0.1",
    metrics_port: Annotated[
        int | None, Opt(help="Serve Prometheus metrics on this port.", envvar="GATEWISE_METRICS_PORT")
    ] = None,
    log_level: Annotated[str, Opt(help="DEBUG, INFO, WARNING or ERROR.", envvar="GATEWISE_LOG_LEVEL")] = "INFO",
    workers: Annotated[int, Opt(help="Processes sharing the port (SO_REUSEPORT).", envvar="GATEWISE_WORKERS")] = 1,
    drain_delay: Annotated[
        float,
        Opt(
            help="On SIGTERM, seconds to keep answering with health NOT_SERVING before refusing new calls.",
            envvar=["GATEWISE_DRAIN_DELAY", "GATEWISE_DRAIN_DELAY_S"],
        ),
    ] = 0.0,
    grace_period: Annotated[
        float,
        Opt(
            help="Seconds accepted calls may take to finish once new calls are refused.",
            envvar=["GATEWISE_GRACE_PERIOD", "GATEWISE_GRACE_PERIOD_S"],
        ),
    ] = 10.0,
    tracing: Annotated[bool, Opt(help="OpenTelemetry spans per stage.", envvar="GATEWISE_TRACING")] = False,
    tls_cert: Annotated[Path | None, Opt(help="PEM certificate chain (TLS).", envvar="GATEWISE_TLS_CERT")] = None,
    tls_key: Annotated[Path | None, Opt(help="PEM private key (TLS).", envvar="GATEWISE_TLS_KEY")] = None,
    tls_client_ca: Annotated[
        Path | None, Opt(help="PEM CA bundle: require client certificates (mTLS).", envvar="GATEWISE_TLS_CLIENT_CA")
    ] = None,
    auth_keys_file: Annotated[
        Path | None, Opt(help="TOML file of hashed API keys and their models.", envvar="GATEWISE_AUTH_KEYS_FILE")
    ] = None,
    jwt_public_key: Annotated[
        Path | None, Opt(help="PEM public key that verifies bearer JWTs.", envvar="GATEWISE_JWT_PUBLIC_KEY")
    ] = None,
    watch_interval: Annotated[
        float | None,
        Opt(
            help="Poll the repository every N seconds for changes.",
            envvar=["GATEWISE_WATCH_INTERVAL", "GATEWISE_WATCH_INTERVAL_S"],
        ),
    ] = None,
    max_message_bytes: Annotated[
        int, Opt(help="Largest gRPC message, in bytes.", envvar="GATEWISE_MAX_MESSAGE_BYTES")
    ] = 64 * 1024 * 1024,
    max_string_bytes: Annotated[
        int, Opt(help="Largest BYTES element, in bytes.", envvar="GATEWISE_MAX_STRING_BYTES")
    ] = 1024 * 1024,
    max_concurrent_streams: Annotated[
        int, Opt(help="Most concurrent streams per connection.", envvar="GATEWISE_MAX_CONCURRENT_STREAMS")
    ] = 256,
) -> None:
    """Serve every model in REPOSITORY over gRPC until SIGINT or SIGTERM."""
    from gateway.server import run
    from gateway.settings import ServerSettings
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
    )
    try:
        run(settings)
    except StartupError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc


def _lab_missing(command: str, exc: ModuleNotFoundError) -> NoReturn:
    """One ``error:`` line when the lab (the demo and bench, not in the serving wheel) is absent."""
    if exc.name != "gatewise_lab":
        raise exc
    typer.echo(
        f"error: gatewise {command} needs the gatewise-lab package: pip install -e tools/gatewise-lab"
        " (from a clone of the repository; scripts/bootstrap.sh installs it)",
        err=True,
    )
    raise typer.Exit(1) from exc


@app.command()
def demo(
    repository: Annotated[Path, Opt(help="Where the demo repository is built (reused when present).")] = Path(
        "demo-models"
    ),
    build_only: Annotated[bool, Opt(help="Train, convert and validate, then stop.")] = False,
    port: Annotated[int, Opt(help="gRPC port for the demo server (0: any free port).")] = 0,
) -> None:
    """Build the demo models (train, convert, validate), serve them and call every one over gRPC."""
    try:
        from gatewise_lab.demo import run_demo
    except ModuleNotFoundError as exc:
        _lab_missing("demo", exc)
    raise typer.Exit(run_demo(repository, build_only=build_only, port=port))


@app.command()
def bench(
    repository: Annotated[Path, Opt(help="Model repository holding the model.")] = Path("demo-models"),
    model: Annotated[str, Opt(help="Text model to measure.")] = "finance-sentiment",
    concurrency: Annotated[list[int], Opt(help="Client concurrency levels.")] = [1, 16, 64],  # noqa: B006
    seconds: Annotated[float, Opt(help="Seconds per row per round.")] = 5.0,
    rounds: Annotated[int, Opt(min=1, help="Interleaved rounds; each row reports its median round.")] = 3,
    workers: Annotated[int, Opt(help="Server worker processes.")] = 1,
    perf_analyzer: Annotated[bool, Opt(help="Also measure with perf_analyzer when it is installed.")] = True,
) -> None:
    """Measure the in-process limit and the gateway through gRPC; print the table and ratios."""
    from rich.console import Console

    try:
        from gatewise_lab.bench.run import run_bench
    except ModuleNotFoundError as exc:
        _lab_missing("bench", exc)
    run_bench(repository, model, sorted(concurrency), seconds, workers, Console(), rounds, perf_analyzer)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
