"""What decision records cost: the same model served without records and with them, interleaved.

One server, four entries of the same model in one small repository (the version folder and
assets linked, not copied; ``config.toml`` renamed, with a ``[records]`` table appended):
records off; on, outputs only, SQLite, ``drop``; the same with ``require`` (every answer
waits for its commit); and ``drop`` with 1% of decisions explained in the background. One
process for all four, because separate servers differed by themselves (two identical
records-off servers measured 7% apart on the shared benchmark machine, and the first one
started was the slowest in every run). Each round measures every entry once at the same
concurrency, starting one entry later each round, so a shared machine's drift and the
position in a round fall on all alike; each row reports its median round.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from rich.console import Console

from gatewise_lab.bench.clients import closed_loop, run_client
from gatewise_lab.bench.plan import BenchPlan
from gatewise_lab.bench.rows import Row, median_round
from gatewise_lab.bench.run import print_table
from gatewise_lab.bench.server import start_server

CONFIGURATIONS = {
    "records off": ("", None),
    "records on: outputs, SQLite, drop": ("-drop", 'explanation = "never"\npolicy = "drop"\n'),
    "records on: outputs, SQLite, require": ("-require", 'explanation = "never"\npolicy = "require"\n'),
    "records on: drop, 1% explained in the background": ("-sampled", 'explanation = 0.01\npolicy = "drop"\n'),
}
"""Each configuration's entry name suffix and ``[records]`` table (None: no table, records off)."""


def _entry(source: Path, model: str, repository: Path, name: str, table: str | None) -> None:
    """``name``: ``source``'s ``model`` with its files linked and ``table`` as its [records]."""
    entry = repository / name
    entry.mkdir(parents=True)
    for item in (source / model).iterdir():
        if item.name != "config.toml":
            (entry / item.name).symlink_to(item.resolve())
    config = (source / model / "config.toml").read_text().replace(f'name = "{model}"', f'name = "{name}"', 1)
    (entry / "config.toml").write_text(config + (f"\n[records]\n{table}" if table else ""))


def run_records_bench(plan: BenchPlan, console: Console) -> dict[str, Row]:
    """Interleaved rounds over the four configurations at the plan's highest concurrency, one server worker;
    prints the table and the ratios against records off."""
    concurrency = plan.top
    work = Path(tempfile.mkdtemp(prefix="gatewise-records-bench-"))
    entries = {name: plan.model + suffix for name, (suffix, _) in CONFIGURATIONS.items()}
    measured: dict[str, list[Row]] = {name: [] for name in CONFIGURATIONS}
    process = None
    try:
        for name, (_, table) in CONFIGURATIONS.items():
            _entry(plan.repository, plan.model, work / "models", entries[name], table)
        process, url = start_server(work / "models", 1, "--records", str(work / "records"))
        console.print(
            f"[bold]{plan.model}[/]: records off vs on, concurrency {concurrency}, {plan.rounds} interleaved rounds, "
            f"{plan.seconds:g} s per row per round"
        )
        names = list(CONFIGURATIONS)
        for round_index in range(plan.rounds):
            console.print(f"round {round_index + 1}/{plan.rounds} ...")
            for name in names[round_index % len(names) :] + names[: round_index % len(names)]:
                row = run_client(closed_loop(url, entries[name], concurrency, plan.seconds))
                row.name = name
                measured[name].append(row)
    finally:
        if process is not None:
            process.terminate()
            process.wait(timeout=60)
        size = _records_size(work)
        shutil.rmtree(work, ignore_errors=True)
    rows = {name: median_round(found) for name, found in measured.items()}
    print_table(console, f"gatewise bench --records: {plan.model}, {os.cpu_count()} CPUs", list(rows.values()))
    off = rows["records off"]
    for name, row in rows.items():
        if name != "records off":
            console.print(
                f"{name}: {row.rows_per_s / off.rows_per_s:.3f}x the rows/s of records off, "
                f"p99 {row.p99_ms / off.p99_ms:.3f}x"
            )
    console.print(f"records file after the run: {size / 1e6:.1f} MB")
    console.print(
        f"errors at every level, every round: {sum(row.errors for found in measured.values() for row in found)}"
    )
    cpu_us, wall_us = writer_cost()
    console.print(
        f"the writer alone (build, redact, chain, commit to SQLite; outputs only): {cpu_us:.0f} us of CPU and "
        f"{wall_us:.0f} us of wall time per record; records off serves a row in {1e6 / off.rows_per_s:.0f} us here"
    )
    return rows


def writer_cost(count: int = 2000) -> tuple[float, float]:
    """CPU and wall microseconds per record for the writer alone (build, redact, chain, commit into SQLite),
    with finance-sentiment's outputs: what records cost the server whatever the machine's load."""
    import time

    import numpy as np
    from gatewise.gateway.records.build import Draft
    from gatewise.gateway.records.config import RecordsConfig
    from gatewise.gateway.records.sqlite import SQLiteStore
    from gatewise.gateway.records.writer import Writer, WriterOptions

    from gatewise_lab.bench.workload import SENTENCES

    folder = Path(tempfile.mkdtemp(prefix="gatewise-records-writer-"))
    try:
        writer = Writer(SQLiteStore(folder), WriterOptions(queue_size=count + 1))
        writer.open()
        config = RecordsConfig()
        outputs = {
            "label": np.array([b"positive"], dtype=object),
            "score": np.array([0.91], dtype=np.float32),
            "scores": np.array([[0.03, 0.06, 0.91]], dtype=np.float32),
            "redactions": np.array([b"[]"], dtype=object),
        }
        drafts = [
            Draft(model="finance-sentiment", version="1", config=config, artifact=None, plugin="finance",
                  plugin_version=None, principal="anonymous", auth="none", request_id=str(index), trace_id=None,
                  method="ModelInfer", status="OK", latency_ms=5.0, outputs=outputs,
                  inputs={"text": np.array([SENTENCES[index % len(SENTENCES)].encode()], dtype=object)})
            for index in range(count)
        ]  # fmt: skip
        for draft in drafts:
            writer.submit(draft)
        cpu, wall = time.process_time(), time.perf_counter()
        writer.start()
        writer.close(timeout=600)
        return (time.process_time() - cpu) / count * 1e6, (time.perf_counter() - wall) / count * 1e6
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _records_size(root: Path) -> int:
    folder = root / "records"
    return sum(path.stat().st_size for path in folder.iterdir()) if folder.is_dir() else 0
