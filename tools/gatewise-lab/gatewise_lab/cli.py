"""The lab's commands, which ``gatewise`` finds through the ``gatewise.commands`` entry points
(``gatewise demo``, ``gatewise bench``); ``python -m gatewise_lab`` runs them without it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

Opt = typer.Option

demo_app = typer.Typer(add_completion=False)
bench_app = typer.Typer(add_completion=False)


@demo_app.command()
def demo(
    repository: Annotated[Path, Opt(help="Where the demo repository is built (reused when present).")] = Path(
        "demo-models"
    ),
    build_only: Annotated[bool, Opt(help="Train, convert and validate, then stop.")] = False,
    port: Annotated[int, Opt(help="gRPC port for the demo server (0: any free port).")] = 0,
) -> None:
    """Build the demo models (train, convert, validate), serve them and call every one over gRPC."""
    from gatewise_lab.demo import run_demo

    raise typer.Exit(run_demo(repository, build_only=build_only, port=port))


@bench_app.command()
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

    from gatewise_lab.bench.run import run_bench

    run_bench(repository, model, sorted(concurrency), seconds, workers, Console(), rounds, perf_analyzer)


app = typer.Typer(help="Gatewise's lab: the demo and the gateway bench.", no_args_is_help=True)
app.command()(demo)
app.command()(bench)
