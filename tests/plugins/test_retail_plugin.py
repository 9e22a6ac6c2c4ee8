"""The retail plugin: catalog search ranking and top_k, and review sentiment with abstention,
over a tiny tokenizer and a bag-of-words "encoder"."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from gatewise.plugins.context import BatchContext
from gatewise.plugins.harness import PluginHarness, model_context, texts, tiny_tokenizer
from gatewise.plugins.retail import plugin as retail
from gatewise.plugins.retail import search
from gatewise.protos.errors import PluginError

PRODUCTS = [
    {"id": "SKU-1", "title": "Wireless Headphones", "description": "noise cancelling headphones for flights"},
    {"id": "SKU-2", "title": "Steel Kettle", "description": "boil water fast for tea"},
    {"id": "SKU-3", "title": "Trail Shoes", "description": "shoes for running on trails"},
    {"id": "SKU-4", "title": "Wired Headphones", "description": "headphones with a cable"},
]
WORDS = sorted(
    {w for p in PRODUCTS for w in f"{p['title']} {p['description']}".lower().split()} | {"great", "awful", "."}
)


def _bag_of_words(vocabulary_size: int):
    def engine(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        ids = inputs["input_ids"]
        hidden = np.eye(vocabulary_size, dtype=np.float32)[ids]
        hidden[..., :4] = 0  # special tokens carry no meaning
        return {"last_hidden_state": hidden}

    return engine


@pytest.fixture
def search_model(tmp_path: Path) -> PluginHarness:
    model = model_context(
        tmp_path, "retail-search", plugin="retail", task="feature-extraction", parameters={"top_k": 2},
        engine_inputs=[("input_ids", "INT64", (-1, -1)), ("attention_mask", "INT64", (-1, -1))],
        engine_outputs=[("last_hidden_state", "FP32", (-1, -1, -1))],
    )  # fmt: skip
    from tokenizers import Tokenizer

    size = Tokenizer.from_file(str(tiny_tokenizer(model.assets, WORDS))).get_vocab_size()
    engine = _bag_of_words(size)
    with (model.assets / search.CATALOG_FILE).open("w") as handle:
        handle.writelines(json.dumps(p) + "\n" for p in PRODUCTS)
    # The catalog is embedded as the build does: the plugin's own preprocess and pooling.
    model.state["tokenizer"] = Tokenizer.from_file(str(model.assets / "tokenizer.json"))
    batch = BatchContext.single(len(PRODUCTS))
    docs = texts(f"{p['title']}. {p['description']}" for p in PRODUCTS)
    vectors = search.pool(engine(search.preprocess(model, {"text": docs}, batch)), batch.state["attention_mask"])
    np.save(model.assets / search.EMBEDDINGS_FILE, vectors)
    return PluginHarness(retail, model, engine)


def _ids(out: dict, row: int) -> list[str]:
    return [hit["id"] for hit in json.loads(out["results"][row])]


def test_search_ranks_the_closest_product_first(search_model: PluginHarness) -> None:
    out = search_model.infer({"text": texts(["wireless noise cancelling headphones", "boil water for tea"])})
    assert _ids(out, 0) == ["SKU-1", "SKU-4"]
    assert _ids(out, 1)[0] == "SKU-2"
    hits = json.loads(out["results"][0])
    assert set(hits[0]) == {"id", "title", "score"} and hits[0]["score"] >= hits[1]["score"]
    assert out["embedding"].shape[0] == 2 and np.allclose(np.linalg.norm(out["embedding"], axis=1), 1)


def test_top_k_from_request_parameter_with_config_default(search_model: PluginHarness) -> None:
    query = {"text": texts(["headphones"])}
    assert len(_ids(search_model.infer(query), 0)) == 2
    assert len(_ids(search_model.infer(query, {"top_k": 3}), 0)) == 3
    assert len(_ids(search_model.infer(query, {"top_k": 99}), 0)) == len(PRODUCTS)
    with pytest.raises(PluginError, match="top_k"):
        search_model.infer(query, {"top_k": 0})


def test_top_k_per_request_in_one_batch(search_model: PluginHarness) -> None:
    """Rows of two requests batched together each get their own top_k."""
    batch = BatchContext(np.array([0, 1]), [{"top_k": 1}, {"top_k": 3}])
    out = search_model.infer_batch({"text": texts(["kettle", "shoes"])}, batch)
    assert [len(_ids(out, row)) for row in range(2)] == [1, 3]


def test_missing_embeddings_fail_the_load(search_model: PluginHarness) -> None:
    (search_model.model.assets / search.EMBEDDINGS_FILE).unlink()
    with pytest.raises(PluginError, match="gatewise_model_load"):
        PluginHarness(retail, search_model.model, search_model.engine)


def test_sentiment_abstains_below_the_floor(tmp_path: Path) -> None:
    model = model_context(
        tmp_path, "retail-sentiment", plugin="retail", task="text-classification",
        labels=["negative", "neutral", "positive"], parameters={"min_confidence": 0.7},
        engine_inputs=[("input_ids", "INT64", (-1, -1))], engine_outputs=[("logits", "FP32", (-1, 3))],
    )  # fmt: skip
    from tokenizers import Tokenizer

    vocab = Tokenizer.from_file(str(tiny_tokenizer(model.assets, WORDS))).get_vocab()

    def engine(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        ids = inputs["input_ids"]
        logits = np.zeros((len(ids), 3), dtype=np.float32)
        logits[(ids == vocab["great"]).any(axis=1), 2] = 5
        logits[(ids == vocab["awful"]).any(axis=1), 0] = 5
        return {"logits": logits}

    out = PluginHarness(retail, model, engine).infer({"text": texts(["great", "awful", "kettle"])})
    assert list(out["label"]) == [b"positive", b"negative", b"uncertain"]
    assert "redactions" not in out


def test_search_explains_which_query_words_drove_the_top_result(search_model: PluginHarness) -> None:
    query = "wireless headphones, tea"
    explanation, _ = search_model.explain({"text": texts([query])})
    assert explanation["label"] == "SKU-1" and "Wireless Headphones" in explanation["target"]
    weights = {item["text"]: item["weight"] for item in explanation["attributions"]}
    assert max(weights, key=weights.get) in ("wireless", "headphones")
    assert weights["tea"] < 0  # "tea" points at the kettle, away from the headphones
    for item in explanation["attributions"]:
        assert query[item["start"] : item["end"]] == item["text"]
    kettle, _ = search_model.explain({"text": texts([query])}, {"explain_label": "SKU-2"})
    assert kettle["label"] == "SKU-2"
    assert max(kettle["attributions"], key=lambda item: item["weight"])["text"] == "tea"
    with pytest.raises(PluginError, match="explain_label"):
        search_model.explain({"text": texts([query])}, {"explain_label": "SKU-99"})
