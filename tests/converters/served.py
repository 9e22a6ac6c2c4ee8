"""Load a converted entry the way the gateway does: engine from config.toml plus its plugin's hooks."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from gatewise.gateway.config import ModelConfig, load_config
from gatewise.gateway.engines import Engine, create_engines
from gatewise.plugins.context import BatchContext, ModelContext
from gatewise.plugins.manager import PluginManager

NER_LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
SENTIMENT = ["negative", "neutral", "positive"]


@dataclass
class Served:
    """A converted entry loaded the way the gateway loads it: engine plus the config's plugin."""

    config: ModelConfig
    engine: Engine
    context: ModelContext
    hooks: Any

    def __call__(self, texts: list[str]) -> dict[str, np.ndarray]:
        batch = BatchContext.single(len(texts))
        inputs = {"text": np.array([text.encode() for text in texts], dtype=object)}
        tensors = self.hooks.preprocess(self.context, inputs, batch)
        return self.hooks.postprocess(self.context, self.engine.infer(tensors), batch)


def serve(model_dir: Path, version: int = 1) -> Served:
    config = load_config(model_dir)
    (engine,) = create_engines(config, model_dir / str(version), 1)
    context = ModelContext(
        name=config.name,
        version=str(version),
        config=config.plugin_view(),
        path=model_dir / str(version),
        engine_inputs=engine.inputs,
        engine_outputs=engine.outputs,
    )
    hooks = PluginManager(entry_points=False).model_hooks(config.plugin)
    hooks.load(context)
    return Served(config, engine, context, hooks)
