"""The ``gatewise`` command: serve, convert, demo, bench."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="Gatewise: a plugin-based model-serving gateway.", no_args_is_help=True)


@app.callback()
def _root() -> None:
    """Convert models, serve them over gRPC, run the demo and the benchmarks."""


@app.command()
def serve(
    repository: Annotated[Path, typer.Option(help="Model repository folder.", envvar="GATEWISE_REPOSITORY")] = Path(
        "models"
    ),
    grpc_port: Annotated[int, typer.Option(help="gRPC port (0: any free port).", envvar="GATEWISE_GRPC_PORT")] = 8001,
    host: Annotated[str, typer.Option(help="Address to bind.", envvar="GATEWISE_HOST")] = "127.0.0.1",
    metrics_port: Annotated[
        int | None, typer.Option(help="Serve Prometheus metrics on this port.", envvar="GATEWISE_METRICS_PORT")
    ] = None,
    log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING or ERROR.", envvar="GATEWISE_LOG_LEVEL")] = "INFO",
    workers: Annotated[int, typer.Option(help="Processes sharing the port.", envvar="GATEWISE_WORKERS")] = 1,
    grace_period: Annotated[float, typer.Option(help="Seconds to drain on SIGTERM.")] = 10.0,
) -> None:
    """Serve every model in REPOSITORY over gRPC until SIGINT or SIGTERM."""
    from gateway.server import run
    from gateway.settings import ServerSettings

    settings = ServerSettings(
        repository=repository,
        grpc_port=grpc_port,
        host=host,
        metrics_port=metrics_port,
        log_level=log_level,
        workers=workers,
        grace_period_s=grace_period,
    )
    run(settings)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
