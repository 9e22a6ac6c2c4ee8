"""The host's instruction set, and the INT8 settings it calls for.

ONNX Runtime's x86 INT8 kernels multiply unsigned 8-bit activations by signed 8-bit weights
(U8S8). Without VNNI, AVX2 and AVX-512 do it with ``vpmaddubsw``, which adds two products
into a signed 16-bit sum that saturates; weights quantised to 7 bits (``reduce_range``)
keep the sum in range. VNNI (``vpdpbusd``: AVX512_VNNI, or AVX_VNNI) accumulates in 32 bits
and needs no such cut. Per-channel weight scales help accuracy everywhere, and ORT's own
guidance pairs them with ``reduce_range`` on non-VNNI x86 (onnxruntime.ai, "Quantize ONNX
models": "When to use reduce-range and per-channel quantization?").

Static INT8's activations follow the same products: unsigned 8-bit (asymmetric) on x86, where
the Q/DQ graph then runs as ORT's U8S8 kernels, signed and symmetric elsewhere (Arm's ``sdot``
is S8S8) and for TensorRT, whose explicit quantisation takes only symmetric INT8. With S8S8
activations on x86, ORT fuses only part of the products into QLinearMatMul and runs the rest
as DequantizeLinear -> FP32 MatMul, losing most of INT8's speed (docs/benchmarks.md, "INT8").
"""

from __future__ import annotations

import platform
from collections.abc import Iterable
from dataclasses import asdict, dataclass

from gatewise.gateway.hostinfo import cpu_flags

__all__ = ["Int8Settings", "host_int8_settings", "instruction_set", "int8_settings"]

X86_MACHINES = ("x86_64", "amd64", "i386", "i686")


@dataclass(frozen=True)
class Int8Settings:
    """What the quantiser is told for this host, and why."""

    isa: str
    """The instruction set INT8 runs on: ``avx512-vnni``, ``avx-vnni``, ``avx512``, ``avx2``, ``arm64``, ``other``."""
    reduce_range: bool
    per_channel: bool
    reason: str
    activations: str = "int8"
    """Static INT8 activations: ``uint8`` (asymmetric, x86's U8S8 kernels) or ``int8`` (symmetric: Arm, TensorRT)."""

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def instruction_set(flags: Iterable[str], machine: str | None = None) -> str:
    """The widest INT8 path ``flags`` offer: VNNI first, then AVX-512, AVX2; ``arm64`` or ``other`` elsewhere."""
    found = set(flags)
    machine = (machine or platform.machine()).lower()
    if "avx512_vnni" in found or "amx_int8" in found:
        return "avx512-vnni"
    if "avx_vnni" in found:
        return "avx-vnni"
    if "avx512f" in found and "avx512bw" in found:
        return "avx512"
    if "avx2" in found:
        return "avx2"
    if machine in ("aarch64", "arm64"):
        return "arm64"
    return "other"


def int8_settings(flags: Iterable[str], machine: str | None = None) -> Int8Settings:
    """``reduce_range`` and ``per_channel`` for a host with ``flags`` (see the module docstring)."""
    isa = instruction_set(flags, machine)
    if isa in ("avx512", "avx2"):
        return Int8Settings(
            isa,
            reduce_range=True,
            per_channel=True,
            reason=f"{isa} without VNNI: U8S8 products saturate 16-bit sums, so weights use 7 bits (reduce_range), "
            "as ONNX Runtime advises with per-channel scales on non-VNNI x86; static activations uint8 (U8S8 kernels)",
            activations="uint8",
        )
    if isa in ("avx512-vnni", "avx-vnni"):
        reason = (
            f"{isa}: VNNI accumulates INT8 products in 32 bits, no saturation, so full 8-bit weights; "
            "static activations uint8 (VNNI multiplies unsigned by signed bytes)"
        )
        return Int8Settings(isa, reduce_range=False, per_channel=True, reason=reason, activations="uint8")
    reason = f"{isa}: not x86 AVX2/AVX-512, where the U8S8 saturation that reduce_range avoids happens"
    machine = (machine or platform.machine()).lower()
    if machine in X86_MACHINES:
        return Int8Settings(isa, False, True, f"{reason}; static activations uint8 (x86's U8S8 kernels)", "uint8")
    return Int8Settings(isa, False, True, f"{reason}; static activations int8 (symmetric, S8S8)", "int8")


def host_int8_settings() -> Int8Settings:
    """``int8_settings`` for the machine this runs on."""
    return int8_settings(cpu_flags())
