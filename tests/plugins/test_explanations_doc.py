"""docs/explanations.md stays true to the code: its hook example is the example plugin's, its parameters the
gateway's, its sample answer adds up."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest
from gatewise.gateway import explanations
from gatewise.plugins.explainer import PARAMETERS

ROOT = Path(__file__).resolve().parents[1].parent
DOC = (ROOT / "docs" / "explanations.md").read_text(encoding="utf-8")
PLUGIN = ROOT / "examples" / "gatewise-shout" / "src" / "gatewise_shout" / "plugin.py"
CLAIMS = ROOT / "examples" / "gatewise-claims" / "src" / "gatewise_claims" / "plugin.py"


def _blocks(language: str) -> list[str]:
    return [body for lang, body in re.findall(r"^```(\w*)\n(.*?)^```", DOC, flags=re.M | re.S) if lang == language]


def _shipped(plugin: Path, *names: str) -> str:
    """The named top-level functions of ``plugin``, decorators included, as the file spells them."""
    source = plugin.read_text(encoding="utf-8")
    functions = {node.name: node for node in ast.parse(source).body if isinstance(node, ast.FunctionDef)}
    lines = source.splitlines()
    parts = []
    for name in names:
        function = functions[name]
        first = function.decorator_list[0].lineno if function.decorator_list else function.lineno
        parts.append("\n".join(lines[first - 1 : function.end_lineno]))
    return "\n\n\n".join(parts) + "\n"


def test_the_hook_examples_are_the_example_plugins_code_verbatim() -> None:
    """The runnable examples are the ones examples/gatewise-shout and gatewise-claims ship and test, not copies
    that can drift."""
    documented = [block for block in _blocks("python") if "def gatewise_explainer" in block]
    assert documented == [
        _shipped(PLUGIN, "gatewise_explainer"),
        _shipped(CLAIMS, "masked_texts", "gatewise_explainer"),
    ]


def test_the_parameter_table_lists_exactly_the_gateways_parameters() -> None:
    section = DOC.split("| request parameter |")[1].split("\n\n")[0]
    documented = re.findall(r"^\| `(\w+)` \|", section, flags=re.M)
    assert sorted(documented) == sorted(PARAMETERS)
    assert f"| {explanations.DEFAULT_SAMPLES}, or the model's `config.toml`" in section  # the default it states


def test_the_documented_answer_adds_up_and_its_offsets_point_into_the_sentence() -> None:
    sentence = re.search(r'^sentence = "(.*)"$', _blocks("python")[0], flags=re.M).group(1)
    document = json.loads(_blocks("json")[0])
    total = sum(item["weight"] for item in document["attributions"])
    assert total == pytest.approx(document["value"] - document["base_value"], abs=1e-3)  # printed to 4 places
    for item in document["attributions"]:
        original = sentence[item["start"] : item["end"]]
        assert original == item["text"] or (item["text"] == "[CARD]" and original == "4111 1111 1111 1111")


def test_every_python_example_compiles() -> None:
    for block in _blocks("python"):
        compile(block, "docs/explanations.md", "exec")
