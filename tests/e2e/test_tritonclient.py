"""tritonclient (sync and aio), unchanged, against a real gateway process."""

from __future__ import annotations

import asyncio
import queue

import numpy as np
import pytest
import tritonclient.grpc as triton
import tritonclient.grpc.aio as triton_aio
from tritonclient.utils import InferenceServerException

from conftest import RunningServer, start_server, write_admin_key
from models import build_repository


def text_input(*texts: str) -> triton.InferInput:
    tensor = triton.InferInput("text", [len(texts)], "BYTES")
    tensor.set_data_from_numpy(np.array([text.encode() for text in texts], dtype=object))
    return tensor


@pytest.fixture
def client(server: RunningServer) -> triton.InferenceServerClient:
    return triton.InferenceServerClient(server.url)


def test_server_health_and_metadata(client: triton.InferenceServerClient) -> None:
    """Live, ready, and named gatewise with the protocol extensions it serves."""
    assert client.is_server_live() and client.is_server_ready()
    metadata = client.get_server_metadata()
    assert metadata.name == "gatewise"
    assert "model_repository" in metadata.extensions


def test_model_readiness_reflects_each_model(client: triton.InferenceServerClient) -> None:
    assert client.is_model_ready("tiny-sentiment")
    assert not client.is_model_ready("broken")
    assert not client.is_model_ready("no-such-model")


def test_model_metadata_is_the_public_text_signature(client: triton.InferenceServerClient) -> None:
    metadata = client.get_model_metadata("tiny-sentiment", as_json=True)
    assert metadata["platform"] == "onnxruntime_onnx"
    assert [(t["name"], t["datatype"], t["shape"]) for t in metadata["inputs"]] == [("text", "BYTES", ["-1"])]
    assert [(t["name"], t["datatype"]) for t in metadata["outputs"]] == [
        ("label", "BYTES"),
        ("score", "FP32"),
        ("scores", "FP32"),
    ]  # ``explanation`` is on request only: listed in ModelConfig's parameters, never among the outputs


def test_model_config_reports_batching_and_the_cpu_fallback(client: triton.InferenceServerClient) -> None:
    """ModelConfig carries batching, instances and which providers really run."""
    config = client.get_model_config("tiny-sentiment", as_json=True)["config"]
    assert config["parameters"]["max_batch_rows"]["string_value"] == "8"
    assert config["parameters"]["providers"]["string_value"] == "CPUExecutionProvider"
    assert config["parameters"]["fallback"]["string_value"] == "true"
    assert config["instance_group"][0]["kind"] == "KIND_CPU"
    tensor_config = client.get_model_config("add-one", as_json=True)["config"]
    assert tensor_config["max_batch_size"] == 16
    assert tensor_config["input"][0]["dims"] == ["4"]


