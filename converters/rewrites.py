"""Graph rewrites that let onnxruntime's BERT fusions recognise what the exporter emits.

Both are exact (up to one rounding) and run only on the copy handed to the optimizer.
"""

from __future__ import annotations

from typing import Any

import numpy as np


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
        graph.initializer.extend(
            [
                numpy_helper.from_array(np.array([1], dtype=np.int64), first_axis),
                numpy_helper.from_array(np.array([2], dtype=np.int64), second_axis),
            ]
        )
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
