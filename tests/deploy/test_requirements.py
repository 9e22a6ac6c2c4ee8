"""deploy/container/requirements.py: the image's dependency layer is pyproject.toml's
serving dependencies, with the GPU build swapping onnxruntime for onnxruntime-gpu."""

from __future__ import annotations

import subprocess
import sys
import tomllib

from conftest import ROOT

SCRIPT = ROOT / "deploy" / "container" / "requirements.py"


def requirements(*args: str) -> list[str]:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), str(ROOT / "pyproject.toml"), *args], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def test_cpu_image_installs_exactly_the_serving_dependencies() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert requirements() == declared
    assert not [dep for dep in declared if dep.split(">")[0].split("=")[0].strip() in ("torch", "transformers")]


def test_gpu_image_swaps_onnxruntime_for_the_gpu_package() -> None:
    swapped = requirements("--onnxruntime", "onnxruntime-gpu>=1.31")
    assert "onnxruntime-gpu>=1.31" in swapped
    assert not [dep for dep in swapped if dep.startswith("onnxruntime") and not dep.startswith("onnxruntime-gpu")]
    assert len(swapped) == len(requirements())
