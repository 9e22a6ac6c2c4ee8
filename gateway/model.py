"""A served model version: its engine instances, its plugin's hooks and its batcher.

Request path: ``infer`` (event loop) validates nothing itself — the servicer has checked
the tensors against ``signature`` — and queues the request; ``run_batch`` (an instance
thread) runs each engine call the batch policy chose (``Batch.calls``: same shapes, split
by length so that little goes to padding), concatenating its rows, through preprocess ->
engine -> postprocess, and hands every request its own rows back.

Errors: the plugin's hooks raise PluginError or InvalidInput (``plugins.model_hooks`` made
them so); the engine call is the engine boundary, where anything but a GatewiseError
becomes an EngineError. A batch that a plugin refuses is retried request by request so
that only the request at fault fails; any other failure fails its own call's requests.
Nothing is translated twice: errors reach the servicer as they were raised.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from gatewise.gateway import metrics, tracing
from gatewise.gateway.batch_policy import engine_calls
from gatewise.gateway.batcher import DynamicBatcher, Pending
from gatewise.gateway.config import ModelConfig
from gatewise.gateway.engines import Engine, close_all, create_engines, version_backend
from gatewise.gateway.reference_check import check_drift
from gatewise.gateway.stats import ModelStats
from gatewise.gateway.throttle import RateLimitedLog
from gatewise.plugins import execution
from gatewise.plugins.context import BatchContext, ModelContext, Signature, Tensors
from gatewise.plugins.manager import PluginManager
from gatewise.plugins.model_hooks import ModelHooks
from gatewise.protos.errors import EngineError, GatewiseError, InvalidInput, ModelNotReady, PluginError

log = logging.getLogger("gatewise.model")
_engine_failures = RateLimitedLog(log)


@dataclass
class InferResult:
    """One request's outputs, and the response parameters its rows earned (``truncated``)."""

    outputs: Tensors
    parameters: dict[str, bool] = field(default_factory=dict)


@dataclass
class VersionInfo:
    """What metadata, ModelConfig and statistics report of a version that is not loaded.

    ``ServedModel.describe_only`` reads it at startup for an on-demand version (an engine
    opened and closed again, the plugin's signature), so clients see the model before any
    request loads it; ``ServedModel`` has the same attributes.
    """

    name: str
    version: str
    config: ModelConfig
    signature: Signature
    facts: dict[str, str]
    drift: str | None = None
    stats: ModelStats = field(default_factory=ModelStats)

    def describe(self) -> dict[str, str]:
        return self.facts


