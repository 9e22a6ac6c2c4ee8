"""The ``gatewise`` facade holds every name that the plugin docs and the example plugins use from it, and the
signatures the docs give are the real ones."""

from __future__ import annotations

import ast
import importlib.util
import inspect
import re
from pathlib import Path
from types import ModuleType

import pytest

import gatewise
import gatewise.testing

ROOT = Path(__file__).resolve().parents[2]
DOCS = (ROOT / "docs" / "plugins.md", ROOT / "docs" / "explanations.md")
EXAMPLES = ROOT / "examples"
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
    packages = {"testing", "gateway", "plugins", "converters", "protos", "__all__"}  # named in prose, not imported
    return {(module, name) for module, name in used if not (module == "gatewise" and name in packages)}


def _inline_code(markdown: str) -> list[str]:
    """The prose's inline code that is Python (`` `from gatewise import mask` ``, `` `gatewise.Span(...)` ``)."""
    prose = re.sub(r"^```.*?^```", "", markdown, flags=re.M | re.S)
    found = []
    for span in re.findall(r"`([^`]+)`", prose):
        try:
            ast.parse(span)
        except SyntaxError:
            continue
        found.append(span)
    return found


def _uses() -> list[tuple[str, str, str]]:
    sources = []
    for doc in DOCS:
        markdown = doc.read_text(encoding="utf-8")
        sources += [(doc.name, code) for code in _code_blocks(markdown) + _inline_code(markdown)]
    for path in sorted(EXAMPLES.rglob("*.py")):
        if "build" not in path.relative_to(EXAMPLES).parts:
            sources.append((str(path.relative_to(ROOT)), path.read_text(encoding="utf-8")))
    return sorted({(where, module, name) for where, source in sources for module, name in _names_used(source)})


def test_the_docs_and_the_examples_import_from_the_facade() -> None:
    """The scan finds the core names, in code blocks, inline code and both examples, so a parser that finds
    nothing cannot pass the test below."""
    used = {(module, name) for _, module, name in _uses()}
    assert {("gatewise", "hookimpl"), ("gatewise", "Signature"), ("gatewise.testing", "PluginHarness")} <= used
    assert {("gatewise", "Explainer"), ("gatewise", "Unit"), ("gatewise", "EXPLANATION_OUTPUT")} <= used
    assert {("gatewise", "MaskedText"), ("gatewise", "classifier_explainer"), ("gatewise", "tokenize_batch")} <= used
    assert {("gatewise", "LogRedactionFilter"), ("gatewise", "Span")} <= used  # inline in docs/plugins.md


def test_the_docs_send_authors_to_the_facade_only() -> None:
    """No code the plugin docs show imports the implementation packages (``gatewise.plugins`` ...)."""
    implementation = ("gatewise.gateway", "gatewise.plugins", "gatewise.converters", "gatewise.protos")
    for doc in DOCS:
        markdown = doc.read_text(encoding="utf-8")
        for code in _code_blocks(markdown) + _inline_code(markdown):
            imported = [node.module for node in ast.walk(ast.parse(code)) if isinstance(node, ast.ImportFrom)]
            wrong = [name for name in imported if name and name.startswith(implementation)]
            assert wrong == [], f"{doc.name} imports {wrong}"


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


def _api_reference() -> ModuleType:
    spec = importlib.util.spec_from_file_location("api_reference", ROOT / "scripts" / "api_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_api_reference_page_is_current() -> None:
    """docs/api.md lists every public name with its real signature: regenerate it with scripts/api_reference.py."""
    reference = _api_reference()
    assert reference.PAGE.read_text(encoding="utf-8") == reference.render(), "run: python scripts/api_reference.py"
    for module in FACADES.values():
        for name in module.__all__:
            assert f"### `{module.__name__}.{name}`" in reference.render()


def _helper_rows() -> list[tuple[str, str]]:
    """``(helper, documented parameters)`` from docs/plugins.md's ``gatewise.testing`` table."""
    table = (ROOT / "docs" / "plugins.md").read_text(encoding="utf-8").split("| helper | what it does |")[1]
    return re.findall(r"^\| `([\w.]+)\(([^`]*)\)` \|", table.split("\n\n")[0], flags=re.M)


def _parameter_names(documented: str) -> list[str]:
    """``"folder, name, *, plugin=None, **config"`` -> ``["folder", "name", "plugin", "config"]``."""
    tree = ast.parse(f"def f({documented}): pass").body[0].args
    names = [arg.arg for arg in tree.posonlyargs + tree.args + tree.kwonlyargs]
    names.insert(len(tree.posonlyargs + tree.args), tree.vararg.arg) if tree.vararg else None
    return names + ([tree.kwarg.arg] if tree.kwarg else [])


@pytest.mark.parametrize(("helper", "documented"), _helper_rows(), ids=[row[0] for row in _helper_rows()])
def test_the_documented_helper_signatures_are_the_real_ones(helper: str, documented: str) -> None:
    """Each row of the table gives the helper's parameters, in order, with their defaults."""
    target = gatewise.testing
    for part in helper.split("."):
        target = getattr(target, part)
    real = inspect.signature(target)
    names = [name for name in real.parameters if name != "self"]
    assert _parameter_names(documented) == names
    arguments = ast.parse(f"def f({documented}): pass").body[0].args
    positional = arguments.posonlyargs + arguments.args
    given = list(zip(positional[len(positional) - len(arguments.defaults) :], arguments.defaults, strict=True))
    given += [
        (arg, default) for arg, default in zip(arguments.kwonlyargs, arguments.kw_defaults, strict=True) if default
    ]
    for argument, default in given:
        assert ast.literal_eval(default) == real.parameters[argument.arg].default, f"default of {argument.arg}"
    required = [name for name, parameter in real.parameters.items() if parameter.default is inspect.Parameter.empty]
    assert {argument.arg for argument, _ in given}.isdisjoint(required)


def test_the_helper_table_covers_every_testing_helper() -> None:
    documented = {helper.split(".")[0] for helper, _ in _helper_rows()}
    functions = {name for name in gatewise.testing.__all__ if callable(getattr(gatewise.testing, name))}
    assert functions - {"gatewise_logs"} <= documented
