"""Print the image's dependencies, one per line: pyproject.toml's serving dependencies and one runtime extra.

The Containerfile installs these before it copies the source, so that layer stays cached
until pyproject.toml changes. ``--runtime`` names the extra that brings ONNX Runtime
(``cpu`` for onnxruntime, ``gpu`` for onnxruntime-gpu): exactly one, since both packages
provide the ``onnxruntime`` module and must never be installed side by side.
"""

from __future__ import annotations

import argparse
import tomllib
from pathlib import Path

RUNTIMES = ("cpu", "gpu")


def requirements(pyproject: Path, runtime: str = "cpu") -> list[str]:
    """``[project] dependencies`` followed by the ``runtime`` extra's requirements."""
    project = tomllib.loads(pyproject.read_text())["project"]
    extras = project.get("optional-dependencies", {})
    if runtime not in extras:
        raise SystemExit(f"{pyproject}: no [{runtime}] extra; the runtimes are {', '.join(RUNTIMES)}")
    return [*project["dependencies"], *extras[runtime]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pyproject", type=Path)
    parser.add_argument("--runtime", choices=RUNTIMES, default="cpu", help="the extra that brings ONNX Runtime")
    args = parser.parse_args()
    print("\n".join(requirements(args.pyproject, args.runtime)))


if __name__ == "__main__":
    main()
