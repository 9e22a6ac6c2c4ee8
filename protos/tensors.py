"""The protocol's tensor vocabulary: datatype names, and how numpy, ONNX and Triton spell them.

Every table that maps a datatype lives here, so the codec, the engines, the plugins and
the converters cannot disagree on one (an ONNX ``tensor(float)`` is ``FP32`` everywhere).
TensorRT's own types, which need ``tensorrt`` to name, are mapped through numpy in
``gateway.engines.tensorrt_plans``.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from gatewise.protos import model_config_pb2 as config_pb
from pydantic import BaseModel, ConfigDict, Field, field_validator

DATATYPES = (
    "BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64",
    "FP16", "FP32", "FP64", "BYTES",
)  # fmt: skip
"""The Open Inference Protocol datatypes the gateway serves (not BF16)."""
Datatype = Literal[DATATYPES]  # type: ignore[valid-type]

DATATYPE_TO_NUMPY: dict[str, np.dtype] = {
    "BOOL": np.dtype(np.bool_), "UINT8": np.dtype(np.uint8), "UINT16": np.dtype(np.uint16),
    "UINT32": np.dtype(np.uint32), "UINT64": np.dtype(np.uint64), "INT8": np.dtype(np.int8),
    "INT16": np.dtype(np.int16), "INT32": np.dtype(np.int32), "INT64": np.dtype(np.int64),
    "FP16": np.dtype(np.float16), "FP32": np.dtype(np.float32), "FP64": np.dtype(np.float64),
    "BYTES": np.dtype(object),
}  # fmt: skip
"""BYTES tensors are numpy object arrays of ``bytes``."""
NUMPY_TO_DATATYPE: dict[np.dtype, str] = {dtype: name for name, dtype in DATATYPE_TO_NUMPY.items() if name != "BYTES"}
"""Fixed-size numpy dtypes only: an object array may hold anything, so it is not looked up here."""

CONTENTS_FIELD: dict[str, str] = {
    "BOOL": "bool_contents", "UINT8": "uint_contents", "UINT16": "uint_contents",
    "UINT32": "uint_contents", "UINT64": "uint64_contents", "INT8": "int_contents",
    "INT16": "int_contents", "INT32": "int_contents", "INT64": "int64_contents",
    "FP32": "fp32_contents", "FP64": "fp64_contents", "BYTES": "bytes_contents",
}  # fmt: skip
"""The ``InferTensorContents`` field that carries each datatype as typed contents (FP16 has none: raw only)."""

ONNX_TO_DATATYPE: dict[str, str] = {
    "tensor(bool)": "BOOL", "tensor(uint8)": "UINT8", "tensor(uint16)": "UINT16",
    "tensor(uint32)": "UINT32", "tensor(uint64)": "UINT64", "tensor(int8)": "INT8",
    "tensor(int16)": "INT16", "tensor(int32)": "INT32", "tensor(int64)": "INT64",
    "tensor(float16)": "FP16", "tensor(float)": "FP32", "tensor(double)": "FP64",
    "tensor(string)": "BYTES",
}  # fmt: skip
"""ONNX Runtime's type strings (``NodeArg.type``) -> datatype."""

DATATYPE_TO_TRITON: dict[str, int] = {
    name: config_pb.DataType.Value(f"TYPE_{'STRING' if name == 'BYTES' else name}") for name in DATATYPES
}
"""Datatype -> Triton ``ModelConfig``'s ``TYPE_*`` (Triton calls BYTES ``TYPE_STRING``)."""


def onnx_type(elem_type_name: str) -> str:
    """ONNX Runtime's type string for an ONNX ``TensorProto`` type name (``FLOAT`` -> ``tensor(float)``)."""
    return f"tensor({elem_type_name.lower()})"


def datatype_of(array: np.ndarray) -> str:
    """The protocol datatype of an array (object and string arrays are BYTES)."""
    if array.dtype == object or array.dtype.kind in "SU":
        return "BYTES"
    try:
        return NUMPY_TO_DATATYPE[array.dtype]
    except KeyError as exc:
        raise TypeError(f"dtype {array.dtype} has no protocol datatype, so it cannot be sent") from exc


class TensorSpec(BaseModel):
    """One named tensor; ``-1`` in ``shape`` is a dimension of any size (batch included)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    datatype: Datatype
    shape: tuple[int, ...]

    @field_validator("shape")
    @classmethod
    def _dims_are_sizes(cls, shape: tuple[int, ...]) -> tuple[int, ...]:
        if any(dim == 0 or dim < -1 for dim in shape):
            raise ValueError(f"dimensions must be positive or -1, got {list(shape)}")
        return shape
