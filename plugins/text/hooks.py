"""Model hooks the built-in text plugins share.

A plugin module registers them by importing them: pluggy takes every marked function it
finds on the module, wherever the function was defined.
"""

from __future__ import annotations

from gatewise.plugins.context import ModelContext, Tensors
from gatewise.plugins.hookspecs import hookimpl
from gatewise.plugins.text.encoding import load_tokenizer, warmup_texts


@hookimpl
def gatewise_model_load(model: ModelContext) -> None:
    model.state["tokenizer"] = load_tokenizer(model)


@hookimpl
def gatewise_warmup_inputs(model: ModelContext) -> Tensors:
    return warmup_texts()
