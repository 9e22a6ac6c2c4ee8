"""Regenerate the Python stubs from the .proto files: ``python -m gatewise.protos.generate``.

The stubs register their descriptors in a private pool (``protos._pool.POOL``) instead of
protobuf's default one. tritonclient registers its own copy of the same ``inference``
package in the default pool, and two files defining one symbol in one pool fail to import;
with a private pool the gateway and tritonclient can share a process (tests, benchmarks).
protoc names modules by folder (``protos.grpc_service_pb2``); the folder installs as
``gatewise.protos``, so every generated import and module name is moved under it.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTO_FILES = ("protos/model_config.proto", "protos/grpc_service.proto")
_DEFAULT_POOL = "_descriptor_pool.Default()"
_PRIVATE_POOL = "_private_pool.POOL"


def generate(out_dir: Path = ROOT) -> list[Path]:
    """Run protoc over PROTO_FILES into ``out_dir/protos`` and return the files written."""
    args = [
        "protoc",
        f"-I{ROOT}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *(str(ROOT / name) for name in PROTO_FILES),
    ]
    if protoc.main(args) != 0:
        raise RuntimeError(f"protoc failed: {' '.join(args)}")
    written = sorted((out_dir / "protos").glob("*_pb2*.py*"))
    for path in written:
        if path.name.endswith("_pb2.py"):
            _use_private_pool(path)
        _into_namespace(path)
    return written


def _into_namespace(path: Path) -> None:
    text = re.sub(r"^from protos import ", "from gatewise.protos import ", path.read_text(), flags=re.MULTILINE)
    path.write_text(re.sub(r"'protos\.(\w+_pb2)'", r"'gatewise.protos.\1'", text))


def _use_private_pool(path: Path) -> None:
    text = path.read_text()
    if _DEFAULT_POOL not in text:
        raise RuntimeError(f"{path}: protoc output changed shape; no {_DEFAULT_POOL} found")
    text = text.replace(_DEFAULT_POOL, _PRIVATE_POOL)
    text = re.sub(
        r"^(from google\.protobuf import descriptor_pool as _descriptor_pool)$",
        r"\1\nfrom gatewise.protos import _pool as _private_pool",
        text,
        count=1,
        flags=re.MULTILINE,
    )
    path.write_text(text)


if __name__ == "__main__":
    for written_path in generate(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT):
        print(written_path)
