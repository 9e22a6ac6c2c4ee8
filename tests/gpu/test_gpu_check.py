"""scripts/gpu-check.sh --dry-run: the wheel list, the carry plan and the commands.

Checked on CPU without the large wheels.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts" / "gpu"))

import plan  # noqa: E402


def test_the_carry_plan_fits_every_call_under_the_transfer_limit() -> None:
    total = sum(size for _, size in plan.pins())
    layout = plan.carry_plan(total, 4 << 20)
    assert layout["fits"] and layout["largest_call_mib"] < 64
    assert layout["parts"] * layout["part_mib"] >= layout["wheels_mib"]  # every byte travels
    with pytest.raises(SystemExit, match="leaves no room to carry wheels"):
        plan.carry_plan(total, 60 << 20)


def test_the_check_writes_no_more_files_than_the_device_returns() -> None:
    text = (ROOT / "scripts" / "gpu-check.sh").read_text()
    script = text.replace("w$workers", "w1") + text.replace("w$workers", "w2")
    assert len(plan.OUT_FILES) <= 8
    for name in plan.OUT_FILES:
        assert name in script or name == "ort-cuda.json", name


@pytest.mark.timeout(600)
def test_dry_run_resolves_the_wheels_and_finds_every_command(tmp_path: Path) -> None:
    """The whole dry run, as a developer runs it before spending device time; pip reads metadata only."""
    env = {**os.environ, "PYTHON": sys.executable, "PIP_NO_INPUT": "1"}
    done = subprocess.run(
        ["bash", str(ROOT / "scripts" / "gpu-check.sh"), "--dry-run", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=580,
    )
    if done.returncode != 0 and any(
        word in done.stdout + done.stderr
        for word in ("NewConnectionError", "Temporary failure in name resolution", "No route to host")
    ):
        pytest.skip("the package index is unreachable from here; the dry run needs its metadata")
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads((tmp_path / "dry-run.json").read_text())
    assert len(report["wheels"]) == len(plan.pins())
    for wheel in report["wheels"].values():
        assert "-py3-none-any" in wheel or ("cp312" in wheel or "abi3" in wheel) and "x86_64" in wheel, wheel
    assert report["check"]["problems"] == [] and report["check"]["gpu_tests"]
    assert "dry run: ok" in done.stdout
    assert not list(tmp_path.glob("*.whl"))


GPU_CHECK_PATHS = ("tests/gpu", "tests/converters/test_tensorrt_build.py")
"""What ``scripts/gpu-check.sh`` collects; ``-m gpu`` selects within it."""


def test_the_gpu_marker_selects_every_gpu_test_and_only_those() -> None:
    """``-m gpu`` (the GPU check's selection) picks the CUDA-path tests and the real TensorRT build, and no
    test outside the check's paths asks for a GPU, so the check runs every one of them."""

    def collect(marker: str, *paths: str) -> list[str]:
        found = subprocess.run(
            [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "-m", marker, *paths],
            cwd=ROOT, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        return [line for line in found.stdout.splitlines() if "::" in line]

    selected = collect("gpu", *GPU_CHECK_PATHS)
    assert sum("test_cuda_path.py::" in test for test in selected) == 4
    assert any("test_built_plan_serves_like_onnx" in test for test in selected)
    assert not [test for test in selected if "test_gpu_check.py" in test]
    assert collect("not gpu", "tests/gpu/test_cuda_path.py") == []
    assert "-m gpu" in (ROOT / "scripts" / "gpu-check.sh").read_text()
    elsewhere = [
        path.relative_to(ROOT)
        for path in (ROOT / "tests").rglob("test_*.py")
        if not any(path.relative_to(ROOT).as_posix().startswith(prefix) for prefix in GPU_CHECK_PATHS)
        and any(mark in path.read_text() for mark in ("mark.gpu", "mark.tensorrt", "gpu: int"))
    ]
    assert elsewhere == [], f"GPU tests outside what scripts/gpu-check.sh collects: {elsewhere}"
