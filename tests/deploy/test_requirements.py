"""deploy/container/requirements.py: the image's dependency layer is pyproject.toml's
serving dependencies plus exactly one ONNX Runtime extra (cpu or gpu)."""

from __future__ import annotations

import subprocess
import sys
import tomllib

from conftest import ROOT

SCRIPT = ROOT / "deploy" / "container" / "requirements.py"
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def requirements(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), str(ROOT / "pyproject.toml"), *args], capture_output=True, text=True, timeout=60
    )


def runtimes(lines: list[str]) -> list[str]:
    """The ONNX Runtime distributions among requirement lines."""
    names = [line.split("[")[0].split(">")[0].split("=")[0].strip() for line in lines]
    return [name for name in names if name.startswith("onnxruntime")]


def test_cpu_image_installs_the_serving_dependencies_and_onnxruntime_only() -> None:
    result = requirements()
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines == [*PROJECT["dependencies"], *PROJECT["optional-dependencies"]["cpu"]]
    assert runtimes(lines) == ["onnxruntime"]
    assert not [line for line in lines if line.split(">")[0].split("=")[0].strip() in ("torch", "transformers")]


def test_gpu_image_installs_onnxruntime_gpu_and_not_the_cpu_package() -> None:
    result = requirements("--runtime", "gpu")
    assert result.returncode == 0, result.stderr
    assert runtimes(result.stdout.splitlines()) == ["onnxruntime-gpu"]


def test_no_onnxruntime_in_the_base_dependencies() -> None:
    """Either extra must be able to bring its own package: a base onnxruntime would sit beside onnxruntime-gpu."""
    assert runtimes(PROJECT["dependencies"]) == []


def test_an_unknown_runtime_is_refused_by_name() -> None:
    result = requirements("--runtime", "rocm")
    assert result.returncode != 0
    assert "rocm" in result.stderr
