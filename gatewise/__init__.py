"""The public API of Gatewise for plugin authors: import from here, never from the implementation packages.

``gateway``, ``plugins``, ``converters`` and ``protos`` are the implementation and may
change; this module re-exports what a plugin needs, the way ``pytest`` fronts ``_pytest``::

    from gatewise import Signature, TensorSpec, hookimpl

    @hookimpl
    def gatewise_model_signature(model):
        return Signature(inputs=(TensorSpec(name="text", datatype="BYTES", shape=(-1,)),),
                         outputs=(TensorSpec(name="label", datatype="BYTES", shape=(-1,)),))

``gatewise.testing`` runs a plugin's hooks without a server. See docs/plugins.md.
"""

from gatewise.plugins.common.tabular import feature_explainer
from gatewise.plugins.common.words import classifier_explainer
from gatewise.plugins.context import BatchContext, ModelConfigView, ModelContext, Signature, Tensors
from gatewise.plugins.explain import EXPLANATION_OUTPUT, Explainer, Unit
from gatewise.plugins.hookspecs import hookimpl
from gatewise.plugins.manager import PluginManager
from gatewise.protos.errors import GatewiseError, InvalidInput
from gatewise.protos.tensors import TensorSpec

__all__ = [
    "EXPLANATION_OUTPUT",
    "BatchContext",
    "Explainer",
    "GatewiseError",
    "InvalidInput",
    "ModelConfigView",
    "ModelContext",
    "PluginManager",
    "Signature",
    "TensorSpec",
    "Tensors",
    "Unit",
    "classifier_explainer",
    "feature_explainer",
    "hookimpl",
]
