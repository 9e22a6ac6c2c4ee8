"""export_transformer: every task and architecture to a servable, validated repository entry."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
import transformers
from converter_fixtures import checkpoint, exported  # noqa: F401 - pytest fixtures
from gatewise.converters import export_transformer
from gatewise.converters.graphs import task_module
from gatewise.converters.text import encode
from served import NER_LABELS, SENTIMENT, serve
from tokenizers import Tokenizer

TEXTS = ["The stock market rallied.", "Barack Obama was born in Honolulu, Hawaii, in 1961.", "ok"]


def torch_reference(checkpoint: Path, task: str, texts: list[str], pooling: str | None = None) -> np.ndarray:
    """The checkpoint's own outputs for ``texts``, straight from transformers."""
    auto = {
        "text-classification": transformers.AutoModelForSequenceClassification,
        "token-classification": transformers.AutoModelForTokenClassification,
        "feature-extraction": transformers.AutoModel,
    }[task]
    model = auto.from_pretrained(checkpoint).eval()
    tokenizer = Tokenizer.from_file(str(checkpoint / "tokenizer.json"))
    names = ["input_ids", "attention_mask"] + (["token_type_ids"] if model.config.model_type == "bert" else [])
    inputs = encode(tokenizer, texts, names, 32)
    with torch.no_grad():
        result = task_module(model, task, names, pooling)(**{k: torch.from_numpy(v) for k, v in inputs.items()})
    return result.numpy()


@pytest.mark.parametrize("model_type", ["bert", "distilbert", "roberta", "xlm-roberta"])
def test_text_classification_entry_serves_through_its_plugin(exported, checkpoint, model_type: str) -> None:
    """Each BERT-family architecture converts to an entry whose plugin answers like PyTorch."""
    model_dir = exported(model_type, "text-classification")
    served = serve(model_dir)
    assert served.config.plugin == "text-classification"
    assert served.config.labels == tuple(SENTIMENT)
    assert {spec.name for spec in served.config.inputs} >= {"input_ids", "attention_mask"}
    assert all(spec.datatype == "INT64" and spec.shape == (-1, -1) for spec in served.config.inputs)
    out = served(TEXTS)
    expected = torch_reference(checkpoint(model_type, "text-classification"), "text-classification", TEXTS)
    assert [label.decode() for label in out["label"]] == [SENTIMENT[i] for i in expected.argmax(axis=1)]
    np.testing.assert_allclose(out["scores"].sum(axis=1), 1.0, rtol=1e-5)


def test_entry_holds_model_config_tokenizer_and_validation_report(exported) -> None:
    """The entry is complete: model, config.toml, tokenizer asset, and the drift report per step."""
    model_dir = exported("bert", "text-classification")
    assert sorted(p.name for p in model_dir.iterdir()) == ["1", "assets", "config.toml"]
    assert (model_dir / "assets" / "tokenizer.json").is_file()
    reports = json.loads((model_dir / "1" / "validation.json").read_text())
    assert reports[0]["step"] == "pytorch -> onnx" and reports[0]["max_abs"] < 1e-4
    assert reports[0]["agreement"] == 1.0


def test_batch_and_sequence_axes_are_dynamic(exported, checkpoint) -> None:
    """The engine runs batch 1 and batch 3 at different sequence lengths, matching PyTorch."""
    served = serve(exported("bert", "text-classification"))
    graph = onnx.load(str(exported("bert", "text-classification") / "1" / "model.onnx"))
    dims = [[d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim] for value in graph.graph.input]
    assert all(isinstance(dim, str) for shape in dims for dim in shape)
    tokenizer = Tokenizer.from_file(str(exported("bert", "text-classification") / "assets" / "tokenizer.json"))
    names = [spec.name for spec in served.engine.inputs]
    model = transformers.AutoModelForSequenceClassification.from_pretrained(checkpoint("bert")).eval()
    for texts in (["ok"], TEXTS):
        inputs = encode(tokenizer, texts, names, 32)
        logits = served.engine.infer(inputs)["logits"]
        with torch.no_grad():
            expected = model(**{k: torch.from_numpy(v) for k, v in inputs.items()}).logits.numpy()
        assert logits.shape == (len(texts), 3)
        np.testing.assert_allclose(logits, expected, atol=1e-4)


