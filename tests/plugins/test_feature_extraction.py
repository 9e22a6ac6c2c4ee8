"""The built-in feature-extraction plugin: pooling over real tokens and L2 normalisation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from gatewise.converters.samples import load_samples
from gatewise.plugins.common.pooling import l2_normalize, pool
from gatewise.plugins.context import BatchContext, ModelContext
from gatewise.plugins.harness import model_context, tiny_tokenizer
from gatewise.plugins.text import feature_extraction as plugin
from gatewise.protos.tensors import TensorSpec

HIDDEN = np.array([[[1.0, 0.0], [3.0, 4.0], [100.0, 100.0]],
                   [[0.0, 2.0], [0.0, 0.0], [0.0, 0.0]]], dtype=np.float32)  # fmt: skip
MASK = np.array([[1, 1, 0], [1, 0, 0]])


def context(tmp_path: Path, output: TensorSpec, **parameters: object) -> ModelContext:
    model = model_context(
        tmp_path, "m", plugin="feature-extraction", parameters=dict(parameters),
        engine_inputs=[("input_ids", "INT64", (-1, -1)), ("attention_mask", "INT64", (-1, -1))],
        engine_outputs=[output],
    )  # fmt: skip
    tiny_tokenizer(model.assets, train_on=load_samples())
    return model


def test_mean_pooling_ignores_padding() -> None:
    np.testing.assert_allclose(pool(HIDDEN, MASK, "mean"), [[2.0, 2.0], [0.0, 2.0]])


def test_cls_and_max_pooling() -> None:
    np.testing.assert_allclose(pool(HIDDEN, MASK, "cls"), [[1.0, 0.0], [0.0, 2.0]])
    np.testing.assert_allclose(pool(HIDDEN, MASK, "max"), [[3.0, 4.0], [0.0, 2.0]])


def test_l2_normalize_makes_unit_rows_and_keeps_zero_rows() -> None:
    out = l2_normalize(np.array([[3.0, 4.0], [0.0, 0.0]], dtype=np.float32))
    np.testing.assert_allclose(out, [[0.6, 0.8], [0.0, 0.0]])


def test_hidden_states_are_pooled_in_the_plugin(tmp_path: Path) -> None:
    """An engine that returns [batch, seq, dim] is pooled with the batch's own mask, then normalised."""
    model = context(tmp_path, TensorSpec(name="last_hidden_state", datatype="FP32", shape=(-1, -1, 2)), pooling="mean")
    plugin.gatewise_model_load(model)
    assert plugin.gatewise_model_signature(model).outputs[0].shape == (-1, 2)
    batch = BatchContext.single(2)
    tensors = plugin.gatewise_preprocess(model, {"text": np.array([b"a b c d", b"a"], dtype=object)}, batch)
    seq = tensors["input_ids"].shape[1]
    hidden = np.zeros((2, seq, 2), dtype=np.float32)
    hidden[:, :, 0] = 1.0
    hidden[1, 3:, :] = [0.0, 1000.0]  # padding of row 1 must not pull its mean
    out = plugin.gatewise_postprocess(model, {"last_hidden_state": hidden}, batch)["embedding"]
    np.testing.assert_allclose(out, [[1.0, 0.0], [1.0, 0.0]], atol=1e-6)


def test_pooled_engine_output_is_passed_through_normalised(tmp_path: Path) -> None:
    model = context(tmp_path, TensorSpec(name="embedding", datatype="FP32", shape=(-1, 2)), pooling="cls")
    plugin.gatewise_model_load(model)
    out = plugin.gatewise_postprocess(model, {"embedding": np.array([[0.0, 2.0]], np.float32)}, BatchContext.single(1))
    np.testing.assert_allclose(out["embedding"], [[0.0, 1.0]])


def test_unknown_pooling_fails_the_load(tmp_path: Path) -> None:
    model = context(tmp_path, TensorSpec(name="embedding", datatype="FP32", shape=(-1, 2)), pooling="sum")
    with pytest.raises(ValueError, match="parameters.pooling 'sum' is not one of mean, cls, max"):
        plugin.gatewise_model_load(model)
