"""Small, real model repositories for tests: ONNX graphs built with onnx.helper (no torch),
a WordPiece tokenizer (``plugins.harness.tiny_tokenizer``), and config.toml files as users write them.

The tiny classifier is not random: "good"/"great" push towards ``positive``, "bad"/"awful"
towards ``negative``, so tests can check that answers are right, not only well-formed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from gatewise.plugins.harness import SPECIAL_TOKENS, tiny_tokenizer
from onnx import TensorProto, helper, numpy_helper

WORDS = ["good", "great", "bad", "awful", "the", "movie", "was", "service", "price", "okay", "a", "is", "it"]
LABELS = ("negative", "neutral", "positive")
DIM = 4


def classifier_graph() -> onnx.ModelProto:
    """Masked mean of word embeddings, then a linear layer to three logits."""
    vocab = [*SPECIAL_TOKENS, *WORDS]  # the ids tiny_tokenizer(..., WORDS) gives
    embeddings = np.zeros((len(vocab), DIM), dtype=np.float32)
    embeddings[:, 3] = 0.2  # every token: a little "neutral"
    for word in ("good", "great"):
        embeddings[vocab.index(word), 0] = 4.0
    for word in ("bad", "awful"):
        embeddings[vocab.index(word), 1] = 4.0
    weights = np.array([[0, 0, 1], [1, 0, 0], [0, 0, 0], [0, 3, 0]], dtype=np.float32)  # dims -> labels
    nodes = [
        helper.make_node("Gather", ["embeddings", "input_ids"], ["embedded"]),
        helper.make_node("Cast", ["attention_mask"], ["mask_f"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["mask_f", "minus_one"], ["mask_3d"]),
        helper.make_node("Mul", ["embedded", "mask_3d"], ["masked"]),
        helper.make_node("ReduceSum", ["masked", "one"], ["summed"], keepdims=0),
        helper.make_node("ReduceSum", ["mask_3d", "one"], ["count"], keepdims=0),
        helper.make_node("Max", ["count", "one_f"], ["count_safe"]),
        helper.make_node("Div", ["summed", "count_safe"], ["pooled"]),
        helper.make_node("MatMul", ["pooled", "weights"], ["logits"]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny-classifier",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "sequence"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "sequence"]),
        ],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 3])],
        initializer=[
            numpy_helper.from_array(embeddings, "embeddings"),
            numpy_helper.from_array(weights, "weights"),
            numpy_helper.from_array(np.array([-1], dtype=np.int64), "minus_one"),
            numpy_helper.from_array(np.array([1], dtype=np.int64), "one"),
            numpy_helper.from_array(np.array([1.0], dtype=np.float32), "one_f"),
        ],
    )
    return _finish(graph)


def add_one_graph(width: int = 4, name: str = "add-one") -> onnx.ModelProto:
    """y = x + 1 on FP32 [batch, width]: a model without a plugin (tensors in, tensors out)."""
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "one"], ["y"])],
        name,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", width])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", width])],
        initializer=[numpy_helper.from_array(np.ones(width, dtype=np.float32), "one")],
    )
    return _finish(graph)


def _finish(graph: onnx.GraphProto) -> onnx.ModelProto:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def write_model(repository: Path, name: str, graph: onnx.ModelProto, config: str, version: int = 1) -> Path:
    model_dir = repository / name
    (model_dir / str(version)).mkdir(parents=True, exist_ok=True)
    onnx.save(graph, str(model_dir / str(version) / "model.onnx"))
    (model_dir / "config.toml").write_text(config)
    return model_dir


CLASSIFIER_CONFIG = """\
name = "tiny-sentiment"
plugin = "text-classification"
task = "text-classification"
labels = ["negative", "neutral", "positive"]

[batching]
max_batch_size = 8
max_queue_delay_ms = 2

[parameters]
max_length = 16
"""

ADD_ONE_CONFIG = """\
name = "add-one"

[batching]
max_batch_size = 16
max_queue_delay_ms = 1
"""

BROKEN_CONFIG = """\
name = "broken"
plugin = "text-classification"

[batching]
max_queue_delay_ms = -5
"""


def write_classifier(repository: Path, name: str, *, plugin: str = "text-classification", batching: str = "") -> Path:
    """The tiny classifier again as ``name`` behind ``plugin``, with its tokenizer; ``batching`` adds
    lines to its ``[batching]`` table."""
    config = CLASSIFIER_CONFIG.replace('"tiny-sentiment"', f'"{name}"')
    config = config.replace('plugin = "text-classification"', f'plugin = "{plugin}"')
    config = config.replace("max_queue_delay_ms = 2\n", f"max_queue_delay_ms = 2\n{batching}")
    model = write_model(repository, name, classifier_graph(), config)
    tiny_tokenizer(model / "assets", WORDS)
    return model


def build_repository(root: Path) -> Path:
    """tiny-sentiment (plugin), add-one (no plugin) and broken (bad config.toml)."""
    write_classifier(root, "tiny-sentiment")
    write_model(root, "add-one", add_one_graph(), ADD_ONE_CONFIG)
    write_model(root, "broken", add_one_graph(), BROKEN_CONFIG)
    return root


TAGGER_LABELS = ("O", "B-PROBLEM", "I-PROBLEM")


def tagger_graph() -> onnx.ModelProto:
    """Token classification: one row of logits per token id ("bad"/"awful" tag a PROBLEM)."""
    vocab = [*SPECIAL_TOKENS, *WORDS]
    table = np.zeros((len(vocab), len(TAGGER_LABELS)), dtype=np.float32)
    table[:, 0] = 4.0
    for word in ("bad", "awful"):
        table[vocab.index(word)] = [0.0, 4.0, 0.0]
    graph = helper.make_graph(
        [
            helper.make_node("Gather", ["table", "input_ids"], ["gathered"]),
            helper.make_node("Cast", ["attention_mask"], ["mask_f"], to=TensorProto.FLOAT),
            helper.make_node("Unsqueeze", ["mask_f", "minus_one"], ["mask_3d"]),
            helper.make_node("Mul", ["gathered", "mask_3d"], ["logits"]),
        ],
        "tiny-tagger",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "sequence"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "sequence"]),
        ],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", "sequence", len(TAGGER_LABELS)])],
        initializer=[
            numpy_helper.from_array(table, "table"),
            numpy_helper.from_array(np.array([-1], dtype=np.int64), "minus_one"),
        ],
    )
    return _finish(graph)


def write_tagger(repository: Path, name: str, *, plugin: str = "medical") -> Path:
    """A tiny token classifier as ``name`` behind ``plugin`` (the medical plugin's task), with its tokenizer."""
    labels = ", ".join(f'"{label}"' for label in TAGGER_LABELS)
    config = (
        f'name = "{name}"\nplugin = "{plugin}"\ntask = "token-classification"\nlabels = [{labels}]\n\n'
        "[batching]\nmax_batch_size = 8\nmax_queue_delay_ms = 2\n\n[parameters]\nmax_length = 16\n"
    )
    model = write_model(repository, name, tagger_graph(), config)
    tiny_tokenizer(model / "assets", WORDS)
    return model


def echo_graph() -> onnx.ModelProto:
    """y = x on FP32 [batch, width], any width: answers as large as the request."""
    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "echo",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "width"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", "width"])],
    )
    return _finish(graph)


def write_echo(repository: Path, name: str = "echo") -> Path:
    config = f'name = "{name}"\n\n[batching]\nmax_batch_size = 16\nmax_queue_delay_ms = 1\n'
    return write_model(repository, name, echo_graph(), config)
