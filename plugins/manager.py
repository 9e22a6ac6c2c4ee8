"""The plugin registry: loads plugins in a fixed order and gives each model the hooks of its own plugin.

Order: add the hookspecs, register the built-ins, load the ``gatewise`` entry points,
then ``check_pending()`` so a misspelt hook name fails at start-up, not at the first
request. Built-ins are registered exactly as outside plugins are: by name.

Every hook is called through pluggy's own machinery (hook callers, subsets of them), so a
wrapper implementation (``@hookimpl(wrapper=True)``, or the older ``hookwrapper=True``) works
on every hook. A plugin whose implementation of a hook is only a wrapper is cross-cutting for
that hook: its wrapper wraps the model hooks of every model, while a plain implementation of a
model hook runs only for the models that name its plugin. The two hooks whose implementations
must not stop each other (``gatewise_request_finished``, ``gatewise_redact_log``) are called one
implementing plugin at a time, each call with the wrappers around it.

The jobs around the registry live beside it: ``model_hooks.py`` (one model's hooks and the
plugin error boundary), ``audit_delivery.py`` (the audit thread) and ``log_filter.py`` (the
logging filter that applies ``redact_log``).
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

import pluggy
from gatewise.plugins import hookspecs
from gatewise.plugins.audit_delivery import AuditThread
from gatewise.plugins.model_hooks import MODEL_HOOKS, ModelHooks

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
        self._audit = AuditThread(self.request_finished)
        self._lock = threading.Lock()
        self._failed_redactors: set[str] = set()
        self._one_by_one: dict[str, list[tuple[str, Callable[..., list[Any]]]]] = {}

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
        with self._lock:
            self._one_by_one.clear()

    def model_hooks(self, plugin_name: str) -> ModelHooks:
        """The model hooks of ``plugin_name``, with every plugin's wrappers around them; KeyError if no such plugin."""
        plugin = self._pm.get_plugin(plugin_name)
        if plugin is None:
            raise KeyError(f"no plugin named {plugin_name!r}; registered: {', '.join(self.names)}")
        callers = {}
        for name in MODEL_HOOKS:
            keep = {id(plugin), *map(id, self._wrapping_only(name))}
            others = [other for _, other in self._pm.list_name_plugin() if id(other) not in keep]
            callers[name] = self._pm.subset_hook_caller(name, remove_plugins=others)
        return ModelHooks(plugin_name, callers)

    def _wrapping_only(self, hook: str) -> list[object]:
        """The plugins whose every implementation of ``hook`` is a wrapper."""
        impls = getattr(self._pm.hook, hook).get_hookimpls()
        plain = {id(impl.plugin) for impl in impls if not (impl.wrapper or impl.hookwrapper)}
        return [impl.plugin for impl in impls if id(impl.plugin) not in plain]

    def _one_at_a_time(self, hook: str) -> list[tuple[str, Callable[..., list[Any]]]]:
        """(plugin name, pluggy caller) per plugin with a plain implementation of ``hook``, in pluggy's call
        order; each caller holds that plugin's implementations and every wrapping-only plugin's wrappers."""
        with self._lock:
            cached = self._one_by_one.get(hook)
        if cached is not None:
            return cached
        impls = getattr(self._pm.hook, hook).get_hookimpls()
        wrappers = {id(plugin) for plugin in self._wrapping_only(hook)}
        everyone = [plugin for _, plugin in self._pm.list_name_plugin()]
        callers: list[tuple[str, Callable[..., list[Any]]]] = []
        seen: set[int] = set()
        for impl in reversed(impls):  # pluggy calls the last registered first
            if impl.wrapper or impl.hookwrapper or id(impl.plugin) in seen:
                continue
            seen.add(id(impl.plugin))
            others = [other for other in everyone if other is not impl.plugin and id(other) not in wrappers]
            callers.append((impl.plugin_name, self._pm.subset_hook_caller(hook, remove_plugins=others)))
        with self._lock:
            self._one_by_one[hook] = callers
        return callers

    def request_finished(self, **event: Any) -> None:
        """Tell every plugin a request finished, in the calling thread.

        Each implementing plugin is called on its own (with the wrappers around it), so one
        failing audit plugin neither fails the request nor keeps the others from recording it.
        The server does not call this on the event loop: it calls ``post_request_finished``.
        """
        for plugin_name, caller in self._one_at_a_time("gatewise_request_finished"):
            try:
                caller(**event)
            except Exception:
                log.exception("plugin %r failed in gatewise_request_finished", plugin_name)

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
        for plugin_name, caller in self._one_at_a_time("gatewise_redact_log"):
            try:
                results = caller(message=message, logger=logger, level=level)
            except Exception as exc:  # noqa: BLE001 - a broken redactor must not break logging
                self._redaction_failed(plugin_name, exc)
                continue
            rewritten = [result for result in results if isinstance(result, str)]
            if rewritten:
                message = rewritten[-1]
        return message

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
