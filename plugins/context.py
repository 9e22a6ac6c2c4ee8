"""What hooks receive: the model they serve and the batch they work on.

Nothing here imports the gateway: a plugin sees config.toml through ``ModelConfigView``,
which the gateway fills from its validated ``ModelConfig``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from gatewise.protos.tensors import TensorSpec

Tensors = dict[str, np.ndarray]


@dataclass(frozen=True)
class Signature:
    """A model's public inputs and outputs, as ModelMetadata reports them."""

    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    derived: tuple[str, ...] = ()
    """Outputs that postprocess does not return: the gateway builds them from the row's
    explanation (``Explainer.derive``), and only for requests that get them."""


@dataclass(frozen=True)
class ModelConfigView:
    """The parts of a model's ``config.toml`` that are a plugin's business."""

    plugin: str | None = None
    """The plugin config.toml names for the model."""
    task: str | None = None
    """What the model does (text-classification, token-classification, ...)."""
    labels: tuple[str, ...] = ()
    """Class labels, in the order of the engine's outputs."""
    parameters: dict[str, Any] = field(default_factory=dict)
    """The ``[parameters]`` table: free-form settings the plugin reads (max_length, thresholds, ...)."""


@dataclass
class ModelContext:
    """One loaded model version, as a plugin sees it.

    ``state`` is the plugin's own: fill it in ``gatewise_model_load`` (a tokenizer, a
    catalog) and read it in the request hooks. It is shared by every batch, so treat it as
    read-only after loading.
    """

    name: str
    version: str
    config: ModelConfigView
    path: Path
    """The version folder that holds the engine file."""
    engine_inputs: tuple[TensorSpec, ...]
    engine_outputs: tuple[TensorSpec, ...]
    state: dict[str, Any] = field(default_factory=dict)

    @property
    def assets(self) -> Path:
        """The model's ``assets/`` folder (tokenizer.json, labels, catalogs)."""
        return self.path.parent / "assets"

    @property
    def parameters(self) -> dict[str, Any]:
        """The ``[parameters]`` table of config.toml."""
        return self.config.parameters

    @property
    def logger(self) -> logging.Logger:
        return logging.getLogger(f"gatewise.model.{self.name}")


@dataclass
class BatchContext:
    """One batch of rows, gathered from one or more requests by the batcher.

    ``request_of_row[i]`` is the index (into ``request_parameters``) of the request that
    sent row ``i``. ``state`` carries whatever preprocess must hand to postprocess
    (token offsets, redactions). ``row_flags`` holds per-row booleans that become response
    parameters: a request whose rows have ``row_flags["truncated"]`` set gets
    ``truncated = true`` back.
    """

    request_of_row: np.ndarray
    request_parameters: list[dict[str, Any]]
    state: dict[str, Any] = field(default_factory=dict)
    row_flags: dict[str, np.ndarray] = field(default_factory=dict)
    tokens: int = 0
    """Token positions the engine computed for this batch, padding included."""
    padded_tokens: int = 0
    """How many of ``tokens`` were padding (exported as a metric)."""

    @property
    def size(self) -> int:
        """Rows in the batch, of every request together."""
        return int(self.request_of_row.shape[0])

    def parameter(self, key: str, default: Any) -> list[Any]:
        """The request parameter ``key`` for every row, ``default`` where a request lacks it."""
        values = [params.get(key, default) for params in self.request_parameters]
        return [values[index] for index in self.request_of_row]

    def flag_rows(self, name: str, rows: np.ndarray | Sequence[bool] | Sequence[int]) -> None:
        """Set the per-row flag ``name`` on ``rows`` (OR-ed with what is set already).

        ``rows`` is a boolean mask with one entry per row of the batch, or the indices of the
        rows to flag. Anything else raises TypeError (an INTERNAL error naming the plugin):
        read as a mask, indices would silently flag the wrong rows.
        """
        self.row_flags[name] = self.row_flags.get(name, np.zeros(self.size, dtype=bool)) | _row_mask(
            name, rows, self.size
        )

    @classmethod
    def single(cls, rows: int, parameters: dict[str, Any] | None = None) -> BatchContext:
        """A batch that holds one request of ``rows`` rows (tests, warm-up, benchmarks)."""
        return cls(np.zeros(rows, dtype=np.int64), [dict(parameters or {})])


def _row_mask(name: str, rows: Any, size: int) -> np.ndarray:
    """``rows`` (a mask, or row indices) as a boolean mask of ``size``; TypeError saying what was wrong."""
    array = np.asarray(rows)
    where = f"flag_rows({name!r}, rows)"
    if array.dtype == bool:
        if array.shape != (size,):
            raise TypeError(f"{where}: a boolean mask needs one entry per row of the batch ({size}), "
                            f"got shape {list(array.shape)}")  # fmt: skip
        return array
    if array.size == 0:
        return np.zeros(size, dtype=bool)
    if not np.issubdtype(array.dtype, np.integer) or array.ndim != 1:
        raise TypeError(f"{where}: expected a boolean mask of {size} rows or a list of row indices, "
                        f"got {array.dtype} of shape {list(array.shape)}")  # fmt: skip
    if array.min() < 0 or array.max() >= size:
        raise TypeError(f"{where}: row indices must be in 0..{size - 1}, got {array.min()}..{array.max()}")
    mask = np.zeros(size, dtype=bool)
    mask[array] = True
    return mask
