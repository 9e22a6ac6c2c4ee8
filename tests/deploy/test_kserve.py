"""KServe: the ServingRuntime and InferenceService are valid for the kserve SDK's own
resource models, fit together and fit the server; and kserve's own InferenceGRPCClient
calls a real ``gatewise serve``.

kserve's SDK lives in its own environment (kserve_env.py), driven through scripts."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import RunningServer
from deploy.kserve_env import run_script
from deploy.manifests import KSERVE, KUBERNETES, documents, env, serve_envvars
from models import build_repository
from security.harness import start_cli

RUNTIME, SERVICE = KSERVE / "servingruntime.yaml", KSERVE / "inferenceservice.yaml"


def sdk_problems(*paths: Path) -> dict[str, list[str]]:
    result = run_script("kserve_schema.py", *map(str, paths))
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout)


def test_resources_are_valid_for_the_kserve_sdk_models(kserve: Path) -> None:
    assert sdk_problems(RUNTIME, SERVICE) == {str(RUNTIME): [], str(SERVICE): []}


def test_sdk_check_rejects_a_wrong_field_and_a_wrong_type(kserve: Path, tmp_path: Path) -> None:
    """The check can fail: a misspelt field and a string where a bool belongs are both caught."""
    bad = tmp_path / "runtime.yaml"
    text = (
        RUNTIME.read_text()
        .replace("protocolVersions:", "protocolVersion:")
        .replace("multiModel: false", 'multiModel: "no"')
    )
    bad.write_text(text)
    problems = sdk_problems(bad)[str(bad)]
    assert any("protocolVersion: not a field of V1alpha1ServingRuntimeSpec" in p for p in problems), problems
    assert any("multiModel: expected bool" in p for p in problems), problems


def test_runtime_speaks_grpc_v2_on_an_h2c_port_the_server_listens_on() -> None:
    runtime = documents(RUNTIME)[0]
    assert runtime["spec"]["protocolVersions"] == ["grpc-v2"]
    (spec,) = runtime["spec"]["containers"]
    variables = env(spec)
    (port,) = spec["ports"]
    assert (port["name"], port["containerPort"]) == ("h2c", int(variables["GATEWISE_GRPC_PORT"]))
    assert variables["GATEWISE_REPOSITORY"] == "/mnt/models", "KServe's storage initializer downloads there"
    assert runtime["spec"]["annotations"]["prometheus.kserve.io/port"] == variables["GATEWISE_METRICS_PORT"]
    assert sorted(set(variables) - serve_envvars()) == []
    assert spec["livenessProbe"]["grpc"] == {"port": port["containerPort"], "service": ""}


def test_runtime_is_locked_down_like_the_deployment() -> None:
    """The container's securityContext matches deploy/kubernetes/base (non-root, read-only root,
    RuntimeDefault seccomp, no capabilities), with a writable /tmp."""
    runtime = documents(RUNTIME)[0]["spec"]
    (spec,) = runtime["containers"]
    context = spec["securityContext"]
    assert context["runAsNonRoot"] is True and context["allowPrivilegeEscalation"] is False
    assert context["readOnlyRootFilesystem"] is True
    assert context["seccompProfile"] == {"type": "RuntimeDefault"}
    assert context["capabilities"] == {"drop": ["ALL"]}
    deployment = documents(KUBERNETES / "base" / "deployment.yaml")[0]["spec"]["template"]["spec"]
    assert context["runAsUser"] == deployment["securityContext"]["runAsUser"]
    (tmp,) = [mount for mount in spec["volumeMounts"] if mount["mountPath"] == "/tmp"]
    assert any(volume["name"] == tmp["name"] and "emptyDir" in volume for volume in runtime["volumes"])


def test_runtime_opts_out_of_authentication_for_the_mesh_and_says_so() -> None:
    """KServe puts a mesh in front: the opt-out is explicit, explained in the file, and
    repository control stays off."""
    variables = env(documents(RUNTIME)[0]["spec"]["containers"][0])
    assert variables["GATEWISE_ALLOW_UNAUTHENTICATED"] == "true"
    assert "GATEWISE_REPOSITORY_CONTROL" not in variables
    assert "mesh authenticates callers" in RUNTIME.read_text()


def test_inference_service_selects_the_runtime_and_its_protocol() -> None:
    runtime, service = documents(RUNTIME)[0], documents(SERVICE)[0]
    model = service["spec"]["predictor"]["model"]
    assert model["runtime"] == runtime["metadata"]["name"]
    assert model["protocolVersion"] in runtime["spec"]["protocolVersions"]
    formats = {(f["name"], f["version"]) for f in runtime["spec"]["supportedModelFormats"]}
    assert (model["modelFormat"]["name"], model["modelFormat"]["version"]) in formats
    # Readiness follows the model this InferenceService is for.
    assert model["readinessProbe"]["grpc"]["service"] == service["metadata"]["name"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    root = tmp_path_factory.mktemp("kserve")
    running = start_cli(build_repository(root / "models"), root / "server.log")
    yield running
    running.stop()


def client_report(script: str, url: str, response_id: str) -> dict[str, object]:
    """Run a kserve client script against ``url`` and check what every client must see: a live, ready
    server and model, add-one's sums, the tiny classifier's labels and the request id echoed."""
    result = run_script(script, url)
    assert result.returncode == 0, result.stderr[-4000:]
    report = json.loads(result.stdout)
    assert report["server_live"] and report["server_ready"] and report["model_ready"]
    assert report["add_one"] == [[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]]
    assert report["labels"] == ["positive", "negative"]
    assert (report["model_name"], report["response_id"]) == ("tiny-sentiment", response_id)
    return report


def test_kserve_inference_grpc_client_calls_gatewise(server: RunningServer, kserve: Path) -> None:
    """Readiness, model readiness and ModelInfer with FP32 (raw contents) and BYTES
    (typed contents), through kserve.InferenceGRPCClient unchanged."""
    client_report("kserve_client.py", server.url, "kserve-1")


def test_kserve_inference_rest_client_calls_gatewise(http_server: tuple[RunningServer, str], kserve: Path) -> None:
    """Health, model readiness and v2 infer with FP32 (binary data) and BYTES (JSON data),
    through kserve.InferenceRESTClient unchanged; an error reaches it with the server's message."""
    report = client_report("kserve_rest_client.py", f"http://{http_server[1]}", "kserve-rest-1")
    assert "model 'nope' is not in the repository" in report["unknown_model_error"]
