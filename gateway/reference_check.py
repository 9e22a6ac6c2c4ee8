"""Reference rows a converter stores in a version folder, and the drift check run on them at load.

``<version>/reference.npz`` (docs/converters.md, "The serving host's drift check") holds a
few rows of the conversion's validation samples as the engine takes them, the FP32
outputs for them, and as ``meta`` a JSON string: the tolerance they were validated with,
each output's kind, the padding mask and the figures measured on the build host.

    input.<name>    engine inputs (one batch, padded to its longest row)
    output.<name>   the FP32 reference outputs (PyTorch, or the ONNX model a plan was built from)
    meta            {"format": 1, "precision", "tolerance", "kinds", "mask", "build"}

The converters write it with ``Reference.save`` and the gateway reads it with
``read_reference``: one format, kept here because serving never imports the converters.
The measures are the converters' own (``gateway/drift_measures.py``, which
``converters/validate.py`` uses too): max and mean absolute difference, top-1 agreement for
logits (token outputs judged on real tokens only), lowest cosine for embeddings.

``check_drift`` is the load-time check itself: ``ServedModel.load`` calls it after warm-up,
outside the request path.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from gatewise.gateway import metrics
from gatewise.gateway.drift_measures import difference_failures, measure
from gatewise.gateway.hostinfo import host_description
from gatewise.protos.errors import EngineError

if TYPE_CHECKING:
    from gatewise.gateway.model import ServedModel

log = logging.getLogger("gatewise.model")  # the model's logger: its load reports the check

REFERENCE_FILE = "reference.npz"
FORMAT = 1


_MEASURES = ("max abs diff", "mean abs diff", "top-1 agreement", "min cosine")


def _figures(values: tuple[float | None, ...], formats: tuple[str, ...]) -> str:
    """``_MEASURES`` with their values in words, leaving out the ones that are None."""
    return ", ".join(
        f"{measure} {form.format(value)}"
        for measure, value, form in zip(_MEASURES, values, formats, strict=True)
        if value is not None
    )


class ReferenceError(ValueError):
    """A reference file that cannot be read or does not describe the engine it sits beside."""


@dataclass(frozen=True)
class ReferenceTolerance:
    """How far this host's outputs may be from the reference; ``None`` leaves a measure unchecked."""

    name: str
    max_abs: float | None
    mean_abs: float | None
    min_agreement: float | None
    """Share of rows (or real tokens) whose top-1 label must match the reference's."""
    min_cosine: float | None

    def describe(self) -> str:
        limits = (self.max_abs, self.mean_abs, self.min_agreement, self.min_cosine)
        return f"{self.name}: " + _figures(limits, ("<= {:g}", "<= {:g}", ">= {:.2%}", ">= {:g}"))


@dataclass(frozen=True)
class OutputDrift:
    """One output's figures against the reference."""

    output: str
    max_abs: float
    mean_abs: float
    agreement: float | None
    min_cosine: float | None

    def describe(self) -> str:
        values = (self.max_abs, self.mean_abs, self.agreement, self.min_cosine)
        return f"{self.output}: " + _figures(values, ("{:.3g}", "{:.3g}", "{:.2%}", "{:.6f}"))


@dataclass(frozen=True)
class DriftResult:
    """Every output's figures, and each measure past the tolerance in words (none: passed)."""

    outputs: tuple[OutputDrift, ...]
    failures: tuple[str, ...]
    rows: int
    tolerance: ReferenceTolerance

    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def max_abs(self) -> float:
        return max((drift.max_abs for drift in self.outputs), default=0.0)

    def describe(self) -> str:
        """The figures and the tolerance, on one line."""
        figures = "; ".join(drift.describe() for drift in self.outputs)
        return f"{figures} over {self.rows} reference rows (tolerance {self.tolerance.describe()})"


@dataclass(frozen=True)
class Reference:
    """Engine inputs, FP32 outputs, and how far an engine's outputs may move from them."""

    inputs: dict[str, np.ndarray]
    outputs: dict[str, np.ndarray]
    kinds: dict[str, str]
    """Per output: ``labels`` (top-1 agreement judged), ``embedding`` (cosine judged) or ``values``."""
    tolerance: ReferenceTolerance
    precision: str
    mask: str | None = None
    """The input whose zeros are padding: token-level (3-D) outputs are judged on real tokens only."""
    build: dict[str, Any] | None = None
    """What the converter measured on the build host: ``host`` and ``figures``."""

    @property
    def rows(self) -> int:
        return int(next(iter(self.inputs.values())).shape[0])

    def judge(self, produced: dict[str, np.ndarray]) -> DriftResult:
        """Compare an engine's outputs for ``inputs`` with the reference outputs."""
        drifts, failures = [], []
        for name, expected in self.outputs.items():
            if name not in produced:
                failures.append(f"{name}: the engine has no such output (it has {sorted(produced)})")
                continue
            got = np.asarray(produced[name])
            if got.shape != expected.shape:
                failures.append(f"{name}: shape {list(got.shape)} differs from the reference's {list(expected.shape)}")
                continue
            valid = self.inputs.get(self.mask) if self.mask and expected.ndim == 3 else None
            drift = _measure(name, expected, got, self.kinds.get(name, "values"), valid)
            drifts.append(drift)
            failures.extend(f"{name}: {problem}" for problem in _failures(drift, self.tolerance))
        return DriftResult(tuple(drifts), tuple(failures), self.rows, self.tolerance)

    def save(self, path: Path) -> None:
        """Write ``path`` (a ``reference.npz``)."""
        meta = {
            "format": FORMAT,
            "precision": self.precision,
            "tolerance": asdict(self.tolerance),
            "kinds": self.kinds,
            "mask": self.mask,
            "build": self.build or {},
        }
        arrays = {f"input.{name}": array for name, array in self.inputs.items()}
        arrays.update({f"output.{name}": array for name, array in self.outputs.items()})
        with open(path, "wb") as handle:
            np.savez_compressed(handle, meta=np.array(json.dumps(meta)), **arrays)


