"""Rounds of every configuration, then the table and the ratios the issue asks for."""

from __future__ import annotations

import math
import os

from gatewise.gateway.config import load_config
from rich.console import Console
from rich.table import Table

from gatewise_lab.bench.clients import FLOOR, closed_loop, closed_loop_stream, empty_calls, run_client
from gatewise_lab.bench.inprocess import InProcess
from gatewise_lab.bench.perf_analyzer import perf_analyzer_row
from gatewise_lab.bench.plan import BenchPlan
from gatewise_lab.bench.rows import Row, median_round, suspects
from gatewise_lab.bench.server import ServerTime, server_statistics, server_time, start_server


def run_bench(plan: BenchPlan, console: Console, perf_analyzer: bool = True) -> list[Row]:
    """Interleaved rounds (every configuration once per round), the median round per row;
    perf_analyzer, when asked for and installed, once after the rounds.

    Interleaving spreads any drift of a shared machine over every row alike, so the ratios
    compare like with like. The in-process model stays loaded, idle, while gRPC is measured.
    The floor is measured only when concurrency 1 is, the row it is the floor of.
    """
    max_batch = load_config(plan.repository / plan.model).batching.max_batch_size
    lowest, top = plan.lowest, plan.top
    console.print(f"[bold]{plan.model}[/]: {plan.rounds} interleaved rounds, {plan.seconds:g} s per row per round")
    measured: dict[str, list[Row]] = {}
    single_request: list[tuple[Row, ServerTime]] = []

    def keep(row: Row) -> Row:
        measured.setdefault(row.name, []).append(row)
        return row

    local_model = InProcess(plan.repository, plan.model)
    try:
        process, url = start_server(plan.repository, plan.workers)
        try:
            for round_index in range(plan.rounds):
                console.print(f"round {round_index + 1}/{plan.rounds} ...")
                batch_one = keep(local_model.measure(1, plan.seconds))
                keep(local_model.measure(max_batch, plan.seconds, parallel=True))
                keep(local_model.measure(max_batch, plan.seconds, parallel=True, split=True))
                if lowest == 1:
                    keep(run_client(empty_calls(url, batch_one.p50_ms / 1000, plan.seconds)))
                for concurrency in plan.concurrencies:
                    before = server_statistics(url, plan.model) if concurrency == 1 else None
                    row = keep(run_client(closed_loop(url, plan.model, concurrency, plan.seconds)))
                    if before is not None:
                        single_request.append((row, server_time(before, server_statistics(url, plan.model))))
                keep(run_client(closed_loop_stream(url, plan.model, top, plan.seconds)))
            levels = sorted({lowest, top}) if perf_analyzer else []
            analyzers = [
                row for row in (perf_analyzer_row(url, plan.model, level, plan.seconds) for level in levels) if row
            ]
        finally:
            process.terminate()
            process.wait(timeout=60)
    finally:
        local_model.close()
    rows = [summarise(found) for found in measured.values()] + analyzers
    print_table(console, f"gatewise bench: {plan.model}, {plan.workers} worker(s), {os.cpu_count()} CPUs", rows)
    print_ratios(console, {row.name: row for row in rows if not row.note}, max_batch, lowest, top, single_request)
    errors = sum(row.errors for found in measured.values() for row in found) + sum(row.errors for row in analyzers)
    console.print(f"errors at every level, every round: {errors}")
    return rows


def summarise(rounds: list[Row]) -> Row:
    """The median round: by throughput, or by p50 for a row without one (the floor)."""
    if math.isnan(rounds[0].rows_per_s):
        return median_round(rounds, key=lambda row: row.p50_ms)
    return median_round(rounds)


REQUESTS = (
    "what each row requests: every client sends the same single-row texts (workload.SENTENCES); the gRPC rows "
    "name no outputs (the model's default outputs), perf_analyzer names every output ModelMetadata lists; "
    "neither asks for an explanation"
)


def print_table(console: Console, title: str, rows: list[Row]) -> None:
    """The rows, with a ``check`` column that marks a client row as suspect (``rows.suspects``)."""
    flagged = suspects(rows)
    table = Table(title=title)
    for column in ("configuration", "rows/s", "p50 ms", "p99 ms", "errors", "check"):
        table.add_column(column, justify="left" if column in ("configuration", "check") else "right")
    for row in rows:
        table.add_row(
            row.name, _figure(row.rows_per_s, 1), _figure(row.p50_ms, 2), _figure(row.p99_ms, 2), str(row.errors),
            "SUSPECT" if row.name in flagged else "",
        )  # fmt: skip
    console.print(table)
    console.print(REQUESTS)
    for row in rows:
        if row.note:
            console.print(f"{row.name} failed: {row.note.strip()}")
    for name, reason in flagged.items():
        console.print(f"SUSPECT {name}: {reason}")


def _figure(value: float, digits: int) -> str:
    return "-" if math.isnan(value) else f"{value:.{digits}f}"


def print_ratios(
    console: Console,
    rows: dict[str, Row],
    max_batch: int,
    lowest: int,
    top: int,
    single_request: list[tuple[Row, ServerTime]],
) -> None:
    """The issue's ratios, from the rows that have figures (failed perf_analyzer runs have none)."""
    batch_one, batch_max = rows["in-process, batch 1"], rows[f"in-process, batch {max_batch}"]
    batch_split = rows[f"in-process, batch {max_batch}, split by length"]
    for name in (f"gRPC, concurrency {top}", f"gRPC stream, concurrency {top}"):
        best = rows[name]
        console.print(
            f"throughput of {name} over in-process batch {max_batch}: "
            f"{best.rows_per_s / batch_max.rows_per_s:.2f}x (target >= 0.90x); "
            f"over batch {max_batch} split by length as the gateway runs it: "
            f"{best.rows_per_s / batch_split.rows_per_s:.2f}x"
        )
    single = rows.get("gRPC, concurrency 1")
    if single is not None:
        console.print(
            f"latency added at concurrency 1, gRPC p50 - in-process batch-1 p50: "
            f"{single.p50_ms - batch_one.p50_ms:+.2f} ms (target <= +1.00 ms); "
            f"the floor, an empty call after the same wait: {rows[FLOOR].p50_ms:.2f} ms"
        )
    if single_request:
        row, server = median_round(single_request, key=lambda pair: pair[0].rows_per_s)
        console.print(
            f"concurrency 1, mean ms per request (median round, {server.requests} requests): "
            f"client {row.mean_ms:.2f} = server compute {server.compute_ms:.2f} "
            f"(in-process batch 1: {batch_one.mean_ms:.2f}) + queue {server.queue_ms:.2f} "
            f"+ gateway {server.gateway_ms:.2f} (decode, hand-offs, encode) "
            f"+ gRPC and client {row.mean_ms - server.total_ms:.2f}"
        )
    analyzer_top = rows.get(f"perf_analyzer, concurrency {top}")
    analyzer_low = rows.get(f"perf_analyzer, concurrency {lowest}")
    flagged = suspects(list(rows.values()))
    if analyzer_top is not None:
        console.print(
            f"with perf_analyzer (C++) as the client: {analyzer_top.rows_per_s / batch_max.rows_per_s:.2f}x "
            f"throughput at concurrency {top}" + (" (SUSPECT, see above)" if analyzer_top.name in flagged else "")
        )
    if analyzer_low is not None and lowest == 1:
        console.print(f"with perf_analyzer at concurrency 1: {analyzer_low.p50_ms - batch_one.p50_ms:+.2f} ms")
