"""Build the demo repository once: train (seeded), convert with ``converters``, evaluate, reuse.

An entry is rebuilt only when it is missing or was built from other data, settings or code
(the demo's recipes and the converters; ``demo-build.json`` at the repository root records a
fingerprint per model, the held-out scores and how long each step took). Checkpoints go to
``REPOSITORY/.work`` and are removed once converted.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import gatewise.converters
import numpy as np
from gatewise.plugins.text.encoding import DEFAULT_MAX_LENGTH

from gatewise_lab.demo import evaluate
from gatewise_lab.demo.corpus import DATA_DIR, read_jsonl, write_jsonl
from gatewise_lab.demo.corpus import finance as finance_data
from gatewise_lab.demo.corpus import medical as medical_data
from gatewise_lab.demo.corpus import retail as retail_data
from gatewise_lab.demo.train import SEED, TrainSettings

log = logging.getLogger("gatewise.demo.build")

MANIFEST = "demo-build.json"
RECIPE_CODE = [
    Path(__file__).with_name(name) for name in ("build.py", "train.py", "fraud_model.py", "evaluate.py")
] + sorted(Path(gatewise.converters.__file__).parent.rglob("*.py"))
"""Code a built entry depends on: a change to any of it rebuilds the demo models."""
SENTIMENT = TrainSettings(epochs=1.0, learning_rate=1e-4, max_length=64)
NER = TrainSettings(epochs=2.0, learning_rate=2e-4, max_length=64, frozen_layers=2)
MAX_LENGTH = DEFAULT_MAX_LENGTH


def _fingerprint(*files: str, settings: Any = None) -> str:
    digest = hashlib.sha256(f"{SEED}:{settings!r}".encode())
    for path in [DATA_DIR / name for name in files] + RECIPE_CODE:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _samples(data: str) -> list[str]:
    """Every held-out text of ``data``: each conversion step is validated on the model's own
    domain, not on generic sentences (a quantised model can pass those and fail its own)."""
    return [record["text"] for record in read_jsonl(DATA_DIR / f"{data}.held_out.jsonl")]


def _sentiment(
    name: str, data: str, labels: tuple[str, ...], plugin: str, repository: Path, work: Path, *, int8: bool = False
) -> dict[str, float]:
    """Fine-tune a sentiment classifier on ``data`` and export it as ``name`` behind ``plugin``;
    with ``int8``, also as ``name-int8``, the INT8 the docs recommend for CPUs (``_static_int8``)."""
    from gatewise.converters import export_transformer

    from gatewise_lab.demo.train import fine_tune_classifier

    records = read_jsonl(DATA_DIR / f"{data}.train.jsonl")
    checkpoint = fine_tune_classifier(records, labels, work / name, SENTIMENT)
    extra = {"plugin": plugin, "task": "text-classification", "parameters": {"min_confidence": 0.7}}
    model_dir = export_transformer(
        checkpoint, "text-classification", repository, name, max_length=MAX_LENGTH,
        samples=_samples(data), quiet=True, extra_config=extra,
    )  # fmt: skip
    scores = evaluate.classification(model_dir, data, labels)
    if int8:
        calibration = [records[i]["text"] for i in np.random.default_rng(SEED).permutation(len(records))[:256]]
        int8_dir = export_transformer(
            checkpoint, "text-classification", repository, f"{name}-int8", max_length=MAX_LENGTH,
            samples=_samples(data), int8="static", calibration=calibration, quiet=True, extra_config=extra,
        )  # fmt: skip
        scores.update(_int8_scores(int8_dir, data, labels))
    return scores


def _int8_scores(int8_dir: Path, data: str, labels: tuple[str, ...]) -> dict[str, Any]:
    """The INT8 entry's held-out accuracy, its top-1 agreement with FP32 there, and what its conversion chose."""
    from gatewise.gateway.config import load_config

    parameters = load_config(int8_dir).parameters
    reports = json.loads((int8_dir / "1" / "validation.json").read_text(encoding="utf-8"))
    return {
        "int8_accuracy": evaluate.classification(int8_dir, data, labels)["accuracy"],
        "int8_agreement": reports[-1]["agreement"],
        "int8_kept_fp32": ", ".join(parameters.get("int8_kept_fp32", [])) or "nothing",
        "int8_speedup": parameters.get("int8_speedup"),
    }


