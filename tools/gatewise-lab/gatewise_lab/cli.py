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
    compare_model: Annotated[
        list[str] | None,
        Opt(
            help="An entry to compare with --model (e.g. its INT8 conversion; repeat for more): instead of the full "
            "bench, rows/s at the highest --concurrency through the gateway and held-out accuracy and agreement "
            "with --model for each."
        ),
    ] = None,
    held_out: Annotated[
        Path | None, Opt(help="Held-out .jsonl ('text', 'label') for --compare-model; default: finance's.")
    ] = None,
    explain: Annotated[
        bool,
        Opt(
            help="Instead of the full bench: explanations of a 25-word text at B=64 and 256 through the gateway beside "
            "their rows in process, and ordinary p99 at the highest --concurrency with and without explanations."
        ),
    ] = False,
    http: Annotated[
        bool,
        Opt(
            help="Instead of the full bench: gRPC, HTTP with binary tensors and HTTP with JSON through one server at "
            "each --concurrency, interleaved (any model: text, or tensors filled with ones)."
        ),
    ] = False,
    console: Annotated[
        bool,
        Opt(
            help="Instead of the full bench: REST rows/s and p99 at the highest --concurrency with the console closed "
            "and open (a stats poller doing what the models page does, and a real headless Chromium), interleaved."
        ),
    ] = False,
    browser: Annotated[
        bool, Opt(help="With --console: also measure with the models page open in headless Chromium.")
    ] = True,
    records: Annotated[
        bool,
        Opt(
            help="Instead of the full bench: rows/s and p99 at the highest --concurrency with decision records off, "
            "on (outputs, SQLite, drop), with require, and with 1% of decisions explained in the background."
        ),
    ] = False,
) -> None:
    """Measure the in-process limit and the gateway through gRPC; print the table and ratios."""
    from rich.console import Console

    from gatewise_lab.bench.plan import BenchPlan

    try:
        plan = BenchPlan(repository, model, tuple(concurrency), seconds, rounds, workers)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    if http:
        from gatewise_lab.bench.http import run_http_bench

        run_http_bench(plan, Console())
    elif explain:
        from gatewise_lab.bench.explain import run_explain_bench

        run_explain_bench(plan, Console())
    elif console:
        from gatewise_lab.bench.console import run_console_bench

        run_console_bench(plan, Console(), browser)
    elif records:
        from gatewise_lab.bench.records import run_records_bench

        run_records_bench(plan, Console())
    elif compare_model:
        from gatewise_lab.bench.compare import DEFAULT_HELD_OUT, run_compare

        run_compare(plan, compare_model, Console(), held_out or DEFAULT_HELD_OUT)
    else:
        from gatewise_lab.bench.run import run_bench

        run_bench(plan, Console(), perf_analyzer)


app = typer.Typer(help="Gatewise's lab: the demo and the gateway bench.", no_args_is_help=True)
app.command()(demo)
app.command()(bench)
