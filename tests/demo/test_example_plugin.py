"""The example third-party plugins install as their own packages and register through the
``gatewise`` entry point, then serve through the harness and a real server like any built-in."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import grpc
import numpy as np
import pytest
import tritonclient.grpc as triton
from gatewise.protos import grpc_service_pb2 as pb
from gatewise.protos import grpc_service_pb2_grpc as rpc

from conftest import start_server
from models import write_classifier

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "gatewise-shout"
CLAIMS = ROOT / "examples" / "gatewise-claims"


def _install(target: Path, example: Path) -> Path:
    """``pip install --target`` into a temporary folder (the venv stays untouched)."""
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(target), str(example)],
        capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return target


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _install(tmp_path_factory.mktemp("site"), EXAMPLE)


@pytest.fixture(scope="module")
def claims(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _install(tmp_path_factory.mktemp("claims-site"), CLAIMS)


def _pytest(site: Path, target: Path, cwd: Path) -> subprocess.CompletedProcess:
    """pytest on ``target`` in a fresh interpreter that sees only ``site`` (the installed example) and the repo."""
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(target)],
        capture_output=True, text=True, timeout=120, env={"PYTHONPATH": f"{site}:{ROOT}", "PATH": "/usr/bin:/bin"},
        cwd=cwd,
    )  # fmt: skip


def _run(site: Path, code: str) -> subprocess.CompletedProcess:
    """Python in a fresh process with ``site`` on the path, as an installed package would be."""
    env = {"PYTHONPATH": f"{site}:{ROOT}", "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120, cwd=site)


def test_entry_point_registers_the_plugin(installed: Path) -> None:
    result = _run(installed, "from gatewise import PluginManager; print(PluginManager().names)")
    assert result.returncode == 0, result.stderr
    assert "'shout'" in result.stdout


def test_not_registered_without_the_package(tmp_path: Path) -> None:
    """The name comes from the installed package, not from the repository."""
    result = _run(tmp_path, "from gatewise import PluginManager; print(PluginManager().names)")
    assert result.returncode == 0, result.stderr
    assert "'shout'" not in result.stdout


def test_installed_plugin_runs_its_hooks_by_name(installed: Path) -> None:
    code = """
import tempfile, numpy as np
from pathlib import Path
from gatewise.testing import PluginHarness, model_context, texts
model = model_context(Path(tempfile.mkdtemp()), "shouter", plugin="shout",
                      engine_inputs=[("x", "FP32", (-1, 1))], engine_outputs=[("y", "FP32", (-1, 1))])
