"""One model's plugin hooks, and the plugin error boundary around every call to them.

``PluginManager.model_hooks`` builds a ``ModelHooks`` from pluggy hook callers; the gateway
and the plugin harness call hooks only through it, so a plugin's exception is translated
into a ``PluginError`` naming the plugin and the hook in exactly one place.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gatewise.plugins.context import BatchContext, ModelContext, Signature, Tensors
from gatewise.plugins.explainer import Explainer
from gatewise.protos.errors import InvalidInput, PluginError

MODEL_HOOKS = (
    "gatewise_model_load",
    "gatewise_model_signature",
    "gatewise_warmup_inputs",
    "gatewise_preprocess",
    "gatewise_postprocess",
    "gatewise_explainer",
)


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
