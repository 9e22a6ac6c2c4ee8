"""Bad checkpoints, tasks and drift fail with a message that says what to do, writing nothing."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import gatewise.converters.int8
import gatewise.converters.transformer
import numpy as np
import onnx
import pytest
from converter_fixtures import checkpoint, exported  # noqa: F401 - pytest fixtures
from gatewise.converters import (
    CheckpointError,
    ConversionError,
    DriftError,
    MissingTokenizer,
    RepositoryError,
    ToleranceUnreachable,
    UnsupportedArchitecture,
    UnsupportedTask,
    export_transformer,
)
from gatewise.converters.optimize import quantize_int8
from onnx import numpy_helper


def assert_untouched(repository: Path) -> None:
    """No entry and no staging folder is left behind."""
    assert not (repository / "m").exists()
    assert not [p for p in repository.parent.iterdir() if p.name.startswith(".gatewise-convert-")]


@pytest.fixture
def repository(tmp_path: Path) -> Path:
    return tmp_path / "models"


def test_missing_checkpoint_folder(repository: Path, tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="is not a folder; give the folder that holds config.json"):
        export_transformer(tmp_path / "nope", "text-classification", repository, "m", quiet=True, max_length=32)
    assert_untouched(repository)


def test_folder_without_config(repository: Path, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match=r"has no config.json; save the model with `model.save_pretrained"):
        export_transformer(tmp_path / "empty", "text-classification", repository, "m", quiet=True, max_length=32)


def test_unsupported_architecture_names_what_is_supported(checkpoint, repository: Path, tmp_path: Path) -> None:
    folder = tmp_path / "gpt"
    shutil.copytree(checkpoint("bert"), folder)
    (folder / "config.json").write_text(json.dumps({"model_type": "gpt2", "n_layer": 1}))
    with pytest.raises(
        UnsupportedArchitecture, match=r"model_type 'gpt2' is not supported; supported: bert, distilbert"
    ):
        export_transformer(folder, "text-classification", repository, "m", quiet=True, max_length=32)
    assert_untouched(repository)


def test_missing_tokenizer_says_how_to_save_one(checkpoint, repository: Path, tmp_path: Path) -> None:
    folder = tmp_path / "no-tokenizer"
    shutil.copytree(checkpoint("bert"), folder)
    (folder / "tokenizer.json").unlink()
    with pytest.raises(MissingTokenizer, match=r"no tokenizer found .*`tokenizer.save_pretrained\(checkpoint\)"):
        export_transformer(folder, "text-classification", repository, "m", quiet=True, max_length=32)
    assert_untouched(repository)


def test_corrupt_weights_are_a_checkpoint_error(checkpoint, repository: Path, tmp_path: Path) -> None:
    folder = tmp_path / "corrupt"
    shutil.copytree(checkpoint("bert"), folder)
    (folder / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(CheckpointError, match="cannot load the weights for text-classification"):
        export_transformer(folder, "text-classification", repository, "m", quiet=True, max_length=32)
    assert_untouched(repository)


def test_unsupported_task(checkpoint, repository: Path) -> None:
    with pytest.raises(
        UnsupportedTask, match="task 'summarization' is not supported; choose one of: text-classification"
    ):
        export_transformer(checkpoint("bert"), "summarization", repository, "m", quiet=True, max_length=32)


def test_fp16_and_int8_together_are_refused(checkpoint, repository: Path) -> None:
    with pytest.raises(ConversionError, match="not both"):
        export_transformer(
            checkpoint("bert"), "text-classification", repository, "m", fp16=True, int8=True, quiet=True, max_length=32
        )


def test_existing_version_is_refused_before_any_work(exported) -> None:
    model_dir = exported("bert", "text-classification")
    with pytest.raises(RepositoryError, match=r"1: already exists; pass another --version"):
        export_transformer(
            Path("/nonexistent"), "text-classification", model_dir.parent, "m", quiet=True, max_length=32
        )


@pytest.mark.parametrize("accuracy_aware", [False, True], ids=["first-try", "accuracy-aware"])
def test_drift_past_tolerance_fails_and_leaves_nothing(
    checkpoint, repository: Path, monkeypatch, accuracy_aware: bool
) -> None:
    """A quantisation step that damages a weight is caught by validation; the repository stays empty. Accuracy-aware
    INT8 cannot help (every try damages the table) and fails at its floor."""

    def damaging_quantize(source: Path, destination: Path, **options) -> None:
        quantize_int8(source, destination, **options)
        model = onnx.load(str(destination))
        biggest = max(model.graph.initializer, key=lambda init: np.prod(init.dims))
        values = numpy_helper.to_array(biggest)
        biggest.CopyFrom(numpy_helper.from_array(np.ascontiguousarray(values[::-1]), biggest.name))
        onnx.save(model, str(destination))

    monkeypatch.setattr(gatewise.converters.int8, "quantize_int8", damaging_quantize)
    expected = (
        (ToleranceUnreachable, r"no INT8 configuration meets the tolerance: fully quantised it gave .*top-1 agreement")
        if accuracy_aware
        else (DriftError, r"onnx -> int8: output 'logits' drifted past the int8 tolerance \(.*top-1 agreement")
    )
    with pytest.raises(expected[0], match=expected[1]):
        export_transformer(
            checkpoint("bert"), "text-classification", repository, "m", int8=True, quiet=True, max_length=32,
            accuracy_aware=accuracy_aware,
        )  # fmt: skip
    assert_untouched(repository)


def test_max_length_beyond_the_position_embeddings_is_refused(checkpoint, repository: Path) -> None:
    with pytest.raises(
        ConversionError, match="max_length 128 exceeds the 80 positions this model has; pass --max-length 80"
    ):
        export_transformer(checkpoint("bert"), "text-classification", repository, "m", quiet=True, max_length=128)
    assert_untouched(repository)


def test_the_error_module_is_a_leaf() -> None:
    """converters/errors.py imports nothing of the converters (every module may raise from it, no circle): only
    the error tree it extends."""
    import ast
    from pathlib import Path

    source = Path(__file__).resolve().parents[2] / "converters" / "errors.py"
    imported = {
        node.module
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8")))
        if isinstance(node, ast.ImportFrom)
    }
    assert {name for name in imported if name.startswith("gatewise")} == {"gatewise.protos.errors"}
