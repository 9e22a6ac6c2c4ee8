"""Print pyproject.toml's serving dependencies, one per line, for the image's dependency layer.

The Containerfile installs these before it copies the source, so that layer stays cached
until pyproject.toml changes. ``--onnxruntime onnxruntime-gpu`` swaps the CPU wheel for the
GPU one: both provide the ``onnxruntime`` module and must never be installed side by side.
"""

from __future__ import annotations

import argparse
import re
import tomllib
from pathlib import Path


def requirements(pyproject: Path, onnxruntime: str | None = None) -> list[str]:
    """The ``[project] dependencies`` list, with the ``onnxruntime`` requirement replaced if asked."""
    dependencies = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    if not onnxruntime:
        return dependencies
    kept = [dep for dep in dependencies if re.split(r"[<>=!~;\[ ]", dep, maxsplit=1)[0].strip() != "onnxruntime"]
    if len(kept) == len(dependencies):
        raise SystemExit(f"{pyproject}: no onnxruntime dependency to replace")
    return [*kept, onnxruntime]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pyproject", type=Path)
    parser.add_argument("--onnxruntime", help="the ONNX Runtime requirement to install instead (onnxruntime-gpu)")
    args = parser.parse_args()
    print("\n".join(requirements(args.pyproject, args.onnxruntime)))


if __name__ == "__main__":
    main()
