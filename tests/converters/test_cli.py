"""``gatewise convert``: exit status, messages that say what to do, and nothing written on failure."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from converter_fixtures import checkpoint  # noqa: F401 - pytest fixtures
from gatewise.converters.cli import convert_app
from gatewise.gateway.config import load_config
from typer.testing import CliRunner, Result

runner = CliRunner()


def convert_onnx(source: Path, task: str, repository: Path, name: str, *flags: str) -> Result:
    """``gatewise convert onnx`` in process, as a user types it."""
    arguments = ["onnx", str(source), "--task", task, "--repository", str(repository), "--name", name]
    return runner.invoke(convert_app, [*arguments, *flags])


def test_convert_onnx_prints_the_entry_path_on_stdout_and_drift_on_stderr(checkpoint, tmp_path: Path) -> None:
    labels = ("--label", "bad", "--label", "meh", "--label", "good")
    result = convert_onnx(
        checkpoint("roberta"), "text-classification", tmp_path, "sentiment", "--max-length", "32", *labels, "--optimize"
    )
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{tmp_path / 'sentiment'}\n", "stdout holds only the result, for scripts"
    assert "pytorch -> onnx [logits]: max abs diff" in result.stderr
    assert "onnx -> optimized [logits]: max abs diff" in result.stderr and "top-1 agreement" in result.stderr
    assert load_config(tmp_path / "sentiment").labels == ("bad", "meh", "good")


def test_bad_checkpoint_exits_non_zero_with_advice_and_writes_nothing(tmp_path: Path) -> None:
    result = convert_onnx(tmp_path / "missing", "text-classification", tmp_path / "repo", "m", "--quiet")
    assert result.exit_code == 1
    assert "error:" in result.stderr and "give the folder that holds config.json" in result.stderr
    assert not (tmp_path / "repo" / "m").exists()


def test_unsupported_task_lists_the_supported_ones(checkpoint, tmp_path: Path) -> None:
    result = convert_onnx(checkpoint("bert"), "translation", tmp_path, "m", "--quiet")
    assert result.exit_code == 1
    assert "choose one of: text-classification, token-classification, feature-extraction" in result.stderr


def test_convert_module_reads_named_examples_from_npz(tmp_path: Path) -> None:
    torch.manual_seed(0)
    torch.save(torch.nn.Sequential(torch.nn.Linear(4, 2)), tmp_path / "fraud.pt")
    np.savez(tmp_path / "examples.npz", input=np.ones((3, 4), dtype=np.float32))
    result = runner.invoke(
        convert_app,
        [
            "module",
            str(tmp_path / "fraud.pt"),
            "--examples",
            str(tmp_path / "examples.npz"),
            "--repository",
            str(tmp_path / "repo"),
            "--name",
            "fraud",
            "--output",
            "scores",
            "--plugin",
            "finance",
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    config = load_config(tmp_path / "repo" / "fraud")
    assert ([s.name for s in config.inputs], [s.name for s in config.outputs], config.plugin) == (
        ["input"],
        ["scores"],
        "finance",
    )


def test_convert_tensorrt_checks_its_arguments_before_needing_tensorrt(tmp_path: Path) -> None:
    onnx_file = tmp_path / "model.onnx"
    onnx_file.write_bytes(b"")
    result = runner.invoke(
        convert_app, ["tensorrt", str(onnx_file), "--min", "input_ids:1x1", "--quiet", "--output", "x.plan"]
    )
    assert result.exit_code == 1
    assert "give --min, --opt and --max the same number of times" in result.stderr
    result = runner.invoke(convert_app, ["tensorrt", str(tmp_path / "absent.onnx"), "--output", "x.plan", "--quiet"])
    assert result.exit_code == 1 and "no ONNX model at" in result.stderr


def test_convert_onnx_names_the_plugin_so_the_entry_serves_with_no_edit(checkpoint, tmp_path: Path) -> None:
    """``--plugin finance`` lands in config.toml, and the entry loads behind that plugin (card numbers masked)."""
    from gatewise.gateway.model import ServedModel

    from gatewise import BatchContext, PluginManager
    from gatewise.testing import texts

    result = convert_onnx(
        checkpoint("roberta"), "text-classification", tmp_path, "claims", "--max-length", "32", "--plugin", "finance"
    )
    assert result.exit_code == 0, result.output
    config = load_config(tmp_path / "claims")
    assert (config.plugin, config.task) == ("finance", "text-classification")
    model = ServedModel.load(config, "1", tmp_path / "claims" / "1", PluginManager(entry_points=False))
    try:
        out = model.execute({"text": texts(["card 4111 1111 1111 1111 declined"])}, BatchContext.single(1), 0)
    finally:
        model.engines[0].close()
    assert out["redactions"][0] == b'[{"type": "CARD", "start": 5, "end": 24}]'
