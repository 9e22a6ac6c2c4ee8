"""export_module: a plain torch module (a tabular fraud model) to a named, validated entry."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from gatewise.converters import ConversionError, ExampleInputError, export_module
from gatewise.gateway.config import load_config
from gatewise.gateway.engines import create_engines


class FraudMLP(torch.nn.Module):
    """Amount-and-features in, fraud probability and class logits out."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))

    def forward(self, features: torch.Tensor, amount: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.net(features * torch.log1p(amount))
        return logits, torch.softmax(logits, dim=-1)[:, 1:]


def examples(rows: int = 4) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "features": rng.normal(size=(rows, 8)).astype(np.float32),
        "amount": rng.uniform(1, 500, size=(rows, 1)).astype(np.float32),
    }


def test_module_exports_with_named_inputs_outputs_and_dynamic_batch(tmp_path: Path) -> None:
    model_dir = export_module(
        FraudMLP(), examples(), tmp_path, "fraud", output_names=["logits", "probability"], quiet=True
    )
    config = load_config(model_dir)
    assert [spec.name for spec in config.inputs] == ["features", "amount"]
    assert [(spec.name, spec.shape) for spec in config.outputs] == [("logits", (-1, 2)), ("probability", (-1, 1))]
    assert config.plugin is None
    (engine,) = create_engines(config, model_dir / "1", 1)
    module = FraudMLP().eval()
    for rows in (1, 5):
        inputs = examples(rows)
        out = engine.infer(inputs)
        with torch.no_grad():
            logits, probability = module(**{k: torch.from_numpy(v) for k, v in inputs.items()})
        np.testing.assert_allclose(out["logits"], logits.numpy(), atol=1e-5)
        np.testing.assert_allclose(out["probability"], probability.numpy(), atol=1e-6)


def test_module_from_import_path_and_plugin_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "src"
    package.mkdir()
    (package / "fraudmodels.py").write_text(
        textwrap.dedent("""
        import torch
        def build():
            torch.manual_seed(1)
            return torch.nn.Sequential(torch.nn.Linear(3, 2))
    """)
    )
    monkeypatch.syspath_prepend(str(package))
    x = {"input": np.ones((2, 3), np.float32)}
    model_dir = export_module(
        "fraudmodels:build",
        x,
        tmp_path / "repo",
        "f",
        output_names=["scores"],
        plugin="finance",
        extra_config={"parameters": {"threshold": 0.5}},
        quiet=True,
    )
    config = load_config(model_dir)
    assert (config.plugin, config.parameters["threshold"], config.parameters["source"]) == (
        "finance",
        0.5,
        "fraudmodels:build",
    )
    sys.modules.pop("fraudmodels", None)


def test_module_from_saved_file_and_state_dict_refused(tmp_path: Path) -> None:
    torch.save(FraudMLP(), tmp_path / "fraud.pt")
    model_dir = export_module(
        tmp_path / "fraud.pt",
        examples(),
        tmp_path / "repo",
        "fraud",
        output_names=["logits", "probability"],
        quiet=True,
    )
    assert (model_dir / "1" / "model.onnx").is_file()
    torch.save(FraudMLP().state_dict(), tmp_path / "weights.pt")
    with pytest.raises(ConversionError, match="holds a state dict, which has no architecture"):
        export_module(
            str(tmp_path / "weights.pt"), examples(), tmp_path / "repo", "w", output_names=["a", "b"], quiet=True
        )
    assert not (tmp_path / "repo" / "w").exists()


def test_batch_of_one_example_would_specialise_the_axis(tmp_path: Path) -> None:
    with pytest.raises(
        ExampleInputError, match=r"example input 'features': axis 0 \(batch\) has size 1; give at least 2"
    ):
        export_module(FraudMLP(), examples(1), tmp_path, "fraud", output_names=["logits", "probability"], quiet=True)
    assert not (tmp_path / "fraud").exists()


def test_unknown_input_name_and_output_count_mismatch(tmp_path: Path) -> None:
    with pytest.raises(
        ExampleInputError, match=r"example input 'amt': is not an argument of FraudMLP.forward\(features, amount\)"
    ):
        export_module(
            FraudMLP(),
            {"features": examples()["features"], "amt": examples()["amount"]},
            tmp_path,
            "fraud",
            output_names=["logits", "probability"],
            quiet=True,
        )
    with pytest.raises(ConversionError, match="bad import path|cannot import 'nosuchpackage:build'"):
        export_module("nosuchpackage:build", examples(), tmp_path, "fraud", output_names=["x"], quiet=True)
    assert not (tmp_path / "fraud").exists()


def test_fixed_batch_export_pins_max_batch_size(tmp_path: Path) -> None:
    model_dir = export_module(
        FraudMLP(),
        examples(4),
        tmp_path,
        "fraud",
        output_names=["logits", "probability"],
        dynamic_batch=False,
        quiet=True,
    )
    graph = onnx.load(str(model_dir / "1" / "model.onnx")).graph
    assert graph.input[0].type.tensor_type.shape.dim[0].dim_value == 4
    assert load_config(model_dir).batching.max_batch_size == 4
