"""Tiny real checkpoints and their exports, built once per session (each export takes seconds).

Not a conftest.py: other test folders do ``from conftest import ...``, which a second
conftest module would shadow. Test modules import these fixtures by name; the caches live
in this module, so every importing module shares one build of each checkpoint and export.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from gatewise.converters import export_transformer
from gatewise.converters.cli import convert_app
from gatewise.converters.tiny_checkpoints import tiny_checkpoint
from served import NER_LABELS, SENTIMENT
from typer.testing import CliRunner

_CHECKPOINTS: dict[tuple[Any, ...], Path] = {}
_EXPORTS: dict[tuple[Any, ...], Path] = {}


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """``checkpoint(model_type, task, pooling=None)``: a tiny checkpoint folder, built once."""
    built = _CHECKPOINTS

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
    built = _EXPORTS

    def make(
        model_type: str = "bert", task: str = "text-classification", pooling: str | None = None, **options: Any
    ) -> Path:
        key = (model_type, task, pooling, tuple(sorted(options.items())))
        if key not in built:
            repository = tmp_path_factory.mktemp("repo")
            built[key] = export_transformer(
                checkpoint(model_type, task, pooling), task, repository, "m", max_length=32, quiet=True, **options
            )
        return built[key]

    return make


def convert_onnx_cli(checkpoint_dir: Path, repository: Path, *options: str) -> tuple[int, str]:
    """``gatewise convert onnx`` on a tiny classifier as entry ``m`` (max length 32, quiet):
    its exit code and what it printed on stderr."""
    arguments = ["onnx", str(checkpoint_dir), "--task", "text-classification", "--repository", str(repository)]
    arguments += ["--name", "m", "--max-length", "32", "--quiet", *options]
    result = CliRunner().invoke(convert_app, arguments)
    return result.exit_code, result.stderr
