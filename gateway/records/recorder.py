"""The server's side of records: which models keep them, and the one call the request path makes.

``Recorder.keep`` is called once per request, after the answer is built or when it was
refused. It builds a ``Draft`` (references only) and hands it to the ``Writer``; under
policy ``require`` it waits for the commit and raises ``RecordNotKept`` (UNAVAILABLE)
when the record cannot be kept, so no answer leaves without its record. A sampled
explanation is computed after the answer, through the model's background rows, and kept as
a second record that refers to the first.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import weakref
from dataclasses import dataclass, replace
from fnmatch import fnmatchcase
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gatewise.gateway import explanations
from gatewise.gateway.records import metrics
from gatewise.gateway.records.build import EXPLANATION, Draft, new_id, now
from gatewise.gateway.records.config import RecordsConfig, effective
from gatewise.gateway.records.writer import Writer
from gatewise.gateway.security.principal import ANONYMOUS
from gatewise.protos.errors import RecordNotKept

if TYPE_CHECKING:
    import numpy as np
    from gatewise.gateway.model import ServedModel
    from gatewise.gateway.security.principal import Principal
    from gatewise.gateway.settings import ServerSettings
    from gatewise.plugins.manager import PluginManager

log = logging.getLogger("gatewise.records")

MAX_BACKGROUND_EXPLANATIONS = 4
"""Sampled explanations computed at once; a sample drawn while this many run is skipped (counted)."""


class Recorder:
    """Decides per model what is kept, and hands it to the writer (None: no store configured)."""

    def __init__(
        self,
        writer: Writer | None,
        defaults: RecordsConfig,
        record_models: tuple[str, ...],
        plugins: PluginManager,
        explain_limits: ServerSettings,
    ) -> None:
        self.writer = writer
        self.defaults = defaults
        self.record_models = record_models
        """Globs of models recorded without a table of their own (``--records-models``)."""
        self.plugins = plugins
        self.explain_limits = explain_limits
        """The server's settings, read for its explanation caps (``--max-explain-*``)."""
        self._models: weakref.WeakKeyDictionary[ServedModel, _ModelRecords] = weakref.WeakKeyDictionary()
        """What each loaded model's records take from it, worked out once (a reloaded model is a new key)."""
        self._background: set[asyncio.Task] = set()
        self._random = random.Random()

    def config_for(self, model: ServedModel) -> RecordsConfig | None:
        """The model's records config (its ``[records]`` over the server's defaults); None: not recorded."""
        return self._of(model).config

    def _of(self, model: ServedModel) -> _ModelRecords:
        known = self._models.get(model)
        if known is None:
            listed = any(fnmatchcase(model.name, pattern) for pattern in self.record_models)
            config = effective(model.config.records, self.defaults, listed)
            if config is not None and self.writer is None:
                log.warning(
                    "model %r asks for decision records but the server has no records store "
                    "(--records or --records-url): %s",
                    model.name,
                    "its requests are refused (policy require)" if config.policy == "require" else "none are kept",
                )
            known = _ModelRecords(config, _artifact(model), self._plugin_version(model.config.plugin))
            self._models[model] = known
        return known

    async def keep(
        self,
        model: ServedModel | None,
        request_id: str,
        trace_id: str | None,
        method: str,
        principal: Principal | None,
        inputs: dict[str, np.ndarray] | None,
        outputs: dict[str, np.ndarray] | None,
        status: str,
        started: float,
    ) -> RecordNotKept | None:
        """Record one answered (``status`` OK) or refused request of ``principal`` (None: anonymous).

        Returns (never raises) RecordNotKept when the request was answered, its model's policy
        is ``require`` and the record could not be kept: the caller answers that instead.
        """
        if model is None:
            return None  # no such model: nothing says to record it
        known = self._of(model)
        config = known.config
        if config is None:
            return None
        draft = Draft(
            model=model.name,
            version=model.version,
            config=config,
            artifact=known.artifact,
            plugin=model.config.plugin,
            plugin_version=known.plugin_version,
            principal=(principal or ANONYMOUS).name,
            auth=(principal or ANONYMOUS).via,
            request_id=request_id,
            trace_id=trace_id,
            method=method,
            status=status,
            latency_ms=(time.perf_counter() - started) * 1e3,
            inputs=inputs,
            outputs=outputs,
        )
        answered = status == "OK"
        if answered and config.policy == "require":
            try:
                await self._kept(draft)
            except RecordNotKept as exc:
                return exc
        elif self.writer is not None:
            self.writer.submit(draft)
        else:
            metrics.DROPPED.labels(model.name, "unavailable").inc()
        if answered and inputs is not None and outputs is not None and EXPLANATION not in outputs:
            self._maybe_explain(model, config, draft)
        return None

    async def _kept(self, draft: Draft) -> None:
        """Queue the record and wait for its commit; RecordNotKept if it was not kept."""
        if self.writer is None:
            metrics.DROPPED.labels(draft.model, "unavailable").inc()
            raise RecordNotKept(draft.model, "the server has no records store")
        loop = asyncio.get_running_loop()
        done: asyncio.Future[str | None] = loop.create_future()

        def tell(outcome: str | None) -> None:
            loop.call_soon_threadsafe(lambda: done.done() or done.set_result(outcome))

        if not self.writer.submit(draft, tell):
            raise RecordNotKept(draft.model, "the records queue is full")
        outcome = await done
        if outcome is not None:
            raise RecordNotKept(draft.model, "the records store failed")

    def _maybe_explain(self, model: ServedModel, config: RecordsConfig, draft: Draft) -> None:
        rate = config.sample_rate
        if rate <= 0 or self.writer is None or not explanations.can_explain(model):
            return
        if rate < 1 and self._random.random() >= rate:
            return
        if len(self._background) >= MAX_BACKGROUND_EXPLANATIONS:
            metrics.DROPPED.labels(model.name, "explanation_busy").inc()
            return
        task = asyncio.create_task(self._explain(model, draft))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _explain(self, model: ServedModel, decision: Draft) -> None:
        """Explain a decision after its answer left, through the model's background rows, and keep it."""
        assert decision.inputs is not None and decision.outputs is not None
        started = time.perf_counter()
        try:
            rows = next(iter(decision.inputs.values())).shape[0]
            chosen = explanations.options(model, {}, rows, self.explain_limits)
            derived = await explanations.explain(model, decision.inputs, decision.outputs, rows, {}, chosen, None)
        except Exception as exc:  # noqa: BLE001 - a background explanation never affects serving
            log.debug("background explanation for model %r failed: %s", model.name, type(exc).__name__)
            metrics.DROPPED.labels(model.name, "explanation_failed").inc()
            return
        outputs: dict[str, Any] = {EXPLANATION: derived[EXPLANATION]}
        if "redactions" in decision.outputs:
            outputs["redactions"] = decision.outputs["redactions"]
        attached = replace(  # the decision's who, what and which artifact; its own id and time
            decision,
            method="background",
            status="OK",
            latency_ms=(time.perf_counter() - started) * 1e3,
            outputs=outputs,
            kind="explanation",
            ref=decision.id,
            id=new_id(),
            time=now(),
        )
        self.writer.submit(attached)

    def _plugin_version(self, plugin: str | None) -> str | None:
        if plugin is None:
            return None
        from gatewise.gateway import __version__

        return self.plugins.version_of(plugin) or __version__

    async def close(self) -> None:
        """Let running background explanations finish (briefly), then commit the rest and close the store."""
        if self._background:
            await asyncio.wait(list(self._background), timeout=5)
        if self.writer is not None:
            await asyncio.to_thread(self.writer.close)


@dataclass(frozen=True)
class _ModelRecords:
    config: RecordsConfig | None
    artifact: Path | None
    plugin_version: str | None


def _artifact(model: ServedModel) -> Path | None:
    from gatewise.gateway.engines import registry

    path = model.context.path / registry.engine_files().get(model.backend, "")
    return path if path.is_file() else None
