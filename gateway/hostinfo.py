"""What this host's CPU is: its ``/proc/cpuinfo`` flags and name, read in one place.

The converters choose INT8 settings by the flags (``converters/isa.py``) and record the host
a model was validated on; the gateway names this host when a served version drifts
(``gateway/reference_check.py``). Both read them here, since converters may import the gateway.
"""

from __future__ import annotations

import platform
from pathlib import Path

CPUINFO = Path("/proc/cpuinfo")

NUMERIC_FLAGS = ("avx2", "fma", "f16c", "avx512f", "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_int8", "amx_bf16")
"""The instruction-set flags that change CPU kernels' numerics (ONNX Runtime picks kernels by them)."""


def _field(cpuinfo: Path, keys: tuple[str, ...]) -> str | None:
    """The value of the first line whose key is one of ``keys``; None where absent or unreadable."""
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in keys:
            return value
    return None


def cpu_flags(cpuinfo: Path = CPUINFO) -> set[str]:
    """The first CPU's flags (x86 ``flags``, Arm ``Features``); empty where the file cannot be read."""
    return set((_field(cpuinfo, ("flags", "Features")) or "").split())


def cpu_name(cpuinfo: Path = CPUINFO) -> str:
    """The CPU's model name as /proc/cpuinfo gives it, else what ``platform`` knows."""
    name = _field(cpuinfo, ("model name",))
    return name.strip() if name is not None else platform.processor() or platform.machine()


def host_description(cpuinfo: Path = CPUINFO) -> str:
    """This host's machine and the CPU flags that change kernels' numerics, e.g. ``x86_64 avx2 fma avx512f``."""
    flags = cpu_flags(cpuinfo)
    machine = platform.machine() or "unknown"
    return " ".join([machine, *(flag for flag in NUMERIC_FLAGS if flag in flags)])