harness = PluginHarness("shout", model, engine=lambda inputs: {"y": inputs["x"] + 1})
out = harness.infer({"text": texts(["one two three"])})
print(out["shouted"][0].decode(), float(out["words_plus_one"][0, 0]))
"""
    result = _run(installed, code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["ONE", "TWO", "THREE!", "4.0"]


def test_example_own_tests_pass_with_the_harness(installed: Path) -> None:
    result = _pytest(installed, EXAMPLE / "tests", cwd=installed)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_explanations_doc_test_passes_against_the_installed_plugin(installed: Path, tmp_path: Path) -> None:
    """docs/explanations.md's test of the example's explainer runs as written (through PluginHarness.explain)."""
    doc = (ROOT / "docs" / "explanations.md").read_text(encoding="utf-8")
    blocks = [body for body in re.findall(r"^```python\n(.*?)^```", doc, flags=re.M | re.S) if "def test_" in body]
    assert len(blocks) == 1
    (tmp_path / "test_doc_example.py").write_text(blocks[0], encoding="utf-8")
    result = _pytest(installed, tmp_path / "test_doc_example.py", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


def test_the_claims_example_own_tests_pass_with_the_harness(claims: Path) -> None:
    result = _pytest(claims, CLAIMS / "tests", cwd=claims)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "passed" in result.stdout


@pytest.fixture(scope="module")
def claims_server(claims: Path, tmp_path_factory: pytest.TempPathFactory):
    """A real server with the tiny classifier behind the installed ``claims`` plugin."""
    root = tmp_path_factory.mktemp("claims-served")
    write_classifier(root / "models", "claims", plugin="claims")
    server = start_server(root / "models", root / "server.log", env={"PYTHONPATH": str(claims)})
    yield server
    server.stop()


def test_the_claims_plugin_serves_masking_with_its_own_tag_and_explains(claims_server) -> None:
    """Served by its entry-point name: the policy number is one [POLICY_NUMBER] unit, reported by offset only."""

    client = triton.InferenceServerClient(claims_server.url)
    sentence = "good service POL-12345678 great"
    text = triton.InferInput("text", [1], "BYTES")
    text.set_data_from_numpy(np.array([sentence.encode()], dtype=object))
    wanted = [triton.InferRequestedOutput(name) for name in ("label", "redactions", "explanation")]
    result = client.infer("claims", [text], outputs=wanted)
    assert result.as_numpy("label")[0] == b"positive"
    assert json.loads(result.as_numpy("redactions")[0]) == [{"type": "POLICY_NUMBER", "start": 13, "end": 25}]
    units = [
        (item["text"], item["start"], item["end"])
        for item in json.loads(result.as_numpy("explanation")[0])["attributions"]
    ]
    assert ("[POLICY_NUMBER]", 13, 25) in units and "12345678" not in claims_server.log()


def test_a_fraction_parameter_is_taken_as_a_string_from_tritonclient_or_as_a_double(claims_server) -> None:
    """tritonclient 2.41 refuses Python floats, so clients send "0.99"; raw gRPC sends double_param: both abstain."""

    client = triton.InferenceServerClient(claims_server.url)
    text = triton.InferInput("text", [1], "BYTES")
    text.set_data_from_numpy(np.array([b"good movie"], dtype=object))
    with pytest.raises(triton.InferenceServerException, match="not supported"):
        client.infer("claims", [text], parameters={"min_confidence": 0.99})
    as_string = client.infer("claims", [text], parameters={"min_confidence": "0.99"})
    assert as_string.as_numpy("label")[0] == b"uncertain"
    request = pb.ModelInferRequest(model_name="claims")
    request.inputs.add(name="text", datatype="BYTES", shape=[1])
    request.raw_input_contents.append(len(b"good movie").to_bytes(4, "little") + b"good movie")
    request.parameters["min_confidence"].double_param = 0.99
    with grpc.insecure_channel(claims_server.url) as channel:
        response = rpc.GRPCInferenceServiceStub(channel).ModelInfer(request, timeout=30)
    label = next(index for index, output in enumerate(response.outputs) if output.name == "label")
    assert response.raw_output_contents[label][4:] == b"uncertain"
    request.parameters["min_confidence"].bool_param = True
    with grpc.insecure_channel(claims_server.url) as channel, pytest.raises(grpc.RpcError) as refused:
        rpc.GRPCInferenceServiceStub(channel).ModelInfer(request, timeout=30)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "plugin 'claims' failed in gatewise_postprocess: parameter 'min_confidence'" in refused.value.details()


def test_bad_input_from_preprocess_names_the_plugin_and_hook_on_the_wire(claims_server) -> None:
    """InvalidInput raised in preprocess (text that is not UTF-8) reads like a ValueError's: plugin and hook named."""

    client = triton.InferenceServerClient(claims_server.url)
    text = triton.InferInput("text", [2], "BYTES")
    text.set_data_from_numpy(np.array([b"good", b"\xff\xfe"], dtype=object))
    with pytest.raises(triton.InferenceServerException) as caught:
        client.infer("claims", [text])
    assert caught.value.status() == "StatusCode.INVALID_ARGUMENT"
    assert (
        "plugin 'claims' failed in gatewise_preprocess: input 'text' row 1 is not valid UTF-8" in caught.value.message()
    )
