"""Explanations over gRPC: tritonclient asks for ``explanation`` from a real server and checks what comes back."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import tritonclient.grpc as triton
from tritonclient.utils import InferenceServerException

from conftest import RunningServer, start_server, stop_server
from models import build_repository, write_classifier

CARD = "4111 1111 1111 1111"
IBAN = "GB82 WEST 1234 5698 7654 32"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """tiny-sentiment, add-one, and tiny-finance: the tiny classifier behind the finance plugin's redaction."""
    root = tmp_path_factory.mktemp("explained")
    repository = build_repository(root / "models")
    write_classifier(repository, "tiny-finance", plugin="finance")
    write_classifier(repository, "tiny-small-queue", batching="max_queue_size = 32\nmax_concurrent_explanations = 1\n")
    running = start_server(
        repository, root / "server.log", "--log-level", "DEBUG", "--max-explain-samples", "512", metrics=True
    )
    yield running
    stop_server(running)


def ask(client, model: str, text: str, outputs=("label", "explanation"), **parameters) -> triton.InferResult:
    tensor = triton.InferInput("text", [1], "BYTES")
    tensor.set_data_from_numpy(np.array([text.encode()], dtype=object))
    requested = [triton.InferRequestedOutput(name) for name in outputs] if outputs else None
    return client.infer(model, [tensor], outputs=requested, parameters=parameters or None)


def explanation_of(result: triton.InferResult) -> dict:
    return json.loads(result.as_numpy("explanation")[0])


def test_a_requested_explanation_weighs_every_word_with_offsets_into_the_text(client) -> None:
    text = "the movie was great, great price"
    result = ask(client, "tiny-sentiment", text)
    assert result.as_numpy("label")[0] == b"positive"
    explanation = explanation_of(result)
    assert explanation["label"] == "positive" and explanation["method"] == "exact"
    words = [item["text"] for item in explanation["attributions"]]
    assert words == ["the", "movie", "was", "great", "great", "price"]
    for item in explanation["attributions"]:
        assert text[item["start"] : item["end"]] == item["text"]
    best = sorted(explanation["attributions"], key=lambda item: item["weight"])[-2:]
    assert [item["text"] for item in best] == ["great", "great"]
    total = sum(item["weight"] for item in explanation["attributions"])
    assert total == pytest.approx(explanation["value"] - explanation["base_value"], abs=1e-6)
    assert result.as_numpy("score") is None  # only what was asked for


def test_explain_parameter_adds_the_output_and_explain_label_picks_the_class(client) -> None:
    result = ask(client, "tiny-sentiment", "good service but awful price", outputs=(), explain=True)
    assert result.as_numpy("scores") is not None
    assert explanation_of(result)["label"] == result.as_numpy("label")[0].decode()  # the predicted class
    negative = explanation_of(ask(client, "tiny-sentiment", "good service but awful price", explain_label="negative"))
    assert negative["label"] == "negative"
    weights = {item["text"]: item["weight"] for item in negative["attributions"]}
    assert weights["awful"] > 0 > weights["good"]


def test_a_request_that_does_not_ask_gets_no_explanation(client) -> None:
    result = ask(client, "tiny-sentiment", "great movie", outputs=())
    assert result.as_numpy("explanation") is None
    assert result.as_numpy("label")[0] == b"positive"


def test_kernel_estimates_are_seeded_and_still_add_up(client) -> None:
    text = " ".join(["the movie was good"] * 4)  # 16 words: 65,534 coalitions, beyond the budget
    first = explanation_of(ask(client, "tiny-sentiment", text, explain_samples=64, explain_seed=3))
    again = explanation_of(ask(client, "tiny-sentiment", text, explain_samples=64, explain_seed=3))
    assert first["method"] == "kernel" and first["samples"] == 66
    assert first == again
    total = sum(item["weight"] for item in first["attributions"])
    assert total == pytest.approx(first["value"] - first["base_value"], abs=1e-6)


@pytest.mark.parametrize(
    ("model", "parameters", "named"),
    [
        ("tiny-sentiment", {"explain_samples": 0}, "explain_samples"),
        ("tiny-sentiment", {"explain_samples": -4}, "explain_samples"),
        ("tiny-sentiment", {"explain_samples": 513}, "explain_samples"),
        ("tiny-sentiment", {"explain_label": "ecstatic"}, "explain_label"),
        ("tiny-sentiment", {"explain_seed": "soon"}, "explain_seed"),
    ],
)
def test_bad_explanation_parameters_are_refused_naming_the_parameter(client, model, parameters, named) -> None:
    with pytest.raises(InferenceServerException) as caught:
        ask(client, model, "great movie", **parameters)
    assert caught.value.status() == "StatusCode.INVALID_ARGUMENT"
    assert named in caught.value.message()


