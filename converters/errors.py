"""Errors the converters raise; each message says what went wrong and what to do.

A leaf: it imports nothing of the converters, so every module may raise from it; callers
format their own figures into the messages.

ConversionError                 (a GatewiseError, protos/errors.py) the CLI prints it and exits non-zero
├── CheckpointError             the checkpoint folder is missing or unreadable
│   ├── UnsupportedArchitecture its model_type is not one the converters support
│   └── MissingTokenizer        no tokenizer.json (nor anything to build one from)
├── UnsupportedTask             the task is not one the converters export
├── ExampleInputError           example inputs for a plain module are unusable
├── SampleError                 a --samples file is unreadable, of the wrong shape, or too short
├── ExportError                 torch.onnx.export, an optimiser or a builder failed
├── DriftError                  a step's outputs drifted past their tolerance
├── ToleranceUnreachable        no INT8 configuration within the FP32 floor meets the tolerance
├── RepositoryError             the repository entry cannot be written
└── TensorRTError               TensorRT is missing, or an engine cannot be built
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from gatewise.protos.errors import GatewiseError


class ConversionError(GatewiseError):
    """Root of every error a conversion raises: a branch of the one error tree, whose root
    carries the message."""


class CheckpointError(ConversionError):
    """The checkpoint cannot be read as a Hugging Face model folder."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(f"checkpoint {path}: {problem}")
        self.path = path
        self.problem = problem


class UnsupportedArchitecture(CheckpointError):
    """The checkpoint's ``model_type`` is outside the BERT family the converters support."""

    def __init__(self, path: Path, model_type: str, supported: Iterable[str]) -> None:
        self.model_type = model_type
        self.supported = tuple(supported)
        super().__init__(
            path,
            f"model_type {model_type!r} is not supported; supported: {', '.join(self.supported)}. "
            "Fine-tune one of those, or export the model as a plain module with `gatewise convert module`",
        )


class MissingTokenizer(CheckpointError):
    """The checkpoint has no tokenizer the gateway can serve with."""

    def __init__(self, path: Path, cause: str = "") -> None:
        super().__init__(
            path,
            "no tokenizer found (tokenizer.json, or vocab files a fast tokenizer can be built from)"
            + (f": {cause}" if cause else "")
            + ". Save it beside the weights with `tokenizer.save_pretrained(checkpoint)`",
        )


class UnsupportedTask(ConversionError):
    """The task is not one of the tasks the converters export."""

    def __init__(self, task: str, supported: Iterable[str]) -> None:
        self.task = task
        self.supported = tuple(supported)
        super().__init__(f"task {task!r} is not supported; choose one of: {', '.join(self.supported)}")


class ExampleInputError(ConversionError):
    """The example inputs given for a plain module cannot drive an export."""

    def __init__(self, name: str, problem: str) -> None:
        super().__init__(f"example input {name!r}: {problem}")
        self.name = name
        self.problem = problem


class SampleError(ConversionError):
    """A validation samples file cannot be used: unreadable, wrong format or fields, or too few rows."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(f"samples file {path}: {problem}. Nothing was written")
        self.path = path
        self.problem = problem


class ExportError(ConversionError):
    """A conversion step (export, optimisation, quantisation, engine build) failed."""

    def __init__(self, step: str, cause: str) -> None:
        super().__init__(f"{step} failed: {cause}")
        self.step = step
        self.cause = cause


class DriftError(ConversionError):
    """A step's outputs differ from the step before by more than its tolerance allows."""

    def __init__(
        self, step: str, output: str, rows: int, tolerance: str, failures: list[str], advice: str, report: Any = None
    ) -> None:
        super().__init__(
            f"{step}: output {output!r} drifted past the {tolerance} tolerance "
            f"({'; '.join(failures)}) over {rows} sample rows. Nothing was written; {advice}"
        )
        self.step = step
        self.output = output
        self.tolerance = tolerance
        self.failures = failures
        self.report = report
        """The validator's figures (``converters.validate.DriftReport``)."""


class ToleranceUnreachable(ConversionError):
    """Accuracy-aware INT8 reached its floor (the most matrix products it may keep in FP32) and still missed."""

    def __init__(
        self, first: str, best: str, kept: str, kept_products: int, total: int, budget: int, trials: tuple[Any, Any]
    ) -> None:
        super().__init__(
            f"no INT8 configuration meets the tolerance: fully quantised it gave {first}; the best try, with "
            f"{kept} in FP32 ({kept_products} of {total} matrix products), gave {best}, and keeping more than "
            f"{budget} of {total} in FP32 would leave little of INT8's speed. Nothing was written; convert without "
            "--int8 (FP32), try the other --int8-mode, lower --min-agreement if you raised it, or validate on more "
            "representative --samples"
        )
        self.total = total
        self.budget = budget
        self.first, self.best = trials
        """The first and the best ``converters.accuracy_aware.Trial``."""


class RepositoryError(ConversionError):
    """The repository entry cannot be written (version exists, folder not writable)."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


class TensorRTError(ConversionError):
    """TensorRT is not installed, or it refused to parse or build the network."""
