"""ONNX Runtime engine: providers from config, falling back TensorRT EP -> CUDA EP -> CPU EP.

What was asked for and what runs are both logged and reported (``describe()`` ends up in
ModelConfig's parameters), so nobody mistakes a CPU fallback for a GPU deployment. A fallback
is a warning only where the provider should have run (its libraries load on this host); on a
host without a GPU it is logged at INFO.

The fallback is the engine's own: onnxruntime's Python wrapper, when a session fails to
create, prints to stdout and retries with ``provider_options=None``, which drops
``device_id`` and the TensorRT cache options (a model meant for GPU 1 silently runs on GPU 0).
So sessions are created with ``enable_fallback=0`` and each failed provider is dropped,
logged and reported, keeping the options of the ones that remain.
"""

from __future__ import annotations

import logging
from importlib import metadata
from pathlib import Path

import numpy as np
from gatewise.gateway import weights
from gatewise.gateway.config import ModelConfig, OnnxRuntimeConfig
from gatewise.gateway.engines.base import Engine, Tensors, open_instances
from gatewise.gateway.engines.cuda import libraries_present
from gatewise.gateway.engines.tensorrt_plans import Profile, default_range
from gatewise.gateway.model_cache import model_cache_dir
from gatewise.plugins.text.encoding import DEFAULT_MAX_LENGTH
from gatewise.protos.errors import ONNXRUNTIME_MISSING, EngineError
from gatewise.protos.tensors import DATATYPE_TO_NUMPY, ONNX_TO_DATATYPE, TensorSpec

try:
    import onnxruntime as ort
except ModuleNotFoundError as exc:  # this module is imported only when a model needs it (engines/registry.py)
    raise EngineError(ONNXRUNTIME_MISSING) from exc

log = logging.getLogger("gatewise.engines.onnxruntime")

PROVIDER_NAMES = {
    "tensorrt": "TensorrtExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "cpu": "CPUExecutionProvider",
}


def choose_providers(wanted: tuple[str, ...], available: list[str]) -> tuple[list[str], list[str]]:
    """The providers to use, in order, and the wanted ones this machine lacks."""
    chosen = [PROVIDER_NAMES[name] for name in wanted if PROVIDER_NAMES[name] in available]
    missing = [PROVIDER_NAMES[name] for name in wanted if PROVIDER_NAMES[name] not in available]
    if PROVIDER_NAMES["cpu"] not in chosen:
        chosen.append(PROVIDER_NAMES["cpu"])
    return chosen, missing


def trt_cache_dir(path: Path) -> Path:
    """Where the TensorRT EP keeps engines and timings for the model at ``path`` (``model_cache``: outside the
    repository, keyed by the file)."""
    try:
        return model_cache_dir("trt-ep", path)
    except OSError as exc:
        raise EngineError(f"no writable folder for the TensorRT EP cache of {path}: {exc}") from exc


def shape_option(shapes: dict[str, tuple[int, ...]]) -> str:
    """``{"input_ids": (1, 8)}`` -> ``"input_ids:1x8"``, the TensorRT EP's profile syntax."""
    return ",".join(f"{name}:{'x'.join(str(dim) for dim in shape)}" for name, shape in shapes.items())


def trt_profile(inputs: dict[str, tuple[int, ...]], max_batch: int, max_length: int) -> Profile:
    """One profile over the dynamic inputs, from ``batching.max_batch_size`` and ``parameters.max_length``.

    Without explicit profiles the EP builds an engine for the first shapes it sees and
    rebuilds it whenever a longer padded batch arrives: seconds per rebuild, on live traffic.
    """
    return {name: default_range(shape, max_batch=max_batch, max_length=max_length)
            for name, shape in inputs.items() if any(dim < 0 for dim in shape)}  # fmt: skip


def _provider_options(name: str, config: OnnxRuntimeConfig, path: Path, profile: Profile) -> dict[str, str]:
    if name == "CUDAExecutionProvider":
        return {"device_id": str(config.device_id)}
    if name == "TensorrtExecutionProvider":
        cache = str(trt_cache_dir(path))
        options = {
            "device_id": str(config.device_id),
            "trt_engine_cache_enable": "True",
            "trt_engine_cache_path": cache,
            "trt_timing_cache_enable": "True",
            "trt_timing_cache_path": cache,
        }
        if profile:
            options["trt_profile_min_shapes"] = shape_option({n: r.min for n, r in profile.items()})
            options["trt_profile_opt_shapes"] = shape_option({n: r.opt for n, r in profile.items()})
            options["trt_profile_max_shapes"] = shape_option({n: r.max for n, r in profile.items()})
        return options
    return {}