def test_token_classification_returns_spans_with_original_offsets(exported, checkpoint) -> None:
    """entities are JSON spans whose offsets cut their own text out of the original string."""
    served = serve(exported("bert", "token-classification"))
    assert served.config.labels == tuple(NER_LABELS)
    out = served(TEXTS)
    rows = [json.loads(value) for value in out["entities"]]
    assert len(rows) == 3
    assert any(rows), "random weights with wide heads tag something"
    for text, spans in zip(TEXTS, rows, strict=True):
        for span in spans:
            assert set(span) == {"label", "start", "end", "score", "text"}
            assert span["label"] in {"PER", "LOC"}
            assert text[span["start"] : span["end"]] == span["text"]
            assert 0.0 < span["score"] <= 1.0


@pytest.mark.parametrize("pooling", ["cls", "mean"])
def test_feature_extraction_pools_as_the_checkpoint_says(exported, checkpoint, pooling: str) -> None:
    """The sentence-transformers pooling mode is read, recorded in config.toml and applied in the graph."""
    model_dir = exported("bert", "feature-extraction", pooling)
    served = serve(model_dir)
    assert served.config.parameters["pooling"] == pooling
    out = served(TEXTS)["embedding"]
    assert out.shape == (3, 32) and out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-5)
    expected = torch_reference(checkpoint("bert", "feature-extraction", pooling), "feature-extraction", TEXTS, pooling)
    np.testing.assert_allclose(out, expected, atol=1e-5)


def test_feature_extraction_without_sentence_transformers_config_uses_mean(exported, checkpoint) -> None:
    served = serve(exported("distilbert", "feature-extraction"))
    assert served.config.parameters["pooling"] == "mean"
    assert served(["hello there"])["embedding"].shape == (1, 32)


def test_optimize_and_int8_fuse_then_quantise(exported) -> None:
    """--optimize fuses attention; --int8 leaves integer MatMuls; both are validated and recorded."""
    model_dir = exported("bert", "text-classification", optimize=True, int8=True)
    ops = {node.op_type for node in onnx.load(str(model_dir / "1" / "model.onnx")).graph.node}
    assert ops & {"Attention", "QAttention"}
    assert ops & {"MatMulInteger", "DynamicQuantizeMatMul", "QAttention", "DynamicQuantizeLinear"}
    steps = [report["step"] for report in json.loads((model_dir / "1" / "validation.json").read_text())]
    assert steps == ["pytorch -> onnx", "onnx -> optimized", "optimized -> int8"]
    served = serve(model_dir)
    assert served.config.parameters["precision"] == "int8"
    assert served.config.onnxruntime.providers == ("cpu",)
    assert served(TEXTS)["label"].shape == (3,)


def test_fp16_keeps_float32_inputs_and_outputs(exported) -> None:
    """FP16 weights inside, FP32 where the client (and the plugin) sees the graph."""
    model_dir = exported("bert", "feature-extraction", "mean", fp16=True)
    graph = onnx.load(str(model_dir / "1" / "model.onnx")).graph
    assert any(init.data_type == onnx.TensorProto.FLOAT16 for init in graph.initializer)
    assert graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    layer_norms = [node for node in graph.node if node.op_type == "LayerNormalization"]
    fp16_inputs = {init.name for init in graph.initializer if init.data_type == onnx.TensorProto.FLOAT16}
    assert layer_norms and not any(name in fp16_inputs for node in layer_norms for name in node.input)
    out = serve(model_dir)(TEXTS)["embedding"]
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-3)


def test_extra_config_is_merged_and_a_new_version_joins_the_entry(checkpoint, tmp_path: Path) -> None:
    """extra_config overrides defaults table by table; version 2 lands beside version 1."""
    ck = checkpoint("bert", "text-classification")
    extra = {"batching": {"max_batch_size": 8}, "instances": 2}
    export_transformer(ck, "text-classification", tmp_path, "m", max_length=32, quiet=True)
    model_dir = export_transformer(
        ck, "text-classification", tmp_path, "m", version=2, max_length=32, quiet=True, extra_config=extra
    )
    assert sorted(p.name for p in model_dir.iterdir()) == ["1", "2", "assets", "config.toml"]
    config = serve(model_dir, version=2).config
    assert (config.batching.max_batch_size, config.batching.max_queue_delay_ms, config.instances) == (8, 0.0, 2)
