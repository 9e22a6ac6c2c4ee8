"""One measured configuration and how rounds of it are summarised."""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


@dataclass
class Row:
    """One measured configuration."""

    name: str
    rows_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int = 0
    note: str = ""
    mean_ms: float = float("nan")


def measured_row(name: str, rate: float, latencies: list[float], errors: int = 0) -> Row:
    """A Row from per-request latencies in seconds."""
    if not latencies:
        return Row(name, rate, float("nan"), float("nan"), errors)
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return Row(
        name, rate, statistics.median(ordered) * 1000, p99 * 1000, errors, mean_ms=statistics.fmean(ordered) * 1000
    )


def median_round(rounds: list[T], key: Callable[[T], float] = lambda row: row.rows_per_s) -> T:
    """The round with the median throughput: one slow or lucky round on a shared CPU moves no figure."""
    return sorted(rounds, key=key)[len(rounds) // 2]


SUSPECT_BELOW = 0.5
"""A client row under this share of the Python gRPC client's throughput at the same concurrency is suspect."""
REFERENCE = re.compile(r"gRPC, concurrency (\d+)")
AT_CONCURRENCY = re.compile(r", concurrency (\d+)$")


def suspects(rows: list[Row]) -> dict[str, str]:
    """Why each suspect client row is suspect, by row name.

    Every client sends the same single-row requests, so at one concurrency their throughput
    should be alike; one under ``SUSPECT_BELOW`` of the Python gRPC client's is measuring
    other work (outputs that cost more, as when perf_analyzer's requests computed
    explanations) or a broken client, and must not be quoted as the gateway's speed.
    """
    reference = {int(found.group(1)): row for row in rows if (found := REFERENCE.fullmatch(row.name))}
    flagged = {}
    for row in rows:
        found = AT_CONCURRENCY.search(row.name)
        if found is None or REFERENCE.fullmatch(row.name) or math.isnan(row.rows_per_s):
            continue
        base = reference.get(int(found.group(1)))
        if base is None or math.isnan(base.rows_per_s) or base.rows_per_s <= 0:
            continue
        ratio = row.rows_per_s / base.rows_per_s
        if ratio < SUSPECT_BELOW:
            flagged[row.name] = (
                f"{ratio:.2f}x the Python gRPC client's {base.rows_per_s:.1f} rows/s at concurrency {found.group(1)} "
                f"(under {SUSPECT_BELOW:g}x): it is not doing the same work, check what it requests"
            )
    return flagged
