"""``gatewise bench --explain``: what an explanation costs through the gateway, and what it does to ordinary requests.

Two things are asked of an explanation's speed:

- cost: an explanation with budget B (``explain_samples``) evaluates B + 2 coalitions, so it
  should cost at most 1.2x the in-process time of running those B + 2 rows as batches of
  ``max_batch_size`` through the same engine. Measured: p50/p99 of one explanation of a
  25-word text (``TEXT``) through the gateway, one request at a time, at each budget, and
  the in-process time of the very rows the gateway runs (the plugin's own explainer and
  ``plugins.shapley.plan`` with the same seed, ``ServedModel.execute`` on batches of
  ``max_batch_size`` in the explainer's order, one instance, nothing else running). The
  ratio is of the p50s.
- fairness: explanation rows must not starve ordinary requests. The batcher forms each
  batch from ordinary requests first and fills only the room they leave with explanation
  rows, queued in chunks of ``max_batch_size / 4`` (``gateway.batcher``,
  ``ServedModel.run_rows``). Measured: single-row ordinary requests in a closed loop at the
  given concurrency, alone and with explanation callers (the largest budget) in a closed
  loop beside them; p50/p99 of the ordinary requests in both, and how many explanations
  finished meanwhile.

Rounds interleave every configuration, as the main bench does; latencies are pooled over
the rounds (a p99 needs the samples), rows/s are the median round. No figure is asserted.

Measured with ``gatewise bench --explain --repository demo-models --model finance-sentiment
--concurrency 16 --seconds 5 --rounds 3`` (2-core AMD EPYC VM with AVX-512/VNNI, quiet; one
engine instance, max_batch_size 32; 25 words are beyond exact Shapley, so B + 2 rows):

    explanation B=64:   p50 289 ms, p99 339 ms;   66 rows in process 267 ms  -> 1.08x
    explanation B=256:  p50 968 ms, p99 1123 ms;  258 rows in process 1012 ms -> 0.96x
    ordinary, concurrency 16: p99 80.1 ms alone, 129.8 ms beside one B=256 explanation caller
    (1.62x); p50 63 -> 114 ms; 292 -> 148 rows/s; explanations meanwhile p50 1870 ms

At concurrency 64 (2 rounds): ordinary p99 266.8 -> 587.2 ms (2.20x), explanations p50 3098 ms.
How the batcher got there, each step measured here at concurrency 16: explanation rows first
filled all the room ordinary requests left, and an instance that finished a batch found only
explanation rows and ran 32 of them before the answered clients sent again (ordinary p99
3.35x); keeping them to a quarter of each batch gave 3.24x in another run; holding a batch of
explanation rows alone back 10 ms while ordinary traffic is about gave 1.81x; counting a
client answered in a long batch as about to send again, 1.62x. On two cores every
explanation row is CPU taken from ordinary rows, so some cost remains by construction.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import grpc
import numpy as np
from gatewise.gateway.codec import serialize_bytes
from gatewise.gateway.engines import close_all
from gatewise.plugins.common.words import WORD
from gatewise.plugins.context import BatchContext
from gatewise.plugins.explainer import perturbation
from gatewise.protos import grpc_service_pb2 as pb
from gatewise.protos import grpc_service_pb2_grpc as pb_grpc
from rich.console import Console
from rich.table import Table

from gatewise_lab.bench.clients import ANSWER_TIMEOUT_S, CHANNEL_OPTIONS, closed_loop, drive, run_client
from gatewise_lab.bench.inprocess import load_model
from gatewise_lab.bench.plan import BenchPlan
from gatewise_lab.bench.rows import Row, measured_row, median_round
from gatewise_lab.bench.server import start_server

TEXT = (
    "Quarterly revenue rose eight percent as demand offset weaker European sales, "
    "and the board raised its dividend while warning that margins could tighten next year."
)
"""25 words (``plugins.common.words.WORD``): the issue's explanation workload."""
BUDGETS = (64, 256)
SEED = 0
MIN_CALLS = 5
"""Explanations per budget and round at the least, however short ``seconds`` is."""


def explanation_request(model_name: str, budget: int, seed: int = SEED) -> pb.ModelInferRequest:
    """One row of ``TEXT``, asking for ``explanation`` with ``explain_samples = budget``."""
    request = pb.ModelInferRequest(model_name=model_name)
    request.inputs.add(name="text", datatype="BYTES", shape=[1])
    request.raw_input_contents.append(serialize_bytes(np.array([TEXT.encode()], dtype=object)))
    request.outputs.add(name="label")
    request.outputs.add(name="explanation")
    request.parameters["explain_samples"].int64_param = budget
    request.parameters["explain_seed"].int64_param = seed
    return request


