"""``export_module``: a plain ``torch.nn.Module`` (a tabular fraud model, say) -> a repository entry.

The module comes as an object, an import path ``"pkg.mod:factory"`` (called if callable),
or a file saved with ``torch.save(module, path)``. Inputs and outputs keep the names given.
"""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path
from typing import Any

import numpy as np
from gatewise.converters.entry import entry_config, staged_entry, write_config
from gatewise.converters.errors import ConversionError, ExampleInputError
from gatewise.converters.export import export_onnx
from gatewise.converters.pipeline import VALIDATION_FILE, Validator
from gatewise.converters.progress import Steps
from gatewise.converters.reference_rows import REFERENCE_ROWS, write_reference
from gatewise.converters.runtime import run_torch
from gatewise.converters.transformer import MODEL_FILE


def resolve_module(module: Any) -> Any:
    """The ``torch.nn.Module`` that ``module`` names (object, ``pkg.mod:factory`` or a saved file)."""
    import torch

    if isinstance(module, torch.nn.Module):
        return module
    if isinstance(module, Path) or (isinstance(module, str) and ":" not in module):
        path = Path(module)
        if not path.is_file():
            raise ConversionError(
                f"module file {path} does not exist; give a file saved with torch.save(module, path) "
                "or an import path like 'package.module:factory'"
            )
        try:
            loaded = torch.load(path, map_location="cpu", weights_only=False)
        except Exception as exc:
            raise ConversionError(f"cannot load module file {path}: {exc}") from exc
        if isinstance(loaded, dict):
            raise ConversionError(
                f"{path} holds a state dict, which has no architecture; save the module itself "
                "(torch.save(module, path)) or give an import path 'package.module:factory'"
            )
        module = loaded
    elif isinstance(module, str):
        module_name, _, attribute = module.partition(":")
        try:
            target = getattr(importlib.import_module(module_name), attribute)
        except (ImportError, AttributeError) as exc:
            raise ConversionError(
                f"cannot import {module!r}: {exc}; check the module path and that it is importable"
            ) from exc
        module = target() if callable(target) and not isinstance(target, torch.nn.Module) else target
    if not isinstance(module, torch.nn.Module):
        raise ConversionError(f"expected a torch.nn.Module, got {type(module).__name__}")
    return module


def _check_inputs(module: Any, example_inputs: dict[str, np.ndarray]) -> None:
    if not example_inputs:
        raise ExampleInputError("(none)", "give at least one named example input")
    parameters = inspect.signature(module.forward).parameters
    takes_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    unknown = [name for name in example_inputs if name not in parameters and not takes_kwargs]
    if unknown:
        raise ExampleInputError(
            unknown[0], f"is not an argument of {type(module).__name__}.forward({', '.join(parameters)})"
        )
    rows = {value.shape[0] for value in example_inputs.values() if isinstance(value, np.ndarray) and value.ndim}
    if len(rows) > 1:
        raise ExampleInputError(next(iter(example_inputs)), f"inputs disagree on the batch size: {sorted(rows)}")


def _resized(example: dict[str, np.ndarray], rows: int) -> dict[str, np.ndarray]:
    """The example rows repeated or cut to ``rows`` rows, to prove the batch axis is dynamic."""
    return {name: np.resize(value, (rows, *value.shape[1:])).astype(value.dtype) for name, value in example.items()}


def export_module(
    module: Any,
    example_inputs: dict[str, np.ndarray],
    repository: Path,
    name: str,
    *,
    output_names: list[str],
    version: int = 1,
    dynamic_batch: bool = True,
    extra_config: dict[str, Any] | None = None,
    plugin: str | None = None,
    opset: int = 17,
    quiet: bool = False,
) -> Path:
    """Export ``module`` to ``repository/name/<version>/model.onnx`` with config.toml; returns the model folder.

    Validated against PyTorch on the examples and, with ``dynamic_batch``, on batches of
    1 and of 3 more rows than the example, so a batch axis that was specialised is caught.
    """
    if not output_names:
        raise ConversionError("give output_names: one name per tensor the module returns")
    with Steps(f"convert {name}", 4, quiet=quiet) as steps, staged_entry(repository, name, version) as staging:
        with steps.step("loading module"):
            torch_module = resolve_module(module).eval()
            _check_inputs(torch_module, example_inputs)
        work = staging.root.parent
        with steps.step("exporting to ONNX"):
            axes = {input_name: {0: "batch"} for input_name in example_inputs} if dynamic_batch else {}
            export_onnx(
                torch_module,
                example_inputs,
                work / "exported.onnx",
                output_names=list(output_names),
                dynamic_axes=axes,
                opset=opset,
            )
        with steps.step("validating ONNX against PyTorch"):
            rows = len(next(iter(example_inputs.values())))
            for size in [rows, 1, rows + 3] if dynamic_batch else [rows]:
                inputs = _resized(example_inputs, size)
                reference = run_torch(torch_module, inputs, list(output_names))
                kinds = {
                    out: "labels" if value.ndim >= 2 and value.shape[-1] > 1 else "values"
                    for out, value in reference.items()
                }
                validator = Validator(inputs, kinds, steps)
                validator.baseline(reference)
                validator.validate(f"pytorch -> onnx (batch {size})", work / "exported.onnx", "fp32")
        with steps.step("writing the repository entry"):
            model_path = staging.version_dir / MODEL_FILE
            (work / "exported.onnx").replace(model_path)
            validator.save(staging.version_dir / VALIDATION_FILE)
            # A fixed batch axis takes exactly the example's rows; a dynamic one the most confident few.
            write_reference(
                staging.version_dir,
                validator,
                lambda batch: run_torch(torch_module, batch, list(output_names)),
                model_path,
                "fp32",
                rows=min(REFERENCE_ROWS, size) if dynamic_batch else size,
            )
            config = entry_config(
                name,
                model_path,
                extra=extra_config,
                plugin=plugin,
                parameters={"precision": "fp32", "source": _describe(module)},
            )
            if not dynamic_batch:
                config["batching"]["max_batch_size"] = rows
            write_config(staging.root / "config.toml", config)
    return Path(repository) / name


def _describe(module: Any) -> str:
    return module if isinstance(module, str) else str(module) if isinstance(module, Path) else type(module).__name__
