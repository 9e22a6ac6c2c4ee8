"""TensorRT: profile and precision planning, the engine stamp, buffer sizing (no libnvinfer needed),
then a real build and run that skips where TensorRT or a GPU is missing."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import numpy as np
import pytest
from converter_fixtures import checkpoint, exported  # noqa: F401 - pytest fixtures
from gatewise.converters.errors import ConversionError, TensorRTError
from gatewise.converters.tensorrt_build import (
    check_range,
    graph_precision,
    parse_shapes,
    plan_precision,
    plan_profiles,
    trt_available,
)
from gatewise.gateway.config import TensorRTConfig, VersionPolicy
from gatewise.gateway.engines.tensorrt import TensorRTEngine
from gatewise.gateway.engines.tensorrt_plans import (
    EngineMetadata,
    ShapeRange,
    check_compatible,
    choose_profile,
    metadata_path,
    nbytes,
    plan_buffers,
    profiles_as_json,
    read_metadata,
    same_release,
)
from gatewise.plugins.context import BatchContext
from gatewise.protos.errors import EngineError

TEXT_INPUTS = {"input_ids": (-1, -1), "attention_mask": (-1, -1)}


def stamp(**changes: object) -> EngineMetadata:
    fields = dict(
        tensorrt_version="10.8.0.43",
        gpu_name="NVIDIA H100 80GB HBM3",
        compute_capability="9.0",
        precision="fp16",
        strongly_typed=True,
        source="models/m/1/model.onnx",
    )
    fields.update(changes)
    return EngineMetadata(**fields)  # type: ignore[arg-type]


# -- profiles ---------------------------------------------------------------------------


def test_parse_shapes_reads_trtexec_syntax() -> None:
    assert parse_shapes("input_ids:1x16, attention_mask:32X128") == {"input_ids": (1, 16), "attention_mask": (32, 128)}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("input_ids=1x16", "must look like NAME:DIMxDIM"),
        ("input_ids:1xa", "dimensions must be integers"),
        ("input_ids:0x16", "at least 1"),
    ],
)
def test_parse_shapes_rejects_bad_specs(spec: str, message: str) -> None:
    with pytest.raises(TensorRTError, match=message):
        parse_shapes(spec)


def test_default_profile_covers_every_dynamic_input_from_config_limits() -> None:
    (profile,) = plan_profiles({**TEXT_INPUTS, "token_type_ids": (-1, -1)}, max_batch=32, max_length=256)
    assert set(profile) == {"input_ids", "attention_mask", "token_type_ids"}
    assert profile["input_ids"] == ShapeRange((1, 1), (16, 128), (32, 256))


def test_fixed_axes_stay_fixed_and_batch_only_modules_get_batch_ranges() -> None:
    (profile,) = plan_profiles({"features": (-1, 8)}, max_batch=64, max_length=128, opt_batch=8)
    assert profile["features"] == ShapeRange((1, 8), (8, 8), (64, 8))


def test_explicit_shapes_make_one_profile_each_and_fill_unnamed_inputs() -> None:
    small = ({"input_ids": (1, 1)}, {"input_ids": (1, 16)}, {"input_ids": (4, 32)})
    large = ({"input_ids": (1, 1)}, {"input_ids": (16, 128)}, {"input_ids": (32, 512)})
    profiles = plan_profiles(TEXT_INPUTS, max_batch=32, max_length=512, explicit=[small, large])
    assert [p["input_ids"].max for p in profiles] == [(4, 32), (32, 512)]
    assert profiles[0]["attention_mask"] == ShapeRange((1, 1), (16, 256), (32, 512))


@pytest.mark.parametrize(("explicit", "message"), [
    (({"nope": (1, 1)}, {"nope": (1, 1)}, {"nope": (1, 1)}), r"shapes name \['nope'\], which are not inputs"),
    (({"input_ids": (1, 1)}, {}, {"input_ids": (4, 4)}),
     r"inputs \['input_ids'\] need all three of --min, --opt and --max"),
    (({"input_ids": (1, 8)}, {"input_ids": (1, 4)}, {"input_ids": (4, 16)}), "need min <= opt <= max on every axis"),
    (({"input_ids": (1,)}, {"input_ids": (1,)}, {"input_ids": (4,)}),
     r"min shape \[1\] has 1 dims; the model's input has 2"),
])  # fmt: skip
def test_bad_explicit_profiles_are_explained(explicit: tuple, message: str) -> None:
    with pytest.raises(TensorRTError, match=message):
        plan_profiles(TEXT_INPUTS, explicit=[explicit])


def test_a_fixed_axis_cannot_be_given_another_size() -> None:
    with pytest.raises(TensorRTError, match="max shape sets axis 1 to 9, but the model fixes it at 8"):
        check_range("features", (-1, 8), ShapeRange((1, 8), (2, 8), (4, 9)))


# -- precision --------------------------------------------------------------------------


def test_graph_precision_is_strongly_typed_on_both_majors() -> None:
    for major in (10, 11):
        assert plan_precision("graph", "fp16", major) == plan_precision("fp16", "fp16", major)
        assert plan_precision("graph", "fp16", major).strongly_typed


def test_fp16_of_an_fp32_graph_uses_the_flag_on_trt10_and_is_refused_on_trt11() -> None:
    plan = plan_precision("fp16", "fp32", 10)
    assert (plan.strongly_typed, plan.builder_flags) == (False, ("FP16",))
    with pytest.raises(
        TensorRTError, match=r"TensorRT 11 builds strongly typed: FP16 must be in the ONNX graph.*--fp16"
    ):
        plan_precision("fp16", "fp32", 11)


def test_int8_needs_qdq_and_ort_dynamic_int8_is_refused() -> None:
    assert plan_precision("int8", "int8-qdq", 11).precision == "int8"
    with pytest.raises(TensorRTError, match="needs Q/DQ nodes"):
        plan_precision("int8", "fp32", 10)
    with pytest.raises(TensorRTError, match="dynamic INT8 ops, which TensorRT cannot build"):
        plan_precision("graph", "int8-dynamic", 10)


def test_graph_precision_reads_exported_graphs(exported) -> None:
    assert graph_precision(exported("bert", "text-classification") / "1" / "model.onnx") == "fp32"
    assert graph_precision(exported("bert", "feature-extraction", "mean", fp16=True) / "1" / "model.onnx") == "fp16"
    assert (
        graph_precision(exported("bert", "text-classification", optimize=True, int8=True) / "1" / "model.onnx")
        == "int8-dynamic"
    )


# -- the stamp and the runtime checks ---------------------------------------------------


def test_stamp_round_trips_beside_the_plan(tmp_path: Path) -> None:
    plan = tmp_path / "model.plan"
    profiles = plan_profiles(TEXT_INPUTS, max_batch=8, max_length=64)
    meta = stamp(profiles=profiles_as_json(profiles))
    metadata_path(plan).write_text(meta.to_json())
    assert metadata_path(plan).name == "model.plan.json"
    read = read_metadata(plan)
    assert read == meta and read.profile_ranges() == profiles


def test_missing_or_broken_stamp_is_an_engine_error(tmp_path: Path) -> None:
    plan = tmp_path / "model.plan"
    with pytest.raises(EngineError, match="has no model.plan.json: without it the TensorRT version and GPU"):
        read_metadata(plan)
    metadata_path(plan).write_text(json.dumps({"tensorrt_version": "10"}))
    with pytest.raises(EngineError, match="is not a valid engine stamp"):
        read_metadata(plan)


def test_release_match_ignores_the_build_number() -> None:
    assert same_release("10.8.0.43", "10.8.0.99")
    assert not same_release("10.8.0.43", "10.9.0.34")


def test_engine_for_another_tensorrt_or_gpu_is_refused_with_a_rebuild_hint() -> None:
    meta = stamp()
    check_compatible(meta, Path("m.plan"), tensorrt_version="10.8.0.50", compute_capability="9.0", gpu_name="H100")
    with pytest.raises(
        EngineError,
        match=(
            r"built for TensorRT 10.8.0.43 \(this gateway runs 11.0.0\)"
            r".*`gatewise convert tensorrt models/m/1/model.onnx`"
        ),
    ):
        check_compatible(meta, Path("m.plan"), tensorrt_version="11.0.0", compute_capability="9.0", gpu_name="H100")
    with pytest.raises(
        EngineError, match=r"compute capability 9.0 \(NVIDIA H100 80GB HBM3\); this GPU is 8.9 \(NVIDIA L4\)"
    ):
        check_compatible(
            meta, Path("m.plan"), tensorrt_version="10.8.0.43", compute_capability="8.9", gpu_name="NVIDIA L4"
        )


def test_engine_refuses_to_open_without_its_stamp(tmp_path: Path) -> None:
    """The check runs before TensorRT is imported, so it holds on machines without it too."""
    (tmp_path / "model.plan").write_bytes(b"plan")
    with pytest.raises(EngineError, match="has no model.plan.json"):
        TensorRTEngine(tmp_path / "model.plan", TensorRTConfig())


# -- profiles at run time and buffers ---------------------------------------------------


def test_the_smallest_fitting_profile_is_chosen() -> None:
    small = {"input_ids": ShapeRange((1, 1), (1, 16), (4, 32))}
    large = {"input_ids": ShapeRange((1, 1), (16, 128), (32, 512))}
    assert choose_profile({"input_ids": (2, 20)}, [large, small]) == 1
    assert choose_profile({"input_ids": (8, 20)}, [large, small]) == 0
    with pytest.raises(EngineError, match=r"fit no optimisation profile \(input_ids \[1, 1\]..\[32, 512\]"):
        choose_profile({"input_ids": (64, 20)}, [large])


def test_buffers_are_sized_at_the_profile_maximum() -> None:
    sizes = plan_buffers(
        {"input_ids": (32, 128), "logits": (32, 3)}, {"input_ids": np.dtype(np.int64), "logits": np.dtype(np.float32)}
    )
    assert sizes == {"input_ids": 32 * 128 * 8, "logits": 32 * 3 * 4}
    with pytest.raises(ValueError, match="still has a dynamic dimension"):
        nbytes((-1, 3), np.dtype(np.float32))


def test_tensorrt_conversion_without_tensorrt_says_how_to_get_it(exported, tmp_path: Path) -> None:
    if trt_available():
        pytest.skip("TensorRT is installed here; this checks the message given without it")
    from gatewise.converters.engine_entry import export_tensorrt

    onnx_path = exported("bert", "text-classification") / "1" / "model.onnx"
    with pytest.raises(ConversionError, match=r"TensorRT is not installed: `pip install 'gatewise\[tensorrt\]'`"):
        export_tensorrt(onnx_path, repository=tmp_path / "repo", name="m", quiet=True, timing_cache=None)
    assert not (tmp_path / "repo" / "m").exists()


# -- validation in batches the profiles accept ----------------------------------------------


def test_the_shipped_samples_validate_in_batches_within_the_default_profile() -> None:
    """66 samples against a profile built for max_batch_size 32: three batches of 22, each one a profile fits.

    Without batching the whole sample set is one 66-row batch, which choose_profile refuses.
    """
    from gatewise.converters.engine_entry import batch_slices, infer_in_batches, rows_per_batch
    from gatewise.converters.samples import load_samples

    rows = len(load_samples())
    assert rows > 32
    profiles = plan_profiles(TEXT_INPUTS, max_batch=32, max_length=128)
    inputs = {
        name: np.arange(rows * 20, dtype=np.int64).reshape(rows, 20) + offset for offset, name in enumerate(TEXT_INPUTS)
    }
    shapes = {name: array.shape for name, array in inputs.items()}
    with pytest.raises(EngineError, match="fit no optimisation profile"):
        choose_profile(shapes, profiles)  # what one batch of every sample meets
    assert rows_per_batch(shapes, profiles) == 32
    assert [s.stop - s.start for s in batch_slices(rows, 32)] == [22, 22, 22]

    seen: list[int] = []

    def engine(batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        choose_profile({name: array.shape for name, array in batch.items()}, profiles)  # raises past the max
        seen.append(len(batch["input_ids"]))
        return {"logits": batch["input_ids"][:, :3] * 2.0, "tokens": batch["attention_mask"]}

    produced = infer_in_batches(engine, inputs, profiles)
    assert seen == [22, 22, 22]
    np.testing.assert_array_equal(produced["logits"], inputs["input_ids"][:, :3] * 2.0)
    np.testing.assert_array_equal(produced["tokens"], inputs["attention_mask"])


@pytest.mark.parametrize(
    ("total", "most", "sizes"),
    [(66, 32, [22, 22, 22]), (64, 32, [32, 32]), (5, 32, [5]), (33, 32, [17, 16]), (7, 1, [1] * 7), (0, 4, [0])],
)
def test_batch_slices_are_few_even_and_cover_every_row(total: int, most: int, sizes: list[int]) -> None:
    from gatewise.converters.engine_entry import batch_slices

    slices = batch_slices(total, most)
    assert [s.stop - s.start for s in slices] == sizes
    assert [row for s in slices for row in range(total)[s]] == list(range(total))


def test_rows_per_batch_picks_the_profile_that_takes_most_rows_and_explains_a_misfit() -> None:
    from gatewise.converters.engine_entry import rows_per_batch

    small = {"input_ids": ShapeRange((1, 1), (4, 64), (8, 128))}
    wide = {"input_ids": ShapeRange((1, 1), (16, 16), (64, 32))}
    assert rows_per_batch({"input_ids": (66, 30)}, [small, wide]) == 64
    assert rows_per_batch({"input_ids": (66, 100)}, [small, wide]) == 8  # too long for the wide profile
    assert rows_per_batch({"input_ids": (3, 30)}, [small, wide]) == 3
    with pytest.raises(ConversionError, match="fit no optimisation profile"):
        rows_per_batch({"input_ids": (66, 200)}, [small, wide])


# -- real TensorRT (skipped here: no libnvinfer, no GPU) -----------------------------------


@pytest.mark.tensorrt
@pytest.mark.gpu
def test_built_plan_serves_like_onnx_and_refuses_a_foreign_stamp(gpu: int, exported, tmp_path: Path) -> None:
    """Build a plan from a tiny export, run batch 1 and 3 through TensorRTEngine, compare with ONNX Runtime."""
    pytest.importorskip("tensorrt", reason="TensorRT's libraries are not installed (only NVIDIA's index has them)")
    import shutil
    from concurrent.futures import ThreadPoolExecutor

    from gatewise.converters.engine_entry import export_tensorrt
    from gatewise.gateway.config import load_config
    from gatewise.gateway.engines import create_engines

    source = tmp_path / "repo" / "m"
    shutil.copytree(exported("bert", "text-classification"), source)
    model_dir = export_tensorrt(
        source / "1" / "model.onnx",
        repository=source.parent,
        name="m",
        version=5,
        timing_cache=tmp_path / "timing.cache",
        quiet=True,
    )
    assert (tmp_path / "timing.cache").stat().st_size > 0
    config = load_config(model_dir)
    assert config.backend == "tensorrt"
    (engine,) = create_engines(config, model_dir / "5", 1)
    onnx_config = load_config(source).model_copy(update={"backend": "onnxruntime"})
    (onnx_engine,) = create_engines(onnx_config, source / "1", 1)
    for rows, length in ((1, 7), (3, 19)):
        inputs = {spec.name: np.ones((rows, length), dtype=np.int64) for spec in engine.inputs}
        np.testing.assert_allclose(engine.infer(inputs)["logits"], onnx_engine.infer(inputs)["logits"], atol=1e-3)
    engine.close()
    shared = create_engines(config, model_dir / "5", 2)  # one plan, two contexts and streams
    assert shared[0].plan is shared[1].plan and shared[0]._context is not shared[1]._context
    assert shared[0]._stream != shared[1]._stream
    inputs = {spec.name: np.ones((2, 9), dtype=np.int64) for spec in shared[0].inputs}
    with ThreadPoolExecutor(2) as pool:  # worker threads, as the gateway runs batches: each sets its device
        outputs = list(pool.map(lambda instance: instance.infer(inputs)["logits"], shared))
    np.testing.assert_allclose(outputs[0], onnx_engine.infer(inputs)["logits"], atol=1e-3)
    np.testing.assert_allclose(outputs[1], outputs[0])
    plan = shared[0].plan
    shared[0].close()
    assert plan.engine is not None  # still held by the second instance
    shared[1].close()
    assert plan.engine is None
    meta = json.loads(metadata_path(model_dir / "5" / "model.plan").read_text())
    meta["compute_capability"] = "1.0"
    metadata_path(model_dir / "5" / "model.plan").write_text(json.dumps(meta))
    with pytest.raises(EngineError, match="compute capability 1.0"):
        create_engines(config, model_dir / "5", 1)


def test_tensorrt_version_joins_the_entry_with_its_config_and_assets(exported, tmp_path: Path, monkeypatch) -> None:
    """The repository side of `convert tensorrt`, with TensorRT's build and run replaced by file writes.

    Only the entry handling is under test here (next version, backend switch, limits read
    from config.toml, assets kept); the real build is covered by the TensorRT-only test above.
    """
    import shutil

    import gatewise.converters.engine_entry as engine_entry
    from gatewise.gateway.config import load_config

    source = tmp_path / "repo" / "m"
    shutil.copytree(exported("bert", "token-classification"), source)
    seen: dict[str, object] = {}

    def write_plan(onnx_path: Path, plan_path: Path, **options: object) -> EngineMetadata:
        seen.update(options)
        plan_path.write_bytes(b"plan")
        meta = stamp(profiles=profiles_as_json(options["profiles"]), source=str(onnx_path))  # type: ignore[arg-type]
        metadata_path(plan_path).write_text(meta.to_json())
        return meta

    monkeypatch.setattr(engine_entry, "build_engine", write_plan)
    monkeypatch.setattr(engine_entry, "_validate", lambda *args: None)
    model_dir = engine_entry.export_tensorrt(
        source / "1" / "model.onnx", repository=tmp_path / "repo", name="m", timing_cache=None, quiet=True
    )
    assert sorted(p.name for p in model_dir.iterdir()) == ["1", "2", "assets", "config.toml"]
    assert sorted(p.name for p in (model_dir / "2").iterdir()) == ["model.plan", "model.plan.json"]
    config = load_config(model_dir)
    assert (config.backend, config.plugin, config.labels[:2]) == ("tensorrt", "token-classification", ("O", "B-PER"))
    assert config.parameters["precision"] == "fp16" and config.parameters["max_length"] == 32
    (profile,) = seen["profiles"]  # type: ignore[misc]
    assert profile["input_ids"].max == (32, 32)  # max_batch_size and max_length from config.toml

    # The ONNX version stays servable beside the plan: each version follows the file in its folder.
    from gatewise.gateway.engines import version_backend
    from gatewise.gateway.model import ServedModel
    from gatewise.gateway.repository import select_versions
    from gatewise.plugins.manager import PluginManager

    assert select_versions(config.model_copy(update={"version_policy": VersionPolicy(latest=2)}), model_dir) == [
        "1",
        "2",
    ]
    assert (version_backend(config, model_dir / "1"), version_backend(config, model_dir / "2")) == (
        "onnxruntime",
        "tensorrt",
    )
    pinned = config.model_copy(update={"version_policy": VersionPolicy(versions=(1,))})
    assert select_versions(pinned, model_dir) == ["1"]
    served = ServedModel.load(pinned, "1", model_dir / "1", PluginManager(entry_points=False))
    try:
        assert (served.backend, served.describe()["engine"]) == ("onnxruntime", "onnxruntime")
        result = served.execute({"text": np.array([b"a short sentence"], dtype=object)}, BatchContext.single(1), 0)
        assert "entities" in result
    finally:
        asyncio.run(served.close(drain=False))


# -- what a first GPU contact would have broken (no libnvinfer needed) ---------------------


def test_an_optimized_graph_is_refused_before_tensorrt_is_needed(exported, tmp_path: Path) -> None:
    """--optimize writes com.microsoft fusions that TensorRT's parser cannot build: refused with the way out."""
    from gatewise.converters.engine_entry import export_tensorrt
    from gatewise.converters.tensorrt_build import check_parsable

    fused = exported("bert", "text-classification", optimize=True) / "1" / "model.onnx"
    with pytest.raises(TensorRTError, match=r"onnxruntime-only ops \(.*Attention.*\).*without --optimize"):
        export_tensorrt(fused, repository=tmp_path / "repo", name="m", quiet=True, timing_cache=None)
    assert not (tmp_path / "repo" / "m").exists()
    check_parsable(exported("bert", "text-classification") / "1" / "model.onnx")  # the plain export passes


