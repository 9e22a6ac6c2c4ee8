"""Shared weights: the split files, concurrent first loads, keys that follow the model file, and answers."""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

import numpy as np
import onnx
import pytest
from gatewise.gateway import weights
from gatewise.gateway.config import OnnxRuntimeConfig
from gatewise.gateway.engines.onnxruntime import OnnxRuntimeEngine
from onnx import TensorProto, helper, numpy_helper


def wide_model(path: Path, seed: int = 0) -> Path:
    """y = x @ W + b: W and an unused 1 MB initializer go to the shared file, b (64 bytes) stays inline."""
    rng = np.random.default_rng(seed)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["h"]), helper.make_node("Add", ["h", "b"], ["y"])],
        "wide",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 512])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 16])],
        initializer=[
            numpy_helper.from_array(rng.standard_normal((512, 16)).astype(np.float32), "W"),
            numpy_helper.from_array(rng.standard_normal((512, 512)).astype(np.float32), "unused"),
            numpy_helper.from_array(rng.standard_normal(16).astype(np.float32), "b"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


@pytest.fixture(autouse=True)
def cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_large_initializers_move_to_a_page_aligned_file_and_map_back_equal(tmp_path: Path) -> None:
    source = wide_model(tmp_path / "m" / "1" / "model.onnx")
    shared = weights.prepare(source)
    original = {t.name: numpy_helper.to_array(t) for t in onnx.load(str(source)).graph.initializer}
    assert sorted(shared.initializers) == ["W", "unused"]  # b is under MIN_BYTES
    for name, array in shared.initializers.items():
        assert np.array_equal(array, original[name]) and not array.flags.writeable
        assert array.ctypes.data % weights.ALIGN == 0
    stripped = onnx.load(str(shared.model), load_external_data=False)
    by_name = {t.name: t for t in stripped.graph.initializer}
    assert by_name["W"].data_location == TensorProto.EXTERNAL and not by_name["W"].raw_data
    assert numpy_helper.to_array(by_name["b"]).tolist() == original["b"].tolist()
    assert [node.op_type for node in stripped.graph.node] == ["MatMul", "Add"]


def _prepare_in_process(source: str, barrier: multiprocessing.synchronize.Barrier, out: multiprocessing.Queue) -> None:
    barrier.wait()
    shared = weights.prepare(Path(source))
    out.put((str(shared.folder), os.stat(shared.folder / "weights.bin").st_ino))


def test_workers_starting_at_once_write_the_files_once(tmp_path: Path, cache_home: Path) -> None:
    """Four processes preparing the same model together all get the one folder and the one weights file."""
    source = wide_model(tmp_path / "m" / "1" / "model.onnx")
    context = multiprocessing.get_context("spawn")
    barrier, out = context.Barrier(4), context.Queue()
    processes = [context.Process(target=_prepare_in_process, args=(str(source), barrier, out)) for _ in range(4)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(60)
        assert process.exitcode == 0
    results = {out.get(timeout=5) for _ in processes}
    assert len(results) == 1
    folder = Path(next(iter(results))[0])
    assert sorted(path.name for path in folder.iterdir()) == ["index.json", "model.onnx", "weights.bin"]


def test_a_replaced_model_file_gets_new_weights(tmp_path: Path) -> None:
    source = wide_model(tmp_path / "m" / "1" / "model.onnx", seed=0)
    first = weights.prepare(source)
    wide_model(source, seed=1)
    os.utime(source, ns=(source.stat().st_atime_ns, source.stat().st_mtime_ns + 10**9))
    second = weights.prepare(source)
    assert first.folder != second.folder
    assert not np.array_equal(first.initializers["W"], second.initializers["W"])


def test_a_session_over_shared_weights_answers_like_a_private_one(tmp_path: Path) -> None:
    source = wide_model(tmp_path / "m" / "1" / "model.onnx")
    x = np.linspace(-1, 1, 2 * 512, dtype=np.float32).reshape(2, 512)
    shared = OnnxRuntimeEngine(source, OnnxRuntimeConfig(providers=("cpu",), share_weights=True))
    private = OnnxRuntimeEngine(source, OnnxRuntimeConfig(providers=("cpu",), share_weights=False))
    try:
        np.testing.assert_allclose(shared.infer({"x": x})["y"], private.infer({"x": x})["y"], rtol=1e-5, atol=1e-5)
    finally:
        shared.close()
        private.close()
