"""Loads plugins in a fixed order and gives each model the hooks of its own plugin.

Order: add the hookspecs, register the built-ins, load the ``gatewise`` entry points,
then ``check_pending()`` so a misspelt hook name fails at start-up, not at the first
request. Built-ins are registered exactly as outside plugins are: by name.
"""

from __future__ import annotations

import importlib
import logging
import queue
import threading
from collections.abc import Callable, Iterable
from typing import Any

import pluggy
from gatewise.plugins import hookspecs, metrics
from gatewise.plugins.context import BatchContext, ModelContext, Signature, Tensors
from gatewise.plugins.explainer import Explainer
from gatewise.protos.errors import InvalidInput, PluginError

log = logging.getLogger("gatewise.plugins")

BUILTIN_PLUGINS: dict[str, str] = {
    "text-classification": "gatewise.plugins.text.classification",
    "token-classification": "gatewise.plugins.text.token_classification",
    "feature-extraction": "gatewise.plugins.text.feature_extraction",
    "audit": "gatewise.plugins.audit",
    "log-redaction": "gatewise.plugins.log_redaction",
    "finance": "gatewise.plugins.finance.plugin",
    "medical": "gatewise.plugins.medical.plugin",
    "retail": "gatewise.plugins.retail.plugin",
}
"""Name a config.toml uses -> module that implements the plugin."""

MODEL_HOOKS = (
    "gatewise_model_load",
    "gatewise_model_signature",
    "gatewise_warmup_inputs",
    "gatewise_preprocess",
    "gatewise_postprocess",
    "gatewise_explainer",
)


class PluginManager:
    """The project's pluggy manager, with per-model views of the model hooks."""

    def __init__(self, *, entry_points: bool = True, extra: Iterable[tuple[str, object]] = ()) -> None:
        self._pm = pluggy.PluginManager(hookspecs.PROJECT)
        self._pm.add_hookspecs(hookspecs)
        for name, module_path in BUILTIN_PLUGINS.items():
            self._pm.register(importlib.import_module(module_path), name=name)
        for name, plugin in extra:
            self._pm.register(plugin, name=name)
        if entry_points:
            loaded = self._pm.load_setuptools_entrypoints(hookspecs.PROJECT)
            if loaded:
                log.info("loaded %d plugin(s) from entry points", loaded)
        self._pm.check_pending()
        self._audit = _AuditThread(self.request_finished)
        self._lock = threading.Lock()
        self._failed_redactors: set[str] = set()

    @property
    def names(self) -> list[str]:
        """Every registered plugin's name, sorted."""
        return sorted(name for name, _ in self._pm.list_name_plugin())

    def version_of(self, plugin_name: str) -> str | None:
        """The version of the distribution that installed ``plugin_name`` (an entry-point plugin);
        None for a built-in or a plugin registered in code (decision records name it)."""
        plugin = self._pm.get_plugin(plugin_name)
        for installed, dist in self._pm.list_plugin_distinfo():
            if installed is plugin:
                return str(dist.version)
        return None

    def register(self, plugin: object, name: str) -> None:
        """Register one more plugin (tests, embedding applications)."""
        self._pm.register(plugin, name=name)
        self._pm.check_pending()

    def model_hooks(self, plugin_name: str) -> ModelHooks:
        """The model hooks of ``plugin_name`` alone; KeyError if no such plugin."""
        plugin = self._pm.get_plugin(plugin_name)
        if plugin is None:
            raise KeyError(f"no plugin named {plugin_name!r}; registered: {', '.join(self.names)}")
        others = [other for _, other in self._pm.list_name_plugin() if other is not plugin]
        callers = {name: self._pm.subset_hook_caller(name, remove_plugins=others) for name in MODEL_HOOKS}
        return ModelHooks(plugin_name, callers)

    def request_finished(self, **event: Any) -> None:
        """Tell every plugin a request finished, in the calling thread.

        Each implementation is called on its own, so one failing audit plugin neither
        fails the request nor keeps the others from recording it. The server does not call
        this on the event loop: it calls ``post_request_finished``.
        """
        for impl in self._pm.hook.gatewise_request_finished.get_hookimpls():
            try:
                impl.function(**{name: event[name] for name in impl.argnames})
            except Exception:
                log.exception("plugin %r failed in gatewise_request_finished", impl.plugin_name)

    def post_request_finished(self, **event: Any) -> None:
        """``request_finished`` in the audit thread; returns at once, never raises.

        Events are delivered in order by one daemon thread, so a slow audit sink delays only
        the audit trail, never an answer. At most ``AUDIT_QUEUE_SIZE`` events wait; past that
        an event is dropped, counted in ``gatewise_audit_dropped_total`` and logged.
        """
        self._audit.post(event)

    def flush_audit(self, timeout: float | None = None) -> bool:
        """Wait until every posted event was delivered; False if ``timeout`` passed first."""
        return self._audit.flush(timeout)

    def close_audit(self, timeout: float | None = None) -> bool:
        """Deliver what is queued (up to ``timeout``) and stop the audit thread.

        A later ``post_request_finished`` starts a new one. False if events were still waiting.
        """
        return self._audit.close(timeout)

    def redact_log(self, message: str, logger: str, level: int) -> str:
        """``message`` as every ``gatewise_redact_log`` implementation rewrote it, in pluggy's
        call order, each given what the ones before returned.

        One that raises is skipped (the others still apply) and reported once; logging
        never fails because of it.
        """
        arguments = {"message": message, "logger": logger, "level": level}
        for impl in reversed(self._pm.hook.gatewise_redact_log.get_hookimpls()):
            try:
                result = impl.function(**{name: arguments[name] for name in impl.argnames})
            except Exception as exc:  # noqa: BLE001 - a broken redactor must not break logging
                self._redaction_failed(impl.plugin_name, exc)
                continue
            if isinstance(result, str):
                arguments["message"] = result
        return arguments["message"]

    def _redaction_failed(self, plugin_name: str, exc: Exception) -> None:
        with self._lock:
            if plugin_name in self._failed_redactors:
                return
            self._failed_redactors.add(plugin_name)
        # Type only: the exception's text could quote the line it failed on.
        log.error(
            "plugin %r failed in gatewise_redact_log (%s); its redactions are skipped, the other plugins' still apply",
            plugin_name, type(exc).__name__,
        )  # fmt: skip


