"""The model repository: scanning, version policy, isolation of failures, reload and unload."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import numpy as np
import pytest
from gatewise.gateway.config import parse_config
from gatewise.gateway.engines import version_backend
from gatewise.gateway.model_info import model_config_proto
from gatewise.gateway.repository import ModelRepository, scan, select_versions
from gatewise.plugins.manager import PluginManager
from gatewise.protos.errors import InvalidConfig, ModelNotFound, ModelNotReady
from prometheus_client import REGISTRY


@pytest.fixture
def plugins() -> PluginManager:
    return PluginManager(entry_points=False)


@pytest.fixture
async def repo(repository: Path, plugins: PluginManager) -> AsyncIterator[ModelRepository]:
    """A ModelRepository over the tiny repository, nothing loaded yet; closed after the test, pass or fail."""
    repo = ModelRepository(repository, plugins)
    yield repo
    await repo.close()


def test_scan_finds_model_folders_only(repository: Path) -> None:
    """Folders with a config.toml are models; stray files and hidden folders are not."""
    (repository / "notes.txt").write_text("not a model")
    (repository / ".cache").mkdir()
    assert scan(repository) == ["add-one", "broken", "tiny-sentiment"]


def test_missing_repository_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InvalidConfig, match="model repository folder does not exist"):
        scan(tmp_path / "nowhere")


def test_version_policy_picks_latest_or_named_versions(repository: Path) -> None:
    """latest = N takes the newest N version folders; versions = [...] takes exactly those."""
    model_dir = repository / "add-one"
    for version in ("2", "3"):
        shutil.copytree(model_dir / "1", model_dir / version)
    assert select_versions(parse_config('name = "add-one"', source="c"), model_dir) == ["3"]
    latest_two = parse_config('name = "add-one"\nversion_policy = { latest = 2 }', source="c")
    assert select_versions(latest_two, model_dir) == ["2", "3"]
    named = parse_config('name = "add-one"\nversion_policy = { versions = [1, 3] }', source="c")
    assert select_versions(named, model_dir) == ["1", "3"]
    missing = parse_config('name = "add-one"\nversion_policy = { versions = [7] }', source="c")
    with pytest.raises(InvalidConfig, match=r"version_policy.versions: \[7\] not found"):
        select_versions(missing, model_dir)


def test_no_engine_file_names_both_engine_files(repository: Path) -> None:
    model_dir = repository / "add-one"
    shutil.rmtree(model_dir / "1")
    (model_dir / "1").mkdir()
    config = parse_config('name = "add-one"\nbackend = "tensorrt"', source="c")
    with pytest.raises(InvalidConfig, match=r"no version folder holds model.onnx or model.plan \(backend 'tensorrt'\)"):
        select_versions(config, model_dir)


def test_each_version_serves_the_engine_its_folder_holds(repository: Path) -> None:
    """1/model.onnx beside 2/model.plan: both are versions, each with its own backend, whatever config.toml says."""
    model_dir = repository / "add-one"
    (model_dir / "2").mkdir()
    (model_dir / "2" / "model.plan").write_bytes(b"plan")
    for backend in ("onnxruntime", "tensorrt"):
        config = parse_config(f'name = "add-one"\nbackend = "{backend}"\nversion_policy = {{ latest = 2 }}', source="c")
        assert select_versions(config, model_dir) == ["1", "2"]
        assert version_backend(config, model_dir / "1") == "onnxruntime"
        assert version_backend(config, model_dir / "2") == "tensorrt"
    # A folder holding both files follows config.toml's backend.
    shutil.copy(model_dir / "1" / "model.onnx", model_dir / "2" / "model.onnx")
    assert version_backend(parse_config('name = "add-one"', source="c"), model_dir / "2") == "onnxruntime"
    assert (
        version_backend(parse_config('name = "add-one"\nbackend = "tensorrt"', source="c"), model_dir / "2")
        == "tensorrt"
    )


async def test_an_onnx_version_serves_under_a_tensorrt_config(repository: Path, repo: ModelRepository) -> None:
    """What `convert tensorrt` leaves (backend = "tensorrt"): the ONNX version still loads, and says it is ONNX."""
    model_dir = repository / "add-one"
    config_text = (model_dir / "config.toml").read_text()
    (model_dir / "config.toml").write_text(
        f'backend = "tensorrt"\nversion_policy = {{ versions = [1] }}\n{config_text}'
    )
    (model_dir / "2").mkdir()
    (model_dir / "2" / "model.plan").write_bytes(b"plan")
    await repo.load("add-one")
    model = repo.get("add-one")
    assert (model.version, model.backend, model.describe()["engine"]) == ("1", "onnxruntime", "onnxruntime")
    proto = model_config_proto(model)
    assert (proto.platform, proto.backend, proto.parameters["engine"].string_value) == (
        "onnxruntime_onnx",
        "onnxruntime",
        "onnxruntime",
    )
    assert repo.entries["add-one"].config.backend == "tensorrt"  # config.toml itself is unchanged


@pytest.mark.parametrize(
    "name",
    [
        "nope",
        "../outside",
        "../outside/m",
        "add-one/../add-one",
        "add-one/1",
        ".hidden",
        "",
        "add-one\n",
        "/etc",
        "assets-only",
    ],
)
async def test_load_of_an_unknown_or_path_like_name_is_not_found(
    repository: Path, repo: ModelRepository, name: str
) -> None:
    """Only model folders directly in the repository load; anything else is NOT_FOUND and leaves nothing behind."""
    outside = repository.parent / "outside"
    shutil.copytree(repository / "add-one", outside / "m")
    shutil.copytree(repository / "add-one", outside / "add-one")
    shutil.copytree(repository / "add-one", repository / ".hidden")
    (repository / "assets-only").mkdir()
    (repository / "assets-only" / "tokenizer.json").write_text("{}")
    for raise_errors in (True, False):
        with pytest.raises(ModelNotFound) as caught:
            await repo.load(name, raise_errors=raise_errors)
        assert caught.value.status == grpc.StatusCode.NOT_FOUND
    assert repo.entries == {}  # and no per-name state: one lock serves every load
    assert not repo.is_ready(name)


def test_scan_skips_folders_whose_name_is_not_a_model_name(repository: Path) -> None:
    shutil.copytree(repository / "add-one", repository / "has space")
    assert "has space" not in scan(repository)


async def test_a_broken_model_does_not_stop_the_others(repository: Path, repo: ModelRepository) -> None:
    """load_all serves the good models and records why the bad one failed."""
    await repo.load_all()
    assert repo.is_ready("tiny-sentiment") and repo.is_ready("add-one")
    index = {name: (state, reason) for name, _, state, reason in repo.index()}
    assert index["broken"][0] == "UNAVAILABLE"
    assert "batching.max_queue_delay_ms" in index["broken"][1]
    with pytest.raises(ModelNotReady, match="'broken' is not ready"):
        repo.get("broken")
    with pytest.raises(ModelNotFound, match="'nope' is not in the repository"):
        repo.get("nope")


async def test_served_model_runs_the_plugin_and_engine(repo: ModelRepository) -> None:
    """A request through ServedModel.infer comes back classified, with the plugin's outputs."""
    await repo.load("tiny-sentiment")
    model = repo.get("tiny-sentiment")
    texts = np.array([b"great service", b"awful price"], dtype=object)
    result = await model.infer({"text": texts}, 2, {}, None)
    assert list(result.outputs["label"]) == [b"positive", b"negative"]
    assert result.outputs["scores"].shape == (2, 3)
    np.testing.assert_allclose(result.outputs["scores"].sum(axis=1), 1.0, rtol=1e-5)
    assert model.stats.inference_count == 2  # warm-up rows do not count


