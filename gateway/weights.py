"""Weights that every worker process shares: ONNX initializers as read-only file pages.

Loading an ONNX file (inline, external data or ORT format alike) copies every weight into
the process's private memory, so ``--workers N`` held N copies. Instead, the first load of a
version writes its large initializers page-aligned into ``weights.bin`` and the graph without
them into ``model.onnx`` (both in a cache folder); each session then gets the initializers as
read-only ``numpy.memmap`` arrays through ``SessionOptions.add_initializer``, with ONNX
Runtime's prepacking off (a prepacked weight is a private copy). Every process that maps the
file shares its pages as clean page cache: PSS counts them once across the workers, and the
kernel can drop them under pressure and read them back.

The cache folder is outside the repository, for the reason the TensorRT EP cache is (a write
inside a version folder looks like a changed model to the watcher; a mounted repository may
be read-only): ``$XDG_CACHE_HOME/gatewise/weights/<model>-<version>-<key>``, the key hashing
the source file's path, size and modification time, so a replaced model never meets stale
weights. Several workers starting at once take an exclusive ``flock`` on the folder's lock
file; the first writes every file under a temporary name and renames it into place, the
index last, so a folder with an index is complete and a crash mid-write leaves nothing that
is used. No ``onnx`` package is needed (serving never imports it): the few ONNX fields this
reads are declared in a small protobuf subset, and protobuf keeps every other field as it was.
"""

from __future__ import annotations

import fcntl
import json
import logging
import mmap
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from gatewise.gateway.model_cache import model_cache_dir
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

log = logging.getLogger("gatewise.weights")

FORMAT = 1
"""Bumped when the cache layout changes, so old folders are not read."""
MIN_BYTES = 1024
"""Initializers smaller than this stay inline: a page each would cost more than they weigh."""
INDEX = "index.json"
ALIGN = mmap.ALLOCATIONGRANULARITY

# ONNX TensorProto.DataType -> numpy; the others (bfloat16, float8, strings) stay inline.
_DTYPES = {1: "float32", 2: "uint8", 3: "int8", 4: "uint16", 5: "int16", 6: "int32", 7: "int64",
           9: "bool", 10: "float16", 11: "float64", 12: "uint32", 13: "uint64"}  # fmt: skip
_EXTERNAL = 1  # TensorProto.DataLocation.EXTERNAL


@dataclass(frozen=True)
class SharedWeights:
    """A version's graph without its large initializers, and those initializers as memory maps."""

    model: Path
    initializers: dict[str, np.ndarray]
    """Read-only arrays over ``weights.bin``; keep them alive as long as the session."""
    folder: Path


@cache
def _onnx_subset() -> tuple[Any, ...]:
    """ModelProto, with only graph.initializer's TensorProto fields this module reads or writes."""
    file = descriptor_pb2.FileDescriptorProto(name="gatewise_onnx_subset.proto", package="gatewise_onnx_subset")
    file.syntax = "proto2"
    label, kind = descriptor_pb2.FieldDescriptorProto, descriptor_pb2.FieldDescriptorProto

    def message(name: str, *fields: tuple[str, int, int, int, str]) -> None:
        proto = file.message_type.add(name=name)
        for field_name, number, field_label, field_type, type_name in fields:
            field = proto.field.add(name=field_name, number=number, label=field_label, type=field_type)
            if type_name:
                field.type_name = f".gatewise_onnx_subset.{type_name}"

    optional, repeated = label.LABEL_OPTIONAL, label.LABEL_REPEATED
    message(
        "StringStringEntryProto",
        ("key", 1, optional, kind.TYPE_STRING, ""),
        ("value", 2, optional, kind.TYPE_STRING, ""),
    )
    message(
        "TensorProto",
        ("dims", 1, repeated, kind.TYPE_INT64, ""),
        ("data_type", 2, optional, kind.TYPE_INT32, ""),
        ("name", 8, optional, kind.TYPE_STRING, ""),
        ("raw_data", 9, optional, kind.TYPE_BYTES, ""),
        ("external_data", 13, repeated, kind.TYPE_MESSAGE, "StringStringEntryProto"),
        ("data_location", 14, optional, kind.TYPE_INT32, ""),
    )
    message("GraphProto", ("initializer", 5, repeated, kind.TYPE_MESSAGE, "TensorProto"))
    message("ModelProto", ("graph", 7, optional, kind.TYPE_MESSAGE, "GraphProto"))
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return (message_factory.GetMessageClass(pool.FindMessageTypeByName("gatewise_onnx_subset.ModelProto")),)


