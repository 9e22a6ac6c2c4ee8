"""Protocol tensors <-> numpy arrays, checked before anything is allocated.

BYTES elements travel as the protocol defines them: each a 4-byte little-endian length,
then the bytes. Every error names the tensor and what was wrong with it, and shapes are
checked against the bytes actually sent before an array is built, so a huge shape with a
tiny body costs nothing.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable, Sequence

import numpy as np
from gatewise.protos import grpc_service_pb2 as pb
from gatewise.protos.errors import InvalidInput
from gatewise.protos.tensors import CONTENTS_FIELD, DATATYPE_TO_NUMPY, datatype_of

_LENGTH = struct.Struct("<I")
MAX_ELEMENTS = 1 << 31


def element_count(name: str, shape: Sequence[int]) -> int:
    """Elements a shape holds; InvalidInput for negative dims or absurd sizes."""
    if any(dim < 0 for dim in shape):
        raise InvalidInput(f"input {name!r} has a negative dimension in shape {list(shape)}")
    if any(dim > MAX_ELEMENTS for dim in shape):  # even beside a 0, numpy cannot shape it
        raise InvalidInput(f"input {name!r} shape {list(shape)} has a dimension over {MAX_ELEMENTS}")
    count = math.prod(shape)
    if count > MAX_ELEMENTS:
        raise InvalidInput(f"input {name!r} shape {list(shape)} holds {count} elements, more than {MAX_ELEMENTS}")
    return count


def deserialize_bytes(name: str, raw: bytes, count: int, max_element_bytes: int) -> np.ndarray:
    """Split length-prefixed BYTES elements; every length is checked against what is left.

    Each element needs at least its 4-byte length, so a body shorter than ``4 * count`` is
    refused before the array of ``count`` elements is allocated (a shape of 2^31 elements
    with an empty body would otherwise cost 16 GiB of ``None`` pointers first).
    """
    size = len(raw)
    needed = count * _LENGTH.size
    if size < needed:
        raise InvalidInput(
            f"input {name!r} holds {size // _LENGTH.size} BYTES elements at most ({size} bytes, each element "
            f"starting with a 4-byte length), its shape says {count}"
        )
    elements = np.empty(count, dtype=object)
    offset = 0
    for index in range(count):
        if offset + 4 > size:
            raise InvalidInput(f"input {name!r} holds {index} BYTES elements, its shape says {count}")
        (length,) = _LENGTH.unpack_from(raw, offset)
        offset += 4
        if length > max_element_bytes:
            raise InvalidInput(
                f"input {name!r} element {index} is {length} bytes, over the limit of {max_element_bytes}"
            )
        if offset + length > size:
            raise InvalidInput(f"input {name!r} element {index} says {length} bytes but only {size - offset} remain")
        elements[index] = raw[offset : offset + length]
        offset += length
    if offset != size:
        raise InvalidInput(f"input {name!r} has {size - offset} bytes after its {count} BYTES elements")
    return elements


def serialize_bytes(values: np.ndarray) -> bytes:
    """Length-prefix every element (bytes, or str encoded as UTF-8) of a BYTES tensor."""
    parts = []
    for value in values.reshape(-1):
        data = value if isinstance(value, bytes) else str(value).encode("utf-8")
        parts.append(_LENGTH.pack(len(data)))
        parts.append(data)
    return b"".join(parts)


def decode_tensor_bytes(
    name: str, datatype: str, shape: tuple[int, ...], raw: bytes, max_element_bytes: int
) -> np.ndarray:
    """A tensor sent as raw bytes (gRPC's ``raw_input_contents``, HTTP's binary data extension)."""
    dtype = DATATYPE_TO_NUMPY.get(datatype)
    if dtype is None:
        raise InvalidInput(f"input {name!r} has unknown datatype {datatype!r}")
    count = element_count(name, shape)
    if datatype == "BYTES":
        return deserialize_bytes(name, raw, count, max_element_bytes).reshape(shape)
    expected = count * dtype.itemsize
    if len(raw) != expected:  # frombuffer below is a view: nothing is allocated for the shape
        raise InvalidInput(
            f"input {name!r} has {len(raw)} bytes of raw data; shape {list(shape)} of {datatype} needs {expected}"
        )
    return np.frombuffer(raw, dtype=dtype).reshape(shape)


def decode_tensor(
    tensor: pb.ModelInferRequest.InferInputTensor, raw: bytes | None, max_element_bytes: int
) -> np.ndarray:
    """One request input as a numpy array of its declared datatype and shape."""
    name, datatype, shape = tensor.name, tensor.datatype, tuple(tensor.shape)
    dtype = DATATYPE_TO_NUMPY.get(datatype)
    if dtype is None:
        raise InvalidInput(f"input {name!r} has unknown datatype {datatype!r}")
    if raw is not None:
        return decode_tensor_bytes(name, datatype, shape, raw, max_element_bytes)
    count = element_count(name, shape)
    field = CONTENTS_FIELD.get(datatype)
    if field is None:
        raise InvalidInput(f"input {name!r}: {datatype} can only be sent in raw_input_contents")
    values = getattr(tensor.contents, field)
    if len(values) != count:  # checked before anything of ``count`` elements is built
        raise InvalidInput(f"input {name!r} has {len(values)} elements in contents; shape {list(shape)} needs {count}")
    if datatype == "BYTES":
        too_long = next((index for index, value in enumerate(values) if len(value) > max_element_bytes), None)
        if too_long is not None:
            raise InvalidInput(f"input {name!r} element {too_long} is over the limit of {max_element_bytes} bytes")
        array = np.empty(count, dtype=object)
        array[:] = list(values)
        return array.reshape(shape)
    return np.array(values, dtype=dtype).reshape(shape)


def decode_inputs(request: pb.ModelInferRequest, max_element_bytes: int) -> dict[str, np.ndarray]:
    """Every input of a request; raw contents, when used, must cover every input."""
    raw_contents = request.raw_input_contents
    if raw_contents and len(raw_contents) != len(request.inputs):
        raise InvalidInput(
            f"request has {len(request.inputs)} inputs but {len(raw_contents)} raw_input_contents entries"
        )
    inputs: dict[str, np.ndarray] = {}
    for index, tensor in enumerate(request.inputs):
        if tensor.name in inputs:
            raise InvalidInput(f"input {tensor.name!r} is given twice")
        raw = raw_contents[index] if raw_contents else None
        inputs[tensor.name] = decode_tensor(tensor, raw, max_element_bytes)
    return inputs


def encode_outputs(response: pb.ModelInferResponse, outputs: Iterable[tuple[str, np.ndarray]]) -> None:
    """Append outputs to ``response`` as raw_output_contents, the protocol's fast path."""
    for name, array in outputs:
        datatype = datatype_of(array)
        response.outputs.add(name=name, datatype=datatype, shape=array.shape)
        if datatype == "BYTES":
            response.raw_output_contents.append(serialize_bytes(array))
        else:
            response.raw_output_contents.append(np.ascontiguousarray(array).tobytes())


def parameter_value(parameter: pb.InferParameter) -> bool | int | float | str | None:
    """The Python value of an InferParameter (None when unset)."""
    choice = parameter.WhichOneof("parameter_choice")
    return None if choice is None else getattr(parameter, choice)


def set_parameter(parameters: object, key: str, value: bool | int | float | str) -> None:
    """Store ``value`` in a protobuf map of InferParameter under ``key``."""
    target = parameters[key]  # type: ignore[index]
    if isinstance(value, bool):
        target.bool_param = value
    elif isinstance(value, int):
        target.int64_param = value
    elif isinstance(value, float):
        target.double_param = value
    else:
        target.string_param = str(value)