AUDIT_QUEUE_SIZE = 10_000
"""Audit events that may wait for a slow audit sink before new ones are dropped."""


class _AuditThread:
    """One daemon thread that delivers audit events in order, off the event loop.

    Posting is cheap on purpose (it runs on the event loop for every request): a C
    ``SimpleQueue`` put and two counter reads. The bound is on posted minus delivered.
    """

    def __init__(self, deliver: Callable[..., None], name: str = "gatewise-audit") -> None:
        self._deliver = deliver
        self._name = name
        self._limit = AUDIT_QUEUE_SIZE
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._events: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._posted = 0
        self._delivered = 0
        self.dropped = 0

    def post(self, event: dict[str, Any]) -> None:
        try:
            if self._thread is None:
                self._start()
            if self._posted - self._delivered >= self._limit:
                self._drop()
                return
            self._posted += 1  # only event-loop / caller threads write it; the worker only reads
            self._events.put(event)
        except Exception:
            log.exception("could not queue an audit event")

    def _drop(self) -> None:
        self.dropped += 1
        metrics.AUDIT_DROPPED.inc()
        if self.dropped == 1 or self.dropped % 1000 == 0:
            log.warning(
                "audit queue full (%d events waiting for a slow audit plugin): %d event(s) dropped so far",
                self._limit, self.dropped,
            )  # fmt: skip

    def flush(self, timeout: float | None) -> bool:
        """True once every event posted before this call was delivered (False after ``timeout``)."""
        if self._thread is None:
            return True
        done = threading.Event()
        self._events.put(done)  # FIFO and one worker: once it is reached, everything before it ran
        return done.wait(timeout)

    def close(self, timeout: float | None) -> bool:
        delivered = self.flush(timeout)
        with self._lock:
            thread, events = self._thread, self._events
            self._thread, self._events = None, queue.SimpleQueue()
            self._posted = self._delivered = 0
        if thread is not None:
            events.put(None)  # the stop marker; a stuck sink keeps its daemon thread
            if delivered:
                thread.join(timeout)
        return delivered

    def _start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, args=(self._events,), name=self._name, daemon=True)
                self._thread.start()

    def _run(self, events: queue.SimpleQueue) -> None:
        while True:
            event = events.get()
            if event is None:
                return
            if isinstance(event, threading.Event):
                event.set()
                continue
            try:
                self._deliver(**event)
            except Exception:
                log.exception("audit delivery failed")
            finally:
                if events is self._events:
                    self._delivered += 1  # only this thread writes it


