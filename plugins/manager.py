"""Loads plugins in a fixed order and gives each model the hooks of its own plugin.

Order: add the hookspecs, register the built-ins, load the ``gatewise`` entry points,
then ``check_pending()`` so a misspelt hook name fails at start-up, not at the first
request. Built-ins are registered exactly as outside plugins are: by name.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Iterable
from typing import Any

import pluggy

from gateway.errors import InvalidInput, PluginError
from plugins import hookspecs
from plugins.context import BatchContext, ModelContext, Signature, Tensors

log = logging.getLogger("gatewise.plugins")

BUILTIN_PLUGINS: dict[str, str] = {
    "text-classification": "plugins.text.classification",
    "token-classification": "plugins.text.token_classification",
    "feature-extraction": "plugins.text.feature_extraction",
    "audit": "plugins.audit",
    "finance": "plugins.finance.plugin",
    "medical": "plugins.medical.plugin",
    "retail": "plugins.retail.plugin",
}
"""Name a config.toml uses -> module that implements the plugin."""

MODEL_HOOKS = (
    "gatewise_model_load",
    "gatewise_model_signature",
    "gatewise_warmup_inputs",
    "gatewise_preprocess",
    "gatewise_postprocess",
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

    @property
    def names(self) -> list[str]:
        """Every registered plugin's name, sorted."""
        return sorted(name for name, _ in self._pm.list_name_plugin())

    @property
    def hook(self) -> Any:
        """All plugins' hooks, for the cross-cutting ones."""
        return self._pm.hook

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
        """Tell every plugin a request finished.

        Each implementation is called on its own, so one failing audit plugin neither
        fails the request nor keeps the others from recording it.
        """
        for impl in self._pm.hook.gatewise_request_finished.get_hookimpls():
            try:
                impl.function(**{name: event[name] for name in impl.argnames})
            except Exception:  # noqa: BLE001 - auditing must not fail the request
                log.exception("plugin %r failed in gatewise_request_finished", impl.plugin_name)


class ModelHooks:
    """One plugin's model hooks, with failures turned into ``PluginError`` naming it."""

    def __init__(self, plugin_name: str, callers: dict[str, Callable[..., Any]]) -> None:
        self.plugin_name = plugin_name
        self._callers = callers

    def _call(self, hook: str, **kwargs: Any) -> Any:
        try:
            return self._callers[hook](**kwargs)
        except (PluginError, InvalidInput):
            raise
        except ValueError as exc:
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
