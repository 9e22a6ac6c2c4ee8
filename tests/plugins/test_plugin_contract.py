"""What a plugin author relies on: flag_rows, span kinds, numeric parameters, and a harness that is the server."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from gatewise.gateway.config import load_config
from gatewise.gateway.model import ServedModel
from gatewise.plugins.common.masking import as_kind
from gatewise.plugins.common.parameters import fraction

from gatewise import BatchContext, PluginError, PluginManager, Span, hookimpl, mask
from gatewise.testing import PluginHarness, model_context, onnx_engine
from models import ADD_ONE_CONFIG, add_one_graph, write_model


@pytest.mark.parametrize("rows", [np.array([True, False, True]), [0, 2], np.array([2, 0, 2])], ids=str)
def test_flag_rows_takes_a_mask_or_row_indices(rows) -> None:
    batch = BatchContext.single(3)
    batch.flag_rows("truncated", rows)
    assert batch.row_flags["truncated"].tolist() == [True, False, True]
    batch.flag_rows("truncated", [1])
    assert batch.row_flags["truncated"].tolist() == [True, True, True], "flags are OR-ed"


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (np.array([True, False]), r"a boolean mask needs one entry per row of the batch \(3\), got shape \[2\]"),
        ([0.5, 1.0, 0.0], r"expected a boolean mask of 3 rows or a list of row indices, got float64"),
        ([0, 3], r"row indices must be in 0..2, got 0..3"),
        ([-1], r"row indices must be in 0..2, got -1..-1"),
    ],
    ids=["short-mask", "floats", "past-the-end", "negative"],
)
def test_flag_rows_refuses_anything_else_saying_what_was_wrong(rows, message: str) -> None:
    with pytest.raises(TypeError, match=r"flag_rows\('truncated', rows\): " + message):
        BatchContext.single(3).flag_rows("truncated", rows)


def add_one_context(folder: Path):
    return model_context(folder, "m", engine_inputs=[("x", "FP32", (-1, 4))], engine_outputs=[("y", "FP32", (-1, 4))])


class FlagsFirstRow:
    """Flags row 0 by index, as an author who read ``rows`` as indices would; no postprocess at all."""

    def __init__(self, rows) -> None:
        self.rows = rows

    @hookimpl
    def gatewise_preprocess(self, inputs, batch):
        batch.flag_rows("truncated", self.rows)


def test_the_harness_runs_a_plugin_without_postprocess_and_keeps_its_flags(tmp_path: Path) -> None:
    """postprocess is optional (the engine's outputs pass through), and indices flag the rows they name."""
    model = model_context(
        tmp_path, "m", engine_inputs=[("x", "FP32", (-1, 4))], engine_outputs=[("y", "FP32", (-1, 4))]
    )
    harness = PluginHarness(FlagsFirstRow([0]), model, engine=lambda inputs: {"y": inputs["x"] + 1})
    batch = BatchContext(np.array([0, 1]), [{}, {}])
    out = harness.infer_batch({"x": np.zeros((2, 4), np.float32)}, batch)
    assert np.array_equal(out["y"], np.ones((2, 4)))
    assert batch.row_flags["truncated"].tolist() == [True, False]


def test_a_wrong_flag_mask_is_an_internal_error_naming_the_plugin(tmp_path: Path) -> None:
    """Not the client's fault: INTERNAL, naming the plugin and the hook (at warm-up already, as in the server)."""
    model = model_context(
        tmp_path, "m", engine_inputs=[("x", "FP32", (-1, 4))], engine_outputs=[("y", "FP32", (-1, 4))]
    )
    with pytest.raises(PluginError, match=r"plugin 'under-test' failed in gatewise_preprocess: flag_rows") as caught:
        PluginHarness(FlagsFirstRow(np.array([True])), model, engine=lambda inputs: {"y": inputs["x"]})
    assert caught.value.status.name == "INTERNAL"


class RefusesZeros:
    """Refuses an all-zero row: the server's default warm-up (zeros) fails, as it would for a real plugin."""

    @hookimpl
    def gatewise_preprocess(self, inputs):
        if not inputs["x"].any(axis=1).all():
            raise ValueError("input 'x' has a row of zeros")


def test_a_plugin_that_fails_the_servers_warm_up_fails_the_harness_alike(tmp_path: Path) -> None:
    """The harness warms up as ServedModel.load does (zero rows of the public signature): both refuse the plugin."""
    folder = write_model(tmp_path / "models", "add-one", add_one_graph(), ADD_ONE_CONFIG)
    manager = PluginManager(entry_points=False, extra=[("under-test", RefusesZeros())])
    config = load_config(folder).model_copy(update={"plugin": "under-test"})
    with pytest.raises(PluginError) as served:
        ServedModel.load(config, "1", folder / "1", manager)
    engine, inputs, outputs = onnx_engine(folder / "1" / "model.onnx")
    model = model_context(tmp_path / "harness", "add-one", engine_inputs=inputs, engine_outputs=outputs)
    with pytest.raises(PluginError) as harnessed:
        PluginHarness(RefusesZeros(), model, engine)
    assert str(harnessed.value) == str(served.value)
    assert "plugin 'under-test' failed in gatewise_preprocess: input 'x' has a row of zeros" in str(served.value)


def test_a_redaction_type_is_an_upper_case_tag() -> None:
    """``policy_number`` is refused when the span is made; ``POLICY_NUMBER`` becomes the tag the model sees."""
    with pytest.raises(TypeError, match=r"Span kind 'policy_number' is not a redaction type: .*'POLICY_NUMBER'"):
        Span(0, 12, "policy_number")
    masked = mask("POL-12345678 stolen", [Span(0, 12, "POLICY_NUMBER")])
    assert masked.text == "[POLICY_NUMBER] stolen"
    assert masked.redactions() == [{"type": "POLICY_NUMBER", "start": 0, "end": 12}]


@pytest.mark.parametrize(
    ("name", "kind"), [("policy_number", "POLICY_NUMBER"), ("policy number", "POLICY_NUMBER"), ("", "REDACTED"),
                       ("9x", "REDACTED"), ("CARD", "CARD")],
)  # fmt: skip
def test_a_type_read_from_elsewhere_becomes_a_redaction_type(name: str, kind: str) -> None:
    """Decision records mask a plugin's hand-written ``redactions`` by type: any string becomes a valid tag."""
    assert as_kind(name) == kind
    assert Span(0, 1, as_kind(name)).kind == kind


@pytest.mark.parametrize("value", ["0.7", 0.7, "7e-1", np.float32(0.7)], ids=["string", "double", "exponent", "np"])
def test_a_fraction_parameter_is_read_from_a_string_or_a_double(value) -> None:
    assert fraction("min_confidence", value) == pytest.approx(0.7)


@pytest.mark.parametrize("value", [True, "high", "nan", 1.5, -0.1, None], ids=str)
def test_a_fraction_parameter_refuses_bools_words_and_out_of_range(value) -> None:
    with pytest.raises(ValueError, match="parameter 'min_confidence' must be"):
        fraction("min_confidence", value)
