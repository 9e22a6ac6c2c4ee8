"""One version loaded with its footprint measured: host PSS and free device memory, before and after.

Runs in a worker thread while the repository holds its load lock, so no other load moves the
figures; requests running meanwhile still may, by their own working memory (a few MB).
"""

from __future__ import annotations

from pathlib import Path

from gatewise.gateway.config import ModelConfig
from gatewise.gateway.engines import registry, version_backend
from gatewise.gateway.memory import Footprint, device_free, pss
from gatewise.gateway.model import ServedModel
from gatewise.plugins.manager import PluginManager


def device_of(config: ModelConfig, version_dir: Path) -> int | None:
    """The CUDA device a version would use, or None where it runs on the CPU only."""
    if version_backend(config, version_dir) == "tensorrt":
        return config.tensorrt.device_id
    if set(config.onnxruntime.providers) & {"cuda", "tensorrt"}:
        return config.onnxruntime.device_id
    return None


def load_measured(
    config: ModelConfig, version: str, version_dir: Path, plugins: PluginManager
) -> tuple[ServedModel, Footprint]:
    """``ServedModel.load`` with what it cost: host PSS growth and device memory taken (bytes)."""
    device_id = device_of(config, version_dir)
    free_before = device_free(device_id) if device_id is not None else None
    host_before = pss()
    model = ServedModel.load(config, version, version_dir, plugins)
    host = max(0, pss() - host_before)
    free_after = device_free(device_id) if free_before is not None and device_id is not None else None
    on_gpu = model.describe().get("device") == "gpu" or model.backend == "tensorrt"
    if free_before is None or free_after is None or not on_gpu:
        return model, Footprint(host=host)
    return model, Footprint(host=host, device=max(0, free_before - free_after), device_id=device_id)


def estimate(version_dir: Path) -> int:
    """A version's footprint before it was ever measured: the size of its engine files."""
    total = 0
    for file in registry.engine_files().values():
        try:
            total += (version_dir / file).stat().st_size
        except OSError:
            continue
    return total