def sample(name: str, model: str) -> float:
    return REGISTRY.get_sample_value(name, {"model": model}) or 0.0


async def test_warm_up_is_not_counted_as_traffic(repository: Path, repo: ModelRepository) -> None:
    """As in Triton, warm-up adds nothing to ModelStatistics or the Prometheus metrics."""
    model_dir = repository / "tiny-sentiment"
    (model_dir / "config.toml").write_text("instances = 2\n" + (model_dir / "config.toml").read_text())
    names = ("gatewise_batch_size_count", "gatewise_tokens_total", "gatewise_padded_tokens_total")
    before = {name: sample(name, "tiny-sentiment") for name in names}
    stage = {"model": "tiny-sentiment", "stage": "infer"}
    compute_before = REGISTRY.get_sample_value("gatewise_compute_seconds_count", stage) or 0.0
    await repo.load("tiny-sentiment")
    model = repo.get("tiny-sentiment")
    assert len(model.engines) == 2  # both instances were warmed up
    assert (model.stats.inference_count, model.stats.execution_count) == (0, 0)
    assert model.stats.compute_infer.count == 0 and not model.stats.by_batch_size
    assert {name: sample(name, "tiny-sentiment") for name in names} == before
    assert (REGISTRY.get_sample_value("gatewise_compute_seconds_count", stage) or 0.0) == compute_before
    await model.infer({"text": np.array([b"good movie"], dtype=object)}, 1, {}, None)
    assert (model.stats.inference_count, model.stats.execution_count) == (1, 1)
    assert sample("gatewise_batch_size_count", "tiny-sentiment") == before["gatewise_batch_size_count"] + 1


async def test_reload_swaps_in_a_new_version_and_unload_stops_serving(repository: Path, repo: ModelRepository) -> None:
    """A new version folder serves after load(); unload() makes the model unavailable."""
    await repo.load("add-one")
    assert repo.get("add-one").version == "1"
    shutil.copytree(repository / "add-one" / "1", repository / "add-one" / "2")
    await repo.load("add-one")
    assert repo.get("add-one").version == "2"
    with pytest.raises(ModelNotFound, match="version '1'"):
        repo.get("add-one", "1")
    await repo.unload("add-one")
    with pytest.raises(ModelNotReady, match="unloaded"):
        repo.get("add-one")


async def test_failed_reload_keeps_the_serving_version(repository: Path, repo: ModelRepository) -> None:
    """A reload whose config is broken raises, and the version already serving keeps serving."""
    await repo.load("add-one")
    (repository / "add-one" / "config.toml").write_text('name = "add-one"\ninstances = 0\n')
    with pytest.raises(ModelNotReady, match="instances"):
        await repo.load("add-one")
    assert repo.is_ready("add-one")
