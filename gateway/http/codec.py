"""KServe v2 REST bodies <-> the data plane's types, with Triton's binary tensor data extension.

A request body is a JSON document, optionally followed by binary tensors: then the
``Inference-Header-Content-Length`` header says how long the JSON part is, and each input
whose ``parameters.binary_data_size`` is set takes that many bytes from what follows, in
order (BYTES as 4-byte little-endian length + bytes, as gRPC's ``raw_input_contents``).
A response does the same for outputs asked for with ``binary_data`` (or every output with
the request parameter ``binary_data_output``).

Numeric ``data`` becomes an array in one numpy call and numeric outputs are written by
orjson straight from the array, never as a Python list per element. Every error names the
tensor and what was wrong, and sizes are checked before anything is allocated.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
from gatewise.gateway.codec import decode_tensor_bytes, element_count, serialize_bytes
from gatewise.gateway.dataplane import InferResponse, Tensors
from gatewise.protos.errors import InvalidInput
from gatewise.protos.tensors import DATATYPE_TO_NUMPY, datatype_of

HEADER_LENGTH = "Inference-Header-Content-Length"
BINARY_SIZE = "binary_data_size"
_TRANSPORT_PARAMETERS = frozenset({"binary_data_output"})
"""Request parameters that steer this codec and never reach the model."""
_SCALARS = (bool, int, float, str)


@dataclass
class ParsedRequest:
    """An infer request body, read: what the data plane needs, and how the answer is to be encoded."""

    id: str
    parameters: dict[str, Any]
    outputs: list[str]
    binary_outputs: set[str]
    all_binary: bool
    decode: Callable[[int], Tensors]
    rows: int


def parse_infer(body: bytes, header_length: str | None) -> ParsedRequest:
    """Read the JSON part (and the binary part, when ``header_length`` is given) of an infer body.

    Only the JSON and the tensors' names, datatypes and shapes are read here; the tensors
    themselves are decoded by the returned ``decode``, which the data plane calls once the
    model was found.
    """
    json_part, binary = _split(body, header_length)
    document = json_object(json_part, "a JSON object with 'inputs'")
    inputs = document.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise InvalidInput("the request needs 'inputs': a list of tensors")
    tensors = [_input(index, item) for index, item in enumerate(inputs)]
    pieces = _binary_pieces(tensors, binary)
    parameters = _parameters(document.get("parameters"), "request")
    all_binary = parameters.pop("binary_data_output", False) is True
    outputs, binary_outputs = _outputs(document.get("outputs"))
    request_id = document.get("id", "")
    if not isinstance(request_id, str):
        raise InvalidInput(f"'id' must be a string, got {type(request_id).__name__}")
    first = tensors[0]["shape"]

    def decode(max_element_bytes: int) -> Tensors:
        decoded: Tensors = {}
        for tensor, piece in zip(tensors, pieces, strict=True):
            name = tensor["name"]
            if name in decoded:
                raise InvalidInput(f"input {name!r} is given twice")
            decoded[name] = _decode(tensor, piece, max_element_bytes)
        return decoded

    return ParsedRequest(
        id=request_id,
        parameters=parameters,
        outputs=outputs,
        binary_outputs=binary_outputs,
        all_binary=all_binary,
        decode=decode,
        rows=first[0] if first else 0,
    )


def json_object(data: bytes, expected: str = "a JSON object") -> dict[str, Any]:
    """A request body parsed as JSON, which must be an object; InvalidInput naming what was wrong."""
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"the request body is not valid JSON ({exc})") from None
    if not isinstance(document, dict):
        raise InvalidInput(f"the request body must be {expected}")
    return document


def _split(body: bytes, header_length: str | None) -> tuple[bytes, bytes]:
    if header_length is None:
        return body, b""
    try:
        length = int(header_length)
    except ValueError:
        raise InvalidInput(f"{HEADER_LENGTH} must be a number of bytes, got {header_length[:32]!r}") from None
    if not 0 <= length <= len(body):
        raise InvalidInput(f"{HEADER_LENGTH} is {length} but the body holds {len(body)} bytes")
    return body[:length], body[length:]


def _input(index: int, item: Any) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise InvalidInput(f"inputs[{index}] must be an object with name, shape, datatype and data")
    name = item.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidInput(f"inputs[{index}] needs a 'name'")
    datatype = item.get("datatype")
    if datatype not in DATATYPE_TO_NUMPY:
        raise InvalidInput(f"input {name!r} has unknown datatype {datatype!r}")
    shape = item.get("shape")
    if not isinstance(shape, list) or not all(isinstance(dim, int) and not isinstance(dim, bool) for dim in shape):
        raise InvalidInput(f"input {name!r} needs 'shape': a list of integers")
    count = element_count(name, shape)
    parameters = _parameters(item.get("parameters"), f"input {name!r}")
    size = parameters.get(BINARY_SIZE)
    if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 0):
        raise InvalidInput(f"input {name!r}: {BINARY_SIZE} must be a number of bytes, got {size!r}")
    if size is None and "data" not in item:
        raise InvalidInput(f"input {name!r} has neither 'data' nor a '{BINARY_SIZE}' parameter")
    return {"name": name, "datatype": datatype, "shape": shape, "count": count, "size": size, "data": item.get("data")}


def _binary_pieces(tensors: list[dict[str, Any]], binary: bytes) -> list[bytes | None]:
    """Each input's slice of the binary part, in order; the sizes must add up to exactly its length."""
    pieces: list[bytes | None] = []
    offset = 0
    view = memoryview(binary)
    for tensor in tensors:
        size = tensor["size"]
        if size is None:
            pieces.append(None)
            continue
        if offset + size > len(binary):
            raise InvalidInput(
                f"input {tensor['name']!r} says {size} bytes of binary data but only {len(binary) - offset} remain"
            )
        pieces.append(bytes(view[offset : offset + size]))
        offset += size
    if offset != len(binary):
        raise InvalidInput(f"the body has {len(binary) - offset} bytes of binary data that no input claims")
    return pieces