def read_reference(version_dir: Path) -> Reference | None:
    """The version folder's reference rows; None where it has none (older or hand-built entries)."""
    path = Path(version_dir) / REFERENCE_FILE
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            inputs = {key[len("input.") :]: data[key] for key in data.files if key.startswith("input.")}
            outputs = {key[len("output.") :]: data[key] for key in data.files if key.startswith("output.")}
        if meta.get("format") != FORMAT:
            raise ReferenceError(f"format {meta.get('format')!r}, this gateway reads {FORMAT}")
        if not inputs or not outputs:
            raise ReferenceError("it holds no inputs or no outputs")
        tolerance = ReferenceTolerance(**meta["tolerance"])
        return Reference(
            inputs=inputs,
            outputs=outputs,
            kinds=dict(meta.get("kinds", {})),
            tolerance=tolerance,
            precision=str(meta.get("precision", tolerance.name)),
            mask=meta.get("mask"),
            build=meta.get("build") or None,
        )
    except ReferenceError as exc:
        raise ReferenceError(f"{path}: {exc}") from exc
    except Exception as exc:  # a damaged file: zip, JSON or field errors alike
        raise ReferenceError(f"{path} cannot be read: {type(exc).__name__}: {exc}") from exc


def _measure(name: str, reference: np.ndarray, candidate: np.ndarray, kind: str, valid: Any) -> OutputDrift:
    measured = measure(reference, candidate, kind, valid)
    return OutputDrift(name, measured.max_abs, measured.mean_abs, measured.agreement, measured.min_cosine)


def _failures(drift: OutputDrift, tolerance: ReferenceTolerance) -> list[str]:
    found = difference_failures(
        drift.max_abs, drift.mean_abs, drift.min_cosine, max_abs_limit=tolerance.max_abs,
        mean_abs_limit=tolerance.mean_abs, min_cosine_limit=tolerance.min_cosine,
    )  # fmt: skip
    if tolerance.min_agreement is not None and drift.agreement is not None:
        if drift.agreement < tolerance.min_agreement:
            found.append(f"top-1 agreement {drift.agreement:.2%} < {tolerance.min_agreement:.2%}")
    return found


def check_drift(model: ServedModel, version_dir: Path) -> None:
    """Run the version's reference rows on this host's engine and compare with their tolerance.

    The converter stored them (``reference.npz``: engine inputs, FP32 outputs, the
    tolerance the conversion was validated with). Past the tolerance the version is
    refused (EngineError with the figures), or with ``drift_policy = "warn"`` served with
    ``model.drift`` set. Engine inputs go straight to instance 0, with no plugin: the
    reference is the engine's, and every instance runs the same engine on this host.
    """
    label = f"model {model.name!r} version {model.version}"
    try:
        reference = read_reference(version_dir)
    except ReferenceError as exc:
        raise EngineError(f"{label}: {exc}; reconvert it, or remove {REFERENCE_FILE} to load unchecked") from exc
    if reference is None:
        log.debug("%s has no %s: drift check skipped", label, REFERENCE_FILE)
        return
    engine = model.engines[0]
    wanted = sorted(spec.name for spec in engine.inputs)
    if sorted(reference.inputs) != wanted:
        raise EngineError(
            f"{label}: {REFERENCE_FILE} holds inputs {sorted(reference.inputs)}, the engine takes {wanted}; "
            f"it was written for another model: reconvert, or remove {REFERENCE_FILE}"
        )
    started = time.perf_counter()
    try:
        produced = engine.infer(dict(reference.inputs))
    except Exception as exc:
        raise EngineError(f"{label} failed on its reference rows: {type(exc).__name__}: {exc}") from exc
    result = reference.judge(produced)
    cost_ms = (time.perf_counter() - started) * 1e3
    metrics.DRIFT.labels(model.name, model.version).set(result.max_abs)
    if result.passed:
        metrics.DRIFTED.labels(model.name, model.version).set(0)
        log.info("%s: drift check passed in %.1f ms: %s", label, cost_ms, result.describe())
        return
    facts = model.describe()
    built = (reference.build or {}).get("host", "unknown")
    reason = (
        f"drifted past its {reference.tolerance.name} reference tolerance on this host "
        f"({'; '.join(result.failures)}). Figures: {result.describe()}. "
        f"This host: {host_description()}, {facts.get('engine', model.backend)} on "
        f"{facts.get('providers') or facts.get('gpu', '?')}; built and validated on: {built}"
    )
    if model.config.drift_policy == "refuse":
        raise EngineError(
            f'{label} {reason}. Reconvert it on a host like this one, or set drift_policy = "warn" '
            "in config.toml to serve it anyway"
        )
    model.drift = reason
    metrics.DRIFTED.labels(model.name, model.version).set(1)
    log.warning('%s serves (drift_policy = "warn") although it %s (check: %.1f ms)', label, reason, cost_ms)
