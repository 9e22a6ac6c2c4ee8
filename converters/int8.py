"""The INT8 step of a conversion, dynamic or static: quantise as this host's instruction set
calls for, validate against the FP32 step, fall back accuracy-aware when the tolerance is
missed, and time the speed-up over FP32 here, so the user sees what INT8 costs and gains.

Everything decided is recorded: ``validation.json`` ('quantization': host, settings, what
stayed FP32, every trial, the speed) and ``config.toml`` parameters (``int8_*``).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from gatewise.converters.accuracy_aware import DYNAMIC_OPS, STATIC_OPS, Trial, matmul_groups, search, throughput
from gatewise.converters.errors import ConversionError, ToleranceUnreachable
from gatewise.converters.isa import Int8Settings, host_int8_settings
from gatewise.converters.optimize import quantize_int8
from gatewise.converters.pipeline import Measured, Validator
from gatewise.converters.progress import Steps
from gatewise.converters.quantize import DEFAULT_CALIBRATION_METHOD, quantize_static_int8
from gatewise.converters.validate import TOLERANCES, Tolerance
from gatewise.gateway.hostinfo import cpu_name


@dataclass
class Int8Options:
    """What the user asked of the INT8 step."""

    mode: str
    """``dynamic`` or ``static``."""
    calibration: list[dict[str, np.ndarray]] = field(default_factory=list)
    """Static: calibration batches, cut as served."""
    method: str = DEFAULT_CALIBRATION_METHOD
    calibration_source: str | None = None
    accuracy_aware: bool = True
    settings: Int8Settings | None = None
    """None: chosen for this host (``converters.isa``)."""


def int8_tolerance(min_agreement: float | None) -> Tolerance:
    """The int8 tolerance, with ``min_agreement`` as its deciding (clear-margin) agreement when given.

    The all-rows floor is lowered to ``min_agreement`` if that is below it. Refuses values outside (0, 1].
    """
    default = TOLERANCES["int8"]
    if min_agreement is None:
        return default
    if not 0 < min_agreement <= 1:
        raise ConversionError(
            f"--min-agreement must be a share of rows above 0 and at most 1 (e.g. 0.98), got {min_agreement}. "
            "Nothing was written"
        )
    return Tolerance(
        "int8",
        max_abs=default.max_abs,
        mean_abs=default.mean_abs,
        min_agreement=min(default.min_agreement, min_agreement),
        min_clear_agreement=min_agreement,
        min_cosine=default.min_cosine,
    )


def int8_step(
    options: Int8Options, source: Path, stage: str, work: Path, validator: Validator, steps: Steps
) -> tuple[Path, dict[str, Any]]:
    """Quantise ``source``, validated against the step before; returns the model and its config.toml parameters.

    Raises DriftError when the first try misses and accuracy-aware INT8 is off, ToleranceUnreachable
    when it is on and its floor is reached.
    """
    settings = options.settings or host_int8_settings()
    static = options.mode == "static"
    steps.note(
        f"INT8 for this host ({cpu_name()}): reduce_range={settings.reduce_range}, "
        f"per_channel={settings.per_channel}{f', activations={settings.activations}' if static else ''}: "
        f"{settings.reason}"
    )
    step = f"{stage} -> int8{'-static' if static else ''}"
    numbers = itertools.count()
    facts: dict[str, Any] = {"mode": "dynamic", "format": "onnxruntime integer ops"}
    measured: dict[Path, Measured] = {}

    def quantise(exclude: list[str]) -> Path:
        path = work / f"int8-{next(numbers)}.onnx"
        choice = {"reduce_range": settings.reduce_range, "per_channel": settings.per_channel}
        if static:
            cache = work / "calibration-ranges.json"
            found = quantize_static_int8(
                source, path, options.calibration, options.method, **choice, nodes_to_exclude=exclude,
                calibration_cache=cache, activations=settings.activations,
            )  # fmt: skip
            facts.update(found, calibration=options.calibration_source)
        else:
            quantize_int8(source, path, **choice, nodes_to_exclude=exclude)
        return path

    def evaluate(path: Path) -> tuple[list[Any], list[str]]:
        measured[path] = found = validator.measure(step, path, "int8")
        return found.reports, found.failures

    path = quantise([])
    evaluate(path)
    chosen = Trial((), tuple(measured[path].reports), tuple(measured[path].failures))
    trials: list[dict[str, Any]] = []
    groups = matmul_groups(source, STATIC_OPS if static else DYNAMIC_OPS)
    if not chosen.passed:
        if not options.accuracy_aware:
            steps.note("accuracy-aware INT8 is off (--no-accuracy-aware): the first quantisation decides")
            validator.accept(measured[path], "int8")  # raises the DriftError
        try:
            chosen, path, trials = search(groups, chosen, quantise, evaluate, steps.note)
        except ToleranceUnreachable as exc:
            if validator.generic_samples:
                from gatewise.converters.samples import HOW_TO

                exc.args = (f"{exc}; these were the generic shipped sentences: validate on your own ({HOW_TO})",)
            raise
    validator.accept(measured[path], "int8")
    for other in work.glob("int8-*.onnx"):
        if other != path:
            other.unlink()
    kept = [group.name for group in chosen.kept]
    total = sum(len(group.nodes) for group in groups)
    steps.note(
        f"accuracy-aware INT8 kept in FP32: {', '.join(kept)} ({len(chosen.nodes())} of {total} quantisable ops); "
        f"final {chosen.summary()}"
        if kept
        else f"INT8: all {total} quantisable ops quantised, nothing kept in FP32; {chosen.summary()}"
    )
    speed = _speed(source, path, validator, settings, steps)
    validator.quantization = {
        **facts,
        "host": {"cpu": cpu_name(), **settings.as_dict()},
        "accuracy_aware": {
            "enabled": options.accuracy_aware,
            "kept_fp32": kept,
            "fp32_nodes": chosen.nodes(),
            "quantisable_ops": total,
            "trials": trials,
        },
        "speed": speed,
    }
    parameters = {
        "int8": options.mode,
        "int8_isa": settings.isa,
        "int8_reduce_range": settings.reduce_range,
        "int8_per_channel": settings.per_channel,
        **({"int8_activations": settings.activations} if static else {}),
        "int8_kept_fp32": kept,
        "int8_speedup": round(speed["speedup"], 2),
    }
    if static:
        parameters["calibration_method"] = options.method
    return path, parameters


def _speed(fp32: Path, int8: Path, validator: Validator, settings: Int8Settings, steps: Steps) -> dict[str, Any]:
    """Batch throughput of both models on the first validation batch (as served), briefly timed here."""
    batch = validator.batches[0]
    rows = len(next(iter(batch.values())))
    before, after = throughput(fp32, batch), throughput(int8, batch)
    steps.note(
        f"speed on this host ({cpu_name()}, {settings.isa}), a batch of {rows} rows as served, best of a few runs: "
        f"FP32 {before:.0f} rows/s, INT8 {after:.0f} rows/s: {after / before:.2f}x (briefly timed: indicative)"
    )
    if after <= before:
        steps.note("INT8 is no faster than FP32 on this host for this model: consider serving the FP32 entry")
    return {"batch_rows": rows, "fp32_rows_per_s": before, "int8_rows_per_s": after, "speedup": after / before}