def _decode(tensor: dict[str, Any], piece: bytes | None, max_element_bytes: int) -> np.ndarray:
    name, datatype, shape, count = tensor["name"], tensor["datatype"], tensor["shape"], tensor["count"]
    if piece is not None:
        return decode_tensor_bytes(name, datatype, tuple(shape), piece, max_element_bytes)
    data = tensor["data"]
    if not isinstance(data, list):
        data = [data]
    if datatype == "BYTES":
        flat = _flatten_strings(name, data, count)
        too_long = next((index for index, value in enumerate(flat) if len(value) > max_element_bytes), None)
        if too_long is not None:
            raise InvalidInput(f"input {name!r} element {too_long} is over the limit of {max_element_bytes} bytes")
        array = np.empty(count, dtype=object)
        array[:] = flat
        return array.reshape(shape)
    try:
        array = np.asarray(data, dtype=DATATYPE_TO_NUMPY[datatype])
    except (ValueError, TypeError, OverflowError) as exc:
        raise InvalidInput(f"input {name!r}: 'data' is not a list of {datatype} values ({exc})") from None
    if array.size != count:
        raise InvalidInput(f"input {name!r} has {array.size} elements in 'data'; shape {shape} needs {count}")
    return array.reshape(shape)


def _flatten_strings(name: str, data: list[Any], count: int) -> list[bytes]:
    """BYTES elements, flat or nested, as bytes; stops as soon as there are more than ``count``."""
    flat: list[bytes] = []
    stack = [iter(data)]
    while stack:
        item = next(stack[-1], _END)
        if item is _END:
            stack.pop()
        elif isinstance(item, list):
            stack.append(iter(item))
        elif isinstance(item, str):
            flat.append(item.encode("utf-8"))
        else:
            raise InvalidInput(f"input {name!r} is BYTES: each element must be a string, got {type(item).__name__}")
        if len(flat) > count:
            break
    if len(flat) != count:
        raise InvalidInput(f"input {name!r} has {len(flat)}+ elements in 'data'; its shape needs {count}")
    return flat


_END = object()


def _parameters(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidInput(f"{where} 'parameters' must be an object")
    for key, item in value.items():
        if not isinstance(item, _SCALARS):
            raise InvalidInput(f"{where} parameter {key!r} must be a boolean, number or string")
    return dict(value)


def _outputs(value: Any) -> tuple[list[str], set[str]]:
    if value is None:
        return [], set()
    if not isinstance(value, list):
        raise InvalidInput("'outputs' must be a list of {'name': ...} objects")
    names: list[str] = []
    binary: set[str] = set()
    for index, item in enumerate(value):
        name = item.get("name") if isinstance(item, dict) else None
        if not isinstance(name, str):
            raise InvalidInput(f"outputs[{index}] needs a 'name'")
        parameters = _parameters(item.get("parameters"), f"output {name!r}")
        if parameters.get("binary_data") is True:
            binary.add(name)
        names.append(name)
    return names, binary


# ------------------------------------------------------------------ responses


def encode_infer(answer: InferResponse, binary_outputs: set[str], all_binary: bool) -> tuple[bytes, int | None]:
    """The response body and, when it carries binary tensors, the length of its JSON part."""
    outputs = []
    blobs: list[bytes] = []
    for name, array in answer.outputs:
        datatype = datatype_of(array)
        entry: dict[str, Any] = {"name": name, "datatype": datatype, "shape": list(array.shape)}
        if all_binary or name in binary_outputs:
            blob = serialize_bytes(array) if datatype == "BYTES" else np.ascontiguousarray(array).tobytes()
            entry["parameters"] = {BINARY_SIZE: len(blob)}
            blobs.append(blob)
        else:
            entry["data"] = _json_data(array, datatype)
        outputs.append(entry)
    document: dict[str, Any] = {"model_name": answer.model_name, "model_version": answer.model_version}
    if answer.id:
        document["id"] = answer.id
    if answer.parameters:
        document["parameters"] = answer.parameters
    document["outputs"] = outputs
    header = orjson.dumps(document, option=orjson.OPT_SERIALIZE_NUMPY)
    if not blobs:
        return header, None
    return b"".join([header, *blobs]), len(header)


def _json_data(array: np.ndarray, datatype: str) -> Any:
    """Flat ``data`` as the protocol allows: numbers straight from the array (orjson reads numpy),
    BYTES as UTF-8 strings."""
    flat = array.reshape(-1)
    if datatype == "BYTES":
        return [value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value) for value in flat]
    if datatype == "FP16":  # orjson writes float16 arrays only through a wider type
        return flat.astype(np.float32)
    return np.ascontiguousarray(flat)