class ServedModel:
    """Load with ``ServedModel.load`` (blocking, in a thread), then ``start`` on the loop."""

    def __init__(
        self,
        config: ModelConfig,
        version: str,
        context: ModelContext,
        engines: list[Engine],
        hooks: ModelHooks | None,
        signature: Signature,
    ) -> None:
        self.config = config
        self.name = config.name
        self.version = version
        self.context = context
        self.engines = engines
        self.hooks = hooks
        self.signature = signature
        self.stats = ModelStats()
        self.metrics = metrics.ModelMetrics(self.name)
        self.holders = 0
        """Requests between ``ModelRepository.acquire`` and ``release``: none, and it may be evicted or closed."""
        self.drift: str | None = None
        """The figures, when this version drifted past its reference tolerance and serves anyway (``warn``)."""
        self._batcher: DynamicBatcher | None = None
        self._explaining = asyncio.Semaphore(config.batching.max_concurrent_explanations * len(engines))
        """Explanations whose rows may be queued at once; the others wait for a turn."""

    # ---------------------------------------------------------------- loading

    @property
    def backend(self) -> str:
        """This version's engine: a registered backend's name, from the file in its folder."""
        return self.config.backend

    @classmethod
    def load(cls, config: ModelConfig, version: str, version_dir: Path, plugins: PluginManager) -> ServedModel:
        """Open the engines, run the plugin's load hooks and warm up; raises on any failure.

        The version's backend follows the engine file in ``version_dir``, so ``self.config``
        is config.toml's with ``backend`` set to this version's engine (what ModelConfig and
        ModelMetadata report for it).
        """
        config = _with_backend(config, version_dir)
        engines: list[Engine] = []
        try:
            engines = create_engines(config, version_dir, config.instances)
            context, hooks, signature = _plugin_side(config, version, version_dir, engines[0], plugins)
            model = cls(config, version, context, engines, hooks, signature)
            model.warm_up()
            check_drift(model, version_dir)
        except BaseException:
            close_all(engines)
            raise
        return model

    @classmethod
    def describe_only(cls, config: ModelConfig, version: str, version_dir: Path, plugins: PluginManager) -> VersionInfo:
        """The version's signature and engine facts, from one engine opened and closed again (no warm-up)."""
        config = _with_backend(config, version_dir)
        engines = create_engines(config, version_dir, 1)
        try:
            _, _, signature = _plugin_side(config, version, version_dir, engines[0], plugins)
            return VersionInfo(config.name, version, config, signature, engines[0].describe())
        finally:
            close_all(engines)

    def warm_up(self) -> None:
        """Run one batch through every instance so the first client pays no start-up cost.

        Warm-up is not traffic: like Triton's, it adds nothing to ModelStatistics or metrics.
        """
        inputs = execution.warmup_inputs(self.hooks, self.context, self.signature)
        rows = next(iter(inputs.values())).shape[0]
        for instance in range(len(self.engines)):
            self.execute(inputs, BatchContext.single(rows), instance, record=False)

    def start(self) -> None:
        """Start the batcher; needs the running event loop."""
        self._batcher = DynamicBatcher(
            self.name, self.config.batching, self.run_batch, len(self.engines), inputs=self.signature.inputs
        )
        self._batcher.start()

    async def close(self, drain: bool = True) -> None:
        """Finish queued and in-flight work (when ``drain``), then release the engines."""
        if self._batcher is not None:
            if drain:
                await self._batcher.drain()
            await self._batcher.close()
        close_all(self.engines)

    # ---------------------------------------------------------------- serving

    @property
    def queue_depth(self) -> int:
        return self._batcher.queue_depth if self._batcher else 0

    def describe(self) -> dict[str, str]:
        return self.engines[0].describe()

    def info(self) -> VersionInfo:
        """What clients may still read of this version once it is evicted."""
        return VersionInfo(
            self.name, self.version, self.config, self.signature, self.describe(), self.drift, self.stats
        )

    async def infer(
        self, inputs: Tensors, rows: int, parameters: dict[str, Any], deadline: float | None
    ) -> InferResult:
        """Queue one validated request and wait for its rows."""
        if self._batcher is None:
            raise ModelNotReady(self.name, "not started")
        pending = Pending(
            inputs=inputs,
            parameters=parameters,
            rows=rows,
            deadline=deadline,
            trace=tracing.current(),
        )
        self.metrics.queue_depth.set(self._batcher.queue_depth + 1)
        result: InferResult = await self._batcher.submit(pending)
        return result

    def explanation_turn(self) -> asyncio.Semaphore:
        """Hold it (``async with``) while one row is explained, from its plugin hook to its last
        coalition: at most ``max_concurrent_explanations`` per instance at once, the others wait
        before anything of theirs is built."""
        return self._explaining

    async def run_rows(self, inputs: Tensors, rows: int, parameters: dict[str, Any], deadline: float | None) -> Tensors:
        """Background rows (an explanation's coalitions) through the batcher; their outputs, in order.

        Queued in the chunks the batch policy cuts (``explanation_share`` of a batch, the most
        that may join or delay ordinary requests while they are about). The caller holds an
        ``explanation_turn``, which bounds how many are queued at once.
        """
        batcher = self._batcher
        if batcher is None:
            raise ModelNotReady(self.name, "not started")
        pendings = [
            Pending(
                inputs={name: array[start:stop] for name, array in inputs.items()},
                parameters=parameters,
                rows=stop - start,
                deadline=deadline,
                background=True,
            )
            for start, stop in batcher.policy.background_chunks(rows)
        ]
        results: list[InferResult] = await asyncio.gather(*(batcher.submit(pending) for pending in pendings))
        return _concatenate([result.outputs for result in results])

    def run_batch(self, batch: Sequence[Pending], instance: int) -> list[InferResult | BaseException]:
        """Worker thread: run ``batch`` on engine ``instance``; one result or error per request."""
        started = time.perf_counter()
        now = self._batcher.clock() if self._batcher is not None else time.monotonic()  # it stamped ``enqueued``
        for pending in batch:
            waited = max(0.0, now - pending.enqueued)
            self.metrics.queue_time.observe(waited)
            self.stats.record_queue(waited)
            if pending.trace is not None:
                started_ns = time.time_ns() - int(waited * 1e9)
                with tracing.span("queue", started_ns, parent=pending.trace, model=self.name, rows=pending.rows):
                    pass
        results: dict[int, InferResult | BaseException] = {}
        for group in engine_calls(batch, self.config.batching):
            results.update(self._run_group(group, instance))
        explained = sum(pending.rows for pending in batch if pending.background)
        if explained:
            self.metrics.explanation_rows.inc(explained)
        self.metrics.queue_depth.set(self.queue_depth)
        log.debug("model %s ran %d request(s) in %.2f ms", self.name, len(batch), (time.perf_counter() - started) * 1e3)
        return [results[id(pending)] for pending in batch]

    def _run_group(self, group: list[Pending], instance: int) -> dict[int, InferResult | BaseException]:
        """One engine call for ``group``: each request's rows, or the error that failed it."""
        inputs = _concatenate([pending.inputs for pending in group])
        request_of_row = np.repeat(np.arange(len(group)), [pending.rows for pending in group])
        context = BatchContext(request_of_row=request_of_row, request_parameters=[p.parameters for p in group])
        try:
            with tracing.span("batch", links=[pending.trace for pending in group], model=self.name):
                outputs = self.execute(inputs, context, instance)
        except (PluginError, InvalidInput) as exc:
            if len(group) == 1:
                return {id(group[0]): exc}
            # A plugin refused the batch: find the request(s) at fault by running each alone.
            return {
                id(pending): outcome for pending in group for outcome in self._run_group([pending], instance).values()
            }
        except Exception as exc:  # noqa: BLE001 - fails only this call's requests; the servicer maps it
            return {id(pending): exc for pending in group}
        return _split(group, outputs, context)

    def execute(self, inputs: Tensors, batch: BatchContext, instance: int, *, record: bool = True) -> Tensors:
        """Preprocess -> engine -> postprocess for one batch, in the calling thread (no queue).

        ``record=False`` (warm-up) leaves ModelStatistics, the Prometheus metrics and traces untouched.
        """
        outputs, seconds = execution.execute(
            self.hooks,
            self.context,
            inputs,
            batch,
            lambda engine_inputs: self._infer_engine(engine_inputs, batch, instance),
            span=tracing.span if record else execution.no_span,
            attributes={"model": self.name, "version": self.version, "rows": batch.size},
            compute_attributes={"instance": instance},
        )
        if not record:
            return outputs
        self.stats.record_batch(batch.size, len(batch.request_parameters), *seconds)
        self.metrics.batch_size.observe(batch.size)
        for histogram, stage in zip(self.metrics.compute, seconds, strict=True):
            histogram.observe(stage)
        if batch.tokens:
            self.metrics.tokens.inc(batch.tokens)
            self.metrics.padded_tokens.inc(batch.padded_tokens)
        return outputs

    def _infer_engine(self, inputs: Tensors, batch: BatchContext, instance: int) -> Tensors:
        """The engine boundary: what an engine raises reaches each request as a summary.

        An engine's own text (ONNX Runtime quotes input values, TensorRT names server paths)
        describes the whole batch, other clients' rows included: it is logged once here
        (rate-limited) and each request gets an EngineError naming the model, the kind of
        failure and an incident number to find that log line by.
        """
        try:
            return self.engines[instance].infer(inputs)
        except Exception as exc:
            incident = secrets.token_hex(4)
            cause = exc.__cause__ if isinstance(exc, GatewiseError) and exc.__cause__ is not None else exc
            requests = len(batch.request_parameters)
            _engine_failures(
                logging.ERROR,
                f"engine:{self.name}",
                "model %s failed a batch of %d request(s) (incident %s): %s",
                self.name,
                requests,
                incident,
                exc,
                exc_info=exc,
            )
            raise EngineError(
                f"model {self.name!r} failed to run a batch of {requests} request(s) ({type(cause).__name__}); "
                f"the server log has the details (incident {incident})"
            ) from exc


