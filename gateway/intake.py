"""A request's tensors, checked from their metadata before a byte is decoded, then decoded off the loop.

Decoding BYTES is a Python loop over every element, and the event loop serves every other
call (health checks included): 16 MiB of empty strings decoded on it stall the server for
seconds. So ``read_inputs``, the one call the request path makes, first checks what the
metadata alone says (names, datatypes, shapes, row counts, byte counts against the shape,
how many parameters and outputs), which costs the same for a 64 MiB message as for a small
one, and refuses with INVALID_ARGUMENT naming the tensor. Only a request that fits its
model is decoded, and one whose tensors hold more than ``OFF_LOOP_BYTES`` is decoded in a
worker thread. Every client string quoted in an error is cut (``protos.quoting``).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import numpy as np
from gatewise.gateway.codec import decode_inputs, element_count
from gatewise.gateway.validation import squeeze_trailing
from gatewise.protos import grpc_service_pb2 as pb
from gatewise.protos.errors import InvalidInput
from gatewise.protos.quoting import clip, quote, shape_text
from gatewise.protos.tensors import CONTENTS_FIELD, DATATYPE_TO_NUMPY, TensorSpec

if TYPE_CHECKING:
    from gatewise.gateway.model import ServedModel

OFF_LOOP_BYTES = 64 * 1024
"""Tensor data past this many bytes is decoded in a worker thread, not on the event loop."""

MAX_PARAMETERS = 64
"""Most parameters a request (or one of its tensors) may carry; no model reads more than a few."""

_LENGTH_BYTES = 4  # each BYTES element starts with its 4-byte length


def check_request(request: pb.ModelInferRequest, model: str, specs: tuple[TensorSpec, ...], max_batch_size: int) -> int:
    """Refuse what the request's metadata already shows is wrong; return the bytes its tensors hold.

    Looks at no tensor data: every check is O(number of tensors and dimensions), and those
    are bounded first (a tensor may have at most one dimension more than its spec).
    """
    _check_parameters("request", request.parameters)
    expected = {spec.name: spec for spec in specs}
    if len(request.outputs) > MAX_PARAMETERS:
        raise InvalidInput(f"request names {len(request.outputs)} outputs, more than {MAX_PARAMETERS}")
    raw_contents = request.raw_input_contents
    if raw_contents and len(raw_contents) != len(request.inputs):
        raise InvalidInput(
            f"request has {len(request.inputs)} inputs but {len(raw_contents)} raw_input_contents entries"
        )
    if len(request.inputs) <= len(expected):  # a handful of names: missing ones are named first, as validation does
        sent = {tensor.name for tensor in request.inputs}
        missing = [name for name in expected if name not in sent]
        if missing:
            raise InvalidInput(f"model {quote(model)} needs input(s) {missing}; expected {sorted(expected)}")
    # More inputs than the model has: a repeated or unknown name is found within the first few.
    seen: set[str] = set()
    rows: int | None = None
    payload = 0
    for index, tensor in enumerate(request.inputs):
        name = tensor.name
        if name in seen:
            raise InvalidInput(f"input {quote(name)} is given twice")
        seen.add(name)
        spec = expected.get(name)
        if spec is None:
            raise InvalidInput(f"model {quote(model)} has no input(s) {[clip(name)]}; expected {sorted(expected)}")
        _check_parameters(f"input {quote(name)}", tensor.parameters)
        shape = tensor.shape
        _check_datatype(spec, tensor.datatype)
        if not shape or not (len(shape) == len(spec.shape) or (len(shape) == len(spec.shape) + 1 and shape[-1] == 1)):
            raise InvalidInput(f"input {quote(name)} must have shape {list(spec.shape)}, got {shape_text(shape)}")
        count = element_count(name, shape)  # negative, huge, or overflowing: refused before anything else
        for axis, (want, got) in enumerate(zip(spec.shape, shape, strict=False)):
            if want != -1 and want != got:
                raise InvalidInput(
                    f"input {quote(name)} dimension {axis} must be {want}, got {got} (shape {shape_text(shape)})"
                )
        if rows is None:
            rows = shape[0]
        elif shape[0] != rows:
            raise InvalidInput(f"input {quote(name)} has {shape[0]} rows, other inputs have {rows}")
        payload += _check_size(tensor, raw_contents[index] if raw_contents else None, count)
    if not rows:
        raise InvalidInput(f"request for model {quote(model)} has an empty batch (0 rows)")
    if rows > max_batch_size:
        raise InvalidInput(
            f"request for model {quote(model)} has {rows} rows, more than max_batch_size {max_batch_size}"
        )
    return payload


async def read_inputs(
    request: pb.ModelInferRequest, model: ServedModel, max_element_bytes: int
) -> tuple[dict[str, np.ndarray], int]:
    """The request's inputs as arrays and its row count, checked (``check_request``) before decoding.

    Decoding keeps the checked datatypes and shapes, so what is left of ``validate_inputs`` is
    reading a trailing dimension of 1 away.
    """
    specs, max_batch_size = model.signature.inputs, model.config.max_batch_size
    payload = check_request(request, model.name, specs, max_batch_size)
    if payload > OFF_LOOP_BYTES:
        inputs = await asyncio.to_thread(decode_inputs, request, max_element_bytes)
    else:
        inputs = decode_inputs(request, max_element_bytes)
    squeeze_trailing(inputs, specs)
    return inputs, next(iter(inputs.values())).shape[0]  # check_request: >= 1 input, equal rows, > 0


def _check_datatype(spec: TensorSpec, datatype: str) -> None:
    if datatype != spec.datatype:
        known = datatype in DATATYPE_TO_NUMPY
        sent = datatype if known else f"unknown datatype {quote(datatype)}"
        raise InvalidInput(f"input {quote(spec.name)} must be {spec.datatype}, got {sent}")


def _check_size(tensor: pb.ModelInferRequest.InferInputTensor, raw: bytes | None, count: int) -> int:
    """Bytes the tensor's data holds, refused when they cannot be ``count`` elements of its datatype."""
    name, datatype = tensor.name, tensor.datatype
    if raw is not None:
        if datatype == "BYTES":
            if len(raw) < _LENGTH_BYTES * count:
                raise InvalidInput(
                    f"input {quote(name)} holds {len(raw) // _LENGTH_BYTES} BYTES elements at most ({len(raw)} bytes, "
                    f"each element starting with a 4-byte length), its shape says {count}"
                )
        elif len(raw) != count * DATATYPE_TO_NUMPY[datatype].itemsize:
            raise InvalidInput(
                f"input {quote(name)} has {len(raw)} bytes of raw data; shape {shape_text(tensor.shape)} of "
                f"{datatype} needs {count * DATATYPE_TO_NUMPY[datatype].itemsize}"
            )
        return len(raw)
    field = CONTENTS_FIELD.get(datatype)
    if field is None:
        raise InvalidInput(f"input {quote(name)}: {datatype} can only be sent in raw_input_contents")
    sent = len(getattr(tensor.contents, field))
    if sent != count:
        raise InvalidInput(
            f"input {quote(name)} has {sent} elements in contents; shape {shape_text(tensor.shape)} needs {count}"
        )
    return tensor.contents.ByteSize()


def _check_parameters(owner: str, parameters: object) -> None:
    if len(parameters) > MAX_PARAMETERS:  # type: ignore[arg-type]
        raise InvalidInput(f"{owner} carries {len(parameters)} parameters, more than {MAX_PARAMETERS}")  # type: ignore[arg-type]
