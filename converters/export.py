"""torch -> ONNX with named, really dynamic axes.

``torch.onnx.export(dynamo=True)``: with transformers 5 the TorchScript exporter traces
the attention-mask code through Python booleans and bakes in the example's mask handling
(outputs drift by ~1e-2 on padded rows), while the dynamo exporter matches PyTorch to ~1e-7.
Example sizes must be >= 2 so that no dynamic axis is specialised to 1.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from gatewise.converters.errors import ExampleInputError, ExportError

MIN_EXAMPLE_SIZE = 2
_PLACEHOLDER = "gatewise_output_"


def check_example(name: str, value: np.ndarray, dynamic_axes: dict[int, str]) -> None:
    """Refuse an example that would specialise a dynamic axis (size < 2) or is not an array."""
    if not isinstance(value, np.ndarray):
        raise ExampleInputError(name, f"must be a numpy array, got {type(value).__name__}")
    if value.dtype == object:
        raise ExampleInputError(name, "has dtype object; give a numeric array")
    for axis, label in dynamic_axes.items():
        if value.ndim <= axis:
            raise ExampleInputError(name, f"has {value.ndim} dimension(s), so axis {axis} ({label}) cannot be dynamic")
        if value.shape[axis] < MIN_EXAMPLE_SIZE:
            raise ExampleInputError(
                name,
                f"axis {axis} ({label}) has size {value.shape[axis]}; give at least {MIN_EXAMPLE_SIZE} so the "
                "exporter does not specialise it",
            )


def export_onnx(
    module: Any,
    example: dict[str, np.ndarray],
    path: Path,
    *,
    output_names: list[str],
    dynamic_axes: dict[str, dict[int, str]],
    opset: int,
) -> None:
    """Export ``module(**example)`` to ``path`` (one file, weights inside) at ``opset``."""
    import torch

    for name, value in example.items():
        check_example(name, value, dynamic_axes.get(name, {}))
    dims: dict[str, Any] = {}
    dynamic_shapes = {
        name: {
            axis: dims.setdefault(label, torch.export.Dim(label)) for axis, label in dynamic_axes.get(name, {}).items()
        }
        for name in example
    }
    kwargs = {name: torch.from_numpy(np.ascontiguousarray(value)) for name, value in example.items()}
    quiet = [logging.getLogger(name) for name in ("torch.onnx", "torch.export", "torch._dynamo", "onnxscript")]
    levels = [logger.level for logger in quiet]
    try:
        for logger in quiet:
            logger.setLevel(logging.ERROR)
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(
                module.eval(),
                (),
                kwargs=kwargs,
                input_names=list(example),
                # Placeholder names, renamed after: the exporter may already use a wanted name
                # (BERT's ``embeddings`` yields a value called ``embedding``) and then emits a
                # graph with the name defined twice.
                output_names=[f"{_PLACEHOLDER}{index}" for index in range(len(output_names))],
                opset_version=opset,
                dynamo=True,
                dynamic_shapes=dynamic_shapes,
                verbose=False,
            )
            program.save(str(path), external_data=False)
    except ExampleInputError:
        raise
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ExportError("torch.onnx.export", f"{type(exc).__name__}: {first}") from exc
    finally:
        for logger, level in zip(quiet, levels, strict=True):
            logger.setLevel(level)
    _rename_outputs(path, output_names)
    _check_names(path, list(example), output_names)


def _rename_outputs(path: Path, output_names: list[str]) -> None:
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    graph = model.graph
    mapping = {name: f"{name}__internal" for name in output_names}
    mapping.update({f"{_PLACEHOLDER}{index}": name for index, name in enumerate(output_names)})

    def renamed(name: str) -> str:
        return mapping.get(name, name)

    for node in graph.node:
        node.input[:] = [renamed(name) for name in node.input]
        node.output[:] = [renamed(name) for name in node.output]
    for value in [*graph.output, *graph.value_info, *graph.initializer]:
        value.name = renamed(value.name)
    onnx.save(model, str(path))


def _check_names(path: Path, inputs: list[str], outputs: list[str]) -> None:
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    found_in = [value.name for value in model.graph.input]
    found_out = [value.name for value in model.graph.output]
    if found_in != inputs or found_out != outputs:
        raise ExportError(
            "torch.onnx.export", f"graph has inputs {found_in} and outputs {found_out}; expected {inputs} and {outputs}"
        )