class LogRedactionFilter(logging.Filter):
    """Rewrites records of ``gatewise`` loggers through ``gatewise_redact_log``.

    Install it on handlers (a filter on a logger sees only that logger's own records, not its
    children's): ``GatewayServer`` adds it to the root logger's handlers while it runs. The
    message (arguments merged) and the traceback text are rewritten in place, once per
    record however many handlers carry the filter. It never drops a record and never raises.
    """

    def __init__(self, plugins: PluginManager) -> None:
        super().__init__()
        self.plugins = plugins
        self._busy = threading.local()

    def filter(self, record: logging.LogRecord) -> bool:
        if not (record.name == "gatewise" or record.name.startswith("gatewise.")):
            return True
        if getattr(record, "gatewise_redacted", False) or getattr(self._busy, "active", False):
            return True  # done already, or a record logged while redacting (a failure report)
        self._busy.active = True
        try:
            message = record.getMessage()
            redacted = self.plugins.redact_log(message, record.name, record.levelno)
            if redacted != message:
                record.msg, record.args = redacted, None
            if record.exc_info and not record.exc_text:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
            if record.exc_text:
                record.exc_text = self.plugins.redact_log(record.exc_text, record.name, record.levelno)
            record.gatewise_redacted = True
        except Exception:  # noqa: BLE001 - e.g. a message whose arguments do not format: logging reports it
            pass
        finally:
            self._busy.active = False
        return True


class ModelHooks:
    """One plugin's model hooks, with failures turned into ``PluginError`` naming it."""

    def __init__(self, plugin_name: str, callers: dict[str, Callable[..., Any]]) -> None:
        self.plugin_name = plugin_name
        self._callers = callers

    def _call(self, hook: str, **kwargs: Any) -> Any:
        """The plugin boundary, the one place a plugin's exception is translated.

        A ValueError or InvalidInput becomes an INVALID_ARGUMENT PluginError (the request was
        refused), anything else but a PluginError an INTERNAL one. Both name the plugin and the
        hook, so a client reads every plugin failure one way; the gateway passes them on unchanged.
        """
        try:
            return self._callers[hook](**kwargs)
        except PluginError:
            raise
        except (ValueError, InvalidInput) as exc:
            raise PluginError(self.plugin_name, hook, exc, bad_input=True) from exc
        except Exception as exc:
            raise PluginError(self.plugin_name, hook, exc) from exc

    def load(self, model: ModelContext) -> None:
        self._call("gatewise_model_load", model=model)

    def signature(self, model: ModelContext) -> Signature | None:
        return self._call("gatewise_model_signature", model=model)

    def warmup_inputs(self, model: ModelContext) -> Tensors | None:
        return self._call("gatewise_warmup_inputs", model=model)

    def preprocess(self, model: ModelContext, inputs: Tensors, batch: BatchContext) -> Tensors | None:
        return self._call("gatewise_preprocess", model=model, inputs=inputs, batch=batch)

    def postprocess(self, model: ModelContext, outputs: Tensors, batch: BatchContext) -> Tensors | None:
        return self._call("gatewise_postprocess", model=model, outputs=outputs, batch=batch)

    def explainer(
        self, model: ModelContext, inputs: Tensors, outputs: Tensors, parameters: dict[str, Any]
    ) -> Explainer | None:
        return self._call("gatewise_explainer", model=model, inputs=inputs, outputs=outputs, parameters=parameters)