def _check_declared(config: ModelConfig, engine: Engine) -> None:
    """config.toml's inputs/outputs, when given, must match what the engine really has."""
    for kind, declared, actual in (("input", config.inputs, engine.inputs), ("output", config.outputs, engine.outputs)):
        real = {spec.name: spec for spec in actual}
        for spec in declared:
            found = real.get(spec.name)
            if found is None:
                raise EngineError(f"config.toml declares {kind} {spec.name!r}; the engine has {sorted(real)}")
            if found.datatype != spec.datatype or len(found.shape) != len(spec.shape):
                raise EngineError(
                    f"config.toml declares {kind} {spec.name!r} as {spec.datatype} {list(spec.shape)}; "
                    f"the engine has {found.datatype} {list(found.shape)}"
                )


def _concatenate(requests: list[Tensors]) -> Tensors:
    if len(requests) == 1:
        return requests[0]
    return {name: np.concatenate([inputs[name] for inputs in requests]) for name in requests[0]}


def _split(group: list[Pending], outputs: Tensors, batch: BatchContext) -> dict[int, InferResult]:
    results = {}
    start = 0
    for pending in group:
        stop = start + pending.rows
        rows = {name: array[start:stop] for name, array in outputs.items()}
        flags = {name: True for name, values in batch.row_flags.items() if values[start:stop].any()}
        results[id(pending)] = InferResult(rows, flags)
        start = stop
    return results


def _with_backend(config: ModelConfig, version_dir: Path) -> ModelConfig:
    """config.toml's config with ``backend`` set to the engine file this version folder holds."""
    backend = version_backend(config, version_dir)
    return config if backend == config.backend else config.model_copy(update={"backend": backend})


def _plugin_side(
    config: ModelConfig, version: str, version_dir: Path, first: Engine, plugins: PluginManager
) -> tuple[ModelContext, ModelHooks | None, Signature]:
    """What the plugin makes of a version: its context, its hooks (load hook run) and the public signature."""
    _check_declared(config, first)
    context = ModelContext(
        name=config.name,
        version=version,
        config=config.plugin_view(),
        path=version_dir,
        engine_inputs=first.inputs,
        engine_outputs=first.outputs,
    )
    hooks = plugins.model_hooks(config.plugin) if config.plugin else None
    if hooks is not None:
        hooks.load(context)
    signature = (hooks.signature(context) if hooks else None) or Signature(first.inputs, first.outputs)
    return context, hooks, signature
