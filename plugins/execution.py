"""One batch through a plugin's hooks and an engine: the sequence the server and the test harness share.

``ServedModel.execute`` (gateway/model.py) and ``PluginHarness`` (plugins/harness.py) both run
``execute``, and both warm up with ``warmup_inputs``, so a plugin that passes the harness
loads in the server and one that fails there fails in the harness. It lives here, not in the
gateway, because plugins may not import the gateway.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import numpy as np
from gatewise.plugins.context import BatchContext, ModelContext, Signature, Tensors
from gatewise.plugins.model_hooks import ModelHooks
from gatewise.protos.errors import EngineError
from gatewise.protos.tensors import DATATYPE_TO_NUMPY

Span = Callable[..., AbstractContextManager[Any]]


def no_span(name: str, **attributes: Any) -> AbstractContextManager[None]:
    """A span that records nothing (warm-up, the harness)."""
    return nullcontext()


def execute(
    hooks: ModelHooks | None,
    model: ModelContext,
    inputs: Tensors,
    batch: BatchContext,
    engine: Callable[[Tensors], Tensors],
    *,
    span: Span = no_span,
    attributes: dict[str, Any] | None = None,
    compute_attributes: dict[str, Any] | None = None,
) -> tuple[Tensors, tuple[float, float, float]]:
    """Preprocess -> engine -> postprocess for one batch: its public outputs and the seconds of each stage.

    A hook that returns None (or is not implemented) passes its tensors on unchanged. Every
    output must have the batch's rows first; EngineError names the model and output otherwise.
    ``span(name, **attributes)`` wraps each stage (the gateway's traces); the engine's stage
    also gets ``compute_attributes``.
    """
    attributes = attributes or {}
    t0 = time.perf_counter()
    with span("preprocess", **attributes):
        engine_inputs = (hooks.preprocess(model, inputs, batch) if hooks else None) or inputs
    t1 = time.perf_counter()
    with span("compute", **(compute_attributes or {}), **attributes):
        engine_outputs = engine(engine_inputs)
    t2 = time.perf_counter()
    with span("postprocess", **attributes):
        outputs = (hooks.postprocess(model, engine_outputs, batch) if hooks else None) or engine_outputs
    t3 = time.perf_counter()
    for name, array in outputs.items():
        if array.ndim == 0 or array.shape[0] != batch.size:
            raise EngineError(
                f"model {model.name!r} output {name!r} has shape {list(array.shape)}; "
                f"its first dimension must be the batch's {batch.size} rows"
            )
    return outputs, (t1 - t0, t2 - t1, t3 - t2)


def warmup_inputs(hooks: ModelHooks | None, model: ModelContext, signature: Signature) -> Tensors:
    """The warm-up batch: the plugin's ``gatewise_warmup_inputs``, else two zero rows of the public signature."""
    return (hooks.warmup_inputs(model) if hooks else None) or zeros_like(signature)


def zeros_like(signature: Signature) -> Tensors:
    """Two rows shaped like the public inputs, dynamic dims of 8: zeros, or empty strings for BYTES."""
    inputs = {}
    for spec in signature.inputs:
        shape = [2] + [8 if dim == -1 else dim for dim in spec.shape[1:]]
        dtype = DATATYPE_TO_NUMPY[spec.datatype]
        inputs[spec.name] = np.full(shape, b"", dtype=object) if spec.datatype == "BYTES" else np.zeros(shape, dtype)
    return inputs
