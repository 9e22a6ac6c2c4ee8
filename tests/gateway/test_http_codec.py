"""The HTTP front door's pieces without a server: the JSON/binary codec and the error table."""

from __future__ import annotations

import json
import logging
import struct

import numpy as np
import pytest
from gatewise.gateway.dataplane import InferResponse
from gatewise.gateway.http import codec
from gatewise.gateway.http.errors import http_error
from gatewise.protos.errors import InvalidInput, ModelNotFound, QueueFull

LIMIT = 1 << 20


def body(*inputs: dict, **fields: object) -> bytes:
    return json.dumps({"inputs": list(inputs), **fields}).encode()


def test_nested_and_flat_data_decode_to_the_same_array() -> None:
    nested = codec.parse_infer(
        body({"name": "x", "datatype": "INT32", "shape": [2, 2], "data": [[1, 2], [3, 4]]}), None
    )
    flat = codec.parse_infer(body({"name": "x", "datatype": "INT32", "shape": [2, 2], "data": [1, 2, 3, 4]}), None)
    for parsed in (nested, flat):
        x = parsed.decode(LIMIT)["x"]
        assert x.dtype == np.int32 and x.tolist() == [[1, 2], [3, 4]]


def test_a_huge_shape_with_little_data_is_refused_before_allocating() -> None:
    """2^30 elements declared, one sent: refused from the count, nothing of the shape allocated;
    past 2^31 elements refused as the request is read."""
    parsed = codec.parse_infer(body({"name": "x", "datatype": "FP32", "shape": [1 << 20, 1 << 10], "data": [1]}), None)
    with pytest.raises(InvalidInput, match="has 1 elements in 'data'"):
        parsed.decode(LIMIT)
    with pytest.raises(InvalidInput, match="more than 2147483648"):
        codec.parse_infer(body({"name": "x", "datatype": "FP32", "shape": [1 << 30, 1 << 10], "data": [1]}), None)


def test_bytes_elements_are_counted_and_capped() -> None:
    parsed = codec.parse_infer(body({"name": "t", "datatype": "BYTES", "shape": [2], "data": ["a", "b", "c"]}), None)
    with pytest.raises(InvalidInput, match="its shape needs 2"):
        parsed.decode(LIMIT)
    long = codec.parse_infer(body({"name": "t", "datatype": "BYTES", "shape": [1], "data": ["x" * 11]}), None)
    with pytest.raises(InvalidInput, match="over the limit of 10 bytes"):
        long.decode(10)


def test_binary_inputs_take_their_sizes_in_order() -> None:
    x = np.arange(4, dtype=np.float32)
    text = struct.pack("<I", 2) + b"hi"
    header = body(
        {"name": "x", "datatype": "FP32", "shape": [4], "parameters": {"binary_data_size": 16}},
        {"name": "t", "datatype": "BYTES", "shape": [1], "parameters": {"binary_data_size": len(text)}},
    )
    decoded = codec.parse_infer(header + x.tobytes() + text, str(len(header))).decode(LIMIT)
    assert decoded["x"].tolist() == [0, 1, 2, 3] and decoded["t"].tolist() == [b"hi"]


@pytest.mark.parametrize(
    ("tail", "length", "message"),
    [
        (b"\0" * 15, None, "says 16 bytes of binary data but only 15 remain"),
        (b"\0" * 17, None, "1 bytes of binary data that no input claims"),
        (b"\0" * 16, "abc", "must be a number of bytes"),
        (b"\0" * 16, "99999", "but the body holds"),
    ],
)
def test_binary_sizes_must_add_up(tail: bytes, length: str | None, message: str) -> None:
    header = body({"name": "x", "datatype": "FP32", "shape": [4], "parameters": {"binary_data_size": 16}})
    with pytest.raises(InvalidInput, match=message):
        codec.parse_infer(header + tail, length or str(len(header)))


def test_responses_are_json_or_json_then_binary() -> None:
    answer = InferResponse(
        "m", "1", "r", [("y", np.array([[1.5, 2.5]], dtype=np.float32)), ("label", np.array([b"ok"], dtype=object))], {}
    )
    payload, length = codec.encode_infer(answer, set(), False)
    assert length is None
    document = json.loads(payload)
    assert document["outputs"][0]["data"] == [1.5, 2.5] and document["outputs"][1]["data"] == ["ok"]
    payload, length = codec.encode_infer(answer, {"y"}, False)
    document = json.loads(payload[:length])
    assert document["outputs"][0]["parameters"] == {"binary_data_size": 8}
    assert np.frombuffer(payload[length:], dtype=np.float32).tolist() == [1.5, 2.5]


def test_transport_parameters_never_reach_the_model() -> None:
    parsed = codec.parse_infer(
        body(
            {"name": "x", "datatype": "FP32", "shape": [1], "data": [1]},
            parameters={"binary_data_output": True, "explain": True},
        ),
        None,
    )
    assert parsed.all_binary and parsed.parameters == {"explain": True}


def test_known_errors_keep_their_status_and_message() -> None:
    assert http_error(ModelNotFound("m"), "route") == (404, "model 'm' is not in the repository")
    assert http_error(QueueFull("m", 4), "route")[0] == 429


def test_an_unexpected_error_is_500_naming_only_its_type_and_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    class Surprise(Exception):
        pass

    with caplog.at_level(logging.ERROR, logger="gatewise.http"):
        answers = [http_error(Surprise("secret customer text"), "POST /v2/models/{model}/infer") for _ in range(5)]
    assert answers == [(500, "POST /v2/models/{model}/infer failed: Surprise")] * 5
    assert len([record for record in caplog.records if record.exc_info]) == 1
    assert all("secret" not in message for _, message in answers)
