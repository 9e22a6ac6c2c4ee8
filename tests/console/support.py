"""Helpers for the console's browser tests: a tiny repository for the console, the real server, screenshots.

The repository holds what each page has to draw: ``tiny-finance`` (a text classifier behind
the finance plugin, which masks card numbers and explains by words), ``tiny-fraud`` (the
finance plugin's transaction model with one input per field, explained by Shapley values
per field, as the demo's finance-fraud) and ``add-one`` (no plugin, tensors in and out);
the two finance models keep decision records in SQLite.
"""

from __future__ import annotations

import json
import os
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from conftest import ROOT, RunningServer, free_port, start_server, write_admin_key
from models import add_one_graph, write_classifier, write_model

RECORDS_TABLE = '\n[records]\nexplanation = "never"\n'
"""Every answer and refusal of the model is recorded; explanations are kept when the client asked for one."""

FRAUD_CONFIG = """\
name = "tiny-fraud"
plugin = "finance"
task = "transaction-fraud"

[batching]
max_batch_size = 64
max_queue_delay_ms = 1

[parameters]
input_format = "tensors"
threshold = 0.5
"""

BACKGROUND = [
    {"amount": 20.0, "currency": "EUR", "merchant_category": "grocery", "hour": 10, "country_mismatch": False,
     "card_present": True, "transactions_last_24h": 1, "account_age_days": 900, "distance_from_home_km": 2.0},
    {"amount": 65.0, "currency": "USD", "merchant_category": "restaurant", "hour": 20, "country_mismatch": False,
     "card_present": True, "transactions_last_24h": 3, "account_age_days": 400, "distance_from_home_km": 8.0},
    {"amount": 120.0, "currency": "GBP", "merchant_category": "online_retail", "hour": 14, "country_mismatch": False,
     "card_present": False, "transactions_last_24h": 2, "account_age_days": 1500, "distance_from_home_km": 0.0},
    {"amount": 45.0, "currency": "EUR", "merchant_category": "fuel", "hour": 8, "country_mismatch": False,
     "card_present": True, "transactions_last_24h": 1, "account_age_days": 3000, "distance_from_home_km": 15.0},
]  # fmt: skip
"""Ordinary transactions the fraud model's Shapley values compare with (its ``assets/background.jsonl``)."""

RISKY = {
    "amount": 2500.0, "currency": "USD", "merchant_category": "electronics", "hour": 3, "country_mismatch": True,
    "card_present": False, "transactions_last_24h": 9, "account_age_days": 12, "distance_from_home_km": 4200.0,
}  # fmt: skip
"""A transaction the tiny fraud model declines, for the console's try-it form."""


def fraud_graph() -> onnx.ModelProto:
    """fraud_probability = sigmoid(features @ w - 4): weight on amount, country mismatch, card absence, velocity,
    a young account and distance, so several fields carry a Shapley bar of either sign."""
    from gatewise.plugins.finance.fraud_features import GROUPS, NUM_FEATURES

    weights = np.zeros((NUM_FEATURES, 1), dtype=np.float32)
    for field, weight in (
        ("amount", 0.5), ("country_mismatch", 2.0), ("card_present", -1.0), ("transactions_last_24h", 0.6),
        ("account_age_days", -0.3), ("distance_from_home_km", 0.3),
    ):  # fmt: skip
        weights[GROUPS[field][0], 0] = weight
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["features", "w"], ["logit2d"]),
            helper.make_node("Reshape", ["logit2d", "flat"], ["logit"]),
            helper.make_node("Sub", ["logit", "bias"], ["shifted"]),
            helper.make_node("Sigmoid", ["shifted"], ["fraud_probability"]),
        ],
        "tiny-fraud",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", NUM_FEATURES])],
        [helper.make_tensor_value_info("fraud_probability", TensorProto.FLOAT, ["batch"])],
        initializer=[
            numpy_helper.from_array(weights, "w"),
            numpy_helper.from_array(np.array([-1], dtype=np.int64), "flat"),
            numpy_helper.from_array(np.array([4.0], dtype=np.float32), "bias"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def build_console_repository(root: Path) -> Path:
    """tiny-finance and tiny-fraud (records on), add-one (no plugin, no records)."""
    repository = root / "models"
    finance = write_classifier(repository, "tiny-finance", plugin="finance")
    (finance / "config.toml").write_text((finance / "config.toml").read_text() + RECORDS_TABLE)
    fraud = write_model(repository, "tiny-fraud", fraud_graph(), FRAUD_CONFIG + RECORDS_TABLE)
    (fraud / "assets").mkdir(exist_ok=True)
    (fraud / "assets" / "background.jsonl").write_text("".join(json.dumps(row) + "\n" for row in BACKGROUND))
    write_model(repository, "add-one", add_one_graph(), 'name = "add-one"\n')
    return repository


@dataclass
class ConsoleServer:
    """A real ``gatewise serve --console`` with its HTTP base URL, its API key and where its records go."""

    running: RunningServer
    base: str
    key: str
    records: Path

    def url(self, path: str) -> str:
        return self.base + path

    def log(self) -> str:
        return self.running.log()


def http_ready(base: str):
    """A ``ready`` check for ``start_server``: the HTTP front door's ready route answers 200."""

    def ready(_grpc_url: str) -> bool:
        try:
            with urllib.request.urlopen(f"{base}/v2/health/ready", timeout=2) as answer:
                return answer.status == 200
        except OSError:
            return False

    return ready


def start_console_server(root: Path, *extra: str) -> ConsoleServer:
    """``gatewise serve --console`` on the tiny console repository, with an admin API key and SQLite records."""
    repository = build_console_repository(root)
    admin = write_admin_key(root / "keys")
    http_port = free_port()
    base = f"http://127.0.0.1:{http_port}"
    flags = ["--http-port", str(http_port), "--auth-keys-file", str(admin.path), "--records", str(root / "records")]
    running = start_server(repository, root / "server.log", *flags, "--console", *extra, ready=http_ready(base))
    return ConsoleServer(running, base, admin.token, root / "records")


def screenshot_folder(fallback: Path) -> Path:
    """docs/console/ when GATEWISE_CONSOLE_SCREENSHOTS=1 (the pictures docs/console.md shows), else ``fallback``."""
    if os.environ.get("GATEWISE_CONSOLE_SCREENSHOTS") == "1":
        folder = ROOT / "docs" / "console"
    else:
        folder = fallback
    folder.mkdir(parents=True, exist_ok=True)
    return folder
