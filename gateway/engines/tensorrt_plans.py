"""TensorRT plans as files: their stamp, optimisation profiles and buffer sizes; no libnvinfer.

A plan only runs on the TensorRT version and GPU architecture it was built for, so the
converter stamps ``model.plan.json`` beside it (``EngineMetadata``) and the engine refuses a
mismatch (``check_compatible``) with a message that says how to rebuild. The shape logic
(``ShapeRange``, ``default_range``, ``choose_profile``) is shared by the native engine, the
ONNX Runtime engine's TensorRT provider and the converters, and runs without TensorRT, so it
is tested everywhere.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from gatewise.protos.errors import EngineError
from gatewise.protos.tensors import NUMPY_TO_DATATYPE, TensorSpec

METADATA_SUFFIX = ".json"
"""``model.plan`` -> ``model.plan.json``."""

Shape = tuple[int, ...]


@dataclass(frozen=True)
class ShapeRange:
    """One input's min/opt/max shape within one optimisation profile."""

    min: Shape
    opt: Shape
    max: Shape


Profile = dict[str, ShapeRange]


@dataclass
class EngineMetadata:
    """What a plan was built with and for; written by the converter, checked at load."""

    tensorrt_version: str
    gpu_name: str
    compute_capability: str
    """``"major.minor"``, e.g. ``"9.0"`` for an H100."""
    precision: str
    strongly_typed: bool
    profiles: list[dict[str, dict[str, list[int]]]] = field(default_factory=list)
    source: str = ""
    """The ONNX file the plan was built from."""

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2) + "\n"

    def profile_ranges(self) -> list[Profile]:
        return [
            {name: ShapeRange(tuple(r["min"]), tuple(r["opt"]), tuple(r["max"])) for name, r in profile.items()}
            for profile in self.profiles
        ]


def metadata_path(plan: Path) -> Path:
    return plan.with_name(plan.name + METADATA_SUFFIX)


def profiles_as_json(profiles: list[Profile]) -> list[dict[str, dict[str, list[int]]]]:
    return [
        {name: {"min": list(r.min), "opt": list(r.opt), "max": list(r.max)} for name, r in profile.items()}
        for profile in profiles
    ]


def read_metadata(plan: Path) -> EngineMetadata:
    """The stamp beside ``plan``; EngineError if it is missing or unreadable."""
    path = metadata_path(plan)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return EngineMetadata(**raw)
    except FileNotFoundError:
        raise EngineError(
            f"{plan} has no {path.name}: without it the TensorRT version and GPU it was built for are unknown; "
            "rebuild it with `gatewise convert tensorrt`"
        ) from None
    except (OSError, ValueError, TypeError) as exc:
        raise EngineError(
            f"{path} is not a valid engine stamp ({exc}); rebuild the engine with `gatewise convert tensorrt`"
        ) from exc


def same_release(built: str, running: str) -> bool:
    """Plans are portable only within one TensorRT release: major.minor.patch must match."""
    return built.split(".")[:3] == running.split(".")[:3]


def check_compatible(
    meta: EngineMetadata, plan: Path, *, tensorrt_version: str, compute_capability: str, gpu_name: str
) -> None:
    """Raise EngineError when ``plan`` was built for another TensorRT release or GPU architecture."""
    problems = []
    if not same_release(meta.tensorrt_version, tensorrt_version):
        problems.append(f"TensorRT {meta.tensorrt_version} (this gateway runs {tensorrt_version})")
    if meta.compute_capability != compute_capability:
        problems.append(
            f"compute capability {meta.compute_capability} ({meta.gpu_name}); "
            f"this GPU is {compute_capability} ({gpu_name})"
        )
    if problems:
        raise EngineError(
            f"{plan} was built for {' and '.join(problems)}; rebuild it on this machine with "
            f"`gatewise convert tensorrt {meta.source or 'model.onnx'}`, or serve the ONNX version"
        )


def fits(shapes: dict[str, Shape], profile: Profile) -> bool:
    """Whether every input shape lies within the profile's min..max."""
    for name, shape in shapes.items():
        limits = profile.get(name)
        if limits is None:
            continue
        if len(shape) != len(limits.max):
            return False
        if any(not lo <= dim <= hi for dim, lo, hi in zip(shape, limits.min, limits.max, strict=True)):
            return False
    return True


def choose_profile(shapes: dict[str, Shape], profiles: list[Profile]) -> int:
    """The profile with the smallest max volume that fits ``shapes``; EngineError naming the limits if none does."""
    fitting = [
        (sum(math.prod(r.max) for r in profile.values()), index)
        for index, profile in enumerate(profiles)
        if fits(shapes, profile)
    ]
    if not fitting:
        limits = "; ".join(
            ", ".join(f"{name} {list(r.min)}..{list(r.max)}" for name, r in profile.items()) for profile in profiles
        )
        raise EngineError(
            f"input shapes { ({k: list(v) for k, v in shapes.items()}) } fit no optimisation profile ({limits})"
        )
    return min(fitting)[1]


def nbytes(shape: Shape, dtype: np.dtype) -> int:
    """Bytes for a tensor of ``shape``; -1 dims are not allowed here (size buffers at a profile's max)."""
    if any(dim < 0 for dim in shape):
        raise ValueError(f"shape {list(shape)} still has a dynamic dimension")
    return int(math.prod(shape)) * np.dtype(dtype).itemsize


def plan_buffers(shapes: dict[str, Shape], dtypes: dict[str, np.dtype]) -> dict[str, int]:
    """Bytes to allocate per tensor for one profile, given each tensor's largest shape in it."""
    return {name: max(nbytes(shape, dtypes[name]), 1) for name, shape in shapes.items()}


def spec_of(name: str, dtype: np.dtype, shape: Shape) -> TensorSpec:
    datatype = NUMPY_TO_DATATYPE.get(np.dtype(dtype))
    if datatype is None:
        raise EngineError(f"tensor {name!r} has type {np.dtype(dtype).name}, which the gateway cannot serve")
    return TensorSpec(name=name, datatype=datatype, shape=tuple(dim if dim > 0 else -1 for dim in shape))


def numpy_dtype(trt: Any, name: str, dtype: Any) -> np.dtype:
    """The numpy type of an engine tensor; EngineError for types numpy lacks (BF16, FP8, INT4, FP4).

    ``trt.nptype`` raises TypeError for those, which would surface as an unexplained crash
    at load instead of a model that fails with its tensor named.
    """
    try:
        return np.dtype(trt.nptype(dtype))
    except TypeError:
        raise EngineError(
            f"tensor {name!r} has TensorRT type {dtype}, which has no numpy equivalent; "
            "keep the engine's inputs and outputs FP32/FP16/INT32/INT64 (cast inside the graph)"
        ) from None


def default_range(
    shape: Shape, *, max_batch: int, max_length: int, opt_batch: int | None = None, opt_length: int | None = None
) -> ShapeRange:
    """Axis 0 is the batch (1..max_batch); other dynamic axes are sequence (1..max_length); fixed axes stay."""
    low, best, high = [], [], []
    for axis, dim in enumerate(shape):
        if dim > 0:
            low.append(dim), best.append(dim), high.append(dim)
        elif axis == 0:
            low.append(1), best.append(opt_batch or max(1, max_batch // 2)), high.append(max_batch)
        else:
            low.append(1), best.append(opt_length or max(1, max_length // 2)), high.append(max_length)
    return ShapeRange(tuple(low), tuple(best), tuple(high))
