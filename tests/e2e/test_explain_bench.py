"""``gatewise bench --explain`` end to end on the tiny repository: every figure it promises is measured and printed."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from gatewise.plugins.common.words import WORD
from rich.console import Console

from gatewise_lab.bench.explain import TEXT, in_process_name, ordinary_name, run_explain_bench
from gatewise_lab.bench.plan import BenchPlan
from models import build_repository


def test_explain_bench_measures_explanations_and_ordinary_traffic_beside_them(tmp_path: Path) -> None:
    console = Console(record=True, width=240)
    plan = BenchPlan(build_repository(tmp_path / "models"), "tiny-sentiment", (4,), seconds=0.3, rounds=1, workers=1)
    rows = run_explain_bench(plan, console, budgets=(16, 32))
    assert len(WORD.findall(TEXT)) == 25
    # tiny-sentiment batches 8 rows; 25 words are beyond exact Shapley, so B + 2 coalitions each
    expected = {
        in_process_name(18, 16, 8), in_process_name(34, 32, 8),
        "explanation, B=16, 1 caller(s)", "explanation, B=32, 1 caller(s)",
        ordinary_name(4), ordinary_name(4, 32, 1), "explanation under load, B=32, 1 caller(s)",
    }  # fmt: skip
    assert set(rows) == expected
    for row in rows.values():
        assert row.errors == 0, row
        assert row.p50_ms > 0 and row.p99_ms >= row.p50_ms, row
        assert row.rows_per_s > 0 and not math.isnan(row.rows_per_s), row
    printed = console.export_text()
    for budget, coalitions in ((16, 18), (32, 34)):
        assert f"explanation B={budget}: p50 " in printed
        assert f"{coalitions} rows in process" in printed
    assert "(target <= 1.2x)" in printed
    assert "ordinary requests at concurrency 4: p99 " in printed and " ms with explanations (" in printed
    assert "errors at every level, every round: 0" in printed


def test_the_explain_option_runs_the_explanation_bench_instead_of_the_full_one(monkeypatch, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from gatewise_lab import cli
    from gatewise_lab.bench import explain, run

    called: list[tuple] = []
    monkeypatch.setattr(explain, "run_explain_bench", lambda *args, **kwargs: called.append(args))
    monkeypatch.setattr(run, "run_bench", lambda *args, **kwargs: pytest.fail("the full bench ran"))
    arguments = ["--explain", "--repository", str(tmp_path), "--model", "m", "--concurrency", "4", "--concurrency", "8"]
    result = CliRunner().invoke(cli.bench_app, [*arguments, "--seconds", "2", "--rounds", "1"])
    assert result.exit_code == 0, result.output
    assert [call[0] for call in called] == [BenchPlan(tmp_path, "m", (4, 8), 2.0, rounds=1, workers=1)]
    assert called[0][0].top == 8