def test_infer_classifies_text(client: triton.InferenceServerClient) -> None:
    """BYTES text in; label, score and scores out, and the labels are right."""
    result = client.infer("tiny-sentiment", [text_input("the movie was great", "awful service", "the price")])
    assert list(result.as_numpy("label")) == [b"positive", b"negative", b"neutral"]
    scores = result.as_numpy("scores")
    np.testing.assert_allclose(scores.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(result.as_numpy("score"), scores.max(axis=1), rtol=1e-6)


def test_requested_outputs_only_are_returned(client: triton.InferenceServerClient) -> None:
    result = client.infer("tiny-sentiment", [text_input("good")], outputs=[triton.InferRequestedOutput("label")])
    assert [output.name for output in result.get_response().outputs] == ["label"]


def test_tensor_model_without_plugin(client: triton.InferenceServerClient) -> None:
    x = triton.InferInput("x", [2, 4], "FP32")
    x.set_data_from_numpy(np.arange(8, dtype=np.float32).reshape(2, 4))
    np.testing.assert_array_equal(client.infer("add-one", [x]).as_numpy("y"), np.arange(8).reshape(2, 4) + 1)


def test_long_text_is_truncated_and_says_so(client: triton.InferenceServerClient) -> None:
    """Text over max_length is truncated, answered, and flagged in the response parameters."""
    result = client.infer("tiny-sentiment", [text_input("good " * 200, "bad")])
    assert list(result.as_numpy("label")) == [b"positive", b"negative"]
    assert result.get_response().parameters["truncated"].bool_param is True
    short = client.infer("tiny-sentiment", [text_input("bad")])
    assert "truncated" not in short.get_response().parameters


def test_statistics_and_repository_index(client: triton.InferenceServerClient) -> None:
    client.infer("tiny-sentiment", [text_input("good", "bad")])
    stats = client.get_inference_statistics("tiny-sentiment", as_json=True)["model_stats"][0]
    assert int(stats["inference_count"]) >= 2
    assert int(stats["inference_stats"]["success"]["count"]) >= 1
    index = {m["name"]: m for m in client.get_model_repository_index(as_json=True)["models"]}
    assert index["tiny-sentiment"]["state"] == "READY"
    assert index["broken"]["state"] == "UNAVAILABLE" and "max_queue_delay_ms" in index["broken"]["reason"]


def test_unload_then_load_a_model(tmp_path) -> None:
    """unload_model makes the model unavailable, load_model brings it back warm (an admin key,
    with repository control on)."""
    admin = write_admin_key(tmp_path / "keys")
    server = start_server(build_repository(tmp_path / "models"), tmp_path / "server.log", *admin.flags)
    headers = dict(admin.metadata)
    try:
        client = triton.InferenceServerClient(server.url)
        client.unload_model("add-one", headers=headers)
        assert not client.is_model_ready("add-one", headers=headers)
        with pytest.raises(InferenceServerException, match="not ready"):
            client.get_model_metadata("add-one", headers=headers)
        client.load_model("add-one", headers=headers)
        assert client.is_model_ready("add-one", headers=headers)
    finally:
        server.stop()


def test_repository_control_is_off_by_default(client: triton.InferenceServerClient) -> None:
    """Without --repository-control nobody unloads a model: the error names the flag."""
    with pytest.raises(InferenceServerException, match="--repository-control") as info:
        client.unload_model("add-one")
    assert "PERMISSION_DENIED" in str(info.value.status())
    assert client.is_model_ready("add-one")


def test_bidirectional_stream(client: triton.InferenceServerClient) -> None:
    """start_stream / async_stream_infer: every request answered, errors in-band, by id."""
    answers: queue.Queue = queue.Queue()
    client.start_stream(callback=lambda result, error: answers.put((result, error)))
    for index, text in enumerate(["good", "bad", "great"]):
        client.async_stream_infer("tiny-sentiment", [text_input(text)], request_id=str(index))
    client.async_stream_infer("no-such-model", [text_input("x")], request_id="missing")
    got = [answers.get(timeout=10) for _ in range(4)]
    client.stop_stream()
    labels = {r.get_response().id: r.as_numpy("label")[0] for r, e in got if e is None}
    assert labels == {"0": b"positive", "1": b"negative", "2": b"positive"}
    errors = [e for r, e in got if e is not None]
    assert len(errors) == 1 and "no-such-model" in str(errors[0])


async def test_aio_client_and_stream(server: RunningServer) -> None:
    """tritonclient.grpc.aio: infer concurrently, and stream_infer."""
    async with triton_aio.InferenceServerClient(server.url) as client:
        assert await client.is_server_ready()
        assert (await client.get_model_metadata("tiny-sentiment")).name == "tiny-sentiment"
        inputs = [triton_aio.InferInput("text", [1], "BYTES") for _ in range(20)]
        for index, tensor in enumerate(inputs):
            tensor.set_data_from_numpy(np.array([b"great" if index % 2 else b"awful"], dtype=object))
        results = await asyncio.gather(*(client.infer("tiny-sentiment", [tensor]) for tensor in inputs))
        assert [r.as_numpy("label")[0] for r in results] == [b"negative", b"positive"] * 10

        async def requests():
            for index in range(3):
                tensor = triton_aio.InferInput("text", [1], "BYTES")
                tensor.set_data_from_numpy(np.array([b"good"], dtype=object))
                yield {"model_name": "tiny-sentiment", "inputs": [tensor], "request_id": str(index)}

        seen = []
        async for result, error in client.stream_infer(requests()):
            assert error is None
            seen.append(result.get_response().id)
            if len(seen) == 3:
                break
        assert sorted(seen) == ["0", "1", "2"]
