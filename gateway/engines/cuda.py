"""The CUDA runtime through cuda-bindings (no torch, no pycuda): device facts, streams, buffers, copies.

Every ``cuda.bindings.runtime`` call returns ``(error, value...)``; ``check`` turns a
non-zero error into an EngineError naming the call. This is the only module that imports
the bindings, so the TensorRT engine and ``build_engine`` share one way to reach the GPU,
and the GPU check can exercise it without TensorRT (``tests/gpu/test_cuda_path.py``).
"""

from __future__ import annotations

import ctypes
import importlib.util
import threading
from collections.abc import Callable
from typing import Any

import numpy as np
from gatewise.protos.errors import EngineError

INSTALL_HINT = (
    "pip install 'gatewise[tensorrt]' (CUDA 13: tensorrt-cu13 + cuda-bindings 13.x, driver >= 580) or "
    "'gatewise[tensorrt-cu12]' (CUDA 12: tensorrt-cu12 + cuda-bindings 12.x, driver >= 525)"
)


DRIVER_LIBRARIES = ("libcuda.so.1", "nvcuda.dll")
"""The CUDA driver, under its Linux or Windows name: no GPU provider starts without it."""
TENSORRT_LIBRARIES = ("libnvinfer.so.10", "libnvinfer.so", "nvinfer_10.dll")


def libraries_present(provider: str) -> bool:
    """Whether the libraries ONNX Runtime's ``provider`` needs load on this host (True for any CPU provider).

    Without them (no GPU driver; for TensorRT, no libnvinfer, which TensorRT's pip wheel keeps in
    ``tensorrt_libs``) the provider's failure is what the host implies, not a fault.
    """
    if provider == "CUDAExecutionProvider":
        return _any_loads(DRIVER_LIBRARIES)
    if provider == "TensorrtExecutionProvider":
        tensorrt = importlib.util.find_spec("tensorrt_libs") is not None or _any_loads(TENSORRT_LIBRARIES)
        return tensorrt and _any_loads(DRIVER_LIBRARIES)
    return True


def _any_loads(names: tuple[str, ...]) -> bool:
    for name in names:
        try:
            ctypes.CDLL(name)
        except OSError:
            continue
        return True
    return False


def cudart() -> Any:
    """``cuda.bindings.runtime``; EngineError with the install line where it is missing."""
    try:
        from cuda.bindings import runtime  # cuda-bindings >= 12.6; 13.x removed the old ``cuda.cudart``
    except ImportError as exc:
        raise EngineError(f"the TensorRT engine needs cuda-bindings: {INSTALL_HINT}") from exc
    return runtime


def check(result: Any, what: str) -> Any:
    """The value(s) of a runtime call; EngineError naming ``what`` and the CUDA error on failure."""
    error, *values = result if isinstance(result, tuple) else (result,)
    if int(error) != 0:
        name = getattr(error, "name", str(error))
        raise EngineError(f"CUDA {what} failed: {name} ({int(error)})")
    if not values:
        return None
    return values[0] if len(values) == 1 else values


def handle(obj: Any) -> int:
    """The integer address of a CUDA object (a stream), as TensorRT's Python API takes it.

    cuda-bindings 13 deprecates ``int(obj)`` for this in favour of ``get_cuda_native_handle``.
    """
    if isinstance(obj, int):
        return obj
    try:
        from cuda.bindings.utils import get_cuda_native_handle
    except ImportError:
        return int(obj)
    return int(get_cuda_native_handle(obj))


def device_count() -> int:
    """How many CUDA devices the runtime sees; EngineError saying why it cannot tell."""
    return int(check(cudart().cudaGetDeviceCount(), "cudaGetDeviceCount"))


def device_facts(device_id: int) -> tuple[str, str]:
    """``(gpu name, "major.minor")`` of ``device_id``."""
    props = check(cudart().cudaGetDeviceProperties(device_id), f"cudaGetDeviceProperties({device_id})")
    name = props.name.decode(errors="replace").rstrip("\x00") if isinstance(props.name, bytes) else str(props.name)
    return name, f"{props.major}.{props.minor}"


def set_device(device_id: int) -> None:
    check(cudart().cudaSetDevice(device_id), f"cudaSetDevice({device_id})")


_thread_device = threading.local()


def use_device(device_id: int, set_device: Callable[[int], Any] = set_device, *, force: bool = False) -> bool:
    """Make ``device_id`` the calling thread's current CUDA device; True if ``set_device`` was called.

    The CUDA runtime's current device is per thread (default 0), and batches run in the
    model's executor threads, not the thread that loaded the engine. So every thread that
    touches an engine calls this first; it calls ``set_device`` once per thread and device,
    or always with ``force`` (loading, where another library may have moved the device).
    """
    if not force and getattr(_thread_device, "device", None) == device_id:
        return False
    set_device(device_id)
    _thread_device.device = device_id
    return True


class Stream:
    """One CUDA stream and the copies a batch makes on it."""

    def __init__(self) -> None:
        self._rt = cudart()
        self.stream: Any = check(self._rt.cudaStreamCreate(), "cudaStreamCreate")
        self.handle = handle(self.stream)

    def to_device(self, address: int, array: np.ndarray, what: str) -> None:
        kind = self._rt.cudaMemcpyKind.cudaMemcpyHostToDevice
        check(
            self._rt.cudaMemcpyAsync(address, array.ctypes.data, array.nbytes, kind, self.stream),
            f"copy of {what} to the GPU",
        )

    def to_host(self, array: np.ndarray, address: int, what: str) -> None:
        kind = self._rt.cudaMemcpyKind.cudaMemcpyDeviceToHost
        check(
            self._rt.cudaMemcpyAsync(array.ctypes.data, address, array.nbytes, kind, self.stream),
            f"copy of {what} from the GPU",
        )

    def synchronize(self) -> None:
        check(self._rt.cudaStreamSynchronize(self.stream), "cudaStreamSynchronize")

    def destroy(self) -> None:
        if self.stream is not None:
            self._rt.cudaStreamDestroy(self.stream)
            self.stream = None


class Buffers:
    """Device memory by name, allocated once (at a profile's largest shapes) and freed together."""

    def __init__(self, sizes: dict[str, int]) -> None:
        self._rt = cudart()
        self.addresses: dict[str, int] = {}
        self.sizes = sizes
        try:
            for name, size in sizes.items():
                self.addresses[name] = int(check(self._rt.cudaMalloc(size), f"cudaMalloc({size}) for {name!r}"))
        except BaseException:
            self.free()
            raise

    def free(self) -> None:
        for address in self.addresses.values():
            self._rt.cudaFree(address)
        self.addresses.clear()
