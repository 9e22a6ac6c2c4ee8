"""``gatewise bench`` end to end on the tiny repository: every row measured, errors counted."""

from __future__ import annotations

import math
from pathlib import Path

from conftest import RunningServer
from models import build_repository
from rich.console import Console

from gateway.bench.clients import closed_loop_stream, run_client
from gateway.bench.run import run_bench


def test_bench_measures_every_configuration_and_prints_the_ratios(tmp_path: Path) -> None:
    console = Console(record=True, width=240)
    rows = run_bench(
        build_repository(tmp_path / "models"), "tiny-sentiment", [1, 4], seconds=0.3, workers=1,
        console=console, rounds=1, perf_analyzer=False,
    )  # fmt: skip
    by_name = {row.name: row for row in rows}
    assert set(by_name) == {
        "in-process, batch 1",
        "in-process, batch 8",
        "in-process, batch 8, split by length",
        "gRPC floor: empty call",
        "gRPC, concurrency 1",
        "gRPC, concurrency 4",
        "gRPC stream, concurrency 4",
    }
    for row in rows:
        assert row.errors == 0, row
        assert row.p50_ms > 0 and row.p99_ms >= row.p50_ms, row
    assert math.isnan(by_name["gRPC floor: empty call"].rows_per_s)
    assert all(row.rows_per_s > 0 for name, row in by_name.items() if not name.startswith("gRPC floor"))
    printed = console.export_text()
    assert "throughput of gRPC, concurrency 4 over in-process batch 8:" in printed
    assert "throughput of gRPC stream, concurrency 4 over in-process batch 8:" in printed
    assert "latency added at concurrency 1" in printed
    assert "errors at every level, every round: 0" in printed


def test_stream_client_counts_answers_that_carry_an_error(server: RunningServer) -> None:
    """Every request on the stream for an unknown model is answered in-band with an error; none hangs."""
    row = run_client(closed_loop_stream(server.url, "no-such-model", 2, 0.2))
    assert row.errors > 0
    assert math.isnan(row.p50_ms)
