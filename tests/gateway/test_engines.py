"""Opening engine instances: backend per version folder, clean-up of partial opens, the CUDA device per thread.

The TensorRT parts that need libnvinfer (sharing one deserialised plan between instances)
are in tests/converters/test_tensorrt.py and skip without it; here only the logic that
needs neither TensorRT nor a GPU runs.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

import gateway.engines.onnxruntime as onnxruntime_engine
from gateway.config import load_config
from gateway.engines import create_engines
from gateway.engines.tensorrt import use_device
from gateway.model import ServedModel
from plugins.manager import PluginManager


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
