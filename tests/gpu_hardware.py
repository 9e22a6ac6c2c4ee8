"""Whether this machine has an NVIDIA GPU, judged from the driver, not from the CUDA runtime.

GPU tests skip only where no GPU is present. Where the driver shows one, a CUDA runtime that
cannot see it (bindings missing, a library mismatch, a driver too old) is a broken install,
and the tests fail saying so, instead of passing as skips inside ``scripts/gpu-check.sh``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

DRIVER_GPUS = Path("/proc/driver/nvidia/gpus")
"""One folder per GPU the NVIDIA kernel driver has bound (what ``nvidia-smi`` lists)."""


def gpus_present() -> list[str]:
    """The GPUs the NVIDIA driver shows (PCI addresses, or device nodes), empty where there is none."""
    if DRIVER_GPUS.is_dir():
        found = sorted(path.name for path in DRIVER_GPUS.iterdir())
        if found:
            return found
    return sorted(path.name for path in Path("/dev").glob("nvidia[0-9]*"))


def require_gpu() -> int:
    """The number of GPUs the CUDA runtime sees; skips where the driver shows none, fails where it cannot see them."""
    from gatewise.gateway.engines import cuda
    from gatewise.protos.errors import EngineError

    present = gpus_present()
    if not present:
        pytest.skip("no NVIDIA GPU on this machine")
    try:
        count = cuda.device_count()
    except EngineError as exc:
        pytest.fail(f"the NVIDIA driver shows {present} but the CUDA runtime fails: {exc}")
    if count == 0:
        pytest.fail(f"the NVIDIA driver shows {present} but the CUDA runtime sees no GPU")
    return count
