"""Explanations only when a client means it, over a real server with tritonclient: a request naming every
output ModelMetadata lists runs no explanation row, and finance-fraud's default answer costs one model row."""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Iterator

import numpy as np
import onnx
import pytest
import tritonclient.grpc as triton
from gatewise.plugins.finance.fraud import ORDINARY_TRANSACTION
from gatewise.plugins.finance.fraud_features import GROUPS, NUM_FEATURES, encode_rows
from onnx import TensorProto, helper, numpy_helper
from tritonclient.utils import InferenceServerException

from conftest import RunningServer, start_server, stop_server
from models import build_repository, write_classifier, write_model

FRAUD_CONFIG = """\
name = "tiny-fraud"
plugin = "finance"
task = "transaction-fraud"

[batching]
max_batch_size = 64
max_queue_delay_ms = 1

[parameters]
input_format = "json"
threshold = 0.5
"""
RISKY = {**ORDINARY_TRANSACTION, "amount": 2500.0, "hour": 3, "country_mismatch": True, "card_present": False}


def fraud_graph() -> onnx.ModelProto:
    """fraud_probability = sigmoid(features @ w - 2), with w on country_mismatch: a stand-in for the demo's MLP."""
    weights = np.zeros((NUM_FEATURES, 1), dtype=np.float32)
    weights[GROUPS["country_mismatch"][0], 0] = 4.0
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["features", "w"], ["logit2d"]),
            helper.make_node("Reshape", ["logit2d", "flat"], ["logit"]),
            helper.make_node("Sub", ["logit", "bias"], ["shifted"]),
            helper.make_node("Sigmoid", ["shifted"], ["fraud_probability"]),
        ],
        "tiny-fraud",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", NUM_FEATURES])],
        [helper.make_tensor_value_info("fraud_probability", TensorProto.FLOAT, ["batch"])],
        initializer=[
            numpy_helper.from_array(weights, "w"),
            numpy_helper.from_array(np.array([-1], dtype=np.int64), "flat"),
            numpy_helper.from_array(np.array([2.0], dtype=np.float32), "bias"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    root = tmp_path_factory.mktemp("optin")
    repository = build_repository(root / "models")
    write_classifier(repository, "tiny-finance", plugin="finance")
    write_model(repository, "tiny-fraud", fraud_graph(), FRAUD_CONFIG)
    assert encode_rows([ORDINARY_TRANSACTION]).shape == (1, NUM_FEATURES)
    running = start_server(repository, root / "server.log", metrics=True)
    yield running
    stop_server(running)


def explanation_rows(server: RunningServer, model: str) -> float:
    """``gatewise_explanation_rows_total`` for ``model``, from the metrics endpoint."""
    text = urllib.request.urlopen(server.metrics_url, timeout=10).read().decode()
    found = re.search(rf'^gatewise_explanation_rows_total{{model="{re.escape(model)}"}} ([\d.e+]+)$', text, re.M)
    assert found, f"no gatewise_explanation_rows_total series for {model}"
    return float(found.group(1))


def inference_count(client: triton.InferenceServerClient, model: str) -> int:
    """Rows the model's engine ran (ModelStatistics), explanation rows included."""
    return client.get_inference_statistics(model).model_stats[0].inference_count


def inputs_for(model: str) -> list[triton.InferInput]:
    if model == "tiny-fraud":
        tensor = triton.InferInput("transaction", [1], "BYTES")
        tensor.set_data_from_numpy(np.array([json.dumps(RISKY).encode()], dtype=object))
    else:
        tensor = triton.InferInput("text", [1], "BYTES")
        tensor.set_data_from_numpy(np.array([b"great movie but awful price on card 4111 1111 1111 1111"], dtype=object))
    return [tensor]


@pytest.mark.parametrize(
    ("model", "listed", "on_request"),
    [
        ("tiny-sentiment", ["label", "score", "scores"], "explanation"),
        ("tiny-finance", ["label", "score", "scores", "redactions"], "explanation"),
        ("tiny-fraud", ["fraud_probability", "decision"], "explanation,reasons"),
    ],
)
def test_metadata_lists_no_costly_output_and_config_says_how_to_ask(client, model, listed, on_request) -> None:
    """ModelMetadata and ModelConfig list the ordinary outputs; ModelConfig's parameters name the on-request ones."""
    assert [output.name for output in client.get_model_metadata(model).outputs] == listed
    config = client.get_model_config(model).config
    assert [output.name for output in config.output] == listed
    assert config.parameters["explanation_outputs"].string_value == on_request
    assert "explain=true" in config.parameters["explanation_request"].string_value


@pytest.mark.parametrize("model", ["tiny-sentiment", "tiny-finance", "tiny-fraud"])
def test_a_request_naming_every_listed_output_runs_no_explanation_row(client, server, model) -> None:
    """What perf_analyzer and a client listing all outputs send: one engine row, zero explanation rows.
    Naming ``explanation`` itself then runs them, so the count can tell."""
    listed = [output.name for output in client.get_model_metadata(model).outputs]
    rows_before, explained_before = inference_count(client, model), explanation_rows(server, model)
    result = client.infer(model, inputs_for(model), outputs=[triton.InferRequestedOutput(name) for name in listed])
    assert all(result.as_numpy(name) is not None for name in listed)
    assert result.as_numpy("explanation") is None
    assert inference_count(client, model) - rows_before == 1
    assert explanation_rows(server, model) == explained_before

    asked = client.infer(model, inputs_for(model), outputs=[triton.InferRequestedOutput("explanation")])
    assert json.loads(asked.as_numpy("explanation")[0])["attributions"]
    assert explanation_rows(server, model) > explained_before
    assert inference_count(client, model) - rows_before > 2


def test_a_default_fraud_call_answers_probability_and_decision_for_one_row(client, server) -> None:
    """No outputs named: fraud_probability and decision, no reasons, one engine row, no explanation."""
    rows_before, explained_before = inference_count(client, "tiny-fraud"), explanation_rows(server, "tiny-fraud")
    result = client.infer("tiny-fraud", inputs_for("tiny-fraud"))
    assert result.as_numpy("decision")[0] == b"decline" and result.as_numpy("fraud_probability")[0] > 0.5
    assert result.as_numpy("reasons") is None and result.as_numpy("explanation") is None
    assert inference_count(client, "tiny-fraud") - rows_before == 1
    assert explanation_rows(server, "tiny-fraud") == explained_before


def test_fraud_reasons_come_by_name_or_with_explain_true(client) -> None:
    """The two documented ways: name ``reasons``; or ``explain = true``, which adds every on-request output."""
    named = client.infer("tiny-fraud", inputs_for("tiny-fraud"), outputs=[triton.InferRequestedOutput("reasons")])
    reasons = json.loads(named.as_numpy("reasons")[0])
    assert reasons[0]["feature"] == "country_mismatch"
    assert named.as_numpy("explanation") is None and named.as_numpy("decision") is None
    flagged = client.infer("tiny-fraud", inputs_for("tiny-fraud"), parameters={"explain": True})
    assert json.loads(flagged.as_numpy("reasons")[0]) == reasons
    assert json.loads(flagged.as_numpy("explanation")[0])["label"] == "fraud"
    assert flagged.as_numpy("decision")[0] == b"decline"


def test_an_unknown_output_is_refused_naming_the_listed_and_on_request_ones(client) -> None:
    with pytest.raises(InferenceServerException) as caught:
        client.infer("tiny-fraud", inputs_for("tiny-fraud"), outputs=[triton.InferRequestedOutput("why")])
    assert caught.value.status() == "StatusCode.INVALID_ARGUMENT"
    message = caught.value.message()
    assert "['why']" in message and "'decision'" in message and "'reasons'" in message
