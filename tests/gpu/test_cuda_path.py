"""The TensorRT engine's CUDA path through cuda-bindings, without TensorRT: device facts, stream, buffers, copies.

Runs on any machine with a CUDA GPU and cuda-bindings (the GPU check's machine has both).
Skips only where no GPU is present; where one is, missing bindings or a CUDA error fail
(the ``gpu`` fixture, ``tests/gpu_hardware.py``).
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
from gatewise.gateway.engines import cuda
from gatewise.protos.errors import EngineError


@pytest.mark.gpu
def test_device_facts_name_the_gpu_and_its_capability(gpu: int) -> None:
    """What build_engine stamps: a non-empty name and a major.minor capability."""
    name, capability = cuda.device_facts(0)
    major, minor = capability.split(".")
    assert name and int(major) >= 5 and minor.isdigit()


@pytest.mark.gpu
def test_buffers_and_stream_round_trip_a_batch(gpu: int) -> None:
    """Host -> device -> host on one stream returns the same bytes, for each dtype the engine serves."""
    cuda.use_device(0, force=True)
    arrays = {
        "input_ids": np.arange(32 * 128, dtype=np.int64).reshape(32, 128),
        "logits": np.linspace(-1, 1, 32 * 3, dtype=np.float32).reshape(32, 3),
        "half": np.linspace(-1, 1, 64, dtype=np.float16),
    }
    buffers = cuda.Buffers({name: array.nbytes for name, array in arrays.items()})
    stream = cuda.Stream()
    try:
        assert isinstance(stream.handle, int) and stream.handle != 0
        back = {name: np.empty_like(array) for name, array in arrays.items()}
        for name, array in arrays.items():
            stream.to_device(buffers.addresses[name], array, name)
        for name, array in back.items():
            stream.to_host(array, buffers.addresses[name], name)
        stream.synchronize()
        for name, array in arrays.items():
            np.testing.assert_array_equal(back[name], array)
    finally:
        stream.destroy()
        buffers.free()
    assert buffers.addresses == {} and stream.stream is None


@pytest.mark.gpu
def test_streams_in_worker_threads_copy_independently(gpu: int) -> None:
    """Two worker threads, each with its own stream and buffer, as two engine instances run batches."""
    results: dict[int, np.ndarray] = {}

    def worker(index: int) -> None:
        cuda.use_device(0)
        data = np.full(1 << 20, index, dtype=np.float32)
        buffers, stream = cuda.Buffers({"x": data.nbytes}), cuda.Stream()
        try:
            out = np.empty_like(data)
            stream.to_device(buffers.addresses["x"], data, "x")
            stream.to_host(out, buffers.addresses["x"], "x")
            stream.synchronize()
            results[index] = out
        finally:
            stream.destroy()
            buffers.free()

    threads = [threading.Thread(target=worker, args=(index,)) for index in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [1, 2] and all((results[i] == i).all() for i in results)


@pytest.mark.gpu
def test_a_bad_device_is_an_engine_error_naming_the_call(gpu: int) -> None:
    with pytest.raises(EngineError, match=rf"CUDA cudaGetDeviceProperties\({gpu + 7}\) failed"):
        cuda.device_facts(gpu + 7)
