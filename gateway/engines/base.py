"""The engine contract: load, warm up, describe, infer (and close), and how a backend registers.

An engine runs one model version on one device. The gateway creates ``instances`` of them
per model and gives each batch to one free instance, from a worker thread: an engine never
runs on the event loop and needs no locking of its own for one batch at a time.

A backend is one ``Backend`` value: its name (config.toml's ``backend``), the file a version
folder holds for it, the platform ModelConfig reports, and ``load``, which opens the
instances. Registering that value (``gateway.engines.registry``: the built-ins, or the
entry-point group ``gatewise.engines``) is all it takes to add an engine.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from gatewise.protos.tensors import TensorSpec

if TYPE_CHECKING:
    from gatewise.gateway.config import ModelConfig

log = logging.getLogger("gatewise.engines")

Tensors = dict[str, np.ndarray]


class Engine:
    """One engine instance. Override ``infer`` and set ``inputs``/``outputs``; the rest have defaults.

    Load: the backend's ``load`` constructs instances (sessions, contexts, device memory);
    failures raise ``EngineError`` naming the file. Warm up: ``warm_up`` runs once per instance
    before the gateway's own warm-up batch (which goes through the model's plugin). Describe:
    ``inputs``, ``outputs`` and ``describe``. Infer: ``infer``, one batch at a time.
    """

    inputs: tuple[TensorSpec, ...] = ()
    """The engine's input tensors, batch dimension first (-1 where dynamic)."""
    outputs: tuple[TensorSpec, ...] = ()
    """The engine's output tensors, batch dimension first (-1 where dynamic)."""

    def warm_up(self) -> None:
        """Work to do before the first batch that loading did not (nothing by default): the gateway
        then runs one real batch through every instance, plugin included, before the model is ready."""

    def describe(self) -> dict[str, str]:
        """Facts for logs and ModelConfig parameters (providers in use, fallbacks, device)."""
        return {}

    def infer(self, inputs: Tensors) -> Tensors:
        """Run one batch; every input and output has the batch as its first dimension."""
        raise NotImplementedError(f"{type(self).__name__} must implement infer")

    def close(self) -> None:
        """Release sessions, contexts and device memory (nothing by default)."""


Load = Callable[["ModelConfig", Path, int], list[Engine]]
"""(the model's config, its version folder, how many instances) -> the open instances."""


@dataclass(frozen=True)
class Backend:
    """One kind of engine, as the gateway finds and reports it."""

    name: str
    """What config.toml's ``backend`` names, and the entry point's name."""
    file: str
    """The file a version folder holds for this backend (``model.onnx``); its presence picks the backend."""
    platform: str
    """What ModelConfig reports as ``platform`` (Triton's names: ``onnxruntime_onnx``, ``tensorrt_plan``)."""
    load: Load
    """Opens the instances of one version; sharing what it can between them (TensorRT: one plan)."""


def open_instances(open_one: Callable[[], Engine], count: int) -> list[Engine]:
    """``count`` instances from ``open_one``; if one fails, those already open are closed before it propagates."""
    engines: list[Engine] = []
    try:
        for _ in range(count):
            engines.append(open_one())
    except BaseException:
        close_all(engines)
        raise
    return engines


def close_all(engines: Iterable[Engine]) -> None:
    """Close every engine, even when one of them fails to close (that failure is logged)."""
    for engine in engines:
        try:
            engine.close()
        except Exception:
            log.exception("closing an engine instance failed")
