"""``gatewise bench --console`` end to end on the tiny console repository: every state measured, the
console really open while it says so (statistics calls counted), and no failed request."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from console.support import console_repository
from gatewise_lab.bench.console import CHROMIUM, CLOSED, POLLER, run_console_bench
from gatewise_lab.bench.plan import BenchPlan


def test_the_console_bench_measures_closed_and_open_and_prints_the_ratios(tmp_path: Path, browser: object) -> None:
    """``browser`` only to skip (or fail in CI) where Chromium is missing: the bench starts its own."""
    console = Console(record=True, width=240)
    plan = BenchPlan(console_repository(tmp_path), "tiny-finance", (4,), seconds=0.5, rounds=2)
    result = run_console_bench(plan, console, browser=True)
    assert set(result.rows) == {CLOSED, POLLER, CHROMIUM} and set(result.ratios) == {POLLER, CHROMIUM}
    for row in result.rows.values():
        assert row.errors == 0 and row.rows_per_s > 0 and row.p99_ms >= row.p50_ms > 0, row
    printed = console.export_text()
    for state in (POLLER, CHROMIUM):
        assert f"{state}: " in printed and "x the rows/s of console closed" in printed
    assert "GET /console/api/stats under load: median" in printed
    for state in (POLLER, CHROMIUM):
        assert result.polls[state] and min(result.polls[state]) >= 1, f"{state}: open, but no statistics call"
    assert len(result.poll_latencies) == sum(result.polls[POLLER])
    assert 0 < result.stats_cpu_ms and 0 < result.stats_wall_ms
    assert "of the server's CPU" in printed
    assert "errors in every state, every round: 0" in printed