def both_onnxruntimes() -> bool:
    """Whether ``onnxruntime`` and ``onnxruntime-gpu`` are both installed.

    They share one folder; the GPU EPs vanish.
    """
    names = set()
    for name in ("onnxruntime", "onnxruntime-gpu"):
        try:
            metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        names.add(name)
    return len(names) == 2


GPU_INSTALL = (
    "pip uninstall -y onnxruntime onnxruntime-gpu && pip install 'gatewise[gpu]' "
    "(both packages write the onnxruntime/ folder, so install only gatewise[gpu], not gatewise[cpu] beside it)"
)
_preloaded = False


def _preload_cuda() -> None:
    """Load CUDA/cuDNN from the nvidia-* wheels before a GPU session, once.

    onnxruntime-gpu finds pip-installed CUDA libraries only through ``preload_dlls()`` (or a
    torch imported first); without it the CUDA EP fails to load and the model would run on CPU.
    """
    global _preloaded
    if not _preloaded and hasattr(ort, "preload_dlls"):
        try:
            ort.preload_dlls()
        except Exception as exc:  # noqa: BLE001 - a missing library shows up as the EP's own failure below
            log.warning("onnxruntime.preload_dlls() failed: %s", exc)
    _preloaded = True


def _graph_inputs(path: Path) -> dict[str, tuple[int, ...]]:
    """The model's input shapes (-1 where dynamic), read by a CPU session before the GPU one is made."""
    probe = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return {spec.name: spec.shape for spec in map(_spec, probe.get_inputs())}


def _spec(node: ort.NodeArg) -> TensorSpec:
    shape = tuple(dim if isinstance(dim, int) and dim > 0 else -1 for dim in (node.shape or []))
    datatype = ONNX_TO_DATATYPE.get(node.type)
    if datatype is None:
        raise EngineError(f"tensor {node.name!r} has type {node.type}, which the gateway cannot serve")
    return TensorSpec(name=node.name, datatype=datatype, shape=shape)


