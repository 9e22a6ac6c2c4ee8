"""The reference rows each converted entry carries, so the serving host can check its own numerics.

A conversion is validated where it is built; the engine that serves it may run on another
CPU (AVX2 vs AVX-512 VNNI kernels) or GPU (FP16, TF32). So every entry's version folder gets
``reference.npz`` (format: ``gateway.reference_check``): a few validation rows as engine inputs,
their FP32 outputs, and the tolerance the conversion step was validated with. The gateway
runs them after warm-up and refuses (or warns about) a version that drifts past it.

The rows are the ones the converted model is most sure of (largest top-1 margin): a flip
there is a changed answer, never a near-tie coin toss, so the agreement gate can be the
step's clear-margin one. Before the file is written, the converted model runs the same
batch here and must pass, so an entry never refuses itself on the host that built it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
from gatewise.converters.errors import ConversionError
from gatewise.converters.pipeline import Validator
from gatewise.converters.runtime import run_onnx
from gatewise.converters.validate import TOLERANCES, Tolerance, top1_margin
from gatewise.gateway.hostinfo import host_description
from gatewise.gateway.reference_check import REFERENCE_FILE, Reference, ReferenceTolerance

REFERENCE_ROWS = 16
"""Rows stored: enough to catch a host whose kernels move outputs, few enough to cost milliseconds at load."""

Infer = Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]


def reference_tolerance(tolerance: Tolerance) -> ReferenceTolerance:
    """The step's tolerance for the stored rows: all confident, so agreement is held to the clear-margin gate."""
    return ReferenceTolerance(
        name=tolerance.name,
        max_abs=tolerance.max_abs,
        mean_abs=tolerance.mean_abs,
        min_agreement=tolerance.min_clear_agreement,
        min_cosine=tolerance.min_cosine,
    )


def confident_rows(
    outputs: dict[str, np.ndarray], kinds: dict[str, str], valid: np.ndarray | None, count: int
) -> list[int]:
    """The ``count`` rows with the largest top-1 margin in ``outputs`` (the first rows without labels), in row order.

    Token-level outputs score a row by its least confident real token.
    """
    total = len(next(iter(outputs.values())))
    score = np.full(total, np.inf)
    for name, kind in kinds.items():
        values = outputs[name].astype(np.float64)
        if kind != "labels" or values.ndim < 2 or values.shape[-1] < 2:
            continue
        margin = top1_margin(values)
        if margin.ndim == 2:
            width = min(margin.shape[1], valid.shape[1]) if valid is not None else margin.shape[1]
            keep = valid[:, :width].astype(bool) if valid is not None else np.ones((total, width), bool)
            margin = np.where(keep, margin[:, :width], np.inf).min(axis=1)
        score = np.minimum(score, margin)
    chosen = np.argsort(-np.where(np.isfinite(score), score, 0.0), kind="stable")[:count]
    return sorted(int(row) for row in chosen)


def reference_batch(inputs: dict[str, np.ndarray], rows: list[int], mask: str) -> dict[str, np.ndarray]:
    """``rows`` of every input as one batch; with ``mask``, cut to the longest of them, as serving pads."""
    batch = {name: np.ascontiguousarray(array[rows]) for name, array in inputs.items()}
    if mask in batch and batch[mask].ndim == 2:
        longest = max(int(batch[mask].sum(axis=1).max(initial=0)), 1)
        batch = {name: array[:, :longest] if array.ndim == 2 else array for name, array in batch.items()}
    return batch


def build_reference(
    validator: Validator,
    fp32: Infer,
    served: Infer,
    tolerance: str,
    *,
    rows: int = REFERENCE_ROWS,
) -> Reference:
    """Reference rows for the model ``validator`` last checked; ``fp32`` makes the reference outputs.

    ``served`` runs the converted model on this host: the rows must pass ``tolerance`` here,
    else ConversionError (the entry would refuse itself on a host like this one).
    """
    kinds = dict(validator.kinds)
    mask = validator.mask
    valid = validator.inputs.get(mask)
    chosen = confident_rows(validator.previous, kinds, valid, rows)
    batch = reference_batch(validator.inputs, chosen, mask)
    expected = fp32(batch)
    reference = Reference(
        inputs=batch,
        outputs={name: np.asarray(expected[name], dtype=np.float32) for name in kinds},
        kinds=kinds,
        tolerance=reference_tolerance(TOLERANCES[tolerance]),
        precision=tolerance,
        mask=mask if mask in batch else None,
    )
    result = reference.judge(served(batch))
    if not result.passed:
        raise ConversionError(
            f"the {len(chosen)} reference rows stored for the serving host's drift check already drift on this host "
            f"({'; '.join(result.failures)}; {result.describe()}), although validation passed: the model's outputs "
            "depend on which rows share a batch; nothing was written"
        )
    return replace(reference, build={"host": host_description(), "figures": result.describe()})


def write_reference(
    version_dir: Path,
    validator: Validator,
    fp32: Infer,
    model: Path,
    tolerance: str,
    *,
    providers: list[str] | None = None,
    rows: int | None = None,
) -> Path:
    """``version_dir/reference.npz`` for the ONNX ``model`` just validated by ``validator``; returns the file.

    ``rows`` defaults to REFERENCE_ROWS, capped by the validator's batch size (the entry's
    ``max_batch_size``), so the rows run as one batch the engine accepts.
    """
    count = rows or min(REFERENCE_ROWS, validator.batch_size or REFERENCE_ROWS)
    reference = build_reference(validator, fp32, lambda batch: run_onnx(model, batch, providers), tolerance, rows=count)
    path = Path(version_dir) / REFERENCE_FILE
    reference.save(path)
    return path
