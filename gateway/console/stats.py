"""The figures the models page polls: every model in one answer, from what the server already counts.

Nothing is added to the request path. Requests/s and p50/p99 latency over recent windows come
from the Prometheus histogram every request already feeds (``gatewise_request_latency_seconds``,
per model): each poll takes a snapshot of its cumulative bucket counts (at most one per
``MIN_INTERVAL_S``), and a window's figures are the difference between the newest snapshot and
the oldest one inside the window, read as Prometheus' ``histogram_quantile`` reads buckets. A
poll costs O(models x buckets).
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gatewise.gateway import metrics
from gatewise.gateway.dataplane import DataPlane
from gatewise.gateway.security.principal import Principal

WINDOWS_S = (10, 60, 300)
"""The windows reported, in seconds: now, the last minute, the last five minutes."""
MIN_INTERVAL_S = 1.0
"""Polls closer together than this share a snapshot."""
KEEP_S = max(WINDOWS_S) + 30


@dataclass(frozen=True)
class _Snapshot:
    at: float
    buckets: dict[str, tuple[float, ...]]
    """Per model: cumulative counts per upper bound (``BOUNDS``), +Inf last."""
    failed: dict[str, float]


BOUNDS: tuple[float, ...] = (*metrics.LATENCY_BUCKETS, math.inf)
_BOUND_INDEX = {bound: position for position, bound in enumerate(BOUNDS)}


def _read_metrics() -> tuple[dict[str, tuple[float, ...]], dict[str, float]]:
    """Cumulative latency buckets per model, and answered-not-OK counts per model."""
    buckets: dict[str, list[float]] = {}
    for family in metrics.REQUEST_LATENCY.collect():
        for sample in family.samples:
            if sample.name.endswith("_bucket"):
                counts = buckets.setdefault(sample.labels["model"], [0.0] * len(BOUNDS))
                counts[_BOUND_INDEX[float(sample.labels["le"])]] = sample.value
    failed: dict[str, float] = {}
    for family in metrics.REQUESTS.collect():
        for sample in family.samples:
            if sample.name.endswith("_total") and sample.labels["status"] != "OK":
                model = sample.labels["model"]
                failed[model] = failed.get(model, 0.0) + sample.value
    return {model: tuple(counts) for model, counts in buckets.items()}, failed


def quantile(q: float, counts: tuple[float, ...]) -> float | None:
    """The ``q`` quantile (seconds) of cumulative bucket ``counts``, interpolated inside its bucket
    as Prometheus does; None without observations; the largest finite bound when it lies past it."""
    total = counts[-1] if counts else 0.0
    if total <= 0:
        return None
    rank = q * total
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in zip(BOUNDS, counts, strict=True):
        if count >= rank:
            if math.isinf(bound):
                return BOUNDS[-2]
            inside = count - lower_count
            share = (rank - lower_count) / inside if inside > 0 else 1.0
            return lower_bound + (bound - lower_bound) * share
        lower_bound, lower_count = bound, count
    return BOUNDS[-2]


class ConsoleStats:
    """Snapshots taken by polls, and the answer of ``GET /console/api/stats``."""

    def __init__(self, dataplane: DataPlane, clock: Callable[[], float] = time.monotonic) -> None:
        self.dataplane = dataplane
        self.repository = dataplane.repository
        self._clock = clock
        self._snapshots: deque[_Snapshot] = deque()

    def _snapshot(self) -> None:
        now = self._clock()
        if self._snapshots and now - self._snapshots[-1].at < MIN_INTERVAL_S:
            return
        buckets, failed = _read_metrics()
        self._snapshots.append(_Snapshot(now, buckets, failed))
        while self._snapshots and now - self._snapshots[0].at > KEEP_S:
            self._snapshots.popleft()

    def _window(self, model: str, oldest: _Snapshot) -> dict[str, Any]:
        newest = self._snapshots[-1]
        span = newest.at - oldest.at
        now = newest.buckets.get(model)
        if now is None or span <= 0:
            empty = {"requests": None, "requests_per_s": None, "errors_per_s": None, "p50_ms": None, "p99_ms": None}
            return {"span_s": round(span, 1), **empty}
        before = oldest.buckets.get(model, (0.0,) * len(BOUNDS))
        delta = tuple(a - b for a, b in zip(now, before, strict=True))
        failed = newest.failed.get(model, 0.0) - oldest.failed.get(model, 0.0)
        p50, p99 = quantile(0.5, delta), quantile(0.99, delta)
        return {
            "span_s": round(span, 1),
            "requests": int(delta[-1]),
            "requests_per_s": round(delta[-1] / span, 3),
            "errors_per_s": round(failed / span, 3),
            "p50_ms": None if p50 is None else round(p50 * 1000, 3),
            "p99_ms": None if p99 is None else round(p99 * 1000, 3),
        }

    def answer(self, principal: Principal) -> dict[str, Any]:
        """Every model ``principal`` may call, with its versions and recent figures, in one document."""
        self._snapshot()
        repository = self.repository
        by_name: dict[str, list[tuple[str, str, str]]] = {}
        # RepositoryIndex's own view: the caller's models, reasons without server paths
        for row in self.dataplane.repository_index(False, principal):
            by_name.setdefault(row.name, []).append((row.version, row.state, row.reason))
        newest = self._snapshots[-1]
        starts = {  # each window's oldest snapshot, found once for every model
            seconds: next((snap for snap in self._snapshots if newest.at - snap.at <= seconds), newest)
            for seconds in WINDOWS_S
        }
        models = []
        for name, rows in by_name.items():
            entry = repository.entries.get(name)
            versions = [self._version(name, version, state, reason) for version, state, reason in rows]
            models.append(
                {
                    "name": name,
                    "state": _overall(rows),
                    "plugin": entry.config.plugin if entry is not None and entry.config is not None else None,
                    "load": None if entry is None else ("on-demand" if entry.on_demand else "always"),
                    "versions": versions,
                    "drift": [v["drift"] for v in versions if v.get("drift")],
                    "windows": {f"{seconds}s": self._window(name, starts[seconds]) for seconds in WINDOWS_S},
                }
            )
        return {"time": time.time(), "windows_s": list(WINDOWS_S), "models": models}

    def _version(self, name: str, version: str, state: str, reason: str) -> dict[str, Any]:
        row: dict[str, Any] = {"version": version, "state": state, "reason": reason}
        if not version:
            return row
        try:
            info = self.repository.info(name, version)
        except Exception:  # noqa: BLE001 - not served now: its state and reason say why
            return row
        facts = info.describe()
        row["engine"] = facts.get("engine", info.config.backend)
        row["providers"] = facts.get("providers", "")
        row["device"] = facts.get("device", "")
        row["drift"] = info.drift
        footprint = self.repository.footprint(name, version)
        if footprint is not None:
            row["memory_host_bytes"] = footprint.host
            if footprint.device_id is not None:
                row["memory_device_bytes"] = footprint.device
        stats = info.stats
        row["requests"] = stats.success.count + stats.fail.count
        return row


def _overall(rows: list[tuple[str, str, str]]) -> str:
    """READY when any version serves, else the first version's state."""
    states = [state for _, state, _ in rows]
    return "READY" if "READY" in states else states[0]
