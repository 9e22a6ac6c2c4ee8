"""``gatewise bench`` end to end on the tiny repository, and its clients when things go wrong."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from gatewise.protos import grpc_service_pb2 as pb
from gatewise.protos import grpc_service_pb2_grpc as pb_grpc
from rich.console import Console

from conftest import RunningServer
from gatewise_lab.bench.clients import FLOOR, closed_loop_stream, run_client
from gatewise_lab.bench.plan import BenchPlan
from gatewise_lab.bench.rows import Row, suspects
from gatewise_lab.bench.run import print_table, run_bench, summarise
from models import build_repository


def test_bench_measures_every_configuration_and_prints_the_ratios(tmp_path: Path) -> None:
    console = Console(record=True, width=240)
    plan = BenchPlan(build_repository(tmp_path / "models"), "tiny-sentiment", (1, 4), seconds=0.3, rounds=2, workers=1)
    rows = run_bench(plan, console, perf_analyzer=False)
    by_name = {row.name: row for row in rows}
    assert set(by_name) == {
        "in-process, batch 1",
        "in-process, batch 8",
        "in-process, batch 8, split by length",
        FLOOR,
        "gRPC, concurrency 1",
        "gRPC, concurrency 4",
        "gRPC stream, concurrency 4",
    }
    for row in rows:
        assert row.errors == 0, row
        assert row.p50_ms > 0 and row.p99_ms >= row.p50_ms, row
    assert math.isnan(by_name[FLOOR].rows_per_s)
    assert all(row.rows_per_s > 0 for name, row in by_name.items() if name != FLOOR)
    printed = console.export_text()
    assert "throughput of gRPC, concurrency 4 over in-process batch 8:" in printed
    assert "throughput of gRPC stream, concurrency 4 over in-process batch 8:" in printed
    assert "latency added at concurrency 1" in printed
    assert "concurrency 1, mean ms per request" in printed
    assert "errors at every level, every round: 0" in printed


def test_a_client_row_under_half_the_python_clients_throughput_is_flagged_suspect() -> None:
    """The figures issue 27 found (perf_analyzer computing explanations): flagged in the table and named below it."""
    rows = [
        Row("in-process, batch 32", 420.0, 70.0, 80.0),
        Row("gRPC, concurrency 1", 60.0, 15.0, 20.0),
        Row("gRPC, concurrency 64", 267.8, 237.86, 332.59),
        Row("gRPC stream, concurrency 64", 250.0, 240.0, 330.0),
        Row("perf_analyzer, concurrency 1", 1.8, 556.56, 876.50),
        Row("perf_analyzer, concurrency 64", 140.0, 400.0, 500.0),
        Row("perf_analyzer, concurrency 4", 1.0, 900.0, 999.0),  # no Python row at 4: nothing to compare with
    ]
    flagged = suspects(rows)
    assert set(flagged) == {"perf_analyzer, concurrency 1"}
    assert "0.03x the Python gRPC client's 60.0 rows/s at concurrency 1" in flagged["perf_analyzer, concurrency 1"]
    console = Console(record=True, width=240)
    print_table(console, "bench", rows)
    printed = console.export_text()
    assert "SUSPECT perf_analyzer, concurrency 1:" in printed
    assert printed.count("SUSPECT") == 2  # its row's check column, and the line that says why
    assert "perf_analyzer names every output ModelMetadata lists" in printed


def test_a_row_without_throughput_takes_its_median_round_by_latency() -> None:
    nan = float("nan")
    rounds = [Row(FLOOR, nan, p50, p50) for p50 in (1.32, 1.9, 1.1)]
    assert summarise(rounds).p50_ms == 1.32


def test_stream_client_counts_answers_that_carry_an_error(server: RunningServer) -> None:
    """Every request on the stream for an unknown model is answered in-band with an error."""
    row = run_client(closed_loop_stream(server.url, "no-such-model", 2, 0.2))
    assert row.errors > 0
    assert math.isnan(row.p50_ms)


class EndsAfterThreeAnswers(pb_grpc.GRPCInferenceServiceServicer):
    """Answers three requests, then aborts the stream, or ends it with OK while requests wait."""

    def __init__(self, abort: bool) -> None:
        self.abort = abort

    async def ModelStreamInfer(
        self, request_iterator: AsyncIterator[pb.ModelInferRequest], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.ModelStreamInferResponse]:
        answered = 0
        async for request in request_iterator:
            if answered == 3:
                if self.abort:
                    await context.abort(grpc.StatusCode.UNAVAILABLE, "going away")
                return
            answered += 1
            yield pb.ModelStreamInferResponse(infer_response=pb.ModelInferResponse(id=request.id))


@pytest.mark.parametrize("abort", [True, False], ids=["aborted", "ended-ok"])
def test_stream_client_stops_every_caller_once_when_the_stream_fails_or_ends(abort: bool) -> None:
    """Each of the 8 callers gets one error and returns; none waits for an answer that cannot come."""

    async def scenario() -> Row:
        server = grpc.aio.server()
        pb_grpc.add_GRPCInferenceServiceServicer_to_server(EndsAfterThreeAnswers(abort), server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        try:
            return await asyncio.wait_for(closed_loop_stream(f"127.0.0.1:{port}", "any", 8, 60), 30)
        finally:
            await server.stop(None)

    row = asyncio.run(scenario())
    assert row.errors == 8


def test_compare_model_reports_throughput_accuracy_and_agreement_of_an_int8_entry(tmp_path: Path) -> None:
    """--compare-model: the FP32 tiny classifier beside its dynamic INT8 conversion, through one gateway."""
    import json
    import shutil

    from gatewise.converters.optimize import quantize_int8

    from gatewise_lab.bench.compare import run_compare

    repository = build_repository(tmp_path / "models")
    fp32, int8 = repository / "tiny-sentiment", repository / "tiny-sentiment-int8"
    (int8 / "1").mkdir(parents=True)
    shutil.copytree(fp32 / "assets", int8 / "assets")
    quantize_int8(fp32 / "1" / "model.onnx", int8 / "1" / "model.onnx")
    config = (fp32 / "config.toml").read_text().replace('name = "tiny-sentiment"', 'name = "tiny-sentiment-int8"')
    (int8 / "config.toml").write_text(config)
    held_out = tmp_path / "held_out.jsonl"
    rows = [("good movie", "positive"), ("awful service", "negative"), ("the price", "neutral")] * 7
    held_out.write_text("".join(json.dumps({"text": t, "label": label}) + "\n" for t, label in rows))
    console = Console(record=True, width=240)
    plan = BenchPlan(repository, "tiny-sentiment", (4,), seconds=0.3, rounds=2, workers=1)
    results = run_compare(plan, ["tiny-sentiment-int8"], console, held_out)
    assert [result.model for result in results] == ["tiny-sentiment", "tiny-sentiment-int8"]
    for result in results:
        assert result.row.errors == 0 and result.row.rows_per_s > 0, result
        assert result.accuracy == 1.0 and result.agreement == 1.0, result
    printed = console.export_text()
    assert "tiny-sentiment-int8 vs tiny-sentiment: throughput" in printed
    assert "held-out agreement 100.00% (met: target >= 98%)" in printed
    assert "accuracy +0.00 points (met: target within one point)" in printed