def _medical_ner(repository: Path, work: Path) -> dict[str, float]:
    from gatewise.converters import export_transformer

    from gatewise_lab.demo.train import fine_tune_token_classifier

    records = read_jsonl(DATA_DIR / "medical_ner.train.jsonl")
    checkpoint = fine_tune_token_classifier(records, medical_data.ENTITY_TYPES, work / "medical-ner", NER)
    model_dir = export_transformer(
        checkpoint, "token-classification", repository, "medical-ner", max_length=MAX_LENGTH,
        samples=_samples("medical_ner"), quiet=True,
        extra_config={"plugin": "medical", "task": "token-classification", "parameters": {"min_confidence": 0.6}},
    )  # fmt: skip
    return evaluate.entities(model_dir)


def _finance_fraud(repository: Path, work: Path) -> dict[str, float]:
    from gatewise.converters import export_module
    from gatewise.plugins.finance.fraud_explainer import BACKGROUND_FILE

    from gatewise_lab.demo.fraud_model import OUTPUT_NAMES, background, train_scorer

    records = read_jsonl(DATA_DIR / "fraud_transactions.train.jsonl")
    scorer, features = train_scorer(records, seed=SEED)
    # explain_samples 510: all 2**9 - 2 coalitions of the nine fields, so reasons are exact Shapley values;
    # a request with reasons runs 512 x 8 background rows, hence batches of 512 (about a millisecond on this MLP).
    model_dir = export_module(
        scorer, {"features": features[:8]}, repository, "finance-fraud", output_names=OUTPUT_NAMES, quiet=True,
        extra_config={"plugin": "finance", "task": "transaction-fraud", "batching": {"max_batch_size": 512},
                      "parameters": {"threshold": 0.5, "max_reasons": 3, "input_format": "tensors",
                                     "explain_samples": 510},
                      # Decision records (docs/records.md): kept where `gatewise serve --records` says.
                      "records": {"explanation": "always", "retention_days": 90}},
    )  # fmt: skip
    rows = background(records, seed=SEED)
    (model_dir / "assets" / BACKGROUND_FILE).write_text("".join(json.dumps(row) + "\n" for row in rows))
    return evaluate.fraud(model_dir)


def _retail_search(repository: Path, work: Path) -> dict[str, float]:
    from gatewise.converters import export_transformer
    from gatewise.plugins.retail.search import CATALOG_FILE, EMBEDDINGS_FILE

    from gatewise_lab.demo.train import base_model_path

    products = read_jsonl(DATA_DIR / "retail_catalog.catalog.jsonl")
    model_dir = export_transformer(
        base_model_path(), "feature-extraction", repository, "retail-search", max_length=MAX_LENGTH,
        samples=[p["title"] for p in products], quiet=True,
        extra_config={"plugin": "retail", "task": "feature-extraction", "parameters": {"top_k": 5}},
    )  # fmt: skip
    assets = model_dir / "assets"
    write_jsonl(
        assets / CATALOG_FILE, ({"id": p["id"], "title": p["title"], "description": p["description"]} for p in products)
    )
    np.save(assets / EMBEDDINGS_FILE, embed_catalog(model_dir, products))
    return evaluate.search(model_dir)


