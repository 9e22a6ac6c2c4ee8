"""The HTTP/REST front door with plain clients (httpx, curl): routes, JSON and binary bodies,
compression, limits and KServe's {"error": ...} answers, against a real gateway process."""

from __future__ import annotations

import gzip
import json
import shutil
import struct
import subprocess
import zlib
from collections.abc import Iterator

import httpx
import numpy as np
import pytest

from conftest import RunningServer, free_port, start_server, stop_server
from models import build_repository

LIMIT = 64 * 1024


@pytest.fixture(scope="module")
def http(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    """A server whose message limit is 64 KiB, with CORS allowed for one origin."""
    root = tmp_path_factory.mktemp("served-rest")
    port = free_port()
    flags = ["--http-port", str(port), "--max-message-bytes", str(LIMIT), "--cors-origins", "https://console.example"]
    running: RunningServer = start_server(build_repository(root / "models"), root / "server.log", *flags)
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        client.log = running.log  # type: ignore[attr-defined]
        yield client
    stop_server(running)


ADD_ONE = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 4], "data": [[1, 2, 3, 4]]}]}


def test_health_and_metadata_routes(http: httpx.Client) -> None:
    assert http.get("/v2/health/live").json() == {"live": True}
    assert http.get("/v2/health/ready").json() == {"ready": True}
    assert http.get("/v2").json()["name"] == "gatewise"
    assert http.get("/v2/models/add-one").json()["inputs"] == [{"name": "x", "datatype": "FP32", "shape": [-1, 4]}]
    assert http.get("/v2/models/add-one/versions/1").json()["versions"] == ["1"]
    assert http.get("/v2/models/add-one/ready").json() == {"name": "add-one", "ready": True}
    broken = http.get("/v2/models/broken/ready")
    assert broken.status_code == 503 and broken.json()["ready"] is False


