"""Write a complete repository entry: staged in a temporary folder, moved into place last.

A failed conversion leaves the repository as it was. The staging folder lives beside the
repository (same filesystem, so the final move is a rename), never inside it, so a
running gateway that rescans the repository never sees a half-written entry.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gatewise.converters.errors import RepositoryError
from gatewise.protos.tensors import ONNX_TO_DATATYPE, onnx_type

DEFAULT_BATCHING = {"max_batch_size": 32, "max_queue_delay_ms": 0.0}


def engine_specs(onnx_path: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The ONNX graph's inputs and outputs as config.toml tensor tables (``-1`` where dynamic)."""
    import onnx

    graph = onnx.load(str(onnx_path), load_external_data=False).graph

    def spec(value: Any) -> dict[str, Any]:
        tensor = value.type.tensor_type
        dims = [dim.dim_value if dim.HasField("dim_value") and dim.dim_value > 0 else -1 for dim in tensor.shape.dim]
        type_name = onnx_type(onnx.TensorProto.DataType.Name(tensor.elem_type))
        return {"name": value.name, "datatype": ONNX_TO_DATATYPE.get(type_name, "FP32"), "shape": dims}

    initializers = {init.name for init in graph.initializer}
    return [spec(v) for v in graph.input if v.name not in initializers], [spec(v) for v in graph.output]


def merge(base: dict[str, Any], extra: dict[str, Any] | None) -> dict[str, Any]:
    """``base`` with ``extra`` laid over it, tables merged key by key."""
    out = dict(base)
    for key, value in (extra or {}).items():
        out[key] = merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def entry_config(
    name: str, onnx_path: Path, *, backend: str = "onnxruntime", extra: dict[str, Any] | None = None, **fields: Any
) -> dict[str, Any]:
    """config.toml contents for ``name``, checked against the gateway's own schema."""
    from gatewise.gateway.config import ModelConfig

    inputs, outputs = engine_specs(onnx_path)
    base = {
        "name": name,
        "backend": backend,
        **{k: v for k, v in fields.items() if v not in (None, [], {})},
        "inputs": inputs,
        "outputs": outputs,
        "batching": dict(DEFAULT_BATCHING),
    }
    config = merge(base, extra)
    try:
        ModelConfig.model_validate(config)
    except Exception as exc:
        raise RepositoryError(Path(name), f"the config.toml it would write is invalid: {exc}") from exc
    return config


def write_config(path: Path, config: dict[str, Any]) -> None:
    import tomli_w

    path.write_text(tomli_w.dumps(config), encoding="utf-8")


@dataclass
class Staging:
    """Where a conversion writes: ``root`` becomes ``repository/name``."""

    root: Path
    version: int

    @property
    def version_dir(self) -> Path:
        return self.root / str(self.version)

    @property
    def assets(self) -> Path:
        return self.root / "assets"


def check_target(repository: Path, name: str, version: int) -> Path:
    """``repository/name``, refusing a version that is already there (checked before any work)."""
    if version < 1:
        raise RepositoryError(repository / name, f"version must be 1 or more, got {version}")
    target = Path(repository) / name
    if (target / str(version)).exists():
        raise RepositoryError(
            target / str(version), "already exists; pass another --version (or remove that folder first)"
        )
    return target


@contextmanager
def staged_entry(repository: Path, name: str, version: int) -> Iterator[Staging]:
    """A staging folder for the entry; moved into ``repository/name`` only if the block succeeds."""
    repository = Path(repository)
    target = check_target(repository, name, version)
    try:
        repository.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=f".gatewise-convert-{name}-", dir=repository.parent))
    except OSError as exc:
        raise RepositoryError(repository, f"cannot create the repository or a staging folder: {exc.strerror}") from exc
    staging = Staging(scratch / name, version)
    staging.version_dir.mkdir(parents=True)
    staging.assets.mkdir()
    try:
        yield staging
        _commit(staging, target)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _commit(staging: Staging, target: Path) -> None:
    check_target(target.parent, target.name, staging.version)
    try:
        if not target.exists():
            _move(staging.root, target)
            return
        # An existing entry gains a version; its config.toml and assets are replaced file by file.
        _move(staging.version_dir, target / str(staging.version))
        (target / "assets").mkdir(exist_ok=True)
        for item in staging.assets.iterdir():
            _move(item, target / "assets" / item.name)
        _move(staging.root / "config.toml", target / "config.toml")
    except OSError as exc:
        raise RepositoryError(target, f"cannot move the converted entry into place: {exc}") from exc


def _move(source: Path, destination: Path) -> None:
    try:
        os.replace(source, destination)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        # The repository is its own mount: copy across, then swap in with a rename.
        temporary = destination.with_name(f".{destination.name}.incoming")
        shutil.copytree(source, temporary) if source.is_dir() else shutil.copy2(source, temporary)
        os.replace(temporary, destination)
