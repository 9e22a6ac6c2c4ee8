"""Checks a request's tensors against a model's public signature before it is queued.

A request may add one trailing dimension of size 1 (``[rows, 1]`` for a ``[-1]`` input):
Triton's clients and perf_analyzer send that shape for one value per row, because they
cannot express a row without a dimension of its own; it is read as ``[rows]``.
"""

from __future__ import annotations

import numpy as np
from gatewise.protos.errors import InvalidInput
from gatewise.protos.tensors import DATATYPE_TO_NUMPY, NUMPY_TO_DATATYPE, TensorSpec


def squeeze_trailing(inputs: dict[str, np.ndarray], specs: tuple[TensorSpec, ...]) -> None:
    """Read ``[rows, ..., 1]`` as ``[rows, ...]`` where the spec has one dimension fewer, in place."""
    ranks = {spec.name: len(spec.shape) for spec in specs}
    for name, array in inputs.items():
        if array.ndim == ranks.get(name, -1) + 1 and array.shape[-1] == 1:
            inputs[name] = array.reshape(array.shape[:-1])


def validate_inputs(
    model: str, inputs: dict[str, np.ndarray], specs: tuple[TensorSpec, ...], max_batch_size: int
) -> int:
    """Return the request's row count; InvalidInput names the tensor and what is wrong.

    Squeezes a trailing dimension of 1 in place (see the module docstring).
    """
    expected = {spec.name: spec for spec in specs}
    missing = [name for name in expected if name not in inputs]
    if missing:
        raise InvalidInput(f"model {model!r} needs input(s) {missing}; expected {sorted(expected)}")
    unknown = [name for name in inputs if name not in expected]
    if unknown:
        raise InvalidInput(f"model {model!r} has no input(s) {unknown}; expected {sorted(expected)}")
    squeeze_trailing(inputs, specs)
    rows: int | None = None
    for name, array in inputs.items():
        spec = expected[name]
        if array.dtype != DATATYPE_TO_NUMPY[spec.datatype]:
            sent = "BYTES" if array.dtype == object else NUMPY_TO_DATATYPE.get(array.dtype, str(array.dtype))
            raise InvalidInput(f"input {name!r} must be {spec.datatype}, got {sent}")
        if array.ndim != len(spec.shape):
            raise InvalidInput(f"input {name!r} must have shape {list(spec.shape)}, got {list(array.shape)}")
        for axis, (want, got) in enumerate(zip(spec.shape, array.shape, strict=True)):
            if want != -1 and want != got:
                raise InvalidInput(
                    f"input {name!r} dimension {axis} must be {want}, got {got} (shape {list(array.shape)})"
                )
        if rows is None:
            rows = array.shape[0]
        elif array.shape[0] != rows:
            raise InvalidInput(f"input {name!r} has {array.shape[0]} rows, other inputs have {rows}")
    if not rows:
        raise InvalidInput(f"request for model {model!r} has an empty batch (0 rows)")
    if rows > max_batch_size:
        raise InvalidInput(f"request for model {model!r} has {rows} rows, more than max_batch_size {max_batch_size}")
    return rows
