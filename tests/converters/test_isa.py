"""INT8 settings by instruction set: reduce_range only where U8S8 products saturate (x86 without VNNI)."""

from __future__ import annotations

from pathlib import Path

import pytest
from gatewise.converters.isa import instruction_set, int8_settings
from gatewise.gateway.hostinfo import cpu_flags, cpu_name

HASWELL = {"sse4_2", "avx", "avx2", "fma"}
SKYLAKE_X = HASWELL | {"avx512f", "avx512bw", "avx512vl", "avx512dq"}
CASCADE_LAKE = SKYLAKE_X | {"avx512_vnni"}
ALDER_LAKE = HASWELL | {"avx_vnni"}
SAPPHIRE_RAPIDS = CASCADE_LAKE | {"amx_int8", "amx_tile"}


@pytest.mark.parametrize(
    ("flags", "machine", "isa", "reduce_range"),
    [
        (HASWELL, "x86_64", "avx2", True),
        (SKYLAKE_X, "x86_64", "avx512", True),
        (CASCADE_LAKE, "x86_64", "avx512-vnni", False),
        (ALDER_LAKE, "x86_64", "avx-vnni", False),
        (SAPPHIRE_RAPIDS, "x86_64", "avx512-vnni", False),
        ({"fp", "asimd", "asimddp"}, "aarch64", "arm64", False),
        ({"sse2"}, "x86_64", "other", False),
        (set(), "x86_64", "other", False),
    ],
    ids=["avx2", "avx512-no-vnni", "avx512-vnni", "avx-vnni", "amx", "arm64", "sse-only", "unknown"],
)
def test_reduce_range_only_on_x86_without_vnni(flags: set[str], machine: str, isa: str, reduce_range: bool) -> None:
    settings = int8_settings(flags, machine)
    assert settings.isa == isa
    assert settings.reduce_range is reduce_range
    assert settings.per_channel is True
    assert isa in settings.reason
    assert ("saturate" in settings.reason) is reduce_range
    assert settings.activations == ("int8" if machine == "aarch64" else "uint8")  # U8S8 on x86, S8S8 on Arm


def test_vnni_wins_over_avx512_and_avx2_whatever_the_order() -> None:
    assert instruction_set(["avx512_vnni", "avx2", "avx512f", "avx512bw"], "x86_64") == "avx512-vnni"
    assert instruction_set(["avx512f"], "x86_64") == "other"  # AVX-512 without BW has no byte products


def test_flags_and_name_are_read_from_cpuinfo(tmp_path: Path) -> None:
    x86 = tmp_path / "x86"
    x86.write_text("processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu avx2 avx512f avx512bw avx512_vnni\n\n")
    assert cpu_flags(x86) == {"fpu", "avx2", "avx512f", "avx512bw", "avx512_vnni"}
    assert cpu_name(x86) == "AMD EPYC"
    arm = tmp_path / "arm"
    arm.write_text("processor\t: 0\nFeatures\t: fp asimd asimddp\n")
    assert cpu_flags(arm) == {"fp", "asimd", "asimddp"}
    assert cpu_flags(tmp_path / "missing") == set()
