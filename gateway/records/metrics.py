"""The records' Prometheus series: what was kept, what was not, and what keeping costs."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

WRITTEN = Counter("gatewise_records_written", "Decision records committed to the store.", ["model"])
DROPPED = Counter(
    "gatewise_records_dropped",
    "Decision records not kept, by reason (queue_full, store_error, unavailable).",
    ["model", "reason"],
)
QUEUE_DEPTH = Gauge("gatewise_records_queue_depth", "Records waiting for the background writer.")
COMMIT_LATENCY = Histogram(
    "gatewise_records_commit_seconds",
    "Time to commit one batch of records (one transaction).",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
BATCH_SIZE = Histogram(
    "gatewise_records_batch_size", "Records per commit.", buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
)
STORE_UP = Gauge("gatewise_records_store_up", "1 while the records store accepts writes, 0 after a failure.")
