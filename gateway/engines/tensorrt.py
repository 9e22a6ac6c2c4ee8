"""Native TensorRT engine (``model.plan``) and the pure logic around it.

A plan only runs on the TensorRT version and GPU architecture it was built for, so the
converter stamps ``model.plan.json`` beside it and this engine refuses a mismatch with a
message that says how to rebuild, instead of a deserialisation error or wrong results.
A version's plan is deserialised once (``TensorRTPlan``) and shared by all its instances;
each instance (``TensorRTEngine``) owns one execution context and one CUDA stream; device
buffers are allocated once per instance and optimisation profile, at that profile's largest
shapes, and reused by every batch; tensors are bound by name. Every thread that runs an
instance first makes the configured GPU its current device (``use_device``).

``tensorrt`` and ``cuda-bindings`` (through ``gateway.engines.cuda``) are imported only when
an engine is opened, so the metadata, profile and buffer helpers here work (and are tested)
without libnvinfer.
"""

from __future__ import annotations

import json
import logging
import math
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from gatewise.gateway.config import TensorRTConfig
from gatewise.gateway.engines import cuda
from gatewise.gateway.engines.base import Tensors
from gatewise.protos.errors import EngineError
from gatewise.protos.tensors import NUMPY_TO_DATATYPE, TensorSpec

log = logging.getLogger("gatewise.engines.tensorrt")

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


class TensorRTPlan:
    """One deserialised plan, shared by every instance of a model version.

    Deserialising builds the engine's weights on the GPU, so it happens once per version;
    ``instance()`` then gives each engine instance its own execution context, CUDA stream
    and buffers. The plan counts its holders (the opener and each instance) and frees the
    engine when the last one releases it.
    """

    def __init__(self, path: Path, config: TensorRTConfig) -> None:
        if not path.is_file():
            raise EngineError(f"no TensorRT engine at {path}")
        meta = read_metadata(path)
        try:
            import tensorrt as trt
        except ImportError as exc:
            raise EngineError(
                f"{path}: TensorRT is not installed here; {cuda.INSTALL_HINT} (TensorRT's libraries come from "
                "NVIDIA's index, pypi.nvidia.com), or serve the model's ONNX version "
                "(a version folder holding model.onnx)"
            ) from exc
        self.trt = trt
        self.path = path
        self.config = config
        self.device_id = config.device_id
        self.use_device(force=True)
        gpu_name, capability = cuda.device_facts(config.device_id)
        check_compatible(meta, path, tensorrt_version=trt.__version__, compute_capability=capability, gpu_name=gpu_name)
        self.meta, self.gpu = meta, gpu_name
        self._logger = trt.Logger(trt.Logger.WARNING)
        self._runtime = trt.Runtime(self._logger)
        self.engine = self._runtime.deserialize_cuda_engine(path.read_bytes())
        if self.engine is None:
            raise EngineError(f"TensorRT could not deserialise {path}; rebuild it with `gatewise convert tensorrt`")
        engine = self.engine
        names = [engine.get_tensor_name(index) for index in range(engine.num_io_tensors)]
        is_input = {name: engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT for name in names}
        self.dtypes = {name: numpy_dtype(trt, name, engine.get_tensor_dtype(name)) for name in names}
        self.input_names = [name for name in names if is_input[name]]
        self.output_names = [name for name in names if not is_input[name]]
        self.profiles = [
            {name: ShapeRange(*(tuple(shape) for shape in engine.get_tensor_profile_shape(name, index)))
             for name in self.input_names}
            for index in range(engine.num_optimization_profiles)
        ]  # fmt: skip
        self.inputs = tuple(spec_of(n, self.dtypes[n], tuple(engine.get_tensor_shape(n))) for n in self.input_names)
        self.outputs = tuple(spec_of(n, self.dtypes[n], tuple(engine.get_tensor_shape(n))) for n in self.output_names)
        self._holders = 1
        self._holders_lock = threading.Lock()
        log.info(
            "%s: TensorRT %s on %s (%s), %d profile(s)", path, trt.__version__, gpu_name, capability, len(self.profiles)
        )

    def use_device(self, *, force: bool = False) -> None:
        cuda.use_device(self.device_id, force=force)

    def instance(self) -> TensorRTEngine:
        """A new engine instance (context, stream, buffers) on this plan."""
        return TensorRTEngine(self.path, self.config, plan=self)

    def acquire(self) -> None:
        with self._holders_lock:
            if self._holders == 0:
                raise EngineError(f"{self.path}: the TensorRT engine was already released")
            self._holders += 1

    def release(self) -> None:
        """Drop one holder; the last one frees the deserialised engine."""
        with self._holders_lock:
            self._holders -= 1
            last = self._holders == 0
        if last:
            self.engine = None
            self._runtime = None


