"""ONNX -> ONNX steps: transformer fusions, FP16 conversion, dynamic INT8 quantisation.

Each takes a source file and writes a destination file; the pipeline validates the
destination against the source before going on.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path

from gatewise.converters.errors import ExportError
from gatewise.converters.rewrites import scale_as_div, split_mask_unsqueeze

ORT_MODEL_TYPES = {"bert": "bert", "distilbert": "bert", "roberta": "bert", "xlm-roberta": "bert"}
"""onnxruntime's optimizer handles every BERT-family encoder with its ``bert`` fusions."""

FP32_OPS = [
    "LayerNormalization", "SkipLayerNormalization", "SimplifiedLayerNormalization", "EmbedLayerNormalization",
    "Softmax", "ReduceMean", "ReduceSum", "ReduceL2", "ReduceMax", "Pow", "Sqrt", "Reciprocal",
]  # fmt: skip
"""Kept in FP32 by the FP16 conversion: their sums of squares and exponentials overflow
FP16's 65504 (BERT's LayerNorm variance does on long rows)."""


def optimize_transformer(
    source: Path, destination: Path, *, model_type: str, num_heads: int, hidden_size: int
) -> list[str]:
    """Fuse attention, LayerNorm and GELU subgraphs; returns the fused operator types found."""
    import onnx
    from onnxruntime.transformers import optimizer

    try:
        graph = scale_as_div(split_mask_unsqueeze(onnx.load(str(source))))
        # The optimizer prints shape-inference chatter to stdout, which the CLI keeps for its result.
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            logging.getLogger("onnxruntime.transformers").setLevel(logging.ERROR)
            model = optimizer.optimize_model(
                graph,
                model_type=ORT_MODEL_TYPES.get(model_type, "bert"),
                num_heads=num_heads,
                hidden_size=hidden_size,
                opt_level=0,  # fusions only: provider-specific ORT rewrites would pin the file to one EP
                use_gpu=False,
            )
            model.save_model_to_file(str(destination))
    except Exception as exc:
        raise ExportError("onnxruntime transformer optimizer", f"{type(exc).__name__}: {exc}") from exc
    return sorted({node.op_type for node in model.model.graph.node if node.domain == "com.microsoft"})


def to_fp16(source: Path, destination: Path) -> None:
    """Convert weights and compute to FP16, keeping FP32 graph I/O and FP32_OPS."""
    import onnx
    from onnxruntime.transformers import float16

    try:
        model = onnx.load(str(source))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            converted = float16.convert_float_to_float16(
                model, keep_io_types=True, op_block_list=float16.DEFAULT_OP_BLOCK_LIST + FP32_OPS
            )
        onnx.save(converted, str(destination))
    except Exception as exc:
        raise ExportError("FP16 conversion", f"{type(exc).__name__}: {exc}") from exc


@contextlib.contextmanager
def quiet_quantizer() -> Iterator[None]:
    """Silence onnxruntime.quantization for one call: it logs a pre-processing hint on the root
    logger, warns and prints at every call, none of which the converter's user can act on."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        root.setLevel(level)


def quantize_int8(
    source: Path,
    destination: Path,
    *,
    reduce_range: bool = False,
    per_channel: bool = True,
    nodes_to_exclude: list[str] | None = None,
) -> None:
    """Dynamic INT8 quantisation of MatMul/Gemm/Attention weights, for the CPU.

    ``reduce_range`` (7-bit weights) for x86 hosts without VNNI (``converters.isa``);
    ``nodes_to_exclude`` stay FP32 (accuracy-aware INT8).
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    try:
        with quiet_quantizer():
            # Per-channel weight scales roughly halve the logit error of per-tensor ones on BERT.
            quantize_dynamic(
                str(source),
                str(destination),
                weight_type=QuantType.QInt8,
                per_channel=per_channel,
                reduce_range=reduce_range,
                nodes_to_exclude=nodes_to_exclude or [],
            )
    except Exception as exc:
        raise ExportError("INT8 dynamic quantisation", f"{type(exc).__name__}: {exc}") from exc
