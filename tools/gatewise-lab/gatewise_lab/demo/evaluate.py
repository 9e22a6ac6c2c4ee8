"""Held-out evaluation through the served path: the ONNX file, the plugin's hooks, the outputs
a client gets. Masking, de-identification and abstention are part of what is measured."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from gatewise.gateway.config import load_config
from gatewise.plugins.context import ModelContext
from gatewise.plugins.finance.fraud_features import typed_columns
from gatewise.plugins.harness import PluginHarness, onnx_engine, texts

from gatewise_lab.demo import metrics
from gatewise_lab.demo.corpus import DATA_DIR, read_jsonl

BATCH = 32


def served(model_dir: Path) -> PluginHarness:
    """The built entry ``model_dir`` behind its plugin, as the gateway would run it (CPU)."""
    config = load_config(model_dir)
    version = model_dir / "1"
    engine, inputs, outputs = onnx_engine(version / "model.onnx")
    context = ModelContext(config.name, "1", config, version, inputs, outputs)
    return PluginHarness(config.plugin, context, engine)


def _batched(harness: PluginHarness, inputs: dict[str, np.ndarray], parameters: dict[str, Any] | None = None) -> dict:
    rows = len(next(iter(inputs.values())))
    parts: list[dict[str, np.ndarray]] = []
    for first in range(0, rows, BATCH):
        parts.append(harness.infer({k: v[first : first + BATCH] for k, v in inputs.items()}, parameters))
    return {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}


def classification(model_dir: Path, data: str, labels: tuple[str, ...]) -> dict[str, float]:
    records = read_jsonl(DATA_DIR / f"{data}.held_out.jsonl")
    out = _batched(served(model_dir), {"text": texts(r["text"] for r in records)}, {"min_confidence": 0.0})
    predicted = [label.decode() for label in out["label"]]
    truth = [r["label"] for r in records]
    return {"held_out": len(records), "accuracy": metrics.accuracy(truth, predicted),
            "macro_f1": metrics.macro_f1(truth, predicted, labels)}  # fmt: skip


def entities(model_dir: Path) -> dict[str, float]:
    records = read_jsonl(DATA_DIR / "medical_ner.held_out.jsonl")
    out = _batched(served(model_dir), {"text": texts(r["text"] for r in records)}, {"min_confidence": 0.0})
    predicted = [{(e["label"], e["start"], e["end"]) for e in json.loads(row)} for row in out["entities"]]
    truth = [{(e["label"], e["start"], e["end"]) for e in r["entities"]} for r in records]
    return {"held_out": len(records), **{f"entity_{k}": v for k, v in metrics.span_f1(truth, predicted).items()}}


def fraud(model_dir: Path) -> dict[str, float]:
    records = read_jsonl(DATA_DIR / "fraud_transactions.held_out.jsonl")
    out = _batched(served(model_dir), typed_columns(records))
    truth = np.array([r["is_fraud"] for r in records], dtype=bool)
    flagged = out["decision"] == b"decline"
    tp = float((flagged & truth).sum())
    return {
        "held_out": len(records),
        "roc_auc": metrics.roc_auc(truth, out["fraud_probability"]),
        "accuracy": float((flagged == truth).mean()),
        "precision": tp / max(flagged.sum(), 1),
        "recall": tp / max(truth.sum(), 1),
    }


def search(model_dir: Path) -> dict[str, float]:
    queries = read_jsonl(DATA_DIR / "retail_catalog.queries.jsonl")
    catalog = {p["id"]: p["category"] for p in read_jsonl(DATA_DIR / "retail_catalog.catalog.jsonl")}
    out = _batched(served(model_dir), {"text": texts(q["text"] for q in queries)}, {"top_k": 5})
    ranked = [[catalog[hit["id"]] for hit in json.loads(row)] for row in out["results"]]
    return {
        "queries": len(queries),
        "category_precision_at_1": float(
            np.mean([r[0] == q["category"] for r, q in zip(ranked, queries, strict=True)])
        ),
        "category_precision_at_5": float(
            np.mean([np.mean([c == q["category"] for c in r]) for r, q in zip(ranked, queries, strict=True)])
        ),
    }
