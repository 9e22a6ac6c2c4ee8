"""``export_transformer``: a Hugging Face checkpoint -> a validated, servable repository entry."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

from gatewise.converters.checkpoint import load_checkpoint
from gatewise.converters.entry import DEFAULT_BATCHING, entry_config, merge, staged_entry, write_config
from gatewise.converters.errors import ConversionError
from gatewise.converters.export import export_onnx
from gatewise.converters.graphs import task_module
from gatewise.converters.int8 import Int8Options, int8_step, int8_tolerance
from gatewise.converters.isa import host_int8_settings
from gatewise.converters.optimize import optimize_transformer, to_fp16
from gatewise.converters.pipeline import VALIDATION_FILE, Validator, fp16_providers, serving_batches
from gatewise.converters.progress import Steps
from gatewise.converters.quantize import DEFAULT_CALIBRATION_METHOD, check_int8_options
from gatewise.converters.reference_rows import write_reference
from gatewise.converters.runtime import run_torch
from gatewise.converters.samples import MIN_SAMPLES, Samples, check_texts, read_samples
from gatewise.converters.tasks import task_spec
from gatewise.converters.text import encode
from gatewise.plugins.text.encoding import DEFAULT_MAX_LENGTH

MODEL_FILE = "model.onnx"
EXAMPLE_TEXTS = ["A short example.", "A second, longer example sentence, so that the example batch holds padding."]
"""Two rows of different lengths: batch and sequence are both >= 2 and the mask has zeros."""


def export_transformer(
    checkpoint: Path,
    task: str,
    repository: Path,
    name: str,
    *,
    version: int = 1,
    opset: int = 17,
    max_length: int = DEFAULT_MAX_LENGTH,
    optimize: bool = False,
    fp16: bool = False,
    int8: bool | str = False,
    labels: list[str] | None = None,
    samples: list[str] | Samples | None = None,
    calibration: list[str] | Samples | None = None,
    calibration_method: str | None = None,
    int8_activations: str | None = None,
    accuracy_aware: bool = True,
    min_agreement: float | None = None,
    extra_config: dict[str, Any] | None = None,
    plugin: str | None = None,
    quiet: bool = False,
) -> Path:
    """Export, optionally optimise/convert, validate each step, and write ``repository/name``.

    ``samples`` are the validation texts: a list, a :class:`Samples` read from a file
    (``read_samples``), or None for the shipped generic sentences. They run in the given
    order, in batches of the entry's ``batching.max_batch_size``, each padded to its longest
    row, as the gateway will batch them.

    ``int8``: True or ``"dynamic"`` for dynamic INT8, ``"static"`` for a Q/DQ model whose
    activation scales are calibrated on ``calibration`` (texts, or a :class:`Samples` from
    ``read_samples``) with ``calibration_method`` (minmax, the default; entropy; percentile),
    tokenised and batched exactly as the validation rows are. When the INT8 model misses its
    tolerance, ``accuracy_aware`` keeps the groups of matrix products that cost the most
    agreement in FP32, one group at a time, up to half of them (``converters.accuracy_aware``).
    ``min_agreement`` replaces the INT8 step's deciding agreement (clear-margin rows, default 0.98).
    ``int8_activations`` (static): ``uint8`` or ``int8``; None chooses by this host (``converters.isa``);
    a model for TensorRT needs ``int8``. ``plugin`` is the plugin config.toml names (a domain's, or a
    third party's entry-point name); None names the task's built-in plugin (``text-classification`` ...).

    Returns the model folder. Raises a ConversionError subclass (DriftError past a
    tolerance) and then leaves the repository untouched.
    """
    spec = task_spec(task)
    int8_mode = check_int8_options(int8, calibration, calibration_method, int8_activations)
    if fp16 and int8_mode:
        raise ConversionError("choose --fp16 (for GPUs) or --int8 (for CPUs), not both: they target different devices")
    if min_agreement is not None and not int8_mode:
        raise ConversionError("--min-agreement sets the INT8 step's tolerance: add --int8. Nothing was written")
    tolerances = {"int8": int8_tolerance(min_agreement)}
    if max_length < 2:
        raise ConversionError(f"max_length must be at least 2, got {max_length}")
    if samples is None:
        samples = read_samples()
    elif not isinstance(samples, Samples):
        samples = Samples(list(samples), f"{len(samples)} texts given")
    check_texts(samples.texts)
    if calibration is not None and not isinstance(calibration, Samples):
        calibration = Samples(list(calibration), f"{len(calibration)} texts given")
    if calibration is not None:
        check_texts(calibration.texts)
    batch_size = merge({"batching": DEFAULT_BATCHING}, extra_config)["batching"].get("max_batch_size")
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ConversionError(f"batching.max_batch_size must be a whole number >= 1, got {batch_size!r}")
    total = 4 + optimize + fp16 + bool(int8_mode)
    with Steps(f"convert {name}", total, quiet=quiet) as steps, staged_entry(repository, name, version) as staging:
        with steps.step("loading checkpoint"):
            loaded = load_checkpoint(Path(checkpoint), spec, labels)
        if loaded.max_positions and max_length > loaded.max_positions:
            raise ConversionError(
                f"max_length {max_length} exceeds the {loaded.max_positions} positions this model has; "
                f"pass --max-length {loaded.max_positions} or less"
            )
        module = task_module(loaded.model, spec.name, loaded.input_names, loaded.pooling)
        model_path = staging.version_dir / MODEL_FILE
        work = staging.root.parent
        with steps.step(f"exporting to ONNX (opset {opset})"):
            example = encode(loaded.tokenizer, EXAMPLE_TEXTS, loaded.input_names, max_length)
            axes = {input_name: {0: "batch", 1: "sequence"} for input_name in loaded.input_names}
            export_onnx(
                module, example, work / "exported.onnx", output_names=[spec.output], dynamic_axes=axes, opset=opset
            )
        inputs = encode(loaded.tokenizer, samples.texts, loaded.input_names, max_length)
        validator = Validator(
            inputs,
            {spec.output: spec.kind},
            steps,
            valid=inputs["attention_mask"] if spec.token_level else None,
            batch_size=batch_size,
            samples=samples.source,
            generic_samples=samples.generic,
            tolerances=tolerances,
        )
        steps.note(validator.describe())
        if len(samples.texts) < MIN_SAMPLES:
            steps.note(
                f"only {len(samples.texts)} rows: one flipped row moves agreement by {1 / len(samples.texts):.1%}"
            )
        with steps.step("validating ONNX against PyTorch"):
            validator.baseline(validator.run(lambda batch: run_torch(module, batch, [spec.output])))
            validator.validate("pytorch -> onnx", work / "exported.onnx", "fp32")
        current, stage = work / "exported.onnx", "onnx"
        if optimize:
            with steps.step("fusing (onnxruntime transformer optimizer)"):
                fused = optimize_transformer(
                    current,
                    work / "optimized.onnx",
                    model_type=loaded.model_type,
                    num_heads=loaded.num_heads,
                    hidden_size=loaded.hidden_size,
                )
                steps.note(f"fused operators: {', '.join(fused) or 'none'}")
                validator.validate("onnx -> optimized", work / "optimized.onnx", "optimized")
            current, stage = work / "optimized.onnx", "optimized"
        if fp16:
            with steps.step("converting to FP16"):
                to_fp16(current, work / "fp16.onnx")
                validator.validate(f"{stage} -> fp16", work / "fp16.onnx", "fp16", fp16_providers())
            current, stage = work / "fp16.onnx", "fp16"
        int8_parameters: dict[str, Any] = {}
        if int8_mode:
            options = Int8Options(int8_mode, accuracy_aware=accuracy_aware)
            if int8_activations is not None:
                options.settings = replace(host_int8_settings(), activations=int8_activations)
            if int8_mode == "static":
                assert calibration is not None  # check_int8_options refused static without it
                options.method = calibration_method or DEFAULT_CALIBRATION_METHOD
                tokens = encode(loaded.tokenizer, calibration.texts, loaded.input_names, max_length)
                options.calibration = serving_batches(tokens, batch_size)
                options.calibration_source = calibration.source
                steps.note(
                    f"static INT8: {options.method} calibration on {calibration.source}, in "
                    f"{len(options.calibration)} batch(es) of up to {batch_size} as served, each padded to its "
                    "longest row"
                )
            kind = f"static QDQ, {options.method} calibration" if int8_mode == "static" else "dynamic"
            with steps.step(f"quantising to INT8 ({kind})"):
                current, int8_parameters = int8_step(options, current, stage, work, validator, steps)
        with steps.step("writing the repository entry"):
            shutil.move(current, model_path)
            loaded.tokenizer.save(str(staging.assets / "tokenizer.json"))
            validator.save(staging.version_dir / VALIDATION_FILE)
            parameters: dict[str, Any] = {"max_length": max_length}
            if loaded.pooling:
                parameters.update(pooling=loaded.pooling, normalize=True, pooled_in_graph=True)
            precision = "fp16" if fp16 else "int8" if int8_mode else "fp32"
            parameters.update(int8_parameters)
            # ORT's dynamic INT8 ops are CPU kernels, and its CUDA EP runs few Q/DQ ops: GPU providers would only
            # log fallbacks. A static Q/DQ model goes to GPUs through `convert tensorrt`.
            runtime = {"onnxruntime": {"providers": ["cpu"]}} if int8_mode else {}
            config = entry_config(
                name,
                model_path,
                extra=merge(runtime, extra_config),
                plugin=plugin or spec.plugin,
                task=spec.name,
                labels=loaded.labels,
                parameters={**parameters, "precision": precision, "source": str(Path(checkpoint).resolve())},
            )
            write_config(staging.root / "config.toml", config)
            write_reference(
                staging.version_dir,
                validator,
                lambda batch: run_torch(module, batch, [spec.output]),
                model_path,
                "optimized" if optimize and precision == "fp32" else precision,
                providers=fp16_providers() if fp16 else None,
            )
    return Path(repository) / name
