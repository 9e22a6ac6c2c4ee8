"""How ``gatewise records show`` draws a decision: the demo's pictures, without the lab.

Text explanations as shaded words (green toward the explained label, red against; a masked
span shows its tag), tabular ones as a Shapley bar per field. The lab's drawing code
(``gatewise_lab.demo.show``) lives outside the serving distribution, so this is its small
counterpart with the same colours.
"""

from __future__ import annotations

import json
from typing import Any

from gatewise.gateway.records.chain import CHAINED
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

_TOWARD, _AGAINST, _NEUTRAL = (0, 175, 60), (215, 30, 30), (48, 48, 48)

_APART = {"inputs", "outputs", "explanation", "writer", "prev_hash", "chain", "seq"}
FIELDS = (*(name for name in CHAINED if name not in _APART), "chain", "seq", "hash")
"""The facts table: every chained scalar field (inputs, outputs and explanations get tables of
their own), then where the record stands in its chain."""


def _style(weight: float, scale: float) -> str:
    share = min(1.0, abs(weight) / scale) if scale > 0 else 0.0
    target = _TOWARD if weight > 0 else _AGAINST
    r, g, b = (round(n + (t - n) * share) for n, t in zip(_NEUTRAL, target, strict=True))
    return f"bright_white on rgb({r},{g},{b})"


def shaded_words(explanation: dict[str, Any]) -> Text:
    """The explained words in text order, each shaded by its weight (the input as kept: tags for identifiers)."""
    units = sorted(
        (item for item in explanation.get("attributions", []) if "start" in item), key=lambda item: item["start"]
    )
    scale = max((abs(item["weight"]) for item in units), default=0.0)
    shaded = Text()
    for index, unit in enumerate(units):
        if index:
            shaded.append(" ")
        shaded.append(unit.get("text", f"[{unit['start']}:{unit['end']}]"), style=_style(unit["weight"], scale))
    return shaded


def shapley_bars(explanation: dict[str, Any], width: int = 12) -> Table:
    """One row per field: its value and a bar left (red, lowers the output) or right (green, raises it)."""
    items = explanation.get("attributions", [])
    scale = max((abs(item["weight"]) for item in items), default=0.0)
    table = Table(show_header=True, box=None)
    table.add_column("field")
    table.add_column("value", justify="right")
    table.add_column("Shapley value")
    for item in items:
        blocks = round(abs(item["weight"]) / scale * width) if scale > 0 else 0
        weight = item["weight"]
        left = " " * width if weight >= 0 else " " * (width - blocks) + "█" * blocks
        right = "█" * blocks + " " * (width - blocks) if weight >= 0 else " " * width
        bar = Text.assemble((left, "red"), ("│", "dim"), (right, "green"), f" {weight:+.3f}")
        table.add_row(str(item.get("feature")), str(item.get("value")), bar)
    return table


def explanation_view(explanation: dict[str, Any]) -> RenderableType:
    """Shaded words for a text explanation, Shapley bars for a tabular one, with what was explained."""
    summary = Text(
        f"explained: {explanation.get('label', explanation.get('target', '?'))}   "
        f"base {explanation.get('base_value', 0):+.3f} -> {explanation.get('value', 0):+.3f}   "
        f"({explanation.get('method', '?')}, {explanation.get('samples', '?')} coalitions)",
        style="dim",
    )
    items = explanation.get("attributions", [])
    drawing = shapley_bars(explanation) if items and "feature" in items[0] else shaded_words(explanation)
    return Group(drawing, summary)


def record_view(record: dict[str, Any], attached: list[dict[str, Any]]) -> RenderableType:
    """One decision: its fields, inputs as kept, outputs, and every explanation (its own or attached)."""
    facts = Table(show_header=False, box=None, title=f"decision record {record['id']}", title_justify="left")
    facts.add_column(style="bold")
    facts.add_column()
    for name in FIELDS:
        if record.get(name) is not None:
            facts.add_row(name, str(record[name]))
    parts: list[RenderableType] = [facts]
    for title, values in (
        ("inputs (as kept: identifiers show their tag)", record.get("inputs")),
        ("outputs", record.get("outputs")),
    ):
        if values:
            table = Table(title=title, title_justify="left", show_header=False, box=None)
            table.add_column(style="bold", no_wrap=True)
            table.add_column(overflow="fold")
            for name, value in values.items():
                table.add_row(name, json.dumps(value, ensure_ascii=False))
            parts.append(table)
    explanations = [("explanation", record.get("explanation"))]
    explanations += [
        (f"explanation computed in the background (record {item['id']})", item.get("explanation")) for item in attached
    ]
    for title, rows in explanations:
        for row, explanation in enumerate(rows or []):
            if isinstance(explanation, dict):
                parts.append(Text(f"{title}, row {row}: green toward, red against", style="bold"))
                parts.append(explanation_view(explanation))
    return Group(*parts)
