"""The GPU tests' gate: a skip only where no GPU is present; a GPU the CUDA runtime cannot use fails."""

from __future__ import annotations

from pathlib import Path

import pytest
from gatewise.gateway.engines import cuda
from gatewise.protos.errors import EngineError

import gpu_hardware


def test_no_gpu_skips(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gpu_hardware, "gpus_present", lambda: [])
    with pytest.raises(pytest.skip.Exception, match="no NVIDIA GPU"):
        gpu_hardware.require_gpu()


def test_a_gpu_the_runtime_cannot_reach_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    """Missing cuda-bindings (or any CUDA error) beside a GPU the driver shows is a broken install, not a skip."""
    monkeypatch.setattr(gpu_hardware, "gpus_present", lambda: ["0000:01:00.0"])

    def broken() -> int:
        raise EngineError("the TensorRT engine needs cuda-bindings: pip install ...")

    monkeypatch.setattr(cuda, "device_count", broken)
    with pytest.raises(pytest.fail.Exception, match=r"driver shows \['0000:01:00.0'\] but the CUDA runtime fails"):
        gpu_hardware.require_gpu()
    monkeypatch.setattr(cuda, "device_count", lambda: 0)
    with pytest.raises(pytest.fail.Exception, match="the CUDA runtime sees no GPU"):
        gpu_hardware.require_gpu()


def test_the_driver_folder_names_the_gpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    gpus = tmp_path / "gpus"
    (gpus / "0000:01:00.0").mkdir(parents=True)
    monkeypatch.setattr(gpu_hardware, "DRIVER_GPUS", gpus)
    assert gpu_hardware.gpus_present() == ["0000:01:00.0"]
