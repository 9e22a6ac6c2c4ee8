"""Opening engine instances: backend per version folder, clean-up of partial opens, the CUDA device per thread.

The TensorRT parts that need libnvinfer (sharing one deserialised plan between instances)
are in tests/converters/test_tensorrt_build.py and skip without it; here only the logic that
needs neither TensorRT nor a GPU runs.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import gatewise.gateway.engines.onnxruntime as onnxruntime_engine
import pytest
from gatewise.gateway.config import load_config
from gatewise.gateway.engines import create_engines
from gatewise.gateway.engines.cuda import use_device
from gatewise.gateway.model import ServedModel
from gatewise.plugins.manager import PluginManager


class FailingThird(onnxruntime_engine.OnnxRuntimeEngine):
    """The real ONNX Runtime engine, except that the third one opened fails; records closes."""

    opened: list[FailingThird] = []
    closed: list[FailingThird] = []

    def __init__(self, *args: object, **kwargs: object) -> None:
        if len(FailingThird.opened) == 2:
            raise RuntimeError("out of memory opening instance 3")
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        FailingThird.opened.append(self)

    def close(self) -> None:
        FailingThird.closed.append(self)
        super().close()


@pytest.fixture
def failing_third(monkeypatch: pytest.MonkeyPatch) -> type[FailingThird]:
    FailingThird.opened, FailingThird.closed = [], []
    monkeypatch.setattr(onnxruntime_engine, "OnnxRuntimeEngine", FailingThird)
    return FailingThird


def test_a_failing_instance_closes_the_ones_already_open(repository: Path, failing_third: type[FailingThird]) -> None:
    config = load_config(repository / "add-one").model_copy(update={"instances": 3})
    with pytest.raises(RuntimeError, match="instance 3"):
        create_engines(config, repository / "add-one" / "1", config.instances)
    assert len(failing_third.opened) == 2
    assert failing_third.closed == failing_third.opened


def test_served_model_load_closes_earlier_instances_when_a_later_one_fails(
    repository: Path, failing_third: type[FailingThird]
) -> None:
    config = load_config(repository / "add-one").model_copy(update={"instances": 3})
    with pytest.raises(RuntimeError, match="instance 3"):
        ServedModel.load(config, "1", repository / "add-one" / "1", PluginManager(entry_points=False))
    assert failing_third.closed == failing_third.opened and len(failing_third.opened) == 2


def test_engines_open_one_per_instance(repository: Path) -> None:
    config = load_config(repository / "add-one")
    engines = create_engines(config, repository / "add-one" / "1", 2)
    try:
        assert len(engines) == 2 and engines[0] is not engines[1]
        assert engines[0].describe()["engine"] == "onnxruntime"
    finally:
        for engine in engines:
            engine.close()


def test_use_device_sets_the_device_once_in_each_thread() -> None:
    """cudaSetDevice is per thread: every worker thread sets it before its first batch, then never again."""
    calls: list[tuple[str, int]] = []

    def set_device(device: int) -> None:
        calls.append((threading.current_thread().name, device))

    def worker() -> None:
        for _ in range(3):
            use_device(1, set_device)

    threads = [threading.Thread(target=worker, name=f"worker-{index}") for index in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(calls) == [("worker-0", 1), ("worker-1", 1)]
    calls.clear()
    use_device(1, set_device)
    use_device(1, set_device)
    use_device(2, set_device)  # another device in the same thread: set again
    use_device(2, set_device, force=True)  # loading always sets it
    name = threading.current_thread().name
    assert calls == [(name, 1), (name, 2), (name, 2)]


def test_use_device_remembers_nothing_when_setting_fails() -> None:
    """A failed cudaSetDevice is not cached: the thread's next batch tries again."""
    seen: list[object] = []

    def refuse(device: int) -> None:
        raise RuntimeError(f"no device {device}")

    def worker() -> None:
        try:
            use_device(7, refuse)
        except RuntimeError as exc:
            seen.append(str(exc))
        use_device(7, seen.append)

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert seen == ["no device 7", 7]


# -- ONNX Runtime on GPU hosts: the TensorRT EP cache, explicit fallback, both onnxruntimes ------


