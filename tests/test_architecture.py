"""Dependencies run one way: protos <- plugins <- gateway <- converters, and serving stays lean.

Every module of the project's packages is parsed, and every import in it (function-level
ones included) is attributed to its layer: ``gatewise.gateway.x`` to ``gateway``, the facade
``gatewise`` to ``gatewise``. The four folders install under one namespace, ``gatewise``, and
each module has one import path.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ALLOWED: dict[str, set[str]] = {
    "protos": set(),
    "plugins": {"protos"},
    "gateway": {"plugins", "protos"},
    "converters": {"gateway", "plugins", "protos"},
    "gatewise": {"gateway", "plugins", "converters", "protos"},
}
"""What each package may import; ``gatewise`` is the facade on top, which nothing imports."""
PACKAGES = [name for name in ALLOWED if (ROOT / name / "__init__.py").is_file()]
CONVERSION_STACK = ("converters", "torch", "transformers", "onnx", "onnxscript")
"""What serving code never imports, even inside a function."""
NOT_LOADED_BY_SERVING = (*CONVERSION_STACK, "tensorrt")
"""What importing the server and the CLI does not load (tensorrt and onnxruntime load with a model's engine)."""


IMPLEMENTATION = ("gateway", "plugins", "converters", "protos")
"""The repository's top-level folders that install as ``gatewise.<folder>``."""


def installed_name(package: str) -> str:
    return package if package == "gatewise" else f"gatewise.{package}"


def modules(package: str) -> Iterator[tuple[str, Path]]:
    for path in sorted((ROOT / package).rglob("*.py")):
        parts = path.relative_to(ROOT / package).with_suffix("").parts
        dotted = [installed_name(package), *(parts[:-1] if parts[-1] == "__init__" else parts)]
        yield ".".join(dotted), path


def layer(name: str) -> str:
    """The layer an imported module belongs to: ``gatewise.plugins.x`` is ``plugins``."""
    parts = name.split(".")
    if parts[0] == "gatewise":
        return parts[1] if len(parts) > 1 and parts[1] in IMPLEMENTATION else "gatewise"
    return parts[0]


def imported(module: str, path: Path) -> Iterator[tuple[str, int]]:
    """Every module ``path`` imports, absolute, with its line."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                yield ".".join([*base, node.module] if node.module else base), node.lineno
            else:
                yield str(node.module), node.lineno


def package_imports() -> list[tuple[str, str, str]]:
    """(importer package, imported package, where) for every import between the packages."""
    found = []
    for package in PACKAGES:
        for module, path in modules(package):
            for name, line in imported(module, path):
                top = layer(name)
                if top in ALLOWED and top != package:
                    found.append((package, top, f"{path.relative_to(ROOT)}:{line} imports {name}"))
    return found


def test_the_scan_sees_function_level_and_relative_imports(tmp_path: Path) -> None:
    """The scanner itself: an import inside a function counts, a relative one is resolved."""
    source = tmp_path / "mod.py"
    source.write_text("from .sibling import x\n\ndef f():\n    import gatewise.converters.cli\n")
    found = sorted(imported("gatewise.gateway.sub.mod", source))
    assert found == [("gatewise.converters.cli", 4), ("gatewise.gateway.sub.sibling", 1)]
    assert [layer(name) for name, _ in found] == ["converters", "gateway"]


def test_imports_between_packages_follow_the_layers() -> None:
    wrong = [where for importer, target, where in package_imports() if target not in ALLOWED[importer]]
    assert not wrong, "imports against the layering:\n" + "\n".join(wrong)


def test_no_import_cycle_between_packages() -> None:
    graph: dict[str, set[str]] = {package: set() for package in PACKAGES}
    for importer, target, _ in package_imports():
        graph[importer].add(target)

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        return any(nxt == goal or (nxt not in seen and reaches(nxt, goal, seen | {nxt})) for nxt in graph[start])

    cycles = [package for package in PACKAGES if reaches(package, package, {package})]
    assert not cycles, f"packages on an import cycle: {cycles} ({graph})"


@pytest.mark.parametrize("package", ["gateway", "plugins", "protos"])
def test_serving_code_never_imports_the_converters_or_torch(package: str) -> None:
    """Not even inside a function: the serving packages name none of the conversion stack."""
    wrong = [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for module, path in modules(package)
        for name, line in imported(module, path)
        if layer(name) in CONVERSION_STACK
    ]
    assert not wrong, "\n".join(wrong)


def test_a_serving_process_loads_none_of_the_conversion_stack() -> None:
    """A fresh interpreter that imports the server and the CLI and builds ``serve`` leaves them unloaded."""
    code = (
        "import sys, typer\n"
        "import gatewise.gateway.server, gatewise.gateway.cli\n"
        "command = typer.main.get_command(gatewise.gateway.cli.app)\n"
        "assert command.get_command(None, 'serve') is not None\n"
        "layers = {m.split('.')[1] if m.startswith('gatewise.') else m.split('.')[0] for m in sys.modules}\n"
        f"print(sorted(layers & set({list(NOT_LOADED_BY_SERVING)!r})))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]", f"loaded by serving: {done.stdout.strip()}"


def test_pyproject_installs_every_package_folder_under_gatewise() -> None:
    """pyproject.toml lists each folder once (packages, and data folders such as converters/samples), as
    ``gatewise.<folder>...``, mapped to its folder: setuptools warns about an unlisted one and may drop it."""
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert setuptools["package-dir"] == {"gatewise": "gatewise", **{f"gatewise.{p}": p for p in IMPLEMENTATION}}
    on_disk = {
        ".".join([installed_name(top), *folder.relative_to(ROOT / top).parts])
        for top in ("gatewise", *IMPLEMENTATION)
        for folder in [ROOT / top, *(ROOT / top).rglob("*")]
        if folder.is_dir() and folder.name != "__pycache__"
    }
    assert sorted(setuptools["packages"]) == sorted(on_disk)


def test_every_module_has_one_import_path() -> None:
    """Importing every module leaves no file loaded under two names, and the bare folder names refuse to import.

    Run from the repository root, where ``gateway/`` & co. are also visible as top-level packages.
    """
    names = [module for package in PACKAGES for module, path in modules(package) if path.name != "__main__.py"]
    code = (
        "import importlib, sys, collections\n"
        f"for name in {[n for n in names if not n.startswith('gatewise.converters')]!r}:\n"
        "    importlib.import_module(name)\n"
        "files = collections.defaultdict(set)\n"
        "for name, module in list(sys.modules.items()):\n"
        f"    if str(getattr(module, '__file__', None)).startswith({tuple(str(ROOT / p) + '/' for p in PACKAGES)!r}):\n"
        "        files[module.__file__].add(name)\n"
        "twice = {f: sorted(n) for f, n in files.items() if len(n) > 1}\n"
        "refused = []\n"
        f"for bare in {list(IMPLEMENTATION)!r}:\n"
        "    try:\n"
        "        importlib.import_module(bare)\n"
        "    except ImportError as exc:\n"
        "        refused.append(str(exc))\n"
        "print(twice)\n"
        "print(len(refused))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    twice, refused = done.stdout.strip().splitlines()
    assert twice == "{}", f"modules loaded under two names: {twice}"
    assert refused == str(len(IMPLEMENTATION)), "a bare folder name (gateway, plugins ...) imported as a package"
