"""The ``gatewise`` facade holds every name that docs/plugins.md, docs/explanations.md and the example plugin import
from it."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path
from types import ModuleType

import pytest

import gatewise
import gatewise.testing

ROOT = Path(__file__).resolve().parents[2]
DOCS = (ROOT / "docs" / "plugins.md", ROOT / "docs" / "explanations.md")
EXAMPLE = ROOT / "examples" / "gatewise-shout"
FACADES: dict[str, ModuleType] = {"gatewise": gatewise, "gatewise.testing": gatewise.testing}


def _code_blocks(markdown: str) -> list[str]:
    """Python in the fenced blocks: ``python`` blocks whole, and the code of ``python -c "..."`` lines elsewhere."""
    code = []
    for language, body in re.findall(r"^```(\w*)\n(.*?)^```", markdown, flags=re.M | re.S):
        if language == "python":
            code.append(body)
        else:
            code += re.findall(r'python -c "([^"]+)"', body)
    return code


def _names_used(source: str) -> set[tuple[str, str]]:
    """``(facade module, name)`` for each ``from gatewise[.testing] import X`` and ``gatewise[.testing].X``."""
    used = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module in FACADES:
            used |= {(node.module, alias.name) for alias in node.names}
        elif isinstance(node, ast.Attribute) and ast.unparse(node.value) in FACADES:
            used.add((ast.unparse(node.value), node.attr))
    return used - {("gatewise", "testing")}


def _uses() -> list[tuple[str, str, str]]:
    sources = [(doc.name, block) for doc in DOCS for block in _code_blocks(doc.read_text(encoding="utf-8"))]
    for path in sorted(EXAMPLE.rglob("*.py")):
        if "build" not in path.relative_to(EXAMPLE).parts:
            sources.append((str(path.relative_to(ROOT)), path.read_text(encoding="utf-8")))
    return sorted({(where, module, name) for where, source in sources for module, name in _names_used(source)})


def test_the_docs_and_the_example_import_from_the_facade() -> None:
    """The scan finds the core names, so a parser that finds nothing cannot pass the test below."""
    used = {(module, name) for _, module, name in _uses()}
    assert {("gatewise", "hookimpl"), ("gatewise", "Signature"), ("gatewise.testing", "PluginHarness")} <= used
    assert {("gatewise", "Explainer"), ("gatewise", "Unit"), ("gatewise", "EXPLANATION_OUTPUT")} <= used


@pytest.mark.parametrize(("where", "module", "name"), _uses())
def test_every_name_the_docs_use_is_exported(where: str, module: str, name: str) -> None:
    """A name shown to plugin authors is importable from the facade and listed in its ``__all__``."""
    assert hasattr(FACADES[module], name), f"{where} uses {module}.{name}, which {module} does not export"
    assert name in FACADES[module].__all__


@pytest.mark.parametrize("module", FACADES.values(), ids=FACADES.keys())
def test_all_is_exactly_what_the_facade_exports(module: ModuleType) -> None:
    """``__all__`` lists every public name of the facade and nothing it does not define."""
    public = {name for name, value in vars(module).items() if not name.startswith("_") and not inspect.ismodule(value)}
    assert sorted(module.__all__) == sorted(public)


def test_the_facade_names_the_implementation_objects() -> None:
    """The facade re-exports, it does not copy: ``gatewise.hookimpl`` is the marker pluggy matches."""
    from gatewise.plugins.hookspecs import hookimpl
    from gatewise.protos.errors import InvalidInput

    assert gatewise.hookimpl is hookimpl
    assert gatewise.InvalidInput is InvalidInput
    assert gatewise.hookimpl.project_name == "gatewise"
