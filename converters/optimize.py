"""ONNX -> ONNX steps: transformer fusions, FP16 conversion, dynamic INT8 quantisation.

Each takes a source file and writes a destination file; the pipeline validates the
destination against the source before going on.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from converters.errors import ExportError

ORT_MODEL_TYPES = {"bert": "bert", "distilbert": "bert", "roberta": "bert", "xlm-roberta": "bert"}
"""onnxruntime's optimizer handles every BERT-family encoder with its ``bert`` fusions."""

FP32_OPS = [
    "LayerNormalization", "SkipLayerNormalization", "SimplifiedLayerNormalization", "EmbedLayerNormalization",
    "Softmax", "ReduceMean", "ReduceSum", "ReduceL2", "ReduceMax", "Pow", "Sqrt", "Reciprocal",
]  # fmt: skip
"""Kept in FP32 by the FP16 conversion: their sums of squares and exponentials overflow
FP16's 65504 (BERT's LayerNorm variance does on long rows)."""


def optimize_transformer(source: Path, destination: Path, *, model_type: str, num_heads: int, hidden_size: int) -> list[str]:
    """Fuse attention, LayerNorm and GELU subgraphs; returns the fused operator types found."""
    import onnx
    from onnxruntime.transformers import optimizer

    try:
        graph = scale_as_div(split_mask_unsqueeze(onnx.load(str(source))))
        with warnings.catch_warnings():
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
    except Exception as exc:  # noqa: BLE001 - the optimizer raises assorted errors
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
    except Exception as exc:  # noqa: BLE001
        raise ExportError("FP16 conversion", f"{type(exc).__name__}: {exc}") from exc


def quantize_int8(source: Path, destination: Path) -> None:
    """Dynamic INT8 quantisation of MatMul/Gemm/Attention weights, for the CPU."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level = root.level
    try:
        # quantize_dynamic logs a pre-processing hint on the root logger at every call.
        root.setLevel(logging.ERROR)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # Per-channel weight scales roughly halve the logit error of per-tensor ones on BERT.
            quantize_dynamic(str(source), str(destination), weight_type=QuantType.QInt8, per_channel=True)
    except Exception as exc:  # noqa: BLE001
        raise ExportError("INT8 dynamic quantisation", f"{type(exc).__name__}: {exc}") from exc
    finally:
        root.setLevel(level)



def split_mask_unsqueeze(model: Any) -> Any:
    """Rewrite the mask's ``Unsqueeze(axes=[1, 2])`` as two Unsqueeze ops, in place.

    The exporter merges ``mask.unsqueeze(1).unsqueeze(2)`` into one op, but onnxruntime's
    attention fusion only recognises the two-op form of the BERT mask; without the fusion
    attention runs as a dozen separate ops.
    """
    import onnx
    from onnx import numpy_helper

    graph = model.graph
    constants = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            constants[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    for node in list(graph.node):
        if node.op_type != "Unsqueeze" or node.input[0] != "attention_mask" or len(node.input) < 2:
            continue
        axes = constants.get(node.input[1])
        if axes is None or sorted(int(axis) for axis in axes.reshape(-1)) != [1, 2]:
            continue
        first_axis, second_axis = f"{node.name or node.output[0]}_axis1", f"{node.name or node.output[0]}_axis2"
        graph.initializer.extend([numpy_helper.from_array(np.array([1], dtype=np.int64), first_axis),
                                  numpy_helper.from_array(np.array([2], dtype=np.int64), second_axis)])
        middle = f"{node.output[0]}_half"
        position = list(graph.node).index(node)
        graph.node.remove(node)
        graph.node.insert(position, onnx.helper.make_node("Unsqueeze", [middle, second_axis], [node.output[0]]))
        graph.node.insert(position, onnx.helper.make_node("Unsqueeze", ["attention_mask", first_axis], [middle]))
    return model


def scale_as_div(model: Any) -> Any:
    """Rewrite the attention scaling ``MatMul -> Mul(c) -> Add(mask)`` as ``Div(1/c)``, in place.

    transformers 5 scales scores with a Mul, and so does the mask: the fusion then picks
    the wrong Mul parent of the Add and gives up. A Div by the reciprocal is the classic
    BERT form, equal up to one rounding.
    """
    from onnx import numpy_helper

    graph = model.graph
    produced = {output: node for node in graph.node for output in node.output}
    consumers: dict[str, list[Any]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    constants = {init.name: init for init in graph.initializer}
    for node in graph.node:
        if node.op_type != "Mul" or len(node.input) != 2 or node.input[1] not in constants:
            continue
        parent = produced.get(node.input[0])
        children = consumers.get(node.output[0], [])
        if parent is None or parent.op_type != "MatMul" or len(children) != 1 or children[0].op_type != "Add":
            continue
        if not any(child.op_type == "Softmax" for child in consumers.get(children[0].output[0], [])):
            continue
        scale = numpy_helper.to_array(constants[node.input[1]])
        if scale.size != 1 or float(scale.reshape(-1)[0]) == 0.0:
            continue
        name = f"{node.input[1]}_reciprocal"
        if name not in constants:
            reciprocal = numpy_helper.from_array((1.0 / scale).astype(scale.dtype), name)
            graph.initializer.append(reciprocal)
            constants[name] = reciprocal
        node.op_type = "Div"
        node.input[1] = name
    return model
