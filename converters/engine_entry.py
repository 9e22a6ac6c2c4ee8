"""``export_tensorrt``: an ONNX model -> a TensorRT plan as a new version of a repository entry.

When the ONNX file sits in a repository entry (``NAME/<version>/model.onnx``), its
config.toml gives the profile limits (``batching.max_batch_size``, ``parameters.max_length``)
and its plugin, labels and assets carry over, so the new version serves with no edits.
The plan is validated against the ONNX model on the sample texts when the entry has a
tokenizer.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np
from gatewise.converters.entry import entry_config, merge, staged_entry, write_config
from gatewise.converters.errors import ConversionError
from gatewise.converters.pipeline import Validator
from gatewise.converters.progress import Steps
from gatewise.converters.reference_rows import REFERENCE_ROWS, build_reference
from gatewise.converters.runtime import run_onnx
from gatewise.converters.samples import load_samples
from gatewise.converters.tensorrt_build import build_engine, check_parsable, onnx_inputs, plan_profiles
from gatewise.converters.text import encode
from gatewise.gateway.engines.tensorrt_plans import Profile, fits
from gatewise.gateway.reference_check import REFERENCE_FILE, Reference
from gatewise.plugins.text.encoding import DEFAULT_MAX_LENGTH

PLAN_FILE = "model.plan"
DEFAULT_TIMING_CACHE = Path.home() / ".cache" / "gatewise" / "tensorrt-timing.cache"
Shapes = dict[str, tuple[int, ...]]


def source_entry(onnx_path: Path) -> Path | None:
    """The repository entry holding ``onnx_path``, if it is ``ENTRY/<version>/model.onnx``."""
    entry = onnx_path.resolve().parent.parent
    return entry if (entry / "config.toml").is_file() and onnx_path.parent.name.isdigit() else None


def next_version(target: Path) -> int:
    versions = [int(p.name) for p in target.iterdir() if p.is_dir() and p.name.isdigit()] if target.is_dir() else []
    return max(versions, default=0) + 1


def export_tensorrt(
    onnx_path: Path,
    *,
    repository: Path | None = None,
    name: str | None = None,
    version: int | None = None,
    output: Path | None = None,
    explicit: list[tuple[Shapes, Shapes, Shapes]] | None = None,
    max_batch: int | None = None,
    max_length: int | None = None,
    precision: str = "graph",
    timing_cache: Path | None = DEFAULT_TIMING_CACHE,
    samples: list[str] | None = None,
    quiet: bool = False,
) -> Path:
    """Build and validate the plan; returns the plan file (``output``) or the model folder."""
    onnx_path = Path(onnx_path)
    if not onnx_path.is_file():
        raise ConversionError(f"no ONNX model at {onnx_path}")
    if output is None and (repository is None or name is None):
        raise ConversionError("give --output PLAN, or --repository and --name for a repository entry")
    check_parsable(onnx_path)  # before TensorRT is needed, so the refusal is the same on every machine
    entry = source_entry(onnx_path)
    config: dict[str, Any] = {}
    if entry is not None:
        import tomllib

        config = tomllib.loads((entry / "config.toml").read_text(encoding="utf-8"))
    batch = max_batch or int(config.get("batching", {}).get("max_batch_size", 32))
    length = max_length or int(config.get("parameters", {}).get("max_length", DEFAULT_MAX_LENGTH))
    profiles = plan_profiles(onnx_inputs(onnx_path), max_batch=batch, max_length=length, explicit=explicit)
    with Steps("convert tensorrt", 2, quiet=quiet) as steps:
        if output is not None:
            with steps.step("building the TensorRT engine"):
                build_engine(
                    onnx_path,
                    Path(output),
                    profiles=profiles,
                    precision=precision,
                    timing_cache=timing_cache,
                    quiet=quiet,
                )
            with steps.step("validating against ONNX"):
                _validate(onnx_path, Path(output), entry, config, samples, steps)
            return Path(output)
        target = Path(repository) / name  # type: ignore[arg-type, operator]
        chosen = version or next_version(target)
        with staged_entry(Path(repository), name, chosen) as staging:  # type: ignore[arg-type]
            plan = staging.version_dir / PLAN_FILE
            with steps.step("building the TensorRT engine"):
                meta = build_engine(
                    onnx_path, plan, profiles=profiles, precision=precision, timing_cache=timing_cache, quiet=quiet
                )
            with steps.step("validating against ONNX"):
                reference = _validate(onnx_path, plan, entry, config, samples, steps, min(REFERENCE_ROWS, batch))
            if reference is not None:
                reference.save(staging.version_dir / REFERENCE_FILE)
            if entry is not None and (entry / "assets").is_dir():
                shutil.rmtree(staging.assets)
                shutil.copytree(entry / "assets", staging.assets)
            base = {key: value for key, value in config.items() if key not in ("name", "inputs", "outputs", "backend")}
            fields = merge(base, {"parameters": {"precision": meta.precision, "source": str(onnx_path.resolve())}})
            written = entry_config(name, onnx_path, backend="tensorrt", extra=fields)  # type: ignore[arg-type]
            write_config(staging.root / "config.toml", written)
        return target


def rows_per_batch(shapes: Shapes, profiles: list[Profile]) -> int:
    """The most rows one validation batch may hold: the largest batch, up to the sample count, that a profile accepts.

    The sample set is larger than the default profile's maximum batch (``max_batch_size``),
    so it runs through the engine in batches no bigger than this.
    """
    rows = next(iter(shapes.values()))[0]
    best = 0
    for profile in profiles:
        limit = min((ranges.max[0] for name, ranges in profile.items() if name in shapes), default=rows)
        size = min(rows, limit)
        if size >= 1 and fits({name: (size, *shape[1:]) for name, shape in shapes.items()}, profile):
            best = max(best, size)
    if best == 0:
        wanted = {name: [rows, *shape[1:]] for name, shape in shapes.items()}
        raise ConversionError(
            f"the validation samples ({wanted}) fit no optimisation profile of the engine; "
            "widen the profiles (--min/--opt/--max) or give shorter samples (--samples)"
        )
    return best


def batch_slices(total: int, most: int) -> list[slice]:
    """``total`` rows cut into the fewest batches of at most ``most`` rows, as even as possible.

    Even sizes (66 rows, at most 32: 22 + 22 + 22) keep every batch well above a
    profile's minimum batch, which a 2-row remainder might not be.
    """
    if most < 1:
        raise ValueError(f"a batch must hold at least one row, got {most}")
    count = max(1, math.ceil(total / most))
    base, extra = divmod(total, count)
    slices, start = [], 0
    for index in range(count):
        stop = start + base + (1 if index < extra else 0)
        slices.append(slice(start, stop))
        start = stop
    return slices


def infer_in_batches(infer: Any, inputs: dict[str, np.ndarray], profiles: list[Profile]) -> dict[str, np.ndarray]:
    """Run ``infer`` over ``inputs`` in batches that fit the profiles; outputs joined back in row order."""
    if not profiles:  # a stamp without profiles: static shapes, run the samples as they are
        return dict(infer(inputs))
    shapes = {name: tuple(array.shape) for name, array in inputs.items()}
    total = next(iter(shapes.values()))[0]
    parts = [
        infer({name: array[rows] for name, array in inputs.items()})
        for rows in batch_slices(total, rows_per_batch(shapes, profiles))
    ]
    return {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}


def _validate(
    onnx_path: Path,
    plan: Path,
    entry: Path | None,
    config: dict[str, Any],
    samples: list[str] | None,
    steps: Steps,
    rows: int = REFERENCE_ROWS,
) -> Reference | None:
    """Compare the plan with the ONNX model on the sample texts (text entries only).

    Returns the entry's reference rows (``converters.reference_rows``): ``rows`` of the samples,
    the ONNX model's outputs for them, and the tolerance this step was validated with, so
    the serving host checks the plan's numerics there (FP16, TF32 on another GPU).
    """
    from gatewise.gateway.config import TensorRTConfig
    from gatewise.gateway.engines.tensorrt import TensorRTEngine
    from gatewise.gateway.engines.tensorrt_plans import read_metadata
    from tokenizers import Tokenizer

    tokenizer_file = entry / "assets" / "tokenizer.json" if entry is not None else None
    if tokenizer_file is None or not tokenizer_file.is_file():
        steps.note("validation skipped: the ONNX model is not in a text entry with a tokenizer")
        return None
    names = list(onnx_inputs(onnx_path))
    inputs = encode(
        Tokenizer.from_file(str(tokenizer_file)),
        samples or load_samples(),
        names,
        int(config.get("parameters", {}).get("max_length", DEFAULT_MAX_LENGTH)),
    )
    reference = run_onnx(onnx_path, inputs)
    profiles = read_metadata(plan).profile_ranges()
    precision = read_metadata(plan).precision
    tolerance = "fp32" if precision == "fp32" else "fp16" if precision == "fp16" else "int8"
    kinds = {name: "embedding" if name == "embedding" else "labels" for name in reference}
    validator = Validator(inputs, kinds, steps, valid=inputs.get("attention_mask"), generic_samples=samples is None)
    validator.baseline(reference)
    engine = TensorRTEngine(plan, TensorRTConfig())
    try:
        validator.check_outputs("onnx -> tensorrt", infer_in_batches(engine.infer, inputs, profiles), tolerance)
        return build_reference(
            validator,
            lambda batch: run_onnx(onnx_path, batch),
            lambda batch: infer_in_batches(engine.infer, batch, profiles),
            tolerance,
            rows=rows,
        )
    finally:
        engine.close()
