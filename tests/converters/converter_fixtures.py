"""Tiny real checkpoints and their exports, built once per session (each export takes seconds)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from converters import export_transformer
from converters.testing import tiny_checkpoint
from gateway.config import ModelConfig, load_config
from gateway.engines import Engine, create_engine
from plugins.context import BatchContext, ModelContext
from plugins.manager import PluginManager

NER_LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
SENTIMENT = ["negative", "neutral", "positive"]


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """``checkpoint(model_type, task, pooling=None)``: a tiny checkpoint folder, built once."""
    built: dict[tuple[Any, ...], Path] = {}

    def make(model_type: str = "bert", task: str = "text-classification", pooling: str | None = None) -> Path:
        key = (model_type, task, pooling)
        if key not in built:
            labels = {"text-classification": SENTIMENT, "token-classification": NER_LABELS}.get(task)
            folder = tmp_path_factory.mktemp(f"ck-{model_type}-{task}")
            built[key] = tiny_checkpoint(folder, model_type, task, labels=labels, pooling=pooling)
        return built[key]

    return make


@pytest.fixture(scope="session")
def exported(tmp_path_factory: pytest.TempPathFactory, checkpoint: Callable[..., Path]) -> Callable[..., Path]:
    """``exported(model_type, task, pooling=None, **options)``: a converted entry, built once."""
    built: dict[tuple[Any, ...], Path] = {}

    def make(model_type: str = "bert", task: str = "text-classification", pooling: str | None = None, **options: Any) -> Path:
        key = (model_type, task, pooling, tuple(sorted(options.items())))
        if key not in built:
            repository = tmp_path_factory.mktemp("repo")
            built[key] = export_transformer(checkpoint(model_type, task, pooling), task, repository, "m",
                                            max_length=32, quiet=True, **options)
        return built[key]

    return make


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
    engine = create_engine(config, model_dir / str(version))
    context = ModelContext(name=config.name, version=str(version), config=config, path=model_dir / str(version),
                           engine_inputs=engine.inputs, engine_outputs=engine.outputs)
    hooks = PluginManager(entry_points=False).model_hooks(config.plugin)
    hooks.load(context)
    return Served(config, engine, context, hooks)
