"""Which engines exist: the built-ins and those installed under the entry-point group ``gatewise.engines``.

Built-ins are registered exactly like outside engines, as ``Backend`` values, and both are
found by name; nothing else in the gateway (config validation, version folders, ModelConfig)
names a backend. A built-in's ``load`` imports its engine module only when a model needs it,
so listing backends never imports onnxruntime or tensorrt.
"""

from __future__ import annotations

import importlib
import logging
import threading
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

from gatewise.gateway.engines.base import Backend, Engine, Load

if TYPE_CHECKING:
    from gatewise.gateway.config import ModelConfig

log = logging.getLogger("gatewise.engines")

ENTRY_POINT_GROUP = "gatewise.engines"
"""Third-party engines: ``[project.entry-points."gatewise.engines"] name = "package.module:BACKEND"``."""


def _deferred(target: str) -> Load:
    """A ``load`` that imports ``module:function`` on first use."""

    def load(config: ModelConfig, version_dir: Path, count: int) -> list[Engine]:
        module, _, function = target.partition(":")
        return getattr(importlib.import_module(module), function)(config, version_dir, count)

    return load


BUILTIN_BACKENDS = (
    Backend("onnxruntime", "model.onnx", "onnxruntime_onnx", _deferred("gatewise.gateway.engines.onnxruntime:load")),
    Backend("tensorrt", "model.plan", "tensorrt_plan", _deferred("gatewise.gateway.engines.tensorrt:load")),
)
"""The first is the default of config.toml's ``backend``."""

_lock = threading.Lock()
_backends: dict[str, Backend] | None = None


def backends() -> dict[str, Backend]:
    """Every registered backend by name: the built-ins, then the entry points (loaded once)."""
    global _backends
    with _lock:
        if _backends is None:
            found = {backend.name: backend for backend in BUILTIN_BACKENDS}
            for entry in metadata.entry_points(group=ENTRY_POINT_GROUP):
                _add(found, entry)
            _backends = found
        return dict(_backends)


def _add(found: dict[str, Backend], entry: metadata.EntryPoint) -> None:
    """One entry point's backend; a broken or clashing one is logged and left out (the others still serve)."""
    try:
        backend = entry.load()
    except Exception:
        log.exception("engine entry point %r (%s) failed to import; it is not available", entry.name, entry.value)
        return
    if not isinstance(backend, Backend) or backend.name != entry.name:
        log.error(
            "engine entry point %r (%s) must name a gatewise Backend called %r; it is not available",
            entry.name, entry.value, entry.name,
        )  # fmt: skip
        return
    if backend.name in found:
        log.error("engine entry point %r (%s) clashes with an engine of that name; ignored", entry.name, entry.value)
        return
    found[backend.name] = backend


def register(backend: Backend) -> None:
    """Register one more backend in this process (tests, embedding applications); names are unique."""
    global _backends
    current = backends()
    if backend.name in current:
        raise ValueError(f"an engine named {backend.name!r} is registered already")
    with _lock:
        _backends = {**current, backend.name: backend}


def get(name: str) -> Backend:
    """The backend called ``name``; KeyError naming the registered ones."""
    found = backends()
    if name not in found:
        raise KeyError(f"no engine named {name!r}; registered: {', '.join(sorted(found))}")
    return found[name]


def engine_files() -> dict[str, str]:
    """Backend name -> the file a version folder holds for it."""
    return {name: backend.file for name, backend in backends().items()}