def cache_folder(source: Path) -> Path:
    """The folder for ``source``'s shared weights (``model_cache``; the layout's FORMAT joins the key)."""
    return model_cache_dir("weights", source, salt=str(FORMAT))


def prepare(source: Path) -> SharedWeights:
    """The shared weights of ``source`` (an ONNX file), written on first use; safe to race."""
    folder = cache_folder(source)
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / INDEX).is_file():
        with open(folder.with_suffix(".lock"), "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
            if not (folder / INDEX).is_file():
                _write(source, folder)
    return _open(folder)


def _write(source: Path, folder: Path) -> None:
    """Split ``source`` into ``model.onnx`` and page-aligned ``weights.bin``, the index written last."""
    (model_class,) = _onnx_subset()
    model = model_class()
    model.ParseFromString(source.read_bytes())
    index: dict[str, dict[str, Any]] = {}
    offset = 0
    with _replacing(folder / "weights.bin") as weights:
        for tensor in model.graph.initializer:
            dtype = _DTYPES.get(tensor.data_type)
            if dtype is None or not tensor.HasField("raw_data") or len(tensor.raw_data) < MIN_BYTES:
                continue
            if tensor.data_location == _EXTERNAL:
                continue
            offset = -(-offset // ALIGN) * ALIGN
            weights.seek(offset)
            weights.write(tensor.raw_data)
            length = len(tensor.raw_data)
            index[tensor.name] = {"dtype": dtype, "shape": list(tensor.dims), "offset": offset, "length": length}
            tensor.ClearField("raw_data")
            tensor.data_location = _EXTERNAL
            for key, value in (("location", "weights.bin"), ("offset", str(offset)), ("length", str(length))):
                tensor.external_data.add(key=key, value=value)
            offset += length
        weights.truncate(-(-offset // ALIGN) * ALIGN or ALIGN)
    with _replacing(folder / "model.onnx") as out:
        out.write(model.SerializeToString())
    with _replacing(folder / INDEX) as out:
        out.write(json.dumps({"format": FORMAT, "source": str(source), "initializers": index}).encode())
    log.info("%s: %d initializer(s), %.1f MB, written for sharing to %s", source, len(index), offset / 1e6, folder)


class _replacing:
    """A temporary file beside ``path``, renamed onto it on success (removed on failure)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")

    def __enter__(self) -> Any:
        self.file = open(self.temporary, "wb")
        return self.file

    def __exit__(self, kind: Any, value: Any, traceback: Any) -> None:
        if kind is None:  # on disk before it is renamed in: a crash never leaves a named, partial file
            self.file.flush()
            os.fsync(self.file.fileno())
        self.file.close()
        if kind is None:
            os.replace(self.temporary, self.path)
        else:
            self.temporary.unlink(missing_ok=True)


def _open(folder: Path) -> SharedWeights:
    index = json.loads((folder / INDEX).read_text())
    arrays: dict[str, np.ndarray] = {}
    entries = index["initializers"]
    if entries:
        whole = np.memmap(folder / "weights.bin", dtype=np.uint8, mode="r")
        for name, entry in entries.items():
            raw = whole[entry["offset"] : entry["offset"] + entry["length"]]
            arrays[name] = raw.view(entry["dtype"]).reshape(entry["shape"])
    return SharedWeights(folder / "model.onnx", arrays, folder)
