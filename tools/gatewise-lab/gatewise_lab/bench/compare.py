"""Two entries of one model side by side through the gateway: an INT8 entry beside its FP32 one.

Speed alone says nothing about a reduced-precision model, so the same served process gives
both: rows/s at one concurrency (unary ModelInfer, interleaved rounds, the median round), and
each entry's labels on held-out texts, for accuracy and for agreement with the first entry.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import grpc
import numpy as np
from gatewise.gateway.codec import serialize_bytes
from gatewise.gateway.config import load_config
from gatewise.protos import grpc_service_pb2 as pb
from gatewise.protos import grpc_service_pb2_grpc as pb_grpc
from rich.console import Console
from rich.table import Table

from gatewise_lab.bench.clients import closed_loop, run_client
from gatewise_lab.bench.plan import BenchPlan
from gatewise_lab.bench.rows import Row, median_round
from gatewise_lab.bench.server import start_server

DEFAULT_HELD_OUT = Path(__file__).resolve().parent.parent / "demo" / "data" / "finance_sentiment.held_out.jsonl"


@dataclass
class Compared:
    """One entry's figures: throughput at the concurrency measured, held-out accuracy and agreement."""

    model: str
    row: Row
    accuracy: float | None
    agreement: float
    """Share of held-out rows whose label matches the first (reference) entry's."""


def read_held_out(path: Path) -> tuple[list[str], list[str | None]]:
    """Texts and labels of a .jsonl file with a 'text' (and ideally a 'label') per line."""
    texts: list[str] = []
    labels: list[str | None] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        record = json.loads(line)
        if not isinstance(record, dict) or not isinstance(record.get("text"), str):
            raise ValueError(f"{path}:{number}: each line must be a JSON object with a 'text' string")
        texts.append(record["text"])
        labels.append(record.get("label"))
    if not texts:
        raise ValueError(f"{path} holds no texts")
    return texts, labels


def served_labels(url: str, model: str, texts: list[str], labels: list[str], batch: int) -> list[str]:
    """Each text's top-1 label through the gateway, from the ``scores`` output (no abstention in the way),
    ``batch`` rows per request (the entry's max_batch_size: one request, one engine batch)."""
    predicted: list[str] = []
    with grpc.insecure_channel(url) as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        for first in range(0, len(texts), batch):
            chunk = [text.encode() for text in texts[first : first + batch]]
            request = pb.ModelInferRequest(model_name=model)
            request.inputs.add(name="text", datatype="BYTES", shape=[len(chunk)])
            request.outputs.add(name="scores")
            request.raw_input_contents.append(serialize_bytes(np.array(chunk, dtype=object)))
            response = stub.ModelInfer(request, timeout=120)
            scores = np.frombuffer(response.raw_output_contents[0], dtype=np.float32).reshape(len(chunk), -1)
            predicted.extend(labels[index] for index in scores.argmax(axis=1))
    return predicted


def run_compare(
    plan: BenchPlan, others: list[str], console: Console, held_out: Path = DEFAULT_HELD_OUT
) -> list[Compared]:
    """Serve the plan's repository once; measure its model (the reference) and each of ``others`` at the plan's
    highest concurrency, and print them."""
    from gatewise.converters.isa import instruction_set
    from gatewise.gateway.hostinfo import cpu_flags, cpu_name

    models, concurrency = [plan.model, *others], plan.top
    texts, truth = read_held_out(held_out)
    configs = {model: load_config(plan.repository / model) for model in models}
    names = {model: list(config.labels or []) for model, config in configs.items()}
    for model, labels in names.items():
        if not labels:
            raise ValueError(f"{model}: config.toml has no labels; the comparison needs a classifier")
    console.print(
        f"[bold]{' vs '.join(models)}[/]: {plan.rounds} interleaved rounds of {plan.seconds:g} s at concurrency "
        f"{concurrency}; held-out: {len(texts)} texts from {held_out.name}"
    )
    measured: dict[str, list[Row]] = {model: [] for model in models}
    process, url = start_server(plan.repository, plan.workers)
    try:
        predicted = {
            model: served_labels(url, model, texts, names[model], configs[model].batching.max_batch_size)
            for model in models
        }
        for round_index in range(plan.rounds):
            console.print(f"round {round_index + 1}/{plan.rounds} ...")
            for model in models:
                measured[model].append(run_client(closed_loop(url, model, concurrency, plan.seconds)))
    finally:
        process.terminate()
        process.wait(timeout=60)
    reference = predicted[models[0]]
    results = []
    for model in models:
        mine = predicted[model]
        known = [(label, guess) for label, guess in zip(truth, mine, strict=True) if label is not None]
        accuracy = sum(label == guess for label, guess in known) / len(known) if known else None
        agreement = sum(a == b for a, b in zip(reference, mine, strict=True)) / len(texts)
        results.append(Compared(model, median_round(measured[model]), accuracy, agreement))
    flags = cpu_flags()
    host = f"{cpu_name()}, {os.cpu_count()} CPUs, {instruction_set(flags)}"
    print_comparison(console, results, concurrency, host)
    return results


def print_comparison(console: Console, results: list[Compared], concurrency: int, host: str) -> None:
    """The table, then each entry against the first, with the issue's targets named and judged."""
    table = Table(title=f"gatewise bench --compare-model: gRPC concurrency {concurrency}; {host}")
    for column in ("model", "rows/s", "p50 ms", "p99 ms", "errors", "held-out accuracy", "agreement"):
        table.add_column(column, justify="left" if column == "model" else "right", no_wrap=column == "model")
    for result in results:
        accuracy = "-" if result.accuracy is None else f"{result.accuracy:.2%}"
        table.add_row(
            result.model,
            f"{result.row.rows_per_s:.1f}",
            f"{result.row.p50_ms:.2f}",
            f"{result.row.p99_ms:.2f}",
            str(result.row.errors),
            accuracy,
            f"{result.agreement:.2%}",
        )
    console.print(table)
    base = results[0]
    for other in results[1:]:
        speed = other.row.rows_per_s / base.row.rows_per_s
        verdicts = [f"throughput {speed:.2f}x {base.model} ({'met' if speed >= 1.5 else 'NOT met'}: target >= 1.5x)"]
        verdicts.append(
            f"held-out agreement {other.agreement:.2%} ({'met' if other.agreement >= 0.98 else 'NOT met'}: "
            "target >= 98%)"
        )
        if other.accuracy is not None and base.accuracy is not None:
            points = (other.accuracy - base.accuracy) * 100
            verdicts.append(
                f"accuracy {points:+.2f} points ({'met' if points >= -1.0 else 'NOT met'}: target within one point)"
            )
        console.print(f"{other.model} vs {base.model}: " + "; ".join(verdicts))
