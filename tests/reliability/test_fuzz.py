"""Fuzzing request decoding and plugin inputs through a real server: malformed tensors, wrong
BYTES lengths, huge shapes with tiny bodies, random datatypes and random bytes. Every request
gets a status code within its deadline, never INTERNAL for bad input, and the server lives on."""

from __future__ import annotations

import struct
from collections.abc import Iterator

import grpc
import pytest
from gatewise.protos import grpc_service_pb2 as pb
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from security.harness import add_one_request, stub, text_request

DATATYPES = ["BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64", "FP16", "FP32",
             "FP64", "BYTES"]  # fmt: skip
BAD_INPUT = {"INVALID_ARGUMENT", "NOT_FOUND", "UNAVAILABLE", "RESOURCE_EXHAUSTED"}
"""What bad input may earn; INTERNAL, UNKNOWN or DEADLINE_EXCEEDED would be a gateway bug."""
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

dims = st.one_of(st.integers(-3, 9), st.sampled_from([0, 2**31, 2**40, 2**62, 2**63 - 1, -(2**63)]))
element = st.tuples(st.one_of(st.integers(0, 40), st.sampled_from([2**31, 2**32 - 1])), st.binary(max_size=24))
bytes_body = st.lists(element, max_size=6).map(lambda items: b"".join(struct.pack("<I", n) + d for n, d in items))
raw_body = st.one_of(st.binary(max_size=128), bytes_body)


@st.composite
def infer_requests(draw: st.DrawFn) -> pb.ModelInferRequest:
    request = pb.ModelInferRequest(
        model_name=draw(st.sampled_from(["tiny-sentiment", "add-one", "broken", "nope", ""])),
        model_version=draw(st.sampled_from(["", "", "1", "7", "x"])),
        id=draw(st.text(max_size=8)),
    )
    for _ in range(draw(st.integers(0, 3))):
        tensor = request.inputs.add(
            name=draw(st.sampled_from(["x", "text", "", "y"]) | st.text(max_size=6)),
            datatype=draw(st.sampled_from(DATATYPES) | st.text(max_size=6)),
            shape=draw(st.lists(dims, max_size=4)),
        )
        if draw(st.booleans()):
            tensor.contents.fp32_contents.extend(draw(st.lists(st.floats(width=32), max_size=8)))
            tensor.contents.bytes_contents.extend(draw(st.lists(st.binary(max_size=16), max_size=4)))
            tensor.contents.int64_contents.extend(draw(st.lists(st.integers(-(2**63), 2**63 - 1), max_size=4)))
    if draw(st.booleans()):
        request.raw_input_contents.extend(draw(st.lists(raw_body, max_size=4)))
    for name in draw(st.lists(st.sampled_from(["label", "y", "scores", "nope"]), max_size=2)):
        request.outputs.add(name=name)
    for key in draw(st.lists(st.text(max_size=6), max_size=2)):
        request.parameters[key].int64_param = draw(st.integers(-5, 5))
    return request


@pytest.fixture(scope="module")
def client(server) -> Iterator[pb.ModelInferRequest]:
    with grpc.insecure_channel(server.url) as channel:
        yield stub(channel)


def outcome(call) -> str:
    try:
        call()
    except grpc.RpcError as exc:
        return exc.code().name
    return "OK"


@FUZZ
@given(request=infer_requests())
def test_malformed_requests_get_a_bad_input_status(client, request: pb.ModelInferRequest) -> None:
    assert outcome(lambda: client.ModelInfer(request, timeout=10)) in BAD_INPUT | {"OK"}


@settings(FUZZ, max_examples=80)
@given(texts=st.lists(st.one_of(st.binary(max_size=48), st.text(max_size=48).map(str.encode)), min_size=1, max_size=8))
def test_any_text_reaches_the_plugin_and_answers(client, texts: list[bytes]) -> None:
    """The text plugin sees arbitrary strings: valid UTF-8 answers, anything else INVALID_ARGUMENT."""
    valid = all(_is_utf8(text) for text in texts)
    assert outcome(lambda: client.ModelInfer(text_request(*texts), timeout=10)) == (
        "OK" if valid else "INVALID_ARGUMENT"
    )


@settings(FUZZ, max_examples=80)
@given(body=st.binary(max_size=256))
def test_random_bytes_as_a_request_get_a_status(server, body: bytes) -> None:
    """Undecodable bodies are grpc's UNKNOWN; decodable ones follow the bad-input rules."""
    with grpc.insecure_channel(server.url) as channel:
        call = channel.unary_unary("/inference.GRPCInferenceService/ModelInfer")
        assert outcome(lambda: call(body, timeout=10)) in BAD_INPUT | {"OK", "UNKNOWN"}


@settings(FUZZ, max_examples=30)
@given(requests=st.lists(infer_requests(), min_size=1, max_size=5))
def test_a_stream_answers_every_request_once(client, requests: list[pb.ModelInferRequest]) -> None:
    for index, request in enumerate(requests):
        request.id = str(index)
    answers = [response.infer_response.id for response in client.ModelStreamInfer(iter(requests), timeout=20)]
    assert sorted(answers, key=int) == [str(index) for index in range(len(requests))]


def test_a_huge_dimension_beside_a_zero_is_invalid_on_both_paths(client) -> None:
    """Found by the fuzzer: [0, 2**62] holds no elements but cannot be shaped; it was INTERNAL,
    and on a stream the request got no answer at all."""
    request = pb.ModelInferRequest(model_name="add-one", id="huge")
    request.inputs.add(name="x", datatype="FP32", shape=[0, 2**62])
    with pytest.raises(grpc.RpcError) as info:
        client.ModelInfer(request, timeout=10)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "has a dimension over" in info.value.details()
    [answer] = list(client.ModelStreamInfer(iter([request]), timeout=10))
    assert answer.infer_response.id == "huge" and "has a dimension over" in answer.error_message


def test_the_server_is_still_serving_after_the_fuzzing(client) -> None:
    assert client.ModelInfer(add_one_request(), timeout=10).outputs[0].name == "y"


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
