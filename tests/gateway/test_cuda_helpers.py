"""The CUDA helpers' logic that needs no GPU: error checking, handles, and the message without cuda-bindings."""

from __future__ import annotations

import builtins
import enum

import pytest
from gatewise.gateway.engines import cuda
from gatewise.protos.errors import EngineError


class FakeError(enum.IntEnum):
    """Stands in for cuda-bindings' cudaError_t (an int enum in 12.x and 13.x)."""

    cudaSuccess = 0
    cudaErrorInvalidDevice = 101


def test_check_returns_the_value_or_names_the_call_and_error() -> None:
    assert cuda.check((FakeError.cudaSuccess, 3), "cudaGetDeviceCount") == 3
    assert cuda.check((FakeError.cudaSuccess,), "cudaFree") is None
    assert cuda.check((FakeError.cudaSuccess, 1, 2), "two") == [1, 2]
    with pytest.raises(EngineError, match=r"CUDA cudaSetDevice\(9\) failed: cudaErrorInvalidDevice \(101\)"):
        cuda.check((FakeError.cudaErrorInvalidDevice,), "cudaSetDevice(9)")


def test_without_cuda_bindings_the_error_says_which_extra_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_cuda(name: str, *args: object, **kwargs: object) -> object:
        if name.startswith("cuda"):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_cuda)
    with pytest.raises(
        EngineError, match=r"needs cuda-bindings: pip install 'gatewise\[tensorrt\]' \(CUDA 13.*driver >= 580"
    ):
        cuda.device_count()


def test_handle_passes_ints_through_and_converts_objects(monkeypatch: pytest.MonkeyPatch) -> None:
    class Stream:
        def __int__(self) -> int:
            return 4096

    assert cuda.handle(1234) == 1234
    real_import = builtins.__import__

    def no_utils(name: str, *args: object, **kwargs: object) -> object:
        if name == "cuda.bindings.utils":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_utils)
    assert cuda.handle(Stream()) == 4096
