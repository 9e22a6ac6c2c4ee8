"""tritonclient.http (sync and aio), unchanged, against a real gateway process's HTTP port:
every call tests/e2e/test_tritonclient.py makes over gRPC (HTTP has no stream), in JSON and
with binary outputs."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import tritonclient.http as triton
import tritonclient.http.aio as triton_aio
from tritonclient.utils import InferenceServerException

from conftest import (
    RunningServer,
    check_unload_is_refused,
    check_unload_then_load,
    free_port,
    start_server,
    write_admin_key,
)
from models import build_repository


@pytest.fixture
def client(http_server: tuple[RunningServer, str]) -> Iterator[triton.InferenceServerClient]:
    client = triton.InferenceServerClient(http_server[1])
    yield client
    client.close()


def text_input(*texts: str, binary: bool = True) -> triton.InferInput:
    tensor = triton.InferInput("text", [len(texts)], "BYTES")
    tensor.set_data_from_numpy(np.array([text.encode() for text in texts], dtype=object), binary_data=binary)
    return tensor


def labels(result: triton.InferResult) -> list[bytes]:
    """The ``label`` output as bytes: tritonclient.http gives BYTES from JSON as str, from binary as bytes."""
    return [value if isinstance(value, bytes) else value.encode() for value in result.as_numpy("label")]


def test_server_health_and_metadata(client: triton.InferenceServerClient) -> None:
    assert client.is_server_live() and client.is_server_ready()
    metadata = client.get_server_metadata()
    assert metadata["name"] == "gatewise"
    assert "binary_tensor_data" in metadata["extensions"]


def test_model_readiness_reflects_each_model(client: triton.InferenceServerClient) -> None:
    assert client.is_model_ready("tiny-sentiment")
    assert not client.is_model_ready("broken")
    assert not client.is_model_ready("no-such-model")


def test_model_metadata_is_the_public_text_signature(client: triton.InferenceServerClient) -> None:
    metadata = client.get_model_metadata("tiny-sentiment")
    assert metadata["platform"] == "onnxruntime_onnx"
    assert [(t["name"], t["datatype"], t["shape"]) for t in metadata["inputs"]] == [("text", "BYTES", [-1])]
    assert [t["name"] for t in metadata["outputs"]] == ["label", "score", "scores"]  # explanation: on request


def test_model_config_reports_batching_and_the_cpu_fallback(client: triton.InferenceServerClient) -> None:
    """Triton's HTTP config JSON: the config itself (no 'config' wrapper), 64-bit numbers as numbers."""
    config = client.get_model_config("tiny-sentiment")
    assert config["parameters"]["max_batch_rows"]["string_value"] == "8"
    assert config["parameters"]["providers"]["string_value"] == "CPUExecutionProvider"
    assert config["instance_group"][0]["kind"] == "KIND_CPU"
    tensor_config = client.get_model_config("add-one")
    assert tensor_config["max_batch_size"] == 16
    assert tensor_config["input"][0]["dims"] == [4]


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_infer_classifies_text(client: triton.InferenceServerClient, binary: bool) -> None:
    """BYTES text in (JSON or binary); label, score and scores out (JSON or binary), labels right."""
    outputs = [triton.InferRequestedOutput(name, binary_data=binary) for name in ("label", "score", "scores")]
    texts = ("the movie was great", "awful service", "the price")
    result = client.infer("tiny-sentiment", [text_input(*texts, binary=binary)], outputs=outputs)
    assert labels(result) == [b"positive", b"negative", b"neutral"]
    scores = result.as_numpy("scores")
    assert scores.dtype == np.float32 and scores.shape == (3, 3)
    np.testing.assert_allclose(scores.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(result.as_numpy("score"), scores.max(axis=1), rtol=1e-6)


def test_requested_outputs_only_are_returned(client: triton.InferenceServerClient) -> None:
    result = client.infer("tiny-sentiment", [text_input("good")], outputs=[triton.InferRequestedOutput("label")])
    assert [output["name"] for output in result.get_response()["outputs"]] == ["label"]


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_tensor_model_without_plugin(client: triton.InferenceServerClient, binary: bool) -> None:
    x = triton.InferInput("x", [2, 4], "FP32")
    x.set_data_from_numpy(np.arange(8, dtype=np.float32).reshape(2, 4), binary_data=binary)
    output = triton.InferRequestedOutput("y", binary_data=binary)
    y = client.infer("add-one", [x], outputs=[output]).as_numpy("y")
    np.testing.assert_array_equal(y, np.arange(8).reshape(2, 4) + 1)


def test_long_text_is_truncated_and_says_so(client: triton.InferenceServerClient) -> None:
    result = client.infer("tiny-sentiment", [text_input("good " * 200, "bad")])
    assert labels(result) == [b"positive", b"negative"]
    assert result.get_response()["parameters"]["truncated"] is True
    assert "parameters" not in client.infer("tiny-sentiment", [text_input("bad")]).get_response()


def test_an_explanation_is_the_same_document_as_over_grpc(
    client: triton.InferenceServerClient, http_server: tuple[RunningServer, str]
) -> None:
    """explain=true over HTTP answers the explanation output grpc answers for the same row."""
    import tritonclient.grpc as triton_grpc

    result = client.infer("tiny-sentiment", [text_input("good film")], parameters={"explain": True})
    over_http = result.as_numpy("explanation")[0]
    grpc_client = triton_grpc.InferenceServerClient(http_server[0].url)
    tensor = triton_grpc.InferInput("text", [1], "BYTES")
    tensor.set_data_from_numpy(np.array([b"good film"], dtype=object))
    over_grpc = grpc_client.infer("tiny-sentiment", [tensor], parameters={"explain": True}).as_numpy("explanation")[0]
    assert over_http == over_grpc and b'"attributions"' in over_http


def test_statistics_and_repository_index(client: triton.InferenceServerClient) -> None:
    client.infer("tiny-sentiment", [text_input("good", "bad")])
    stats = client.get_inference_statistics("tiny-sentiment")["model_stats"][0]
    assert stats["inference_count"] >= 2
    assert stats["inference_stats"]["success"]["count"] >= 1
    every = {entry["name"] for entry in client.get_inference_statistics()["model_stats"]}
    assert {"tiny-sentiment", "add-one"} <= every
    index = {m["name"]: m for m in client.get_model_repository_index()}
    assert index["tiny-sentiment"]["state"] == "READY"
    assert index["broken"]["state"] == "UNAVAILABLE" and "max_queue_delay_ms" in index["broken"]["reason"]


def test_unload_then_load_a_model(tmp_path: Path) -> None:
    """With --repository-control and an admin key: unload makes the model unavailable, load brings it back."""
    admin = write_admin_key(tmp_path / "keys")
    port = free_port()
    server = start_server(
        build_repository(tmp_path / "models"), tmp_path / "log", *admin.flags, "--http-port", str(port)
    )
    headers = {"Authorization": f"Bearer {admin.token}"}
    try:
        client = triton.InferenceServerClient(f"127.0.0.1:{port}")
        check_unload_then_load(client, "add-one", headers)
    finally:
        server.stop()


def test_repository_control_is_off_by_default(client: triton.InferenceServerClient) -> None:
    """Without --repository-control nobody unloads a model: 403 naming the flag."""
    assert check_unload_is_refused(client, "add-one").status() == "403"


def test_errors_reach_the_client_with_their_message(client: triton.InferenceServerClient) -> None:
    with pytest.raises(InferenceServerException, match="'no-such-model' is not in the repository"):
        client.infer("no-such-model", [text_input("x")])
    x = triton.InferInput("x", [2, 3], "FP32")
    x.set_data_from_numpy(np.zeros((2, 3), dtype=np.float32))
    with pytest.raises(InferenceServerException, match=r"input 'x' dimension 1 must be 4, got 3"):
        client.infer("add-one", [x])


async def test_aio_client(http_server: tuple[RunningServer, str]) -> None:
    """tritonclient.http.aio: metadata, then many concurrent infers with binary and JSON outputs."""
    client = triton_aio.InferenceServerClient(http_server[1])
    try:
        assert await client.is_server_ready()
        assert (await client.get_model_metadata("tiny-sentiment"))["name"] == "tiny-sentiment"
        assert (await client.get_model_config("add-one"))["max_batch_size"] == 16

        async def classify(index: int) -> bytes:
            tensor = triton_aio.InferInput("text", [1], "BYTES")
            tensor.set_data_from_numpy(np.array([b"great" if index % 2 else b"awful"], dtype=object))
            output = triton_aio.InferRequestedOutput("label", binary_data=index % 3 == 0)
            result = await client.infer("tiny-sentiment", [tensor], outputs=[output])
            return labels(result)[0]

        answers = await asyncio.gather(*(classify(index) for index in range(20)))
        assert answers == [b"negative", b"positive"] * 10
    finally:
        await client.close()
