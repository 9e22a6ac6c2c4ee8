"""ONNX -> TensorRT plan: optimisation profiles, precision, timing cache, and the stamp beside it.

Planning (shapes, precision, graph inspection) is plain Python and tested without TensorRT;
only ``build_engine`` imports ``tensorrt``. Precision: TensorRT 11 builds every network
strongly typed (the FP16/INT8 builder flags are gone), so reduced precision must already be
in the ONNX graph (``gatewise convert onnx --fp16``, or Q/DQ nodes for INT8/FP8). On
TensorRT 10 the same strongly typed build is used for such graphs, and an FP32 graph may
still ask for the FP16 builder flag. An FP32 build clears TF32, which TensorRT enables by
default and which can drift past the FP32 tolerance. Graphs fused by onnxruntime
(``--optimize``: ``com.microsoft`` Attention, SkipLayerNormalization, BiasGelu) are refused:
TensorRT's ONNX parser has no such ops, and TensorRT does its own fusions.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from gatewise.converters.errors import TensorRTError
from gatewise.gateway.engines.tensorrt_plans import (
    EngineMetadata,
    Profile,
    ShapeRange,
    default_range,
    metadata_path,
    profiles_as_json,
)
from gatewise.plugins.text.encoding import DEFAULT_MAX_LENGTH

PRECISIONS = ("graph", "fp32", "fp16", "int8")
"""``graph``: whatever the ONNX graph holds (strongly typed); the rest ask for one precision."""
DEFAULT_WORKSPACE_GB = 4.0


# --------------------------------------------------------------------------------------
# Profiles
# --------------------------------------------------------------------------------------


def parse_shapes(spec: str) -> dict[str, tuple[int, ...]]:
    """``"input_ids:1x16,attention_mask:1x16"`` (trtexec's form) -> ``{"input_ids": (1, 16), ...}``."""
    shapes: dict[str, tuple[int, ...]] = {}
    for part in filter(None, (piece.strip() for piece in spec.split(","))):
        name, colon, dims = part.rpartition(":")
        if not colon or not name:
            raise TensorRTError(f"shape {part!r} must look like NAME:DIMxDIM (for example input_ids:1x128)")
        try:
            shape = tuple(int(dim) for dim in dims.lower().split("x"))
        except ValueError:
            raise TensorRTError(f"shape {part!r}: dimensions must be integers separated by 'x'") from None
        if any(dim < 1 for dim in shape):
            raise TensorRTError(f"shape {part!r}: dimensions must be at least 1")
        shapes[name] = shape
    return shapes


def plan_profiles(
    inputs: dict[str, tuple[int, ...]],
    *,
    max_batch: int = 32,
    max_length: int = DEFAULT_MAX_LENGTH,
    opt_batch: int | None = None,
    opt_length: int | None = None,
    explicit: list[tuple[dict[str, tuple[int, ...]], dict[str, tuple[int, ...]], dict[str, tuple[int, ...]]]]
    | None = None,
) -> list[Profile]:
    """One profile per explicit (min, opt, max) triple, or one default profile; each covers every input.

    ``inputs`` maps each engine input to its ONNX shape (-1 where dynamic). Explicit shapes
    win for the inputs they name; the others get the default range, so no dynamic input is
    ever left without a profile.
    """
    if max_batch < 1 or max_length < 1:
        raise TensorRTError(f"max batch ({max_batch}) and max length ({max_length}) must be at least 1")
    defaults = {name: default_range(shape, max_batch=max_batch, max_length=max_length, opt_batch=opt_batch,
                                    opt_length=opt_length) for name, shape in inputs.items()}  # fmt: skip
    profiles = []
    for low, best, high in explicit or [({}, {}, {})]:
        named = set(low) | set(best) | set(high)
        unknown = sorted(named - set(inputs))
        if unknown:
            raise TensorRTError(f"shapes name {unknown}, which are not inputs of the model ({', '.join(inputs)})")
        partial = sorted(name for name in named if not (name in low and name in best and name in high))
        if partial:
            raise TensorRTError(f"inputs {partial} need all three of --min, --opt and --max")
        profile = {
            name: ShapeRange(low[name], best[name], high[name]) if name in named else defaults[name] for name in inputs
        }
        for name, limits in profile.items():
            check_range(name, inputs[name], limits)
        profiles.append(profile)
    return profiles


def check_range(name: str, onnx_shape: tuple[int, ...], limits: ShapeRange) -> None:
    """min <= opt <= max per axis, ranks equal to the graph's, fixed axes left at their size."""
    for label, shape in (("min", limits.min), ("opt", limits.opt), ("max", limits.max)):
        if len(shape) != len(onnx_shape):
            raise TensorRTError(
                f"{name}: {label} shape {list(shape)} has {len(shape)} dims; the model's input has {len(onnx_shape)}"
            )
        fixed = [
            (axis, dim, want)
            for axis, (dim, want) in enumerate(zip(shape, onnx_shape, strict=True))
            if want > 0 and dim != want
        ]
        if fixed:
            axis, dim, want = fixed[0]
            raise TensorRTError(f"{name}: {label} shape sets axis {axis} to {dim}, but the model fixes it at {want}")
    if not all(lo <= mid <= hi for lo, mid, hi in zip(limits.min, limits.opt, limits.max, strict=True)):
        raise TensorRTError(
            f"{name}: need min <= opt <= max on every axis, "
            f"got {list(limits.min)}, {list(limits.opt)}, {list(limits.max)}"
        )


# --------------------------------------------------------------------------------------
# Precision
# --------------------------------------------------------------------------------------


ORT_DOMAIN = "com.microsoft"


def check_parsable(onnx_path: Path) -> None:
    """Refuse a graph TensorRT cannot build before it sees it: onnxruntime's own ops (``--optimize``
    fusions, dynamic INT8) or unsigned Q/DQ activations (static INT8 made for x86)."""
    import onnx

    graph = onnx.load(str(onnx_path), load_external_data=False).graph
    ort_ops = sorted({node.op_type for node in graph.node if node.domain == ORT_DOMAIN})
    if ort_ops:
        raise TensorRTError(
            f"{onnx_path} holds onnxruntime-only ops ({', '.join(ort_ops)}), "
            "which TensorRT's ONNX parser cannot build; "
            "these come from `gatewise convert onnx --optimize`. Build from a version converted without --optimize "
            "(add --fp16 for an FP16 engine): TensorRT makes its own fusions"
        )
    # TensorRT's explicit quantisation takes only signed, symmetric INT8 (zero points 0).
    unsigned = {init.name for init in graph.initializer if init.data_type == onnx.TensorProto.UINT8}
    if any(node.op_type == "QuantizeLinear" and len(node.input) > 2 and node.input[2] in unsigned
           for node in graph.node):  # fmt: skip
        raise TensorRTError(
            f"{onnx_path} quantises activations to unsigned INT8 (asymmetric): what ONNX Runtime runs fastest on "
            "x86, but TensorRT cannot build it. Convert again with `--int8-mode static --int8-activations int8` "
            "for TensorRT"
        )


def graph_precision(onnx_path: Path) -> str:
    """What the graph computes in: ``int8-qdq``, ``int8-dynamic`` (ORT-only ops), ``fp16`` or ``fp32``."""
    import onnx

    graph = onnx.load(str(onnx_path), load_external_data=False).graph
    ops = {node.op_type for node in graph.node}
    if ops & {"DynamicQuantizeLinear", "MatMulInteger", "DynamicQuantizeMatMul", "QAttention"}:
        return "int8-dynamic"
    if "QuantizeLinear" in ops and "DequantizeLinear" in ops:
        return "int8-qdq"
    if any(init.data_type == onnx.TensorProto.FLOAT16 for init in graph.initializer):
        return "fp16"
    return "fp32"


@dataclass(frozen=True)
class PrecisionPlan:
    """How to build: strongly typed or not, and which TensorRT 10 builder flags to set."""

    precision: str
    strongly_typed: bool
    builder_flags: tuple[str, ...] = ()


def plan_precision(requested: str, graph: str, tensorrt_major: int) -> PrecisionPlan:
    """Reconcile the precision asked for with the graph's and what this TensorRT can do."""
    if requested not in PRECISIONS:
        raise TensorRTError(f"precision {requested!r} is not one of {', '.join(PRECISIONS)}")
    if graph == "int8-dynamic":
        raise TensorRTError(
            "the graph uses onnxruntime's dynamic INT8 ops, which TensorRT cannot build; convert the FP32 "
            "or FP16 model instead (INT8 for TensorRT needs Q/DQ nodes)"
        )
    effective = {"int8-qdq": "int8"}.get(graph, graph)
    if requested in ("graph", effective):
        return PrecisionPlan(effective, strongly_typed=True)
    if requested == "fp16" and graph == "fp32":
        if tensorrt_major >= 11:
            raise TensorRTError(
                "TensorRT 11 builds strongly typed: FP16 must be in the ONNX graph. Convert with "
                "`gatewise convert onnx ... --fp16` (FP32 inputs/outputs, LayerNorm/Softmax kept in FP32) "
                "and build that"
            )
        # TensorRT 10 weak typing: FP16 kernels where TensorRT judges them safe.
        return PrecisionPlan("fp16", strongly_typed=False, builder_flags=("FP16",))
    if requested == "int8":
        raise TensorRTError("INT8 needs Q/DQ nodes in the ONNX graph (explicit quantisation); this graph has none")
    raise TensorRTError(
        f"asked for {requested} but the graph is {effective}; build with --precision graph, or convert the graph first"
    )


def tensorrt_major(version: str) -> int:
    return int(version.split(".")[0])


# --------------------------------------------------------------------------------------
# Build (needs TensorRT and a GPU)
# --------------------------------------------------------------------------------------


def onnx_inputs(onnx_path: Path) -> dict[str, tuple[int, ...]]:
    """The graph's input shapes, -1 where dynamic."""
    from gatewise.converters.entry import engine_specs

    inputs, _ = engine_specs(onnx_path)
    return {spec["name"]: tuple(spec["shape"]) for spec in inputs}


def build_engine(
    onnx_path: Path,
    plan_path: Path,
    *,
    profiles: list[Profile],
    precision: str = "graph",
    timing_cache: Path | None = None,
    workspace_gb: float = DEFAULT_WORKSPACE_GB,
    device_id: int = 0,
    quiet: bool = False,
) -> EngineMetadata:
    """Build ``plan_path`` from ``onnx_path`` and stamp ``plan_path.json``; reuse and update ``timing_cache``.

    Builds on ``device_id`` (made current first) and stamps that GPU's name and capability.
    """
    try:
        import tensorrt as trt
    except ImportError as exc:
        raise TensorRTError(
            "TensorRT is not installed: `pip install 'gatewise[tensorrt]'` (CUDA 13, driver >= 580) or "
            "'gatewise[tensorrt-cu12]' (CUDA 12, driver >= 525) where NVIDIA's package index (pypi.nvidia.com) is "
            "reachable: the TensorRT packages on PyPI fetch their libraries from it at install time. "
            "Or serve the ONNX model"
        ) from exc
    from gatewise.gateway.engines import cuda

    plan = plan_precision(precision, graph_precision(onnx_path), tensorrt_major(trt.__version__))
    check_parsable(onnx_path)
    # The device's facts come first: a build that cannot stamp its plan must not write one.
    cuda.use_device(device_id, force=True)
    gpu_name, capability = cuda.device_facts(device_id)
    logger = trt.Logger(trt.Logger.ERROR if quiet else trt.Logger.WARNING)
    builder = trt.Builder(logger)
    flags = 0
    if plan.strongly_typed and hasattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED"):
        # Required on TensorRT 10 for graph precision; accepted and ignored on 11 (always strongly typed).
        flags |= 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(index)) for index in range(parser.num_errors))
        raise TensorRTError(f"TensorRT could not parse {onnx_path}: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_gb * (1 << 30)))
    for flag in plan.builder_flags:
        config.set_flag(getattr(trt.BuilderFlag, flag))
    if plan.precision == "fp32" and hasattr(trt.BuilderFlag, "TF32"):
        # TF32 is on by default and rounds FP32 GEMM inputs to 10-bit mantissas; an FP32
        # build is validated at 1e-3 against ONNX, so it computes in real FP32.
        config.clear_flag(trt.BuilderFlag.TF32)
    for profile in profiles:
        optimisation = builder.create_optimization_profile()
        for name, limits in profile.items():
            optimisation.set_shape(name, limits.min, limits.opt, limits.max)
        config.add_optimization_profile(optimisation)
    attach_timing_cache(
        config, timing_cache.read_bytes() if timing_cache is not None and timing_cache.is_file() else b""
    )
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise TensorRTError(f"TensorRT failed to build an engine from {onnx_path}; rerun without --quiet for its log")
    meta = EngineMetadata(
        tensorrt_version=trt.__version__,
        gpu_name=gpu_name,
        compute_capability=capability,
        precision=plan.precision,
        strongly_typed=plan.strongly_typed,
        profiles=profiles_as_json(profiles),
        source=str(onnx_path),
    )
    write_plan(plan_path, bytes(serialized), meta)
    if timing_cache is not None:
        timing_cache.parent.mkdir(parents=True, exist_ok=True)
        timing_cache.write_bytes(bytes(config.get_timing_cache().serialize()))
    return meta


def attach_timing_cache(config: object, cached: bytes) -> None:
    """Give the builder ``cached`` timings, or a fresh cache when they cannot be used.

    What ``create_timing_cache`` does with bytes from another TensorRT release is not
    documented (it may raise or return None), and ``set_timing_cache`` returns False for a
    cache from another GPU: every such case builds with an empty cache instead of failing.
    """
    cache = None
    if cached:
        try:
            cache = config.create_timing_cache(cached)  # type: ignore[attr-defined]
        except Exception:  # noqa: BLE001 - undocumented for foreign caches: treat as unusable
            cache = None
        if cache is not None and not config.set_timing_cache(cache, ignore_mismatch=False):  # type: ignore[attr-defined]
            cache = None
        if cache is not None:
            return
    config.set_timing_cache(config.create_timing_cache(b""), ignore_mismatch=False)  # type: ignore[attr-defined]


def write_plan(plan_path: Path, plan: bytes, meta: EngineMetadata) -> None:
    """Write the plan and its stamp so that no reader ever finds a plan without its stamp.

    Both go to temporary names first; the stamp is moved into place before the plan, so an
    interrupted write leaves at worst a stamp with no plan (which nothing serves).
    """
    plan_path.parent.mkdir(parents=True, exist_ok=True)
    stamp = metadata_path(plan_path)
    plan_tmp, stamp_tmp = plan_path.with_name(f".{plan_path.name}.tmp"), stamp.with_name(f".{stamp.name}.tmp")
    try:
        plan_tmp.write_bytes(plan)
        stamp_tmp.write_text(meta.to_json(), encoding="utf-8")
        os.replace(stamp_tmp, stamp)
        os.replace(plan_tmp, plan_path)
    finally:
        plan_tmp.unlink(missing_ok=True)
        stamp_tmp.unlink(missing_ok=True)


def trt_available() -> bool:
    """Whether ``import tensorrt`` works here (the libraries, not PyPI's stub)."""
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        return False
    return True
