"""Prometheus metrics on their own port, and several worker processes sharing one gRPC port."""

from __future__ import annotations

import re
import time
import urllib.request
from pathlib import Path

import numpy as np
import tritonclient.grpc as triton

from conftest import free_port, start_server, stop_server
from models import build_repository


def classify(url: str, *texts: bytes) -> list[bytes]:
    tensor = triton.InferInput("text", [len(texts)], "BYTES")
    tensor.set_data_from_numpy(np.array(texts, dtype=object))
    return list(triton.InferenceServerClient(url).infer("tiny-sentiment", [tensor]).as_numpy("label"))


def test_metrics_count_requests_batches_and_padding(tmp_path: Path) -> None:
    """After requests, /metrics shows them by model and status, with latency, batch and padding series."""
    metrics_port = free_port()
    server = start_server(build_repository(tmp_path / "models"), tmp_path / "log", "--metrics-port", str(metrics_port))
    try:
        classify(server.url, b"good", b"the movie was bad")
        text = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).read().decode()
    finally:
        stop_server(server)
    assert re.search(r'gatewise_requests_total\{model="tiny-sentiment",protocol="grpc",status="OK"\} 1\.0', text)
    assert re.search(r'gatewise_request_latency_seconds_count\{model="tiny-sentiment"\} 1\.0', text)
    assert re.search(r'gatewise_batch_size_count\{model="tiny-sentiment"\} [1-9]', text)
    assert re.search(r'gatewise_compute_seconds_count\{model="tiny-sentiment",stage="infer"\} [1-9]', text)
    padded = float(re.search(r'gatewise_padded_tokens_total\{model="tiny-sentiment"\} ([\d.]+)', text).group(1))
    tokens = float(re.search(r'gatewise_tokens_total\{model="tiny-sentiment"\} ([\d.]+)', text).group(1))
    assert 0 < padded < tokens
    assert 'gatewise_queue_depth{model="tiny-sentiment"}' in text


def test_two_workers_share_the_port(tmp_path: Path) -> None:
    """--workers 2 starts two processes on one port; both load the models and requests are answered."""
    server = start_server(build_repository(tmp_path / "models"), tmp_path / "log", "--workers", "2")
    try:
        for _ in range(20):
            assert classify(server.url, b"great") == [b"positive"]
        deadline = time.monotonic() + 60
        while len(set(re.findall(r"INFO\s+(\d+) gatewise.server: server ready", server.log()))) < 2:
            assert time.monotonic() < deadline, server.log()
            time.sleep(0.2)
    finally:
        assert stop_server(server) == 0, server.log()
