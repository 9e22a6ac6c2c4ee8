"""Bad input gets its status code and a message naming what was wrong; the server keeps serving."""

from __future__ import annotations

import struct
from concurrent.futures import ThreadPoolExecutor

import grpc
import numpy as np
import pytest
import tritonclient.grpc as triton
from gatewise.protos import grpc_service_pb2 as pb
from gatewise.protos import grpc_service_pb2_grpc as pb_grpc
from tritonclient.utils import InferenceServerException

from conftest import RunningServer, start_server, write_admin_key
from models import build_repository


@pytest.fixture
def stub(server: RunningServer) -> pb_grpc.GRPCInferenceServiceStub:
    with grpc.insecure_channel(server.url) as channel:
        yield pb_grpc.GRPCInferenceServiceStub(channel)


def infer_raw(stub, model: str, name: str, datatype: str, shape: list[int], raw: bytes, **kwargs):
    request = pb.ModelInferRequest(model_name=model)
    request.inputs.add(name=name, datatype=datatype, shape=shape)
    request.raw_input_contents.append(raw)
    return stub.ModelInfer(request, **kwargs)


TINY = "tiny-sentiment"


def utf8(*texts: bytes) -> bytes:
    return b"".join(struct.pack("<I", len(text)) + text for text in texts)


@pytest.mark.parametrize(
    ("model", "name", "datatype", "shape", "raw", "code", "message"),
    [
        ("no-such-model", "text", "BYTES", [1], utf8(b"x"), "NOT_FOUND", "'no-such-model' is not in the repository"),
        ("broken", "text", "BYTES", [1], utf8(b"x"), "UNAVAILABLE", "'broken' is not ready"),
        (TINY, "text", "FP32", [1], b"\x00" * 4, "INVALID_ARGUMENT", "input 'text' must be BYTES, got FP32"),
        (TINY, "texts", "BYTES", [1], utf8(b"x"), "INVALID_ARGUMENT", "needs input(s) ['text']"),
        (TINY, "text", "BYTES", [1, 2, 3], utf8(*[b"x"] * 6), "INVALID_ARGUMENT", "'text' must have shape [-1]"),
        (TINY, "text", "BYTES", [0], b"", "INVALID_ARGUMENT", "empty batch"),
        (TINY, "text", "BYTES", [9], utf8(*[b"x"] * 9), "INVALID_ARGUMENT", "more than max_batch_size 8"),
        (TINY, "text", "BYTES", [2], utf8(b"ok", b"\xff\xfe"), "INVALID_ARGUMENT", "'text' row 1 is not valid UTF-8"),
        (TINY, "text", "BYTES", [2], utf8(b"x"), "INVALID_ARGUMENT", "'text' holds 1 BYTES elements"),
        ("add-one", "x", "FP32", [1 << 20, 4], b"\x00" * 16, "INVALID_ARGUMENT", "'x' has 16 bytes of raw data"),
    ],
)
def test_bad_requests_get_their_status(stub, model, name, datatype, shape, raw, code, message) -> None:
    """Each bad request fails with the documented code and a message naming the tensor or model."""
    with pytest.raises(grpc.RpcError) as info:
        infer_raw(stub, model, name, datatype, shape, raw)
    assert info.value.code().name == code
    assert message in info.value.details()
    good = infer_raw(stub, "tiny-sentiment", "text", "BYTES", [1], utf8(b"good"))
    assert good.outputs[0].name == "label"


def test_invalid_utf8_fails_only_its_own_request_in_a_batch(server: RunningServer) -> None:
    """Concurrent good requests, batched with a non-UTF-8 one, still succeed."""

    def send(text: bytes) -> bytes | str:
        client = triton.InferenceServerClient(server.url)
        tensor = triton.InferInput("text", [1], "BYTES")
        tensor.set_data_from_numpy(np.array([text], dtype=object))
        try:
            return client.infer("tiny-sentiment", [tensor]).as_numpy("label")[0]
        except InferenceServerException as exc:
            return str(exc)

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(send, [b"great"] * 3 + [b"\xff"] + [b"great"] * 4))
    assert "row 0 is not valid UTF-8" in outcomes[3]
    assert outcomes[:3] + outcomes[4:] == [b"positive"] * 7


def test_a_stream_answers_errors_in_band_with_the_unary_message(stub) -> None:
    """ModelStreamInfer answers a bad request in-band with the message ModelInfer's status
    carries for it (one mapping), echoing its id, and still answers the next request."""
    bad = pb.ModelInferRequest(model_name=TINY, id="bad")
    bad.inputs.add(name="text", datatype="FP32", shape=[1])
    bad.raw_input_contents.append(b"\x00" * 4)
    good = pb.ModelInferRequest(model_name=TINY, id="good")
    good.inputs.add(name="text", datatype="BYTES", shape=[1])
    good.raw_input_contents.append(utf8(b"good"))
    with pytest.raises(grpc.RpcError) as info:
        stub.ModelInfer(bad)
    replies = {reply.infer_response.id: reply for reply in stub.ModelStreamInfer(iter([bad, good]), timeout=10)}
    assert "input 'text' must be BYTES, got FP32" in info.value.details()
    assert replies["bad"].error_message == info.value.details()
    assert replies["bad"].infer_response.model_name == TINY
    assert replies["good"].error_message == ""
    assert replies["good"].infer_response.outputs[0].name == "label"


def test_unknown_requested_output_is_refused(server: RunningServer) -> None:
    client = triton.InferenceServerClient(server.url)
    tensor = triton.InferInput("text", [1], "BYTES")
    tensor.set_data_from_numpy(np.array([b"good"], dtype=object))
    with pytest.raises(InferenceServerException, match=r"has no output\(s\) \['logits'\]"):
        client.infer("tiny-sentiment", [tensor], outputs=[triton.InferRequestedOutput("logits")])


@pytest.fixture(scope="module")
def admin_stub(tmp_path_factory: pytest.TempPathFactory):
    """A server with repository control on: a stub, and the admin key's metadata."""
    root = tmp_path_factory.mktemp("control")
    admin = write_admin_key(root / "keys")
    running = start_server(build_repository(root / "models"), root / "server.log", *admin.flags)
    with grpc.insecure_channel(running.url) as channel:
        yield pb_grpc.GRPCInferenceServiceStub(channel), admin.metadata
    running.stop()


def test_load_of_a_model_not_on_disk_is_not_found(admin_stub) -> None:
    stub, admin = admin_stub
    with pytest.raises(grpc.RpcError) as info:
        stub.RepositoryModelLoad(pb.RepositoryModelLoadRequest(model_name="ghost"), metadata=admin)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND


def test_load_of_a_broken_model_says_why(admin_stub) -> None:
    stub, admin = admin_stub
    with pytest.raises(grpc.RpcError) as info:
        stub.RepositoryModelLoad(pb.RepositoryModelLoadRequest(model_name="broken"), metadata=admin)
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "batching.max_queue_delay_ms" in info.value.details()
