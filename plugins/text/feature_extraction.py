"""Built-in plugin ``feature-extraction``: text in; a pooled, L2-normalised ``embedding`` out.

Graphs made by ``gatewise convert`` pool and normalise inside the engine and return
``embedding [batch, dim]``; this plugin then only re-normalises (a no-op up to rounding,
and a guard for FP16 engines). An engine that returns hidden states ``[batch, seq, dim]``
(an ONNX file made elsewhere) is pooled here, as ``parameters.pooling`` says (mean, cls
or max; mean by default) over the real tokens of each row.
"""

from __future__ import annotations

import numpy as np
from gatewise.plugins.common.pooling import POOLING_MODES, l2_normalize, pool
from gatewise.plugins.context import BatchContext, ModelContext, Signature, Tensors
from gatewise.plugins.hookspecs import hookimpl
from gatewise.plugins.text.encoding import TEXT_INPUT, load_tokenizer, tokenize_batch
from gatewise.plugins.text.hooks import gatewise_warmup_inputs  # noqa: F401 - registered hooks
from gatewise.protos.tensors import TensorSpec


def _engine_output(model: ModelContext) -> TensorSpec:
    for spec in model.engine_outputs:
        if spec.name == "embedding":
            return spec
    return model.engine_outputs[0]


@hookimpl
def gatewise_model_load(model: ModelContext) -> None:
    model.state["tokenizer"] = load_tokenizer(model)
    mode = str(model.parameters.get("pooling", "mean"))
    if mode not in POOLING_MODES:
        raise ValueError(f"model {model.name!r}: parameters.pooling {mode!r} is not one of {', '.join(POOLING_MODES)}")
    model.state["pooling"] = mode
    output = _engine_output(model)
    if len(output.shape) not in (2, 3):
        raise ValueError(
            f"model {model.name!r}: engine output {output.name!r} has shape {list(output.shape)}; "
            "expected [batch, dim] or [batch, seq, dim]"
        )


@hookimpl
def gatewise_model_signature(model: ModelContext) -> Signature:
    dim = _engine_output(model).shape[-1]
    return Signature(inputs=(TEXT_INPUT,), outputs=(TensorSpec(name="embedding", datatype="FP32", shape=(-1, dim)),))


@hookimpl
def gatewise_preprocess(model: ModelContext, inputs: Tensors, batch: BatchContext) -> Tensors:
    tokens = tokenize_batch(model, inputs, batch)
    batch.state["attention_mask"] = tokens.attention_mask
    return tokens.tensors


@hookimpl
def gatewise_postprocess(model: ModelContext, outputs: Tensors, batch: BatchContext) -> Tensors:
    values = outputs.get("embedding", outputs[_engine_output(model).name])
    if values.ndim == 3:
        values = pool(values, batch.state["attention_mask"], model.state["pooling"])
    if bool(model.parameters.get("normalize", True)):
        values = l2_normalize(values)
    return {"embedding": values.astype(np.float32, copy=False)}
