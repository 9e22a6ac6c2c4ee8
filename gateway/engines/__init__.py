"""Inference engines: one small contract (``base.Engine``), one registry (``registry``), a module per backend.

A version folder holds one engine file, and that file decides the version's backend
(``version_backend``); config.toml's ``backend`` is the default where a folder holds several.
Adding an engine is one registration: a ``base.Backend`` among ``registry.BUILTIN_BACKENDS``
or under the entry-point group ``gatewise.engines``.
"""

from __future__ import annotations

from pathlib import Path

from gatewise.gateway.config import ModelConfig
from gatewise.gateway.engines import registry
from gatewise.gateway.engines.base import Backend, Engine, Tensors, close_all, open_instances


def version_backend(config: ModelConfig, version_dir: Path) -> str:
    """The backend of one version folder: its engine file decides; config.toml's where it holds several or none."""
    present = [name for name, file in registry.engine_files().items() if (version_dir / file).is_file()]
    return present[0] if len(present) == 1 else config.backend


def create_engines(config: ModelConfig, version_dir: Path, count: int) -> list[Engine]:
    """``count`` instances of the engine in ``version_dir``, sharing what the backend can share, each warmed up.

    TensorRT deserialises the plan once and gives each instance its own execution context,
    CUDA stream and buffers; ONNX Runtime opens one session per instance. If an instance
    fails to open or warm up, the ones already open are closed before the error propagates.
    """
    engines = registry.get(version_backend(config, version_dir)).load(config, version_dir, count)
    try:
        for engine in engines:
            engine.warm_up()
    except BaseException:
        close_all(engines)
        raise
    return engines


__all__ = ["Backend", "Engine", "Tensors", "close_all", "create_engines", "open_instances", "version_backend"]
