"""Request metadata is checked before any tensor data is decoded; large data is decoded off the loop."""

from __future__ import annotations

import struct
import threading
from types import SimpleNamespace

import numpy as np
import pytest
from gatewise.gateway import intake
from gatewise.protos import grpc_service_pb2 as pb
from gatewise.protos.errors import InvalidInput
from gatewise.protos.tensors import TensorSpec

TEXT = (TensorSpec(name="text", datatype="BYTES", shape=(-1,)),)
FEATURES = (TensorSpec(name="x", datatype="FP32", shape=(-1, 4)),)


def _request(name: str, datatype: str, shape: list[int], raw: bytes | None = None) -> pb.ModelInferRequest:
    request = pb.ModelInferRequest(model_name="m")
    request.inputs.add(name=name, datatype=datatype, shape=shape)
    if raw is not None:
        request.raw_input_contents.append(raw)
    return request


def _two_inputs(first: str, second: str) -> pb.ModelInferRequest:
    request = _request(first, "BYTES", [1], b"\0" * 4)
    request.inputs.add(name=second, datatype="BYTES", shape=[1])
    request.raw_input_contents.append(b"\0" * 4)
    return request


def _strings(*texts: bytes) -> bytes:
    return b"".join(struct.pack("<I", len(text)) + text for text in texts)


@pytest.mark.parametrize(
    ("request_", "specs", "message"),
    [
        (_request("x", "BYTES", [1 << 20, 4], b"\0" * (16 << 20)), FEATURES, "input 'x' must be FP32, got BYTES"),
        (_request("x", "FP99", [1, 4], b""), FEATURES, "input 'x' must be FP32, got unknown datatype 'FP99'"),
        (_request("y", "FP32", [1, 4], b"\0" * 16), FEATURES, "model 'm' needs input(s) ['x']; expected ['x']"),
        (_request("x", "FP32", [1, 4, 2], b"\0" * 32), FEATURES, "input 'x' must have shape [-1, 4], got [1, 4, 2]"),
        (_request("x", "FP32", [1] * 1000, b"\0" * 4), FEATURES, "got [1, 1, 1, 1, 1, 1, 1, 1, ... (1000 dims)]"),
        (_request("x", "FP32", [2, 5], b"\0" * 40), FEATURES, "input 'x' dimension 1 must be 4, got 5"),
        (_request("x", "FP32", [-2, 4], b""), FEATURES, "input 'x' has a negative dimension"),
        (_request("x", "FP32", [0, 4], b""), FEATURES, "has an empty batch (0 rows)"),
        (_request("x", "FP32", [9, 4], b"\0" * 144), FEATURES, "has 9 rows, more than max_batch_size 8"),
        (_request("x", "FP32", [2, 4], b"\0" * 31), FEATURES, "input 'x' has 31 bytes of raw data; shape [2, 4]"),
        (_request("text", "BYTES", [1 << 40], b""), TEXT, "shape [1099511627776] has a dimension over"),
        (_request("text", "BYTES", [8], b"\0" * 28), TEXT, "holds 7 BYTES elements at most (28 bytes"),
        (_two_inputs("t" * 100_000, "text"), TEXT, "model 'm' has no input(s) ['" + "t" * 64 + "...']"),
        (_request("text", "FP16", [1]), TEXT, "input 'text' must be BYTES, got FP16"),
    ],
)
def test_metadata_alone_refuses_a_request_naming_the_tensor(
    request_: pb.ModelInferRequest, specs: tuple[TensorSpec, ...], message: str
) -> None:
    with pytest.raises(InvalidInput) as info:
        intake.check_request(request_, "m", specs, max_batch_size=8)
    assert message in info.value.message
    assert len(info.value.message) < 300


def test_repeated_names_missing_inputs_and_too_many_parameters_are_refused() -> None:
    twice = _request("x", "FP32", [1, 4], b"\0" * 16)
    twice.inputs.add(name="x", datatype="FP32", shape=[1, 4])
    twice.raw_input_contents.append(b"\0" * 16)
    with pytest.raises(InvalidInput, match="input 'x' is given twice"):
        intake.check_request(twice, "m", FEATURES, 8)
    with pytest.raises(InvalidInput, match=r"needs input\(s\) \['x'\]"):
        intake.check_request(pb.ModelInferRequest(model_name="m"), "m", FEATURES, 8)
    crowded = _request("x", "FP32", [1, 4], b"\0" * 16)
    for index in range(intake.MAX_PARAMETERS + 1):
        crowded.parameters[f"p{index}"].bool_param = True
    with pytest.raises(InvalidInput, match="request carries 65 parameters, more than 64"):
        intake.check_request(crowded, "m", FEATURES, 8)
    tensor_crowded = _request("x", "FP32", [1, 4], b"\0" * 16)
    for index in range(intake.MAX_PARAMETERS + 1):
        tensor_crowded.inputs[0].parameters[f"p{index}"].bool_param = True
    with pytest.raises(InvalidInput, match="input 'x' carries 65 parameters"):
        intake.check_request(tensor_crowded, "m", FEATURES, 8)


def test_a_trailing_dimension_of_one_is_accepted_and_the_payload_counted() -> None:
    raw = _strings(b"good", b"bad")
    assert intake.check_request(_request("text", "BYTES", [2, 1], raw), "m", TEXT, 8) == len(raw)


def _model(specs: tuple[TensorSpec, ...]) -> SimpleNamespace:
    return SimpleNamespace(name="m", signature=SimpleNamespace(inputs=specs), config=SimpleNamespace(max_batch_size=8))


@pytest.mark.parametrize(("size", "off_loop"), [(16, False), (intake.OFF_LOOP_BYTES + 1, True)])
async def test_large_tensors_are_decoded_in_a_worker_thread(
    monkeypatch: pytest.MonkeyPatch, size: int, off_loop: bool
) -> None:
    """Past OFF_LOOP_BYTES decoding leaves the event loop's thread; small requests stay on it (cheaper)."""
    threads = []
    decode = intake.decode_inputs

    def recording(*args: object) -> dict[str, np.ndarray]:
        threads.append(threading.current_thread())
        return decode(*args)

    monkeypatch.setattr(intake, "decode_inputs", recording)
    raw = _strings(b"a" * (size - 4))
    inputs, rows = await intake.read_inputs(_request("text", "BYTES", [1], raw), _model(TEXT), 1 << 20)
    assert rows == 1 and inputs["text"][0] == b"a" * (size - 4)
    assert (threads[0] is not threading.main_thread()) == off_loop
