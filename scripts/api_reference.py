"""Write docs/api.md: every public name of ``gatewise`` and ``gatewise.testing``, its signature and docstring.

Run ``python scripts/api_reference.py`` after changing the public API; tests/plugins/test_public_api.py
fails while the committed page differs from what this renders.
"""

from __future__ import annotations

import dataclasses
import inspect
import sys
import types
from pathlib import Path
from typing import Any

import gatewise
import gatewise.testing

PAGE = Path(__file__).resolve().parents[1] / "docs" / "api.md"
HEADER = """# API reference: `gatewise` and `gatewise.testing`

Generated from the code by `python scripts/api_reference.py` (a test keeps it current): every name
the two public modules export, with its signature and the first paragraph of its docstring. How
to use them: [plugins.md](plugins.md) and [explanations.md](explanations.md).
"""


class _Written:
    """An annotation as the source spells it (the modules use ``from __future__ import annotations``)."""

    def __init__(self, text: Any) -> None:
        self.text = text if isinstance(text, str) else inspect.formatannotation(text)

    def __repr__(self) -> str:
        return self.text


def _parameter(parameter: inspect.Parameter) -> inspect.Parameter:
    if parameter.annotation is not inspect.Parameter.empty:
        parameter = parameter.replace(annotation=_Written(parameter.annotation))
    if inspect.isfunction(parameter.default):  # a function: its name, not its address
        parameter = parameter.replace(default=_Written(parameter.default.__name__))
    return parameter


def signature(obj: Any, *, result: bool = True) -> str:
    """``(arguments) -> result`` with annotations as written; ``self`` and ``cls`` left out."""
    found = inspect.signature(obj)
    parameters = [_parameter(p) for p in found.parameters.values() if p.name not in ("self", "cls")]
    returns = found.return_annotation
    returns = inspect.Signature.empty if returns is inspect.Signature.empty or not result else _Written(returns)
    return str(found.replace(parameters=parameters, return_annotation=returns))


def summary(obj: Any) -> str:
    """The first paragraph of ``obj``'s own docstring, on one line."""
    doc = inspect.getdoc(obj) or ""
    return " ".join(doc.split("\n\n")[0].split())


def _members(cls: type) -> list[tuple[str, Any]]:
    """Public methods and properties defined by ``cls`` itself, in source order."""
    fields = {field.name for field in dataclasses.fields(cls)} if dataclasses.is_dataclass(cls) else set()
    return [
        (name, value)
        for name, value in vars(cls).items()
        if not name.startswith("_") and name not in fields
        and (inspect.isfunction(value) or isinstance(value, (property, classmethod, staticmethod)))
    ]  # fmt: skip


def entry(module: str, name: str, obj: Any) -> list[str]:
    """The section for one exported name."""
    lines = [f"### `{module}.{name}`", ""]
    if inspect.isclass(obj):
        lines += ["```python", f"class {name}{signature(obj, result=False)}", "```", "", summary(obj), ""]
        for member, value in _members(obj):
            if isinstance(value, property):
                lines.append(f"- `.{member}` (property): {summary(value)}".rstrip())
                continue
            function = value.__func__ if isinstance(value, (classmethod, staticmethod)) else value
            kind = "classmethod " if isinstance(value, classmethod) else ""
            lines.append(f"- {kind}`.{member}{signature(function)}`: {summary(function)}")
        return lines + [""]
    if isinstance(obj, types.GenericAlias):
        return lines + [f"A type alias: `{obj!r}`.".replace("numpy.ndarray", "np.ndarray"), ""]
    if hasattr(obj, "project_name"):
        return lines + [
            f"`{type(obj).__module__}.{type(obj).__name__}({obj.project_name!r})`: {summary(type(obj))}",
            "",
        ]
    if callable(obj):
        return lines + ["```python", f"{name}{signature(obj)}", "```", "", summary(obj), ""]
    return lines + [f"A constant: `{obj!r}`.", ""]


def render() -> str:
    lines = [HEADER]
    for module in (gatewise, gatewise.testing):
        lines += [f"## `{module.__name__}`", "", summary(module), ""]
        for name in sorted(module.__all__, key=str.lower):
            lines += entry(module.__name__, name, getattr(module, name))
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    PAGE.write_text(render(), encoding="utf-8")
    sys.stdout.write(f"wrote {PAGE}\n")
