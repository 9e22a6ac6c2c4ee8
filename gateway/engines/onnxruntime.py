"""ONNX Runtime engine: providers from config, falling back TensorRT EP -> CUDA EP -> CPU EP.

What was asked for and what runs are both logged and reported (``describe()`` ends up in
ModelConfig's parameters), so nobody mistakes a CPU fallback for a GPU deployment.
"""

from __future__ import annotations

import logging
from pathlib import Path

import onnxruntime as ort

from gateway.config import OnnxRuntimeConfig, TensorSpec
from gateway.engines.base import Tensors
from gateway.errors import EngineError

log = logging.getLogger("gatewise.engines.onnxruntime")

PROVIDER_NAMES = {
    "tensorrt": "TensorrtExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "cpu": "CPUExecutionProvider",
}
ONNX_TO_DATATYPE = {
    "tensor(bool)": "BOOL", "tensor(uint8)": "UINT8", "tensor(uint16)": "UINT16",
    "tensor(uint32)": "UINT32", "tensor(uint64)": "UINT64", "tensor(int8)": "INT8",
    "tensor(int16)": "INT16", "tensor(int32)": "INT32", "tensor(int64)": "INT64",
    "tensor(float16)": "FP16", "tensor(float)": "FP32", "tensor(double)": "FP64",
    "tensor(string)": "BYTES",
}  # fmt: skip


def choose_providers(wanted: tuple[str, ...], available: list[str]) -> tuple[list[str], list[str]]:
    """The providers to use, in order, and the wanted ones this machine lacks."""
    chosen = [PROVIDER_NAMES[name] for name in wanted if PROVIDER_NAMES[name] in available]
    missing = [PROVIDER_NAMES[name] for name in wanted if PROVIDER_NAMES[name] not in available]
    if PROVIDER_NAMES["cpu"] not in chosen:
        chosen.append(PROVIDER_NAMES["cpu"])
    return chosen, missing


def _provider_options(name: str, config: OnnxRuntimeConfig, path: Path) -> dict[str, str]:
    if name == "CUDAExecutionProvider":
        return {"device_id": str(config.device_id)}
    if name == "TensorrtExecutionProvider":
        cache = path.parent / "trt_cache"
        return {
            "device_id": str(config.device_id),
            "trt_engine_cache_enable": "True",
            "trt_engine_cache_path": str(cache),
            "trt_timing_cache_enable": "True",
            "trt_timing_cache_path": str(cache),
        }
    return {}


def _spec(node: ort.NodeArg) -> TensorSpec:
    shape = tuple(dim if isinstance(dim, int) and dim > 0 else -1 for dim in (node.shape or []))
    datatype = ONNX_TO_DATATYPE.get(node.type)
    if datatype is None:
        raise EngineError(f"tensor {node.name!r} has type {node.type}, which the gateway cannot serve")
    return TensorSpec(name=node.name, datatype=datatype, shape=shape)


class OnnxRuntimeEngine:
    """One InferenceSession; create one per instance so instances run in parallel."""

    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]

    def __init__(self, path: Path, config: OnnxRuntimeConfig) -> None:
        if not path.is_file():
            raise EngineError(f"no ONNX model at {path}")
        self._path = path
        chosen, _missing = choose_providers(config.providers, ort.get_available_providers())
        self._requested = [PROVIDER_NAMES[name] for name in config.providers]
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = config.intra_op_threads
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if config.spin_wait else "0")
        options.log_severity_level = 3
        try:
            self._session = ort.InferenceSession(
                str(path),
                sess_options=options,
                providers=[(name, _provider_options(name, config, path)) for name in chosen],
            )
        except Exception as exc:  # noqa: BLE001 - ORT raises its own untyped errors
            raise EngineError(f"ONNX Runtime could not load {path}: {exc}") from exc
        self._providers = self._session.get_providers()
        fell_back = [name for name in self._requested if name not in self._providers]
        if fell_back:
            log.warning("%s: running on %s (fell back from %s)", path, self._providers, fell_back)
        else:
            log.info("%s: running on %s", path, self._providers)
        self.inputs = tuple(_spec(node) for node in self._session.get_inputs())
        self.outputs = tuple(_spec(node) for node in self._session.get_outputs())
        self._output_names = [spec.name for spec in self.outputs]

    def describe(self) -> dict[str, str]:
        return {
            "engine": "onnxruntime",
            "onnxruntime_version": ort.__version__,
            "providers_requested": ",".join(self._requested),
            "providers": ",".join(self._providers),
            "fallback": "true" if self._providers[0] != self._requested[0] else "false",
        }

    def infer(self, inputs: Tensors) -> Tensors:
        try:
            results = self._session.run(self._output_names, inputs)
        except Exception as exc:  # noqa: BLE001 - ORT raises its own untyped errors
            raise EngineError(f"ONNX Runtime failed on {self._path.parent.parent.name}: {exc}") from exc
        return dict(zip(self._output_names, results, strict=True))

    def close(self) -> None:
        del self._session