def test_trt_ep_cache_lives_outside_the_repository(
    repository: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The watcher scans every file under the repository: the EP's engine cache must not be one of them."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    config = load_config(repository / "add-one")
    model = repository / "add-one" / "1" / "model.onnx"
    options = onnxruntime_engine._provider_options("TensorrtExecutionProvider", config.onnxruntime, model, {})
    cache = Path(options["trt_engine_cache_path"])
    assert cache.is_dir() and cache.is_relative_to(tmp_path / "cache" / "gatewise" / "trt-ep")
    assert not cache.is_relative_to(repository) and options["trt_timing_cache_path"] == str(cache)
    model.touch()  # a replaced model gets a fresh folder, never a stale engine
    assert onnxruntime_engine.trt_cache_dir(model) != cache


def test_a_read_only_repository_loads_with_gpu_providers_configured(
    repository: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the cache outside, nothing is written under the version folder (it may be a read-only mount)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    version = repository / "add-one" / "1"
    config = load_config(repository / "add-one")
    assert config.onnxruntime.providers[0] == "tensorrt"
    before = sorted(p.name for p in version.iterdir())
    version.chmod(0o555)
    try:
        (engine,) = create_engines(config, version, 1)
        engine.close()
    finally:
        version.chmod(0o755)
    assert sorted(p.name for p in version.iterdir()) == before


def test_trt_profile_comes_from_max_batch_and_max_length() -> None:
    profile = onnxruntime_engine.trt_profile({"input_ids": (-1, -1), "features": (-1, 4), "fixed": (2, 3)}, 16, 64)
    assert set(profile) == {"input_ids", "features"}  # fully fixed inputs need no profile
    assert (profile["input_ids"].min, profile["input_ids"].max) == ((1, 1), (16, 64))
    assert onnxruntime_engine.shape_option({n: r.max for n, r in profile.items()}) == "input_ids:16x64,features:16x4"


@pytest.mark.parametrize("libraries", [True, False], ids=["libraries-present", "no-gpu-libraries"])
def test_a_provider_that_fails_to_start_is_dropped_with_its_options_kept(
    repository: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, libraries: bool
) -> None:
    """onnxruntime's own fallback would retry with provider_options=None; the engine falls back itself, and says
    so: a WARNING where the provider's libraries are present (it should have worked), INFO where they are not."""
    caplog.set_level(logging.INFO, logger="gatewise.engines.onnxruntime")
    monkeypatch.setattr(onnxruntime_engine, "libraries_present", lambda provider: libraries)
    real = onnxruntime_engine.ort.InferenceSession
    calls: list[tuple[list, dict]] = []

    def session(path: str, sess_options: object = None, providers: list | None = None, **kwargs: object) -> object:
        calls.append((list(providers or []), kwargs))
        if providers and providers[0][0] == "CUDAExecutionProvider":
            raise RuntimeError("CUDA failure 100: no CUDA-capable device is detected")
        return real(path, sess_options=sess_options, providers=["CPUExecutionProvider"])

    monkeypatch.setattr(onnxruntime_engine.ort, "InferenceSession", session)
    monkeypatch.setattr(
        onnxruntime_engine.ort, "get_available_providers", lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"]
    )
    monkeypatch.setattr(onnxruntime_engine, "_preload_cuda", lambda: None)
    config = load_config(repository / "add-one")
    config = config.model_copy(
        update={"onnxruntime": config.onnxruntime.model_copy(update={"providers": ("cuda", "cpu"), "device_id": 1})}
    )
    (engine,) = create_engines(config, repository / "add-one" / "1", 1)
    try:
        facts = engine.describe()
    finally:
        engine.close()
    assert [kwargs for _, kwargs in calls] == [{"enable_fallback": 0}, {"enable_fallback": 0}]
    assert calls[0][0][0] == ("CUDAExecutionProvider", {"device_id": "1"})
    assert (facts["providers_failed"], facts["device"], facts["fallback"]) == ("CUDAExecutionProvider", "cpu", "true")
    (failure,) = [record for record in caplog.records if "failed to start" in record.getMessage()]
    assert "CUDAExecutionProvider failed to start (CUDA failure 100" in failure.getMessage()
    (fallback,) = [record for record in caplog.records if "fell back" in record.getMessage()]
    expected = logging.WARNING if libraries else logging.INFO
    assert (failure.levelno, fallback.levelno) == (expected, expected)


def test_gpu_providers_missing_on_a_host_without_their_libraries_are_info_not_warnings(
    repository: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The converters' default providers (TensorRT, CUDA, CPU) on a CPU-only host: the fallback is said at INFO,
    reported in describe(), and nothing is logged at WARNING."""
    from gatewise.gateway.engines.cuda import libraries_present

    if libraries_present("CUDAExecutionProvider"):
        pytest.skip("this host has a CUDA driver: a fallback here is a fault, tested with libraries-present above")
    caplog.set_level(logging.INFO, logger="gatewise")
    config = load_config(repository / "add-one")
    config = config.model_copy(
        update={"onnxruntime": config.onnxruntime.model_copy(update={"providers": ("tensorrt", "cuda", "cpu")})}
    )
    (engine,) = create_engines(config, repository / "add-one" / "1", 1)
    try:
        facts = engine.describe()
    finally:
        engine.close()
    assert (facts["device"], facts["fallback"]) == ("cpu", "true")
    assert [record.getMessage() for record in caplog.records if record.levelno >= logging.WARNING] == []
    (said,) = [record for record in caplog.records if "fell back" in record.getMessage()]
    assert said.levelno == logging.INFO and "TensorrtExecutionProvider" in said.getMessage()
    assert "none of their libraries" in said.getMessage()


def test_gpu_libraries_are_looked_for_per_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    """CUDA needs the driver; TensorRT the driver and libnvinfer (or TensorRT's pip wheel); CPU nothing."""
    from gatewise.gateway.engines import cuda

    loadable: set[str] = set()
    monkeypatch.setattr(cuda, "_any_loads", lambda names: bool(loadable & set(names)))
    monkeypatch.setattr(cuda.importlib.util, "find_spec", lambda name: None)
    assert cuda.libraries_present("CPUExecutionProvider")
    assert not cuda.libraries_present("CUDAExecutionProvider")
    loadable.add("libcuda.so.1")
    assert cuda.libraries_present("CUDAExecutionProvider")
    assert not cuda.libraries_present("TensorrtExecutionProvider")
    loadable.add("libnvinfer.so.10")
    assert cuda.libraries_present("TensorrtExecutionProvider")


def test_both_onnxruntimes_installed_is_named_with_the_fix(
    repository: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """onnxruntime and onnxruntime-gpu share one folder, and the GPU providers vanish: the log says how to repair it."""
    from importlib import metadata

    installed = {"onnxruntime", "onnxruntime-gpu"}

    def distribution(name: str) -> object:
        if name not in installed:
            raise metadata.PackageNotFoundError(name)
        return object()

    monkeypatch.setattr(onnxruntime_engine.metadata, "distribution", distribution)
    assert onnxruntime_engine.both_onnxruntimes()
    config = load_config(repository / "add-one")
    (engine,) = create_engines(config, repository / "add-one" / "1", 1)
    engine.close()
    assert "onnxruntime and onnxruntime-gpu are both installed" in caplog.text
    assert "pip uninstall -y onnxruntime onnxruntime-gpu && pip install 'gatewise[gpu]'" in caplog.text
    installed.discard("onnxruntime-gpu")
    assert not onnxruntime_engine.both_onnxruntimes()


def test_model_config_reports_cpu_or_gpu_from_the_served_engine(repository: Path) -> None:
    """Instance kind follows the engine's own facts (a CPU fallback is KIND_CPU even when GPU providers were asked)."""
    import asyncio

    from gatewise.gateway.model_info import model_config_proto
    from gatewise.protos import model_config_pb2 as config_pb

    config = load_config(repository / "add-one")
    served = ServedModel.load(config, "1", repository / "add-one" / "1", PluginManager(entry_points=False))
    try:
        proto = model_config_proto(served)
        assert proto.instance_group[0].kind == config_pb.ModelInstanceGroup.KIND_CPU
        assert proto.parameters["device"].string_value == "cpu"
        served.engines[0].describe = lambda: {"engine": "tensorrt", "device": "gpu"}  # type: ignore[method-assign]
        assert model_config_proto(served).instance_group[0].kind == config_pb.ModelInstanceGroup.KIND_GPU
    finally:
        asyncio.run(served.close(drain=False))
