"""Per-model-version counters in the shape of Triton's ModelStatistics."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field


@dataclass
class Duration:
    count: int = 0
    ns: int = 0

    def add(self, seconds: float, count: int = 1) -> None:
        self.count += count
        self.ns += int(seconds * 1e9)


@dataclass
class BatchDurations:
    compute_input: Duration = field(default_factory=Duration)
    compute_infer: Duration = field(default_factory=Duration)
    compute_output: Duration = field(default_factory=Duration)


class ModelStats:
    """What ModelStatistics reports for one model version; safe to update from threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.success = Duration()
        self.fail = Duration()
        self.queue = Duration()
        self.compute_input = Duration()
        self.compute_infer = Duration()
        self.compute_output = Duration()
        self.inference_count = 0
        self.execution_count = 0
        self.last_inference_ms = 0
        self.by_batch_size: dict[int, BatchDurations] = defaultdict(BatchDurations)

    def record_batch(self, rows: int, requests: int, pre_s: float, infer_s: float, post_s: float) -> None:
        """One engine execution of ``rows`` rows gathered from ``requests`` requests."""
        with self._lock:
            self.execution_count += 1
            self.inference_count += rows
            self.last_inference_ms = int(time.time() * 1000)
            self.compute_input.add(pre_s, requests)
            self.compute_infer.add(infer_s, requests)
            self.compute_output.add(post_s, requests)
            per_size = self.by_batch_size[rows]
            per_size.compute_input.add(pre_s)
            per_size.compute_infer.add(infer_s)
            per_size.compute_output.add(post_s)

    def record_queue(self, seconds: float) -> None:
        with self._lock:
            self.queue.add(seconds)

    def record_request(self, ok: bool, total_s: float) -> None:
        with self._lock:
            (self.success if ok else self.fail).add(total_s)