def test_plan_and_stamp_are_written_together(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No reader ever finds a plan without its stamp, and no temporary file is left behind."""
    import gatewise.converters.tensorrt_build as builder

    plan = tmp_path / "2" / "model.plan"
    builder.write_plan(plan, b"engine", stamp())
    assert plan.read_bytes() == b"engine" and read_metadata(plan).gpu_name == stamp().gpu_name
    assert sorted(p.name for p in plan.parent.iterdir()) == ["model.plan", "model.plan.json"]

    def fail(src: object, dst: Path) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(builder.os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        builder.write_plan(tmp_path / "3" / "model.plan", b"engine", stamp())
    assert list((tmp_path / "3").iterdir()) == []


class FakeConfig:
    """The two IBuilderConfig calls attach_timing_cache makes, with TensorRT's documented results."""

    def __init__(self, create: object = "ok", accept: bool = True) -> None:
        self.create, self.accept, self.attached = create, accept, None

    def create_timing_cache(self, data: bytes) -> object:
        if data and isinstance(self.create, Exception):
            raise self.create
        return None if data and self.create is None else ("cache", data)

    def set_timing_cache(self, cache: object, ignore_mismatch: bool) -> bool:
        if cache[1] and not self.accept:  # type: ignore[index]
            return False
        self.attached = cache
        return True


@pytest.mark.parametrize(("config", "attached"), [
    (FakeConfig(), ("cache", b"old")),
    (FakeConfig(accept=False), ("cache", b"")),                        # another GPU: set_timing_cache says False
    (FakeConfig(create=RuntimeError("bad magic")), ("cache", b"")),    # another release: undocumented, may raise
    (FakeConfig(create=None), ("cache", b"")),                         # ... or return None
])  # fmt: skip
def test_a_foreign_timing_cache_is_replaced_by_a_fresh_one(config: FakeConfig, attached: tuple) -> None:
    from gatewise.converters.tensorrt_build import attach_timing_cache

    attach_timing_cache(config, b"old")
    assert config.attached == attached


def test_engine_tensors_numpy_cannot_hold_are_an_engine_error() -> None:
    from gatewise.gateway.engines.tensorrt_plans import numpy_dtype

    class FakeTrt:
        @staticmethod
        def nptype(dtype: str) -> type:
            if dtype == "BF16":
                raise TypeError("Could not resolve TensorRT datatype to an equivalent numpy datatype.")
            return np.float32

    assert numpy_dtype(FakeTrt, "logits", "FLOAT") == np.float32
    with pytest.raises(EngineError, match=r"tensor 'logits' has TensorRT type BF16, which has no numpy equivalent"):
        numpy_dtype(FakeTrt, "logits", "BF16")
