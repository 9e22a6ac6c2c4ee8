"""Prometheus metrics, prefixed ``gatewise_``; served on ``--metrics-port`` when given."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, start_http_server

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)

PROTOCOLS = ("grpc", "http")
"""The front doors, as the ``protocol`` label names them."""

REQUESTS = Counter(
    "gatewise_requests",
    "Inference requests answered, by model, status (gRPC's code name on either door) and protocol.",
    ["model", "status", "protocol"],
)
REQUEST_LATENCY = Histogram(
    "gatewise_request_latency_seconds", "Time from request decoded to response ready.", ["model"],
    buckets=LATENCY_BUCKETS,
)  # fmt: skip
QUEUE_TIME = Histogram(
    "gatewise_queue_seconds", "Time a request waited for its batch.", ["model"], buckets=LATENCY_BUCKETS
)
COMPUTE_TIME = Histogram(
    "gatewise_compute_seconds", "Time per batch by stage (preprocess, infer, postprocess).", ["model", "stage"],
    buckets=LATENCY_BUCKETS,
)  # fmt: skip
BATCH_SIZE = Histogram("gatewise_batch_size", "Rows per engine execution.", ["model"], buckets=_BATCH_BUCKETS)
QUEUE_DEPTH = Gauge("gatewise_queue_depth", "Requests waiting in the model's queue.", ["model"])
IN_FLIGHT = Gauge("gatewise_in_flight", "Inference-service calls admitted and not yet answered (all models).")
TOKENS = Counter("gatewise_tokens", "Token positions computed, padding included.", ["model"])
PADDED_TOKENS = Counter("gatewise_padded_tokens", "Token positions that were padding.", ["model"])
EXPLANATION_ROWS = Counter(
    "gatewise_explanation_rows",
    "Perturbed rows an explanation ran through the model (also counted in batch size, queue and compute).",
    ["model"],
)
DRIFT = Gauge(
    "gatewise_model_drift",
    "Largest absolute difference between this host's outputs and the version's FP32 reference rows, at load.",
    ["model", "version"],
)
DRIFTED = Gauge(
    "gatewise_model_drifted",
    '1 while a version that drifted past its reference tolerance serves (drift_policy = "warn"), else 0.',
    ["model", "version"],
)
RESIDENT = Gauge("gatewise_models_resident", "Models loaded in this process (pinned and on demand).")
LOADS = Counter(
    "gatewise_model_loads", "Model loads, by reason (startup, request, explicit, reload).", ["model", "reason"]
)
EVICTIONS = Counter("gatewise_model_evictions", "Idle on-demand models evicted to make room.", ["model"])
LOAD_SECONDS = Histogram(
    "gatewise_model_load_seconds", "Time to load, warm up and check a model's versions.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
)  # fmt: skip
MODEL_BYTES = Gauge(
    "gatewise_model_bytes", "A version's footprint measured at its last load: host PSS or device memory.",
    ["model", "version", "memory"],
)  # fmt: skip
BUDGET_BYTES = Gauge("gatewise_memory_budget_bytes", "The host memory budget (--memory-budget); 0: none.")
BUDGET_USED = Gauge("gatewise_memory_budget_used_bytes", "Footprints of the resident models, against the budget.")
UNKNOWN_MODEL = "<unknown>"
"""The ``model`` label of requests for a model the repository does not have: a client-chosen
name never becomes a label, so the number of series stays bounded."""


STAGES = ("preprocess", "infer", "postprocess")


class ModelMetrics:
    """One model's series, looked up once: ``labels()`` takes a lock and hashes its
    arguments on every call, which the request path should not pay a dozen times."""

    def __init__(self, model: str) -> None:
        self.requests_ok = {protocol: REQUESTS.labels(model, "OK", protocol) for protocol in PROTOCOLS}
        self.latency = REQUEST_LATENCY.labels(model)
        self.queue_time = QUEUE_TIME.labels(model)
        self.queue_depth = QUEUE_DEPTH.labels(model)
        self.compute = tuple(COMPUTE_TIME.labels(model, stage) for stage in STAGES)
        self.batch_size = BATCH_SIZE.labels(model)
        self.tokens = TOKENS.labels(model)
        self.padded_tokens = PADDED_TOKENS.labels(model)
        self.explanation_rows = EXPLANATION_ROWS.labels(model)


def serve_metrics(port: int, host: str) -> int:
    """Start the /metrics HTTP endpoint in a daemon thread; returns the bound port."""
    server, _thread = start_http_server(port, addr=host)
    return server.server_port
