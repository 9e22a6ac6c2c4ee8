"""Explanations within a budget, against a real server: a 1 MiB text with the most samples is answered
(only the words the model sees are weighed) or refused naming the limit, and the server's memory barely moves."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import tritonclient.grpc as triton
from tritonclient.utils import InferenceServerException

from conftest import RunningServer, start_server, stop_server
from models import build_repository, write_classifier

MAX_SAMPLES = 2048
MAX_UNITS = 32
MAX_COALITIONS = 4096
MAX_WORK = 40000
MIB = 1024 * 1024
WORDS = "the movie was great but the price was awful "  # words the tiny tokenizer knows, and some it does not


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """tiny-sentiment reads 16 tokens; tiny-long, the same classifier, 64: more words than --max-explain-units."""
    root = tmp_path_factory.mktemp("budget")
    repository = build_repository(root / "models")
    config = write_classifier(repository, "tiny-long") / "config.toml"
    config.write_text(config.read_text().replace("max_length = 16", "max_length = 64"))
    running = start_server(
        repository, root / "server.log", "--max-explain-samples", str(MAX_SAMPLES),
        "--max-explain-units", str(MAX_UNITS), "--max-explain-coalitions", str(MAX_COALITIONS),
        "--max-explain-work", str(MAX_WORK),
    )  # fmt: skip
    yield running
    stop_server(running)


@pytest.fixture
def client(server: RunningServer) -> Iterator[triton.InferenceServerClient]:
    client = triton.InferenceServerClient(server.url)
    yield client
    client.close()


def rss_bytes(pid: int) -> int:
    """The process's resident set size, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS in /proc/{pid}/status")


def explain(client, model: str, texts: list[str], samples: int = MAX_SAMPLES) -> triton.InferResult:
    tensor = triton.InferInput("text", [len(texts)], "BYTES")
    tensor.set_data_from_numpy(np.array([text.encode() for text in texts], dtype=object))
    outputs = [triton.InferRequestedOutput("label"), triton.InferRequestedOutput("explanation")]
    return client.infer(model, [tensor], outputs=outputs, parameters={"explain_samples": samples}, client_timeout=120)


def one_mib() -> str:
    return (WORDS * (MIB // len(WORDS) + 1))[:MIB]


@pytest.fixture
def warmed(client, server: RunningServer) -> int:
    """The server's RSS after a short explanation on each model (thread pools and arenas exist by then)."""
    for model in ("tiny-sentiment", "tiny-long"):
        explain(client, model, ["the movie was great"], samples=64)
    return rss_bytes(server.process.pid)


def test_a_1_mib_text_with_the_most_samples_weighs_only_the_words_the_model_sees(client, server, warmed) -> None:
    """16 tokens of the 1 MiB text reach the model, so 14 words are weighed; the server grows by under 100 MB."""
    text = one_mib()
    result = explain(client, "tiny-sentiment", [text])
    document = json.loads(result.as_numpy("explanation")[0])
    words = [item["text"] for item in document["attributions"]]
    assert words == WORDS.split()[:9] + WORDS.split()[:5]  # [CLS] + 14 tokens + [SEP]
    for item in document["attributions"]:
        assert text[item["start"] : item["end"]] == item["text"]
    assert document["samples"] == MAX_SAMPLES + 2
    total = sum(item["weight"] for item in document["attributions"])
    assert total == pytest.approx(document["value"] - document["base_value"], abs=1e-6)
    # the full coalition is the row as served: its value is the probability the response reports
    scores = client.infer("tiny-sentiment", [_text_input([text])]).as_numpy("scores")[0]
    assert document["value"] == pytest.approx(float(scores.max()), abs=1e-5)
    assert rss_bytes(server.process.pid) - warmed < 100 * 1000 * 1000


def test_a_row_with_more_units_than_the_cap_is_refused_naming_it(client, server, warmed) -> None:
    """tiny-long sees 62 words of the 1 MiB text, over --max-explain-units 32: INVALID_ARGUMENT, no rows run."""
    with pytest.raises(InferenceServerException) as caught:
        explain(client, "tiny-long", [one_mib()])
    assert caught.value.status() == "StatusCode.INVALID_ARGUMENT"
    assert "--max-explain-units 32" in caught.value.message() and "62 units" in caught.value.message()
    assert rss_bytes(server.process.pid) - warmed < 100 * 1000 * 1000


def test_rows_times_samples_past_the_cap_are_refused_before_anything_runs(client, server) -> None:
    """3 rows x 2048 samples is over --max-explain-coalitions 4096; the model ran no row of it."""
    before = _inferences(client)
    with pytest.raises(InferenceServerException) as caught:
        explain(client, "tiny-sentiment", ["great movie", "awful price", "fine"])
    assert caught.value.status() == "StatusCode.INVALID_ARGUMENT"
    message = caught.value.message()
    assert "--max-explain-coalitions 4096" in message and "3 explained row(s) x 2048 samples" in message
    assert _inferences(client) == before
    explain(client, "tiny-sentiment", ["great movie", "awful price"])  # 2 x 2048 is within it


def _text_input(texts: list[str]) -> triton.InferInput:
    tensor = triton.InferInput("text", [len(texts)], "BYTES")
    tensor.set_data_from_numpy(np.array([text.encode() for text in texts], dtype=object))
    return tensor


def _inferences(client) -> int:
    return client.get_inference_statistics("tiny-sentiment").model_stats[0].inference_count


def test_a_row_whose_coalitions_cost_past_the_work_cap_is_refused_and_fewer_samples_are_answered(client) -> None:
    """27 words at the most samples is more work than ``--max-explain-work``: refused naming it and what fits;
    the same text with the samples that fit is answered."""
    text = (WORDS * 3).strip()
    with pytest.raises(InferenceServerException, match=r"--max-explain-work 40000 per row; at most \d+ samples fit"):
        explain(client, "tiny-long", [text], samples=MAX_SAMPLES)
    document = json.loads(explain(client, "tiny-long", [text], samples=1024).as_numpy("explanation")[0])
    assert document["samples"] <= 1024 + 2 and len(document["attributions"]) >= 20  # with nothing- and all-kept
