"""Drift measures and tolerances: what passes, what fails, and what the failure says."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from converter_fixtures import checkpoint, exported  # noqa: F401 - pytest fixtures
from gatewise.converters.errors import DriftError
from gatewise.converters.pipeline import Validator
from gatewise.converters.progress import Steps
from gatewise.converters.runtime import run_onnx
from gatewise.converters.text import encode
from gatewise.converters.validate import TOLERANCES, check, compare, failures
from onnx import numpy_helper
from tokenizers import Tokenizer


def test_identical_outputs_pass_every_tolerance() -> None:
    logits = np.random.default_rng(0).normal(size=(8, 3)).astype(np.float32)
    report = compare("step", "logits", logits, logits.copy(), "labels")
    assert (report.max_abs, report.agreement) == (0.0, 1.0)
    for tolerance in TOLERANCES.values():
        assert check(report, tolerance) is report


def test_flipped_labels_fail_fp32_with_numbers_in_the_message() -> None:
    reference = np.array([[2.0, 0.0], [0.0, 2.0], [1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    candidate = reference.copy()
    candidate[0] = [0.0, 2.0]
    report = compare("onnx -> int8", "logits", reference, candidate, "labels")
    assert report.agreement == 0.75
    with pytest.raises(DriftError, match=r"max abs diff 2 > 0.001.*top-1 agreement 75.00% < 99.00%") as caught:
        check(report, TOLERANCES["fp32"])
    assert caught.value.report.max_abs == 2.0


def test_int8_allows_moved_logits_but_not_changed_decisions() -> None:
    reference = np.tile(np.array([[3.0, 0.0, -3.0]], dtype=np.float32), (100, 1))
    assert failures(compare("s", "logits", reference, reference + 0.2, "labels"), TOLERANCES["int8"]) == []
    moved = reference.copy()
    moved[:5] = [-3.0, 0.0, 3.0]
    assert any(
        "agreement 95.00%" in f
        for f in failures(compare("s", "logits", reference, moved, "labels"), TOLERANCES["int8"])
    )


def test_padding_tokens_are_not_judged() -> None:
    """Token-level outputs compare real tokens only: garbage on padding is not drift."""
    reference = np.zeros((2, 4, 3), dtype=np.float32)
    reference[..., 0] = 1.0
    candidate = reference.copy()
    candidate[1, 3] = 100.0
    valid = np.array([[1, 1, 1, 1], [1, 1, 1, 0]])
    assert compare("s", "logits", reference, candidate, "labels", valid=valid).max_abs == 0.0
    assert compare("s", "logits", reference, candidate, "labels").max_abs == 100.0


def test_embeddings_are_judged_by_direction() -> None:
    reference = np.eye(3, dtype=np.float32)
    rotated = np.array([[1, 0, 0], [0, 1, 0], [0, 1, 0]], dtype=np.float32)
    report = compare("s", "embedding", reference, rotated, "embedding")
    assert report.min_cosine == pytest.approx(0.0)
    assert any("min cosine" in f for f in failures(report, TOLERANCES["fp16"]))


def test_nan_outputs_always_fail() -> None:
    reference = np.ones((2, 2), dtype=np.float32)
    assert "outputs hold NaN or Inf" in failures(
        compare("s", "x", reference, reference * np.nan, "values"), TOLERANCES["int8"]
    )


def test_a_corrupted_onnx_weight_is_caught_against_its_source(exported, tmp_path: Path) -> None:
    """Validating an ONNX file whose embedding weights were scaled raises DriftError naming the step."""
    model_dir = exported("bert", "text-classification")
    source = model_dir / "1" / "model.onnx"
    model = onnx.load(str(source))
    target = next(init for init in model.graph.initializer if "word_embeddings" in init.name)
    target.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(target) * 3.0, target.name))
    corrupted = tmp_path / "corrupted.onnx"
    onnx.save(model, str(corrupted))
    tokenizer = Tokenizer.from_file(str(model_dir / "assets" / "tokenizer.json"))
    inputs = encode(
        tokenizer,
        ["one sentence", "and another, longer sentence"],
        ["input_ids", "attention_mask", "token_type_ids"],
        32,
    )
    with Steps("t", 1, quiet=True) as steps:
        validator = Validator(inputs, {"logits": "labels"}, steps)
        validator.baseline(run_onnx(source, inputs))
        validator.validate("onnx -> same", source, "fp32")
        with pytest.raises(
            DriftError, match=r"onnx -> corrupted: output 'logits' drifted past the fp32 tolerance \(max abs diff"
        ):
            validator.validate("onnx -> corrupted", corrupted, "fp32")
    assert [report.step for report in validator.reports] == ["onnx -> same", "onnx -> corrupted"]