class InProcessRows:
    """The model loaded here; the rows an explanation evaluates, run as plain batches."""

    def __init__(self, repository: Path, model_name: str) -> None:
        self.model = load_model(repository, model_name)
        self.max_batch = self.model.config.batching.max_batch_size
        self._rows: dict[int, dict[str, np.ndarray]] = {}

    def rows_for(self, budget: int) -> dict[str, np.ndarray]:
        """The public inputs of every coalition the gateway evaluates for ``TEXT`` at ``budget`` (seed ``SEED``)."""
        if budget not in self._rows:
            inputs = {"text": np.array([TEXT.encode()], dtype=object)}
            outputs = self.model.execute(inputs, BatchContext.single(1), 0, record=False)
            assert self.model.hooks is not None, f"{self.model.name} has no plugin, so it cannot explain"
            explainer = self.model.hooks.explainer(self.model.context, inputs, outputs, {})
            assert explainer is not None, f"{self.model.name}'s plugin gave no explainer"
            self._rows[budget] = perturbation(explainer, {}, budget, SEED).inputs
        return self._rows[budget]

    def measure(self, budget: int, seconds: float) -> list[float]:
        """Seconds per run of all the budget's rows, as batches of ``max_batch_size``, for ``seconds``."""
        rows = self.rows_for(budget)
        total = len(next(iter(rows.values())))
        times: list[float] = []
        stop_at = time.perf_counter() + seconds
        while time.perf_counter() < stop_at or len(times) < MIN_CALLS:
            started = time.perf_counter()
            for start in range(0, total, self.max_batch):
                part = {name: array[start : start + self.max_batch] for name, array in rows.items()}
                size = len(next(iter(part.values())))
                self.model.execute(part, BatchContext.single(size), 0, record=False)
            times.append(time.perf_counter() - started)
        return times

    def coalitions(self, budget: int) -> int:
        return len(next(iter(self.rows_for(budget).values())))

    def close(self) -> None:
        close_all(self.model.engines)


async def explanations(
    url: str, model_name: str, budget: int, callers: int, seconds: float, min_calls: int = MIN_CALLS
) -> tuple[Row, list[float]]:
    """``callers`` clients each keep one explanation request in flight for ``seconds`` (then more, one at a time,
    up to ``min_calls``); the row, and every call's latency in seconds."""
    request = explanation_request(model_name, budget)
    async with grpc.aio.insecure_channel(url, options=CHANNEL_OPTIONS) as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        await stub.ServerReady(pb.ServerReadyRequest())

        async def call(step: int) -> bool:
            try:
                await stub.ModelInfer(request, timeout=ANSWER_TIMEOUT_S * 4)
            except grpc.aio.AioRpcError:
                return False
            return True

        rate, latencies, errors = await drive(call, callers, seconds)
        while len(latencies) + errors < min_calls:
            sent = time.perf_counter()
            if await call(0):
                latencies.append(time.perf_counter() - sent)
            else:
                errors += 1
    name = f"explanation, B={budget}, {callers} caller(s)"
    return measured_row(name, rate * (budget + 2), latencies, errors), latencies


async def ordinary_with_explanations(
    url: str, model_name: str, concurrency: int, seconds: float, budget: int, callers: int
) -> tuple[Row, Row, list[float]]:
    """Ordinary requests at ``concurrency`` while ``callers`` explanation clients run beside them (no extra
    explanations after the ordinary clients stop: every one measured here ran beside them)."""
    ordinary, (explained, latencies) = await asyncio.gather(
        closed_loop(url, model_name, concurrency, seconds),
        explanations(url, model_name, budget, callers, seconds, min_calls=0),
    )
    ordinary.name = ordinary_name(concurrency, budget, callers)
    explained.name = f"explanation under load, B={budget}, {callers} caller(s)"
    return ordinary, explained, latencies


def ordinary_name(concurrency: int, budget: int | None = None, callers: int = 0) -> str:
    if budget is None:
        return f"ordinary, concurrency {concurrency}, alone"
    return f"ordinary, concurrency {concurrency}, with explanations (B={budget}, {callers} caller(s))"


def in_process_name(rows: int, budget: int, max_batch: int) -> str:
    return f"in-process, {rows} rows (B={budget}) as batches of {max_batch}"


