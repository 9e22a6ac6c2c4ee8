"""Reference rows in converted entries, and the drift check the gateway runs on them at load."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import shutil
from pathlib import Path
from types import SimpleNamespace

import grpc
import numpy as np
import pytest
from converter_fixtures import checkpoint, exported  # noqa: F401 - pytest fixtures
from gatewise.converters.errors import ConversionError
from gatewise.converters.runtime import run_onnx
from gatewise.gateway.config import load_config
from gatewise.gateway.model import ServedModel
from gatewise.gateway.reference_check import REFERENCE_FILE, read_reference
from gatewise.plugins.manager import PluginManager
from gatewise.protos import grpc_service_pb2 as pb
from gatewise.protos.errors import EngineError
from prometheus_client import REGISTRY

from security.harness import serving, stub, text_request


def entry_copy(source: Path, repository: Path, name: str, *, config_extra: str = "") -> Path:
    """``source`` copied to ``repository/name``, renamed, with ``config_extra`` appended to config.toml."""
    target = repository / name
    shutil.copytree(source, target)
    config = target / "config.toml"
    text = config.read_text().replace(f'name = "{source.name}"', f'name = "{name}"', 1)
    config.write_text(config_extra + "\n" + text if config_extra else text)
    return target


def perturb(model_dir: Path, by: float = 0.5) -> None:
    """Move the stored FP32 outputs past any FP32 tolerance, as a host with other numerics would look."""
    reference = read_reference(model_dir / "1")
    assert reference is not None
    moved = {name: array + by for name, array in reference.outputs.items()}
    dataclasses.replace(reference, outputs=moved).save(model_dir / "1" / REFERENCE_FILE)


def load(model_dir: Path) -> ServedModel:
    return ServedModel.load(load_config(model_dir), "1", model_dir / "1", PluginManager(entry_points=False))


def test_a_converted_entry_stores_confident_rows_their_fp32_outputs_and_the_tolerance(exported) -> None:
    """The converter writes <version>/reference.npz: a few tokenised rows, FP32 logits, the fp32 tolerance, the host."""
    reference = read_reference(exported() / "1")
    assert reference is not None
    assert reference.rows == 16 and reference.precision == "fp32"
    assert sorted(reference.inputs) == ["attention_mask", "input_ids", "token_type_ids"]
    assert reference.inputs["input_ids"].dtype == np.int64
    assert reference.outputs["logits"].shape == (16, 3) and reference.kinds == {"logits": "labels"}
    assert (reference.tolerance.max_abs, reference.tolerance.min_agreement) == (1e-3, 1.0)
    longest = int(reference.inputs["attention_mask"].sum(axis=1).max())
    assert reference.inputs["input_ids"].shape[1] == longest  # padded to its longest row, as served
    assert reference.build and reference.build["host"] and "max abs diff" in reference.build["figures"]


def test_token_level_references_judge_real_tokens_only(exported) -> None:
    """Token classification stores [rows, tokens, labels] logits and the mask that says which tokens count."""
    reference = read_reference(exported("bert", "token-classification") / "1")
    assert reference is not None and reference.mask == "attention_mask"
    assert reference.outputs["logits"].shape[:2] == reference.inputs["attention_mask"].shape
    assert reference.judge(dict(reference.outputs)).passed


def test_the_converted_entry_loads_with_the_drift_check_passing(exported, caplog) -> None:
    """At load the reference rows run on this host's engine; the passing check is logged with its cost."""
    caplog.set_level(logging.INFO, logger="gatewise.model")
    model = load(exported())
    try:
        assert model.drift is None
    finally:
        asyncio.run(model.close(drain=False))
    (line,) = [r.getMessage() for r in caplog.records if "drift check passed" in r.getMessage()]
    assert " ms: logits: max abs diff " in line and "over 16 reference rows (tolerance fp32:" in line
    assert REGISTRY.get_sample_value("gatewise_model_drifted", {"model": "m", "version": "1"}) == 0


def test_an_entry_without_reference_rows_loads_as_before(exported, tmp_path: Path, caplog) -> None:
    """Older and hand-built entries have no reference.npz: the check is skipped, said at DEBUG."""
    caplog.set_level(logging.DEBUG, logger="gatewise.model")
    model_dir = entry_copy(exported(), tmp_path, "old")
    (model_dir / "1" / REFERENCE_FILE).unlink()
    asyncio.run(load(model_dir).close(drain=False))
    assert any("no reference.npz: drift check skipped" in r.getMessage() for r in caplog.records)


def test_an_unreadable_reference_fails_the_version_naming_the_file(exported, tmp_path: Path) -> None:
    model_dir = entry_copy(exported(), tmp_path, "broken")
    (model_dir / "1" / REFERENCE_FILE).write_bytes(b"not a zip")
    with pytest.raises(EngineError, match=r"reference\.npz cannot be read.*remove reference\.npz"):
        load(model_dir)


