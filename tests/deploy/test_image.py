"""The serving image, as a user runs it: built from the repository, the tiny test repository
mounted read-only at /models, called by tritonclient and kserve's client, then stopped.

Skipped where neither podman nor a docker daemon is available."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import tritonclient.grpc as triton

from conftest import triton_ready
from deploy.containers import Container, Engine
from deploy.kserve_env import run_script
from models import build_repository

GRACE_S = 5


def readable(folder: Path) -> Path:
    """The image runs as UID 10001, which must read a repository made by the test's user."""
    for path in [folder, *folder.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return folder


@pytest.fixture(scope="module")
def served(engine: Engine, image: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Container]:
    repository = readable(build_repository(tmp_path_factory.mktemp("image") / "models"))
    with engine.serving(
        "gatewise-deploy-test", image,
        "--volume", f"{repository}:/models:ro", "--env", f"GATEWISE_GRACE_PERIOD_S={GRACE_S}",
        # As deploy/kubernetes runs it: read-only root filesystem, no capabilities.
        "--read-only", "--tmpfs", "/tmp", "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
    ) as container:  # fmt: skip
        yield container


def test_runs_as_non_root_with_gatewise_as_pid_1(served: Container) -> None:
    """PID 1 is the server itself (exec-form ENTRYPOINT), so SIGTERM reaches it directly."""
    assert served.exec("id", "-u").stdout.strip() == "10001"
    cmdline = served.exec("cat", "/proc/1/cmdline").stdout.split("\0")
    assert cmdline[1:3] == ["/opt/gatewise/bin/gatewise", "serve"], cmdline


def test_has_no_torch_or_converter_extras(served: Container) -> None:
    code = "import importlib.util as u; print([m for m in ('torch', 'transformers', 'onnx') if u.find_spec(m)])"
    result = served.exec("python", "-c", code)
    assert result.stdout.strip() == "[]", result.stdout + result.stderr


def test_tritonclient_calls_the_mounted_repository(served: Container) -> None:
    client = triton.InferenceServerClient(served.url)
    try:
        text = triton.InferInput("text", [2], "BYTES")
        text.set_data_from_numpy(np.array([b"a great movie", b"awful service"], dtype=object))
        labels = client.infer("tiny-sentiment", [text]).as_numpy("label").tolist()
        x = triton.InferInput("x", [1, 4], "FP32")
        x.set_data_from_numpy(np.zeros((1, 4), dtype=np.float32))
        y = client.infer("add-one", [x]).as_numpy("y")
    finally:
        client.close()
    assert labels == [b"positive", b"negative"]
    assert y.tolist() == [[1.0, 1.0, 1.0, 1.0]]


def test_kserve_client_calls_the_container(served: Container, kserve: Path) -> None:
    result = run_script("kserve_client.py", served.url)
    assert result.returncode == 0, result.stderr[-4000:]
    report = json.loads(result.stdout)
    assert report["server_ready"] and report["model_ready"]
    assert report["labels"] == ["positive", "negative"]


def test_metrics_port_serves_gatewise_metrics(served: Container) -> None:
    body = urllib.request.urlopen(f"http://127.0.0.1:{served.metrics_port}/metrics", timeout=10).read().decode()
    assert 'gatewise_queue_depth{model="tiny-sentiment"}' in body


def test_stop_exits_cleanly_within_the_grace_period(served: Container) -> None:
    """`stop` sends the image's STOPSIGNAL (SIGTERM); the server drains and exits 0 before
    the engine's SIGKILL (which would exit 137) and within its own grace period."""
    seconds = served.stop(timeout_s=GRACE_S + 20)
    print(f"\nstopped in {seconds:.2f} s")
    assert served.state("ExitCode") == "0", served.logs()
    assert seconds < GRACE_S, served.logs()
    logs = served.logs()
    assert f"up to {GRACE_S:.1f} s" in logs, "GATEWISE_GRACE_PERIOD_S did not reach the server"
    assert "gatewise.server: stopped" in logs
    assert not triton_ready(served.url)
