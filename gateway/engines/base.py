"""The engine contract: what every backend (ONNX Runtime, TensorRT) must provide.

An engine runs one model version on one device. The gateway creates ``instances`` of
them per model and gives each batch to one free instance, from a worker thread: an engine
never runs on the event loop and needs no locking of its own for one batch at a time.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
from gatewise.protos.tensors import TensorSpec

Tensors = dict[str, np.ndarray]


@runtime_checkable
class Engine(Protocol):
    """Load once, describe, warm up, then infer one batch at a time."""

    @property
    def inputs(self) -> tuple[TensorSpec, ...]:
        """The engine's input tensors, batch dimension first (-1 where dynamic)."""

    @property
    def outputs(self) -> tuple[TensorSpec, ...]:
        """The engine's output tensors, batch dimension first (-1 where dynamic)."""

    def describe(self) -> dict[str, str]:
        """Facts for logs and ModelConfig parameters (providers in use, fallbacks, device)."""

    def infer(self, inputs: Tensors) -> Tensors:
        """Run one batch; every input and output has the batch as its first dimension."""

    def close(self) -> None:
        """Release sessions, contexts and device memory."""
