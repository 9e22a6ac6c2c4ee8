"""Native TensorRT engine (``model.plan``): one shared plan per version, one context per instance.

A version's plan is deserialised once (``TensorRTPlan``) and shared by all its instances;
each instance (``TensorRTEngine``) owns one execution context and one CUDA stream; device
buffers are allocated once per instance and optimisation profile, at that profile's largest
shapes, and reused by every batch; tensors are bound by name. Every thread that runs an
instance first makes the configured GPU its current device (``use_device``). The plan's
stamp, profiles and buffer sizes are ``gateway.engines.tensorrt_plans``, which needs no
libnvinfer.

``tensorrt`` and ``cuda-bindings`` (through ``gateway.engines.cuda``) are imported only when
an engine is opened.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import numpy as np
from gatewise.gateway.config import ModelConfig, TensorRTConfig
from gatewise.gateway.engines import cuda
from gatewise.gateway.engines.base import Engine, Tensors, open_instances
from gatewise.gateway.engines.tensorrt_plans import (
    Shape,
    ShapeRange,
    check_compatible,
    choose_profile,
    numpy_dtype,
    plan_buffers,
    read_metadata,
    spec_of,
)
from gatewise.protos.errors import EngineError
from gatewise.protos.tensors import TensorSpec

log = logging.getLogger("gatewise.engines.tensorrt")


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


class TensorRTEngine(Engine):
    """One engine instance: an execution context, a CUDA stream and per-profile buffers on a shared plan.

    ``TensorRTEngine(path, config)`` deserialises a plan of its own (one instance);
    ``load`` opens one ``TensorRTPlan`` per version and calls ``plan.instance()`` for each of
    the model's instances.
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


def load(config: ModelConfig, version_dir: Path, count: int) -> list[Engine]:
    """The registered backend's ``load``: one deserialised plan, one context and stream per instance."""
    plan = TensorRTPlan(version_dir / "model.plan", config.tensorrt)
    try:
        return open_instances(plan.instance, count)
    finally:
        plan.release()  # the opener's own hold; the instances keep the plan alive
