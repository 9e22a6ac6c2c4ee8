"""Protocol tensors <-> numpy: exact round trips, and every malformed body refused by name."""

from __future__ import annotations

import struct
import tracemalloc

import numpy as np
import pytest
from gatewise.gateway.codec import decode_inputs, encode_outputs, serialize_bytes
from gatewise.protos import grpc_service_pb2 as pb
from gatewise.protos.errors import InvalidInput
from hypothesis import given, settings
from hypothesis import strategies as st

LIMIT = 1024


def request_with(name: str, datatype: str, shape: list[int], raw: bytes) -> pb.ModelInferRequest:
    request = pb.ModelInferRequest(model_name="m")
    request.inputs.add(name=name, datatype=datatype, shape=shape)
    request.raw_input_contents.append(raw)
    return request


def test_bytes_round_trip_through_raw_contents() -> None:
    """BYTES elements, empty and non-ASCII ones included, survive encode -> decode."""
    values = np.array([b"", "héllo wörld".encode(), b"\x00\xff"], dtype=object)
    decoded = decode_inputs(request_with("text", "BYTES", [3], serialize_bytes(values)), LIMIT)
    assert list(decoded["text"]) == list(values)


def test_numeric_round_trip_and_typed_contents_agree() -> None:
    """Raw FP32 bytes and typed fp32_contents decode to the same array."""
    array = np.arange(8, dtype=np.float32).reshape(2, 4)
    raw = decode_inputs(request_with("x", "FP32", [2, 4], array.tobytes()), LIMIT)["x"]
    typed = pb.ModelInferRequest()
    typed.inputs.add(name="x", datatype="FP32", shape=[2, 4]).contents.fp32_contents.extend(array.ravel())
    np.testing.assert_array_equal(raw, array)
    np.testing.assert_array_equal(decode_inputs(typed, LIMIT)["x"], array)


def test_outputs_are_encoded_as_raw_contents() -> None:
    """encode_outputs writes datatype, shape and raw bytes for numeric and BYTES outputs."""
    response = pb.ModelInferResponse()
    encode_outputs(response, [("y", np.ones((2, 2), np.float32)), ("label", np.array([b"a", b"bc"], dtype=object))])
    assert [(o.name, o.datatype, list(o.shape)) for o in response.outputs] == [
        ("y", "FP32", [2, 2]),
        ("label", "BYTES", [2]),
    ]
    assert response.raw_output_contents[1] == struct.pack("<I", 1) + b"a" + struct.pack("<I", 2) + b"bc"


@pytest.mark.parametrize(
    ("datatype", "shape", "raw", "message"),
    [
        (
            "BYTES",
            [2],
            struct.pack("<I", 3) + b"abc",
            r"'t' holds 1 BYTES elements at most \(7 bytes, .*\), its shape says 2",
        ),
        ("BYTES", [2], struct.pack("<I", 4) + b"abcd", r"'t' holds 1 BYTES elements, its shape says 2"),
        ("BYTES", [1], struct.pack("<I", 10) + b"abc", r"'t' element 0 says 10 bytes but only 3 remain"),
        ("BYTES", [1], struct.pack("<I", 1) + b"ab", r"'t' has 1 bytes after its 1 BYTES elements"),
        ("BYTES", [1], struct.pack("<I", 2000) + b"x" * 2000, r"'t' element 0 is 2000 bytes, over the limit"),
        ("FP32", [1000, 1000], b"\x00" * 8, r"'t' has 8 bytes of raw data; shape \[1000, 1000\] of FP32 needs 4000000"),
        ("FP32", [1 << 20, 1 << 20], b"", r"holds 1099511627776 elements"),
        ("INT64", [-1], b"", r"'t' has a negative dimension"),
        ("FLOAT", [1], b"\x00" * 4, r"'t' has unknown datatype 'FLOAT'"),
    ],
)
def test_malformed_tensors_are_refused_by_name(datatype: str, shape: list[int], raw: bytes, message: str) -> None:
    """Wrong lengths, huge shapes with tiny bodies and unknown datatypes name the tensor."""
    with pytest.raises(InvalidInput, match=message):
        decode_inputs(request_with("t", datatype, shape, raw), LIMIT)


def _peak_bytes_of(request: pb.ModelInferRequest) -> int:
    """Peak Python/numpy memory allocated while decoding ``request`` (which must fail)."""
    tracemalloc.start()
    try:
        with pytest.raises(InvalidInput, match="'t'"):
            decode_inputs(request, LIMIT)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize(
    ("datatype", "body"), [("BYTES", b""), ("BYTES", struct.pack("<I", 0) * 3), ("FP32", b""), ("INT64", b"\x00" * 8)]
)
def test_huge_shape_with_a_tiny_raw_body_allocates_nothing_first(datatype: str, body: bytes) -> None:
    """1 << 24 elements sent with a few bytes: refused naming the tensor before an array of that
    size exists (a BYTES array of 2^31 elements cost 16 GiB and got the process killed)."""
    request = request_with("t", datatype, [1 << 24], body)
    assert _peak_bytes_of(request) < 1 << 20  # the shape's array alone would be 128 MiB


@pytest.mark.parametrize(("datatype", "field"), [("BYTES", "bytes_contents"), ("FP32", "fp32_contents")])
def test_huge_shape_with_few_typed_contents_allocates_nothing_first(datatype: str, field: str) -> None:
    """The same for typed ``contents``: their count is checked against the shape first."""
    request = pb.ModelInferRequest(model_name="m")
    tensor = request.inputs.add(name="t", datatype=datatype, shape=[1 << 24])
    getattr(tensor.contents, field).extend([b"a", b"b"] if datatype == "BYTES" else [1.0, 2.0])
    assert _peak_bytes_of(request) < 1 << 20


def test_raw_contents_must_cover_every_input() -> None:
    """Two inputs but one raw entry is refused."""
    request = request_with("a", "FP32", [1], b"\x00" * 4)
    request.inputs.add(name="b", datatype="FP32", shape=[1])
    with pytest.raises(InvalidInput, match="2 inputs but 1 raw_input_contents"):
        decode_inputs(request, LIMIT)


def test_duplicate_input_names_are_refused() -> None:
    """The same input twice is an error, not a silent overwrite."""
    request = request_with("a", "FP32", [1], b"\x00" * 4)
    request.inputs.add(name="a", datatype="FP32", shape=[1])
    request.raw_input_contents.append(b"\x00" * 4)
    with pytest.raises(InvalidInput, match="'a' is given twice"):
        decode_inputs(request, LIMIT)


@settings(max_examples=300, deadline=None)
@given(
    datatype=st.sampled_from(["BYTES", "FP32", "INT64", "BOOL", "FP16", "UINT8", "NOPE", ""]),
    shape=st.lists(st.integers(min_value=-2, max_value=1 << 40), max_size=4),
    raw=st.binary(max_size=64),
)
def test_random_bodies_decode_or_fail_cleanly(datatype: str, shape: list[int], raw: bytes) -> None:
    """Any datatype, shape and body: a decoded array of that shape, or InvalidInput — never another error."""
    try:
        decoded = decode_inputs(request_with("t", datatype, shape, raw), LIMIT)
    except InvalidInput:
        return
    assert list(decoded["t"].shape) == shape