def test_infer_with_nested_json_data(http: httpx.Client) -> None:
    """``data`` nested as the shape, as KServe allows; the answer is flat, as numbers."""
    answer = http.post("/v2/models/add-one/infer", json={**ADD_ONE, "id": "r-1"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["id"] == "r-1" and body["model_version"] == "1"
    assert body["outputs"] == [{"name": "y", "datatype": "FP32", "shape": [1, 4], "data": [2.0, 3.0, 4.0, 5.0]}]


def test_binary_tensors_in_both_directions(http: httpx.Client) -> None:
    """Triton's binary data extension: the JSON header's length in Inference-Header-Content-Length,
    each binary input's size in binary_data_size, binary_data_output for every output."""
    x = np.arange(8, dtype=np.float32).reshape(2, 4)
    header = json.dumps(
        {
            "inputs": [{"name": "x", "datatype": "FP32", "shape": [2, 4], "parameters": {"binary_data_size": 32}}],
            "parameters": {"binary_data_output": True},
        }
    ).encode()
    answer = http.post(
        "/v2/models/add-one/infer",
        content=header + x.tobytes(),
        headers={"Inference-Header-Content-Length": str(len(header)), "Content-Type": "application/octet-stream"},
    )
    assert answer.status_code == 200, answer.text
    length = int(answer.headers["Inference-Header-Content-Length"])
    document = json.loads(answer.content[:length])
    [output] = document["outputs"]
    assert output["parameters"] == {"binary_data_size": 32} and "data" not in output
    y = np.frombuffer(answer.content[length:], dtype=np.float32).reshape(2, 4)
    np.testing.assert_array_equal(y, x + 1)


def test_binary_bytes_input_is_length_prefixed(http: httpx.Client) -> None:
    texts = [b"great film", b"awful service"]
    blob = b"".join(struct.pack("<I", len(text)) + text for text in texts)
    header = json.dumps(
        {
            "inputs": [
                {"name": "text", "datatype": "BYTES", "shape": [2], "parameters": {"binary_data_size": len(blob)}}
            ],
            "outputs": [{"name": "label"}],
        }
    ).encode()
    answer = http.post(
        "/v2/models/tiny-sentiment/infer",
        content=header + blob,
        headers={"Inference-Header-Content-Length": str(len(header))},
    )
    assert answer.json()["outputs"][0]["data"] == ["positive", "negative"]


@pytest.mark.parametrize(("encoding", "compress"), [("gzip", gzip.compress), ("deflate", zlib.compress)])
def test_compressed_request_bodies(http: httpx.Client, encoding: str, compress: object) -> None:
    body = compress(json.dumps(ADD_ONE).encode())  # type: ignore[operator]
    answer = http.post("/v2/models/add-one/infer", content=body, headers={"Content-Encoding": encoding})
    assert answer.status_code == 200, answer.text
    assert answer.json()["outputs"][0]["data"] == [2.0, 3.0, 4.0, 5.0]


def test_a_compressed_body_is_capped_by_its_decompressed_size(http: httpx.Client) -> None:
    """A small gzip body that inflates past the message limit is 413, the server unharmed."""
    bomb = gzip.compress(b"[" + b"0," * (LIMIT * 8) + b"0]")
    assert len(bomb) < LIMIT
    answer = http.post("/v2/models/add-one/infer", content=bomb, headers={"Content-Encoding": "gzip"})
    assert answer.status_code == 413 and "over the limit" in answer.json()["error"]
    assert http.post("/v2/models/add-one/infer", json=ADD_ONE).status_code == 200


def test_an_oversized_body_is_refused_from_its_content_length(http: httpx.Client) -> None:
    answer = http.post("/v2/models/add-one/infer", content=b" " * (LIMIT + 1))
    assert answer.status_code == 413
    assert answer.json() == {"error": f"the request body ({LIMIT + 1} bytes) is over the limit of {LIMIT} bytes"}


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (b"{not json", 400, "not valid JSON"),
        ({"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 4], "data": [1, 2, 3]}]}, 400, "has 3 elements"),
        ({"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 4], "data": ["a", 2, 3, 4]}]}, 400, "not a list"),
        ({"inputs": [{"name": "x", "datatype": "INT64", "shape": [1, 4], "data": [1, 2, 3, 4]}]}, 400, "must be FP32"),
        ({"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 3], "data": [1, 2, 3]}]}, 400, "must be 4"),
        ({"inputs": [{"name": "x", "datatype": "FP99", "shape": [1], "data": [1]}]}, 400, "unknown datatype"),
        ({**ADD_ONE, "parameters": {"explain": {"deep": 1}}}, 400, "parameter 'explain' must be a boolean"),
        ({**ADD_ONE, "outputs": [{"name": "z"}]}, 400, "no output(s) ['z']"),
        ({**ADD_ONE, "parameters": {"explain": True}}, 400, "explanations are not supported by model 'add-one'"),
    ],
)
def test_bad_requests_are_400_naming_what_was_wrong(
    http: httpx.Client, body: object, status: int, message: str
) -> None:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    answer = http.post("/v2/models/add-one/infer", content=content)
    assert answer.status_code == status
    assert message in answer.json()["error"]


def test_unknown_models_routes_and_methods(http: httpx.Client) -> None:
    assert http.post("/v2/models/nope/infer", json=ADD_ONE).status_code == 404
    assert http.get("/v2/models/add-one/versions/7").status_code == 404
    assert http.get("/v2/nowhere").json() == {"error": "no such route"}
    wrong = http.get("/v2/models/add-one/infer")
    assert wrong.status_code == 405 and "error" in wrong.json()


def test_no_traceback_ever_reaches_the_client(http: httpx.Client) -> None:
    """Bodies that are JSON but not the protocol's shape are 400s with a sentence, never a 500."""
    for body in ([], {"inputs": "x"}, {"inputs": [7]}, {"inputs": [{"name": "x"}]}, {"id": 5, **ADD_ONE}):
        answer = http.post("/v2/models/add-one/infer", json=body)
        assert answer.status_code == 400, (body, answer.text)
        assert "Traceback" not in answer.text and answer.json()["error"]


def test_cors_only_for_listed_origins(http: httpx.Client) -> None:
    preflight = http.options(
        "/v2/models/add-one/infer",
        headers={"Origin": "https://console.example", "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://console.example"
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    allowed = http.post("/v2/models/add-one/infer", json=ADD_ONE, headers={"Origin": "https://console.example"})
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://console.example"
    other = http.post("/v2/models/add-one/infer", json=ADD_ONE, headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers


def test_openapi_document_lists_the_routes(http: httpx.Client) -> None:
    document = http.get("/v2/openapi.json").json()
    assert document["openapi"].startswith("3.")
    assert {"/v2/health/live", "/v2/models/{model}/infer", "/v2/repository/index"} <= set(document["paths"])
    assert "InferenceRequest" in document["components"]["schemas"]


def test_metrics_count_http_under_its_own_protocol_label(tmp_path) -> None:
    metrics_port, port = free_port(), free_port()
    flags = ["--http-port", str(port), "--metrics-port", str(metrics_port)]
    server = start_server(build_repository(tmp_path / "models"), tmp_path / "log", *flags)
    try:
        assert httpx.post(f"http://127.0.0.1:{port}/v2/models/add-one/infer", json=ADD_ONE).status_code == 200
        text = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics").text
    finally:
        stop_server(server)
    assert 'gatewise_requests_total{model="add-one",protocol="http",status="OK"} 1.0' in text
    assert 'gatewise_requests_total{model="add-one",protocol="grpc",status="OK"} 0.0' in text


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_the_docs_curl_example(http: httpx.Client) -> None:
    """The README's and docs/http.md's curl line, as written there."""
    url = str(http.base_url).rstrip("/") + "/v2/models/tiny-sentiment/infer"
    body = (
        '{"inputs": [{"name": "text", "datatype": "BYTES", "shape": [1], "data": ["the results beat expectations"]}]}'
    )
    done = subprocess.run(
        ["curl", "-s", "-H", "Content-Type: application/json", "-d", body, url],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    answer = json.loads(done.stdout)
    assert [output["name"] for output in answer["outputs"]] == ["label", "score", "scores"]