async def test_drift_is_refused_or_with_warn_served_with_a_warning_a_metric_and_a_parameter(
    exported, tmp_path: Path, caplog
) -> None:
    """Through a real server: refused and bad-policy models fail alone; a warned one serves and says so."""
    caplog.set_level(logging.INFO, logger="gatewise")
    repository = tmp_path / "models"
    entry_copy(exported(), repository, "good")
    perturb(entry_copy(exported(), repository, "drifted"))
    perturb(entry_copy(exported(), repository, "warned", config_extra='drift_policy = "warn"'))
    entry_copy(exported(), repository, "maybe", config_extra='drift_policy = "maybe"')
    async with serving(repository) as server, grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        client = stub(channel)
        index = await client.RepositoryIndex(pb.RepositoryIndexRequest(), timeout=10)
        states = {model.name: (model.state, model.reason) for model in index.models}
        assert states["good"][0] == states["warned"][0] == "READY"
        state, reason = states["drifted"]
        assert state == "UNAVAILABLE"
        assert "drifted past its fp32 reference tolerance on this host" in reason
        assert "logits: max abs diff 0.5 > 0.001" in reason and "top-1 agreement >= 100.00%" in reason
        assert "This host: " in reason and "onnxruntime on CPUExecutionProvider; built and validated on: " in reason
        assert 'drift_policy = "warn"' in reason
        state, reason = states["maybe"]
        assert state == "UNAVAILABLE" and "drift_policy: Input should be 'refuse' or 'warn'" in reason
        for name in ("good", "warned"):
            await client.ModelInfer(text_request(b"a fine day", model=name), timeout=10)
        config = (await client.ModelConfig(pb.ModelConfigRequest(name="warned"), timeout=10)).config
        assert "max abs diff 0.5 > 0.001" in config.parameters["drift"].string_value
        good = (await client.ModelConfig(pb.ModelConfigRequest(name="good"), timeout=10)).config
        assert "drift" not in good.parameters
    assert REGISTRY.get_sample_value("gatewise_model_drifted", {"model": "warned", "version": "1"}) == 1
    assert REGISTRY.get_sample_value("gatewise_model_drift", {"model": "warned", "version": "1"}) >= 0.5
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "warned" in r.getMessage()]
    assert any('serves (drift_policy = "warn") although it drifted' in line for line in warnings)


def test_a_module_entry_stores_its_example_rows(tmp_path: Path) -> None:
    """``convert module`` entries carry references too: the example rows and PyTorch's outputs."""
    import torch
    from gatewise.converters import export_module

    module = torch.nn.Sequential(torch.nn.Linear(4, 3))
    examples = {"input": np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)}
    model_dir = export_module(module, examples, tmp_path, "tab", output_names=["logits"], quiet=True)
    reference = read_reference(model_dir / "1")
    assert reference is not None and reference.rows == 8 and reference.mask is None  # 5 + 3 rows validated last
    asyncio.run(load(model_dir).close(drain=False))


def test_a_tensorrt_entry_stores_references_from_its_onnx_source(exported, monkeypatch) -> None:
    """``convert tensorrt``'s validation returns reference rows: the ONNX model's outputs, the plan's tolerance.

    TensorRT cannot run here: the plan engine is replaced by ONNX Runtime on the source model,
    then by one off by 0.5 on the reference batch alone, which the build host itself must refuse.
    """
    import gatewise.gateway.engines.tensorrt as trt_engine
    import gatewise.gateway.engines.tensorrt_plans as trt_plans
    from gatewise.converters import engine_entry
    from gatewise.converters.progress import Steps

    source = exported("bert", "text-classification") / "1" / "model.onnx"
    offset = {"by": 0.0}

    class FakePlanEngine:
        def __init__(self, plan: Path, config: object) -> None:
            pass

        def infer(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
            moved = offset["by"] if len(inputs["input_ids"]) <= 8 else 0.0  # only the reference batch drifts
            return {name: array + moved for name, array in run_onnx(source, inputs).items()}

        def close(self) -> None:
            pass

    monkeypatch.setattr(trt_engine, "TensorRTEngine", FakePlanEngine)
    monkeypatch.setattr(trt_plans, "read_metadata", lambda plan: SimpleNamespace(precision="fp16", profile_ranges=list))
    config = {"parameters": {"max_length": 32}}
    with Steps("test", 1, quiet=True) as steps:
        reference = engine_entry._validate(source, Path("x.plan"), source.parent.parent, config, None, steps, 8)
    assert reference is not None and reference.rows == 8 and reference.precision == "fp16"
    np.testing.assert_allclose(reference.outputs["logits"], run_onnx(source, reference.inputs)["logits"])
    assert reference.tolerance.max_abs == 5e-2
    offset["by"] = 0.5
    with (
        pytest.raises(ConversionError, match="reference rows .* already drift on this host"),
        Steps("test", 1, quiet=True) as steps,
    ):
        engine_entry._validate(source, Path("x.plan"), source.parent.parent, config, None, steps, 8)
