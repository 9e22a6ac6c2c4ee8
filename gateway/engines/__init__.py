"""Inference engines: one small contract (``base.Engine``) and a module per backend.

A version folder holds one engine file, and that file decides the version's backend
(``version_backend``); config.toml's ``backend`` is the default where a folder holds both.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from pathlib import Path

from gatewise.gateway.config import ModelConfig
from gatewise.gateway.engines.base import Engine, Tensors
from gatewise.plugins.text.encoding import DEFAULT_MAX_LENGTH

log = logging.getLogger("gatewise.engines")

ENGINE_FILES = {"onnxruntime": "model.onnx", "tensorrt": "model.plan"}
"""The file a version folder holds for each backend."""


def version_backend(config: ModelConfig, version_dir: Path) -> str:
    """The backend of one version folder: the engine file in it decides; config.toml's where it holds both or none."""
    present = [backend for backend, file in ENGINE_FILES.items() if (version_dir / file).is_file()]
    return present[0] if len(present) == 1 else config.backend


def create_engines(config: ModelConfig, version_dir: Path, count: int) -> list[Engine]:
    """``count`` instances of the engine in ``version_dir``, sharing what the backend can share.

    TensorRT deserialises the plan once and gives each instance its own execution context,
    CUDA stream and buffers; ONNX Runtime opens one session per instance. If an instance
    fails to open, the ones already open are closed before the error propagates.
    """
    backend = version_backend(config, version_dir)
    path = version_dir / ENGINE_FILES[backend]
    release: Callable[[], None] = lambda: None  # noqa: E731
    if backend == "tensorrt":
        from gatewise.gateway.engines.tensorrt import TensorRTPlan

        plan = TensorRTPlan(path, config.tensorrt)
        open_one: Callable[[], Engine] = plan.instance
        release = plan.release  # the opener's own hold; the instances keep the plan alive
    else:
        from gatewise.gateway.engines.onnxruntime import OnnxRuntimeEngine

        max_length = int(config.parameters.get("max_length", DEFAULT_MAX_LENGTH))

        def open_one() -> Engine:
            return OnnxRuntimeEngine(
                path, config.onnxruntime, max_batch=config.batching.max_batch_size, max_length=max_length
            )

    engines: list[Engine] = []
    try:
        for _ in range(count):
            engines.append(open_one())
    except BaseException:
        close_all(engines)
        raise
    finally:
        release()
    return engines


def close_all(engines: Iterable[Engine]) -> None:
    """Close every engine, even when one of them fails to close (that failure is logged)."""
    for engine in engines:
        try:
            engine.close()
        except Exception:
            log.exception("closing an engine instance failed")


__all__ = ["ENGINE_FILES", "Engine", "Tensors", "close_all", "create_engines", "version_backend"]
