"""retail-search: embed the query, rank the catalog by cosine similarity, return the top k.

The catalog (``assets/catalog.jsonl``) and its embeddings (``assets/catalog_embeddings.npy``,
computed by the build with this module's ``pool`` on the same engine) are read at load, so a
query costs one engine call and one matrix product.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from gatewise.plugins.common import pooling
from gatewise.plugins.common.masking import mask
from gatewise.plugins.common.words import text_perturber, word_units
from gatewise.plugins.context import BatchContext, ModelContext, Signature, Tensors
from gatewise.plugins.explainer import EXPLANATION_OUTPUT, Explainer
from gatewise.plugins.text.encoding import TEXT_INPUT, decode_texts, seen_length, tokenize_batch
from gatewise.protos.tensors import TensorSpec

TASK = "feature-extraction"
CATALOG_FILE = "catalog.jsonl"
EMBEDDINGS_FILE = "catalog_embeddings.npy"
DEFAULT_TOP_K = 5


def load_catalog(model: ModelContext) -> None:
    """Read the catalog and its unit-length embeddings into ``model.state``."""
    catalog_path = model.assets / model.parameters.get("catalog", CATALOG_FILE)
    embeddings_path = model.assets / model.parameters.get("catalog_embeddings", EMBEDDINGS_FILE)
    with catalog_path.open(encoding="utf-8") as handle:
        products = [json.loads(line) for line in handle if line.strip()]
    embeddings = np.load(embeddings_path).astype(np.float32)
    if embeddings.shape[0] != len(products):
        raise RuntimeError(f"model {model.name!r}: {len(products)} products but {embeddings.shape[0]} embeddings")
    model.state["products"] = [{"id": str(item["id"]), "title": str(item["title"])} for item in products]
    model.state["catalog_embeddings"] = pooling.l2_normalize(embeddings)


def signature(model: ModelContext) -> Signature:
    dim = int(model.state["catalog_embeddings"].shape[1])
    return Signature(
        inputs=(TEXT_INPUT,),
        outputs=(
            TensorSpec(name="results", datatype="BYTES", shape=(-1,)),
            TensorSpec(name="embedding", datatype="FP32", shape=(-1, dim)),
            EXPLANATION_OUTPUT,
        ),
    )


def pool(outputs: Tensors, attention_mask: np.ndarray) -> np.ndarray:
    """Unit-length sentence embeddings: the engine's pooled output, or the mean of real tokens' states."""
    hidden = next(iter(outputs.values())) if "embedding" not in outputs else outputs["embedding"]
    hidden = np.asarray(hidden, dtype=np.float32)
    if hidden.ndim == 3:
        hidden = pooling.pool(hidden, attention_mask, "mean")
    return pooling.l2_normalize(hidden)


def preprocess(model: ModelContext, inputs: Tensors, batch: BatchContext) -> Tensors:
    tokens = tokenize_batch(model, inputs, batch)
    batch.state["attention_mask"] = tokens.attention_mask
    return tokens.tensors


def postprocess(model: ModelContext, outputs: Tensors, batch: BatchContext) -> Tensors:
    queries = pool(outputs, batch.state["attention_mask"])
    scores = queries @ model.state["catalog_embeddings"].T
    default = int(model.parameters.get("top_k", DEFAULT_TOP_K))
    limits = [_top_k(value, len(model.state["products"])) for value in batch.parameter("top_k", default)]
    results = [
        json.dumps(rank(row, model.state["products"], k)).encode() for row, k in zip(scores, limits, strict=True)
    ]
    return {"results": np.array(results, dtype=object), "embedding": queries.astype(np.float32)}


def rank(scores: np.ndarray, products: list[dict[str, str]], k: int) -> list[dict[str, Any]]:
    """The ``k`` best products, best first; ties keep catalog order."""
    order = np.argsort(-scores, kind="stable")[:k]
    return [
        {"id": products[i]["id"], "title": products[i]["title"], "score": round(float(scores[i]), 4)} for i in order
    ]


def explainer(model: ModelContext, inputs: Tensors, outputs: Tensors, parameters: dict[str, Any]) -> Explainer:
    """Which query words drove the top result's similarity: the cosine of each coalition's query with it.

    ``explain_label`` may name another product by id, to ask why it ranked where it did.
    """
    catalog = model.state["catalog_embeddings"]
    top = int(np.argmax(catalog @ outputs["embedding"][0]))
    wanted = parameters.get("explain_label")
    if wanted not in (None, ""):
        ids = [product["id"] for product in model.state["products"]]
        if str(wanted) not in ids:
            raise ValueError(f"parameter 'explain_label' is {wanted!r}, which is no product id of this catalog")
        top = ids.index(str(wanted))
    product = model.state["products"][top]
    query = mask(decode_texts(inputs)[0], ())
    seen = seen_length(model.state["tokenizer"], query.text)
    units, spans = word_units(query, seen)
    return Explainer(
        label=product["id"],
        target=f"similarity to {product['title']!r}",
        units=units,
        perturb=text_perturber(query, spans, seen=seen),
        value=lambda perturbed: np.asarray(perturbed["embedding"], dtype=np.float32) @ catalog[top],
    )


def _top_k(value: Any, size: int) -> int:
    try:
        k = int(value)
    except (TypeError, ValueError):
        raise ValueError("parameter 'top_k' must be a positive integer") from None
    if k < 1:
        raise ValueError(f"parameter 'top_k' must be at least 1, got {k}")
    return min(k, size)