def run_explain_bench(
    plan: BenchPlan, console: Console, budgets: tuple[int, ...] = BUDGETS, callers: int = 1
) -> dict[str, Row]:
    """Interleaved rounds of: per budget, its rows in process and one explanation at a time through the gateway;
    then ordinary requests alone and with explanation callers (the largest budget) beside them, at the plan's
    highest concurrency.

    Returns the summarised rows by name. Rows/s: coalitions per second for explanations and
    in-process rows, answered rows for ordinary requests.
    """
    top, concurrency = max(budgets), plan.top
    console.print(
        f"[bold]{plan.model}[/]: explanations of a {len(WORD.findall(TEXT))}-word text, budgets {list(budgets)}; "
        f"ordinary requests at concurrency {concurrency} with and without {callers} explanation caller(s) "
        f"(B={top}); {plan.rounds} interleaved rounds, {plan.seconds:g} s per row per round"
    )
    pooled: dict[str, list[float]] = {}
    rounds_of: dict[str, list[Row]] = {}

    def keep(row: Row, latencies: list[float] | None = None) -> None:
        rounds_of.setdefault(row.name, []).append(row)
        if latencies is not None:
            pooled.setdefault(row.name, []).extend(latencies)

    local = InProcessRows(plan.repository, plan.model)
    coalitions = {budget: local.coalitions(budget) for budget in budgets}
    try:
        process, url = start_server(plan.repository, plan.workers)
        try:
            for round_index in range(plan.rounds):
                console.print(f"round {round_index + 1}/{plan.rounds} ...")
                for budget in budgets:
                    times = local.measure(budget, plan.seconds)
                    name = in_process_name(coalitions[budget], budget, local.max_batch)
                    keep(measured_row(name, coalitions[budget] * len(times) / sum(times), times), times)
                    keep(*run_client(explanations(url, plan.model, budget, 1, plan.seconds)))
                alone = run_client(closed_loop(url, plan.model, concurrency, plan.seconds))
                alone.name = ordinary_name(concurrency)
                keep(alone)
                ordinary, explained, latencies = run_client(
                    ordinary_with_explanations(url, plan.model, concurrency, plan.seconds, top, callers)
                )
                keep(ordinary)
                keep(explained, latencies)
        finally:
            process.terminate()
            process.wait(timeout=60)
    finally:
        local.close()
    rows = {name: summarise(found, pooled.get(name)) for name, found in rounds_of.items()}
    print_table(console, plan.model, plan.workers, rows)
    print_ratios(console, rows, budgets, coalitions, local.max_batch, concurrency, callers)
    return rows


def summarise(rounds: list[Row], latencies: list[float] | None) -> Row:
    """Rows/s of the median round; p50/p99 over every call of every round where the calls were kept (explanations
    are few per round), else those of the round with the median p99; errors summed over the rounds."""
    rate = median_round(rounds).rows_per_s
    if latencies:
        summary = measured_row(rounds[0].name, rate, latencies)
    else:
        by_p99 = median_round(rounds, key=lambda row: row.p99_ms)
        summary = Row(rounds[0].name, rate, by_p99.p50_ms, by_p99.p99_ms, mean_ms=by_p99.mean_ms)
    summary.errors = sum(row.errors for row in rounds)
    return summary


def print_table(console: Console, model_name: str, workers: int, rows: dict[str, Row]) -> None:
    table = Table(title=f"gatewise bench --explain: {model_name}, {workers} worker(s), {os.cpu_count()} CPUs")
    for column in ("configuration", "rows/s", "p50 ms", "p99 ms", "errors"):
        table.add_column(column, justify="left" if column == "configuration" else "right")
    for row in rows.values():
        table.add_row(row.name, f"{row.rows_per_s:.1f}", f"{row.p50_ms:.1f}", f"{row.p99_ms:.1f}", str(row.errors))
    console.print(table)


def print_ratios(
    console: Console,
    rows: dict[str, Row],
    budgets: tuple[int, ...],
    coalitions: dict[int, int],
    max_batch: int,
    concurrency: int,
    callers: int,
) -> None:
    top = max(budgets)
    for budget in budgets:
        served = rows[f"explanation, B={budget}, 1 caller(s)"]
        local = rows[in_process_name(coalitions[budget], budget, max_batch)]
        console.print(
            f"explanation B={budget}: p50 {served.p50_ms:.1f} ms, p99 {served.p99_ms:.1f} ms through the gateway; "
            f"{coalitions[budget]} rows in process {local.p50_ms:.1f} ms (p50); "
            f"ratio {served.p50_ms / local.p50_ms:.2f}x (target <= 1.2x)"
        )
    alone = rows[ordinary_name(concurrency)]
    loaded = rows[ordinary_name(concurrency, top, callers)]
    under = rows[f"explanation under load, B={top}, {callers} caller(s)"]
    console.print(
        f"ordinary requests at concurrency {concurrency}: p99 {alone.p99_ms:.1f} ms alone, "
        f"{loaded.p99_ms:.1f} ms with explanations ({loaded.p99_ms / alone.p99_ms:.2f}x); "
        f"p50 {alone.p50_ms:.1f} -> {loaded.p50_ms:.1f} ms; rows/s {alone.rows_per_s:.0f} -> {loaded.rows_per_s:.0f}; "
        f"meanwhile explanations p50 {under.p50_ms:.0f} ms"
    )
    console.print(f"errors at every level, every round: {sum(row.errors for row in rows.values())}")