def embed_catalog(model_dir: Path, products: list[dict[str, str]]) -> np.ndarray:
    """Embeddings of "title. description" through the built engine, pooled as the plugin pools."""
    from gatewise.gateway.config import load_config
    from gatewise.plugins.context import BatchContext, ModelContext
    from gatewise.plugins.harness import onnx_engine, texts
    from gatewise.plugins.retail import search
    from gatewise.plugins.text.encoding import load_tokenizer

    config = load_config(model_dir)
    engine, inputs, outputs = onnx_engine(model_dir / "1" / "model.onnx")
    context = ModelContext(config.name, "1", config, model_dir / "1", inputs, outputs)
    context.state["tokenizer"] = load_tokenizer(context)
    documents = [f"{p['title']}. {p['description']}" for p in products]
    vectors = []
    for first in range(0, len(documents), 32):
        chunk = texts(documents[first : first + 32])
        batch = BatchContext.single(len(chunk))
        vectors.append(
            search.pool(engine(search.preprocess(context, {"text": chunk}, batch)), batch.state["attention_mask"])
        )
    return np.concatenate(vectors).astype(np.float32)


Recipe = Callable[[Path, Path], dict[str, float]]
RECIPES: dict[str, tuple[Recipe, str]] = {
    "finance-sentiment": (
        partial(_sentiment, "finance-sentiment", "finance_sentiment", finance_data.LABELS, "finance", int8=True),
        _fingerprint("finance_sentiment.train.jsonl", "finance_sentiment.held_out.jsonl", settings=SENTIMENT),
    ),
    "finance-fraud": (
        _finance_fraud,
        _fingerprint("fraud_transactions.train.jsonl", "fraud_transactions.held_out.jsonl"),
    ),
    "medical-ner": (_medical_ner, _fingerprint("medical_ner.train.jsonl", "medical_ner.held_out.jsonl", settings=NER)),
    "retail-sentiment": (
        partial(_sentiment, "retail-sentiment", "retail_sentiment", retail_data.LABELS, "retail"),
        _fingerprint("retail_sentiment.train.jsonl", "retail_sentiment.held_out.jsonl", settings=SENTIMENT),
    ),
    "retail-search": (_retail_search, _fingerprint("retail_catalog.catalog.jsonl", "retail_catalog.queries.jsonl")),
}
"""Every demo model: how to build it and the fingerprint of what it is built from."""
ALSO_BUILDS = {"finance-sentiment": ("finance-sentiment-int8",)}
"""Entries a recipe writes besides its own: static INT8 from the same fine-tuned checkpoint."""


def read_manifest(repository: Path) -> dict[str, Any]:
    """What ``demo-build.json`` says was built (empty when nothing was)."""
    path = repository / MANIFEST
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def is_built(repository: Path, name: str, manifest: dict[str, Any]) -> bool:
    entry = manifest.get(name, {})
    written = (name, *ALSO_BUILDS.get(name, ()))
    return entry.get("fingerprint") == RECIPES[name][1] and all(
        (repository / folder / "1" / "model.onnx").is_file() for folder in written
    )


def build_repository(repository: Path, *, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Build every missing or stale demo model into ``repository``; returns the manifest."""
    say = progress or log.info
    repository = Path(repository)
    repository.mkdir(parents=True, exist_ok=True)
    manifest = read_manifest(repository)
    work = repository / ".work"
    pending = [name for name in RECIPES if not is_built(repository, name, manifest)]
    if not pending:
        say(f"demo repository {repository} is up to date ({len(RECIPES)} models)")
        return manifest
    import torch

    torch.set_num_threads(max(1, os.cpu_count() or 1))
    started = time.perf_counter()
    for name in pending:
        recipe, fingerprint = RECIPES[name]
        for folder in (name, *ALSO_BUILDS.get(name, ())):
            shutil.rmtree(repository / folder, ignore_errors=True)
        say(f"building {name} ...")
        began = time.perf_counter()
        scores = recipe(repository, work)
        manifest[name] = {
            "fingerprint": fingerprint,
            "seconds": round(time.perf_counter() - began, 1),
            "held_out": scores,
        }
        (repository / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        say(
            f"built {name} in {manifest[name]['seconds']} s: "
            + ", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in scores.items())
        )
    shutil.rmtree(work, ignore_errors=True)
    say(f"demo repository built in {time.perf_counter() - started:.0f} s")
    return manifest
