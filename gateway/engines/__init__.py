"""Inference engines: one small contract (``base.Engine``) and a module per backend."""

from __future__ import annotations

from pathlib import Path

from gateway.config import ModelConfig
from gateway.engines.base import Engine, Tensors

ENGINE_FILES = {"onnxruntime": "model.onnx", "tensorrt": "model.plan"}
"""The file a version folder holds for each backend."""


def create_engine(config: ModelConfig, version_dir: Path) -> Engine:
    """Open the engine file in ``version_dir`` with the backend that config.toml names."""
    path = version_dir / ENGINE_FILES[config.backend]
    if config.backend == "tensorrt":
        from gateway.engines.tensorrt import TensorRTEngine

        return TensorRTEngine(path, config.tensorrt)
    from gateway.engines.onnxruntime import OnnxRuntimeEngine

    return OnnxRuntimeEngine(path, config.onnxruntime)


__all__ = ["ENGINE_FILES", "Engine", "Tensors", "create_engine"]
