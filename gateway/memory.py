"""Memory figures the residency manager needs: sizes people write, the process's PSS, free device memory.

Host memory is the proportional set size (``/proc/self/smaps_rollup``): a page shared by
N processes counts 1/N in each, so the workers' sum is what the host really holds, where RSS
would count shared weights once per worker.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from pydantic import ByteSize, TypeAdapter, ValidationError

log = logging.getLogger("gatewise.memory")

SMAPS_ROLLUP = Path("/proc/self/smaps_rollup")


def parse_size(text: str | int, what: str) -> int:
    """Bytes in ``text`` (``4GiB``, ``512MB``, ``1073741824``); ValueError naming ``what`` when it is not a size."""
    try:
        size = int(TypeAdapter(ByteSize).validate_python(text))
    except ValidationError as exc:
        raise ValueError(f"{what}: {text!r} is not a size (write it like 4GiB, 512MiB or 2000000000)") from exc
    if size <= 0:
        raise ValueError(f"{what}: {text!r} must be more than 0 bytes")
    return size


def human(size: int | float) -> str:
    """``123456789`` -> ``117.7 MiB``: sizes in messages and logs."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(value) < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def pss(path: Path = SMAPS_ROLLUP) -> int:
    """This process's proportional set size in bytes (0 where the kernel has no smaps_rollup)."""
    try:
        text = path.read_text()
    except OSError:
        return 0
    for line in text.splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) * 1024
    return 0


def device_free(device_id: int) -> int | None:
    """Free memory on CUDA device ``device_id`` in bytes; None where the CUDA runtime is not reachable."""
    try:
        from gatewise.gateway.engines import cuda

        runtime = cuda.cudart()
        cuda.set_device(device_id)
        free, _total = cuda.check(runtime.cudaMemGetInfo(), "cudaMemGetInfo")
    except Exception:  # noqa: BLE001 - no GPU, no bindings: device footprints are simply not measured
        return None
    return int(free)


@dataclass(frozen=True)
class Footprint:
    """What one loaded model version costs: host PSS and, on a GPU, device memory (bytes)."""

    host: int = 0
    device: int = 0
    device_id: int | None = None


def trim() -> None:
    """Give freed heap back to the system (glibc keeps it otherwise), so PSS falls after an eviction."""
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)


@cache
def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "malloc_trim") else None
