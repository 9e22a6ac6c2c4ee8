"""One measured configuration and how rounds of it are summarised."""

from __future__ import annotations

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
