"""The public API of Gatewise for plugin authors: import from here, never from the implementation packages.

``gateway``, ``plugins``, ``converters`` and ``protos`` are the implementation and may
change; this module re-exports what a plugin needs, the way ``pytest`` fronts ``_pytest``::

    from gatewise import Signature, TensorSpec, hookimpl

    @hookimpl
    def gatewise_model_signature(model):
        return Signature(inputs=(TensorSpec(name="text", datatype="BYTES", shape=(-1,)),),
                         outputs=(TensorSpec(name="label", datatype="BYTES", shape=(-1,)),))

Everything listed in ``__all__`` is public; docs/api.md gives each name's signature and
docstring. ``gatewise.testing`` runs a plugin's hooks without a server. See docs/plugins.md.
"""

from gatewise.plugins.common.abstention import UNCERTAIN, abstain_labels, confidence_floors
from gatewise.plugins.common.masking import MaskedText, Span, mask, redactions_tensor
from gatewise.plugins.common.tabular import feature_explainer
from gatewise.plugins.common.words import classifier_explainer
from gatewise.plugins.context import BatchContext, ModelConfigView, ModelContext, Signature, Tensors
from gatewise.plugins.explainer import EXPLANATION_OUTPUT, Explainer, Unit, explain_label
from gatewise.plugins.hookspecs import hookimpl, hookspec
from gatewise.plugins.log_filter import LogRedactionFilter
from gatewise.plugins.manager import PluginManager
from gatewise.plugins.text.encoding import (
    DEFAULT_MAX_LENGTH,
    TEXT_INPUT,
    TokenBatch,
    decode_texts,
    load_tokenizer,
    tokenize_batch,
    warmup_texts,
)
from gatewise.protos.errors import GatewiseError, InvalidInput, PluginError
from gatewise.protos.tensors import TensorSpec

__all__ = [
    "DEFAULT_MAX_LENGTH",
    "EXPLANATION_OUTPUT",
    "TEXT_INPUT",
    "UNCERTAIN",
    "BatchContext",
    "Explainer",
    "GatewiseError",
    "InvalidInput",
    "LogRedactionFilter",
    "MaskedText",
    "ModelConfigView",
    "ModelContext",
    "PluginError",
    "PluginManager",
    "Signature",
    "Span",
    "TensorSpec",
    "Tensors",
    "TokenBatch",
    "Unit",
    "abstain_labels",
    "classifier_explainer",
    "confidence_floors",
    "decode_texts",
    "explain_label",
    "feature_explainer",
    "hookimpl",
    "hookspec",
    "load_tokenizer",
    "mask",
    "redactions_tensor",
    "tokenize_batch",
    "warmup_texts",
]