def test_a_model_that_cannot_explain_says_so(client) -> None:
    tensor = triton.InferInput("x", [2, 4], "FP32")
    tensor.set_data_from_numpy(np.zeros((2, 4), dtype=np.float32))
    with pytest.raises(InferenceServerException) as caught:
        client.infer("add-one", [tensor], parameters={"explain": True})
    assert caught.value.status() == "StatusCode.INVALID_ARGUMENT"
    assert "explain" in caught.value.message() and "add-one" in caught.value.message()


def test_explanations_work_on_the_redacted_text_and_never_repeat_an_identifier(client, server) -> None:
    text = f"bad charge on card {CARD}, refund sent to {IBAN}"
    result = ask(client, "tiny-finance", text, outputs=("label", "explanation", "redactions"))
    raw = result.as_numpy("explanation")[0].decode()
    for secret in (CARD, IBAN, "4111", "1111", "WEST", "5698"):
        assert secret not in raw
    explanation = json.loads(raw)
    masked = [item for item in explanation["attributions"] if item["text"].startswith("[")]
    assert [item["text"] for item in masked] == ["[CARD]", "[IBAN]"]
    assert text[masked[0]["start"] : masked[0]["end"]] == CARD  # offsets still point at what the client sent
    assert text[masked[1]["start"] : masked[1]["end"]] == IBAN
    log = Path(server.log_path).read_text()
    metrics = urllib.request.urlopen(server.metrics_url, timeout=10).read().decode()
    assert "gatewise_batch_size" in metrics  # the endpoint answered with the gateway's series
    for secret in (CARD, IBAN, "4111 1111", "WEST 1234"):
        assert secret not in log
        assert secret not in metrics


async def test_a_burst_of_explanations_waits_its_turn_instead_of_being_refused(server) -> None:
    """24 explained requests at once on a model whose queue holds 32 requests, though their coalitions come
    to about 400 chunks: they wait their turn (one explanation queued at a time), none is refused."""
    import tritonclient.grpc.aio as triton_aio

    async with triton_aio.InferenceServerClient(server.url) as client:

        async def one(index: int) -> dict:
            tensor = triton_aio.InferInput("text", [1], "BYTES")
            tensor.set_data_from_numpy(np.array([f"great movie {'great ' * (index % 4)}price".encode()], dtype=object))
            result = await client.infer(
                "tiny-small-queue", [tensor], outputs=[triton_aio.InferRequestedOutput("explanation")]
            )
            return json.loads(result.as_numpy("explanation")[0])

        answers = await asyncio.gather(*(one(index) for index in range(24)))
    assert len(answers) == 24 and all(answer["label"] == "positive" for answer in answers)


def test_explain_parameters_are_only_read_when_an_explanation_is_computed(client) -> None:
    result = ask(client, "tiny-sentiment", "great movie", outputs=("label",), explain_samples=0, explain_label="x")
    assert result.as_numpy("label")[0] == b"positive"


@pytest.mark.parametrize("text", ["", "?! ..."])
def test_a_text_without_words_gets_an_empty_explanation(client, text: str) -> None:
    explanation = explanation_of(ask(client, "tiny-sentiment", text))
    assert explanation["attributions"] == []
    assert explanation["value"] == pytest.approx(explanation["base_value"])


def test_explanations_come_back_on_a_model_stream_infer_stream(client) -> None:
    import queue

    answers: queue.Queue = queue.Queue()
    client.start_stream(callback=lambda result, error: answers.put((result, error)))
    try:
        for text in ("great movie", "awful price"):
            tensor = triton.InferInput("text", [1], "BYTES")
            tensor.set_data_from_numpy(np.array([text.encode()], dtype=object))
            client.async_stream_infer("tiny-sentiment", [tensor], parameters={"explain": True})
        received = [answers.get(timeout=30) for _ in range(2)]
    finally:
        client.stop_stream()
    for result, error in received:
        assert error is None
        assert json.loads(result.as_numpy("explanation")[0])["attributions"]
