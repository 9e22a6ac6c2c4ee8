"""Static INT8: a Q/DQ graph whose activation scales are calibrated once, on the user's texts.

Dynamic INT8 (``converters.optimize.quantize_int8``) computes each activation's scale from
the batch it is running, padding included, so a row's answer depends on its batch-mates.
Static INT8 fixes every scale at conversion time from calibration batches made exactly as
serving makes them (the entry's tokenizer and ``max_length``, ``max_batch_size`` rows per
batch, each padded to its longest row), so a row gives the same answer alone and in any
batch. The explicit QuantizeLinear/DequantizeLinear graph (QDQ) is also what TensorRT
needs for INT8 (docs/converters.md, "INT8: dynamic or static").
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from gatewise.converters.errors import ConversionError, ExportError
from gatewise.converters.optimize import quiet_quantizer

INT8_MODES = ("dynamic", "static")
CALIBRATION_METHODS = {"minmax": "MinMax", "entropy": "Entropy", "percentile": "Percentile"}
"""``--calibration-method`` names -> ``onnxruntime.quantization.CalibrationMethod`` members."""
DEFAULT_CALIBRATION_METHOD = "minmax"
ACTIVATION_TYPES = ("uint8", "int8")
"""Static INT8 activations: unsigned asymmetric (x86's U8S8 kernels) or signed symmetric (Arm, TensorRT)."""
QUANTIZED_OPS = ["MatMul", "Gemm"]
"""Only the matrix products: LayerNorm, Softmax, GELU and the residual adds stay FP32, where
BERT's outliers live; the products hold nearly all the compute."""


class ServingBatches:
    """A ``CalibrationDataReader`` over batches already cut as serving cuts them (``pipeline.serving_batches``).

    ``__len__`` and ``set_range`` let ``quantize_static`` calibrate one batch per pass
    (``CalibStridedMinMax=1``): its histogram calibrators cannot stack batches of different lengths.
    """

    def __init__(self, batches: list[dict[str, np.ndarray]]) -> None:
        self.batches = batches
        self.set_range(0, len(batches))

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._pending, None)

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self) -> Iterator[dict[str, np.ndarray]]:
        return iter(self.batches)

    def set_range(self, start_index: int, end_index: int) -> None:
        self._pending = iter(self.batches[start_index:end_index])


def check_int8_options(
    int8: bool | str, calibration: object, calibration_method: str | None, activations: str | None = None
) -> str | None:
    """The INT8 mode asked for (``dynamic``, ``static``, or None for none), refusing inconsistent options.

    ``int8=True`` means dynamic, as it always has. Raises ConversionError, before anything is
    written, for an unknown mode, method or activation type, static without calibration texts,
    and calibration or activation options without static INT8.
    """
    mode = "dynamic" if int8 is True else (int8 or None)
    if mode is not None and mode not in INT8_MODES:
        raise ConversionError(f"INT8 mode {mode!r} is not one of {', '.join(INT8_MODES)}")
    if calibration_method is not None and calibration_method not in CALIBRATION_METHODS:
        raise ConversionError(
            f"calibration method {calibration_method!r} is not one of {', '.join(CALIBRATION_METHODS)}"
        )
    if mode == "static" and calibration is None:
        raise ConversionError(
            "static INT8 fixes activation scales from your data: pass --calibration FILE (.txt, one text per line, "
            "or .jsonl with a 'text' field per line, at least 50 held-out texts like those you will serve); "
            "or use --int8 alone for dynamic INT8, which needs none. Nothing was written"
        )
    if mode != "static" and (calibration is not None or calibration_method is not None):
        raise ConversionError(
            "--calibration and --calibration-method are for static INT8: add --int8-mode static "
            "(dynamic INT8 computes its scales at run time and needs no calibration data). Nothing was written"
        )
    if activations is not None and mode != "static":
        raise ConversionError(
            "--int8-activations chooses static INT8's activation type: add --int8-mode static. Nothing was written"
        )
    if activations not in (None, *ACTIVATION_TYPES):
        raise ConversionError(f"--int8-activations must be uint8 or int8, got {activations!r}. Nothing was written")
    return mode


def quantize_static_int8(
    source: Path,
    destination: Path,
    batches: list[dict[str, np.ndarray]],
    method: str = DEFAULT_CALIBRATION_METHOD,
    *,
    reduce_range: bool = False,
    per_channel: bool = True,
    nodes_to_exclude: list[str] | None = None,
    calibration_cache: Path | None = None,
    activations: str = "int8",
) -> dict[str, Any]:
    """Calibrate ``source`` on ``batches`` with ``method`` and write a QDQ INT8 model; returns what was done.

    Per-channel symmetric INT8 weights. ``activations``: ``int8`` (symmetric, zero points 0:
    S8S8, the only INT8 TensorRT builds, and Arm's native product) or ``uint8`` (asymmetric:
    U8S8, what ONNX Runtime's x86 kernels run; ``converters.isa`` says why and how much).
    ``reduce_range`` (7-bit weights) for x86 hosts without VNNI (``converters.isa``);
    ``nodes_to_exclude`` stay FP32. ``calibration_cache`` (where ONNX Runtime has it, 1.32+)
    keeps the ranges of the first call, so accuracy-aware retries do not calibrate again.
    """
    if activations not in ACTIVATION_TYPES:
        raise ConversionError(f"INT8 activations must be int8 or uint8, got {activations!r}")
    import inspect

    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    cache = {}
    if calibration_cache is not None and "calibration_cache_path" in inspect.signature(quantize_static).parameters:
        cache = {"calibration_cache_path": str(calibration_cache)}
    try:
        with quiet_quantizer():
            quantize_static(
                str(source),
                str(destination),
                ServingBatches(batches),
                quant_format=QuantFormat.QDQ,
                op_types_to_quantize=QUANTIZED_OPS,
                per_channel=per_channel,
                reduce_range=reduce_range,
                activation_type=QuantType.QUInt8 if activations == "uint8" else QuantType.QInt8,
                weight_type=QuantType.QInt8,
                nodes_to_exclude=nodes_to_exclude or [],
                calibrate_method=getattr(CalibrationMethod, CALIBRATION_METHODS[method]),
                extra_options={
                    "ActivationSymmetric": activations != "uint8",
                    "WeightSymmetric": True,
                    "CalibStridedMinMax": 1,
                },
                **cache,
            )
    except Exception as exc:
        raise ExportError(f"INT8 static quantisation ({method} calibration)", f"{type(exc).__name__}: {exc}") from exc
    return {
        "mode": "static",
        "format": "QDQ",
        "calibration_method": method,
        "activations": "uint8 asymmetric, per tensor" if activations == "uint8" else "int8 symmetric, per tensor",
        "weights": f"int8{' (7-bit range)' if reduce_range else ''} symmetric, "
        f"per {'channel' if per_channel else 'tensor'}",
        "quantized_ops": QUANTIZED_OPS,
        "calibration_batches": [len(next(iter(batch.values()))) for batch in batches],
    }