class OnnxRuntimeEngine(Engine):
    """One InferenceSession; create one per instance so instances run in parallel.

    With ``share_weights`` the session reads its large initializers from ``gateway.weights``'
    memory-mapped file, so instances and worker processes share one copy (the repository
    resolves the setting's default before the engine sees it).
    """

    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]

    def __init__(
        self,
        path: Path,
        config: OnnxRuntimeConfig,
        *,
        max_batch: int = 32,
        max_length: int = DEFAULT_MAX_LENGTH,
        on_demand: bool = False,
    ) -> None:
        if not path.is_file():
            raise EngineError(f"no ONNX model at {path}")
        self._path = path
        available = ort.get_available_providers()
        chosen, missing = choose_providers(config.providers, available)
        self._requested = [PROVIDER_NAMES[name] for name in config.providers]
        gpu_wanted = [name for name in self._requested if name != "CPUExecutionProvider"]
        if missing and gpu_wanted and both_onnxruntimes():
            log.warning(
                "%s: onnxruntime and onnxruntime-gpu are both installed, so %s are missing; fix: %s",
                path,
                missing,
                GPU_INSTALL,
            )
        if any(name != "CPUExecutionProvider" for name in chosen):
            _preload_cuda()
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = config.intra_op_threads
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if config.spin_wait else "0")
        options.log_severity_level = 3
        options.enable_cpu_mem_arena = config.memory_arena if config.memory_arena is not None else not on_demand
        self._shared: dict[str, ort.OrtValue] = {}
        """The memory-mapped initializers; ONNX Runtime reads them for as long as the session lives."""
        self._model_file = path
        # The TensorRT EP builds from the ONNX graph itself; GPU EPs copy weights to the device anyway.
        if config.share_weights and "TensorrtExecutionProvider" not in chosen:
            self._model_file = self._share_weights(path, options)
        self._profile: Profile = {}
        if "TensorrtExecutionProvider" in chosen:
            self._profile = trt_profile(_graph_inputs(path), max_batch, max_length)
        self._failed: list[str] = []
        self._session = self._open(path, options, config, chosen)
        self._providers = self._session.get_providers()
        fell_back = [name for name in self._requested if name not in self._providers]
        if fell_back:
            # NOTE: on a host without a GPU's libraries, a config that lists GPU providers (the
            # converters' default) falls back as expected: INFO. A provider that should run warns.
            faults = [name for name in fell_back if libraries_present(name)]
            log.log(
                logging.WARNING if faults else logging.INFO,
                "%s: running on %s (fell back from %s%s)", path, self._providers, fell_back,
                f"; {faults} should work here: their libraries are present" if faults
                else "; this host has none of their libraries",
            )  # fmt: skip
        else:
            log.info("%s: running on %s", path, self._providers)
        self.inputs = tuple(_spec(node) for node in self._session.get_inputs())
        self.outputs = tuple(_spec(node) for node in self._session.get_outputs())
        self._output_names = [spec.name for spec in self.outputs]
        if "TensorrtExecutionProvider" in self._providers and self._profile:
            self._build_trt_engines()

    def _share_weights(self, path: Path, options: ort.SessionOptions) -> Path:
        """The graph to open: the shared one, its initializers added to ``options``; ``path`` if that fails."""
        try:
            shared = weights.prepare(path)
        except Exception as exc:  # noqa: BLE001 - sharing saves memory; the model still loads without it
            log.warning("%s: weights not shared (%s: %s); loading a private copy", path, type(exc).__name__, exc)
            return path
        # A prepacked weight is a private copy of a shared one: off, the shared pages are what runs.
        options.add_session_config_entry("session.disable_prepacking", "1")
        self._shared = {name: ort.OrtValue.ortvalue_from_numpy(array) for name, array in shared.initializers.items()}
        for name, value in self._shared.items():
            options.add_initializer(name, value)
        return shared.model

    def _open(
        self, path: Path, options: ort.SessionOptions, config: OnnxRuntimeConfig, chosen: list[str]
    ) -> ort.InferenceSession:
        """A session on the first of ``chosen`` that creates.

        Each failure is logged and the next tried, options kept.
        """
        remaining = list(chosen)
        while True:
            try:
                return ort.InferenceSession(
                    str(self._model_file),
                    sess_options=options,
                    providers=[(name, _provider_options(name, config, path, self._profile)) for name in remaining],
                    enable_fallback=0,
                )
            except Exception as exc:
                if len(remaining) == 1:
                    raise EngineError(f"ONNX Runtime could not load {path}: {exc}") from exc
                failed = remaining.pop(0)
                self._failed.append(failed)
                level = logging.WARNING if libraries_present(failed) else logging.INFO
                log.log(level, "%s: %s failed to start (%s); trying %s", path, failed, exc, remaining)

    def _build_trt_engines(self) -> None:
        """Run the profile's min, opt and max shapes once.

        So the EP builds its engine at load, not on a client's request.
        """
        for pick in ("min", "opt", "max"):
            feed = {}
            for node in self._session.get_inputs():
                limits = self._profile.get(node.name)
                shape = (
                    getattr(limits, pick)
                    if limits
                    else tuple(max(dim, 1) if isinstance(dim, int) else 1 for dim in node.shape)
                )
                feed[node.name] = np.zeros(shape, dtype=DATATYPE_TO_NUMPY.get(ONNX_TO_DATATYPE.get(node.type, "FP32")))
            if "attention_mask" in feed:
                feed["attention_mask"][...] = 1
            self.infer(feed)

    def describe(self) -> dict[str, str]:
        facts = {
            "engine": "onnxruntime",
            "onnxruntime_version": ort.__version__,
            "providers_requested": ",".join(self._requested),
            "providers": ",".join(self._providers),
            "fallback": "true" if self._providers[0] != self._requested[0] else "false",
            "device": "cpu" if self._providers[0] == "CPUExecutionProvider" else "gpu",
        }
        if self._failed:
            facts["providers_failed"] = ",".join(self._failed)
        if self._profile:
            facts["trt_profile_max_shapes"] = shape_option({n: r.max for n, r in self._profile.items()})
        return facts

    def infer(self, inputs: Tensors) -> Tensors:
        try:
            results = self._session.run(self._output_names, inputs)
        except Exception as exc:
            raise EngineError(f"ONNX Runtime failed on {self._path.parent.parent.name}: {exc}") from exc
        return dict(zip(self._output_names, results, strict=True))

    def close(self) -> None:
        del self._session
        self._shared = {}


def load(config: ModelConfig, version_dir: Path, count: int) -> list[Engine]:
    """The registered backend's ``load``: one session per instance of ``version_dir/model.onnx``."""
    max_length = int(config.parameters.get("max_length", DEFAULT_MAX_LENGTH))
    return open_instances(
        lambda: OnnxRuntimeEngine(
            version_dir / "model.onnx", config.onnxruntime, max_batch=config.batching.max_batch_size,
            max_length=max_length, on_demand=config.load == "on-demand",
        ),
        count,
    )  # fmt: skip
