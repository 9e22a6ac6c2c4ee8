"""Requests checked against a public signature: each mistake names the tensor."""

from __future__ import annotations

import numpy as np
import pytest
from gatewise.gateway.validation import validate_inputs
from gatewise.protos.errors import InvalidInput
from gatewise.protos.tensors import TensorSpec

SPECS = (
    TensorSpec(name="text", datatype="BYTES", shape=(-1,)),
    TensorSpec(name="features", datatype="FP32", shape=(-1, 3)),
)


def texts(*values: bytes) -> np.ndarray:
    return np.array(values, dtype=object)


def test_valid_request_returns_its_row_count() -> None:
    """Matching names, datatypes and shapes: the row count comes back."""
    inputs = {"text": texts(b"a", b"b"), "features": np.zeros((2, 3), np.float32)}
    assert validate_inputs("m", inputs, SPECS, max_batch_size=8) == 2


def test_trailing_dimension_of_one_is_read_as_one_value_per_row() -> None:
    """[rows, 1] for a [-1] input (what perf_analyzer sends) is squeezed to [rows]."""
    inputs = {"text": texts(b"a", b"b").reshape(2, 1), "features": np.zeros((2, 3), np.float32)}
    assert validate_inputs("m", inputs, SPECS, max_batch_size=8) == 2
    assert inputs["text"].shape == (2,)


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({"text": texts(b"a")}, r"needs input\(s\) \['features'\]"),
        ({"text": texts(b"a"), "features": np.zeros((1, 3), np.float32), "x": texts(b"")}, r"no input\(s\) \['x'\]"),
        (
            {"text": np.zeros(1, np.float32), "features": np.zeros((1, 3), np.float32)},
            r"'text' must be BYTES, got FP32",
        ),
        ({"text": texts(b"a"), "features": np.zeros((1, 3), np.int64)}, r"'features' must be FP32, got INT64"),
        ({"text": texts(b"a"), "features": np.zeros((1, 4), np.float32)}, r"'features' dimension 1 must be 3, got 4"),
        ({"text": texts(b"a"), "features": np.zeros(3, np.float32)}, r"'features' must have shape \[-1, 3\]"),
        ({"text": texts(b"a", b"b"), "features": np.zeros((1, 3), np.float32)}, r"has 1 rows, other inputs have 2"),
        ({"text": texts(), "features": np.zeros((0, 3), np.float32)}, r"empty batch"),
        ({"text": texts(*[b"x"] * 9), "features": np.zeros((9, 3), np.float32)}, r"9 rows, more than max_batch_size 8"),
    ],
)
def test_bad_requests_name_what_is_wrong(inputs: dict[str, np.ndarray], message: str) -> None:
    """Missing, unknown, mistyped, misshapen, empty and oversized requests are refused."""
    with pytest.raises(InvalidInput, match=message):
        validate_inputs("m", inputs, SPECS, max_batch_size=8)