class TensorRTEngine:
    """One engine instance: an execution context, a CUDA stream and per-profile buffers on a shared plan.

    ``TensorRTEngine(path, config)`` deserialises a plan of its own (one instance);
    ``create_engines`` opens one ``TensorRTPlan`` per version and calls ``plan.instance()``
    for each of the model's instances.
    """

    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]

    def __init__(self, path: Path, config: TensorRTConfig, *, plan: TensorRTPlan | None = None) -> None:
        if plan is None:
            plan = TensorRTPlan(path, config)  # its first holder is this instance
        else:
            plan.acquire()
        self._plan: TensorRTPlan | None = plan
        self._trt, self._path = plan.trt, plan.path
        self._dtypes, self._profiles = plan.dtypes, plan.profiles
        self._input_names, self._output_names = plan.input_names, plan.output_names
        self.inputs, self.outputs = plan.inputs, plan.outputs
        self._facts = {
            "engine": "tensorrt",
            "device": "gpu",
            "tensorrt_version": plan.trt.__version__,
            "gpu": plan.gpu,
            "device_id": str(plan.device_id),
            "compute_capability": plan.meta.compute_capability,
            "precision": plan.meta.precision,
            "profiles": str(len(plan.profiles)),
        }
        self._lock = threading.Lock()
        self._context: Any = None
        self._stream: cuda.Stream | None = None
        self._buffers: list[cuda.Buffers] = []
        self._active = -1
        try:
            plan.use_device(force=True)
            self._context = plan.engine.create_execution_context()
            if self._context is None:
                raise EngineError(f"TensorRT could not create an execution context for {path} (out of GPU memory?)")
            self._stream = cuda.Stream()
            for index in range(len(self._profiles)):
                self._buffers.append(self._allocate(index))
        except BaseException:
            self.close()
            raise

    def _activate(self, index: int) -> None:
        if index != self._active:
            self._context.set_optimization_profile_async(index, self._stream.handle)
            self._active = index

    def _allocate(self, index: int) -> cuda.Buffers:
        """Set the profile's max input shapes, read the output shapes they imply, allocate both once."""
        self._activate(index)
        shapes: dict[str, Shape] = {}
        for name, limits in self._profiles[index].items():
            self._context.set_input_shape(name, limits.max)
            shapes[name] = limits.max
        for name in self._output_names:
            shapes[name] = tuple(self._context.get_tensor_shape(name))
        return cuda.Buffers(plan_buffers(shapes, self._dtypes))

    @property
    def plan(self) -> TensorRTPlan | None:
        """The shared plan this instance runs (None once closed)."""
        return self._plan

    def describe(self) -> dict[str, str]:
        return dict(self._facts)

    def infer(self, inputs: Tensors) -> Tensors:
        missing = [name for name in self._input_names if name not in inputs]
        if missing:
            raise EngineError(f"{self._path}: inputs {missing} are missing")
        arrays = {name: np.ascontiguousarray(inputs[name], dtype=self._dtypes[name]) for name in self._input_names}
        shapes = {name: tuple(array.shape) for name, array in arrays.items()}
        with self._lock:
            plan, stream = self._plan, self._stream
            if plan is None or stream is None:
                raise EngineError(f"{self._path}: this TensorRT instance is closed")
            plan.use_device()  # this worker thread's device, set once per thread
            index = choose_profile(shapes, self._profiles)
            self._activate(index)
            buffers = self._buffers[index]
            for name, array in arrays.items():
                self._context.set_input_shape(name, shapes[name])
                stream.to_device(buffers.addresses[name], array, repr(name))
            results = {}
            for name in [*self._input_names, *self._output_names]:
                self._context.set_tensor_address(name, buffers.addresses[name])
            for name in self._output_names:
                results[name] = np.empty(tuple(self._context.get_tensor_shape(name)), dtype=self._dtypes[name])
            if not self._context.execute_async_v3(stream.handle):
                raise EngineError(f"TensorRT failed to run {self._path}")
            for name, array in results.items():
                stream.to_host(array, buffers.addresses[name], repr(name))
            stream.synchronize()
        return results

    def close(self) -> None:
        """Free this instance's buffers, stream and context, then drop its hold on the shared plan.

        Takes the instance lock, so a batch still running on a worker thread finishes before
        its buffers and stream are freed under it.
        """
        with self._lock:
            if self._plan is None:
                return
            try:
                self._plan.use_device(force=True)
            except EngineError:
                log.warning("%s: could not select GPU %d to release an instance", self._path, self._plan.device_id)
            for buffers in self._buffers:
                buffers.free()
            self._buffers = []
            if self._stream is not None:
                self._stream.destroy()
                self._stream = None
            self._context = None  # a context must go before its engine
            plan, self._plan = self._plan, None
        plan.release()
