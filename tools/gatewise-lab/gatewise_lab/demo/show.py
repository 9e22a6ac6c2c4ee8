"""Rich tables for the demo: what came in, what was redacted, what came out, and why.

Explanations (the ``explanation`` output, one JSON document per row) are drawn two ways:
words shaded by their weight (green toward the explained label, red against, stronger
colour for a larger share of the row's largest weight), and per-field Shapley bars for
tabular rows. Both also print their numbers, so a log without colours still says why.
"""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

_TYPE_STYLE = {"PROBLEM": "bold red", "DRUG": "bold green", "DOSAGE": "green", "TEST": "bold cyan",
               "PROCEDURE": "bold magenta", "uncertain": "dim italic"}  # fmt: skip
_LABEL_STYLE = {"positive": "green", "negative": "red", "neutral": "yellow", "uncertain": "dim italic",
                "approve": "green", "decline": "bold red"}  # fmt: skip


def highlighted(text: str, redactions: list[dict[str, Any]], entities: list[dict[str, Any]] = ()) -> Text:
    """The original text with redacted spans struck through in reverse and entities coloured."""
    rich_text = Text(text)
    for item in redactions:
        rich_text.stylize("reverse dim", item["start"], item["end"])
    for item in entities:
        rich_text.stylize(_TYPE_STYLE.get(item["label"], "bold"), item["start"], item["end"])
    return rich_text


def _redaction_list(text: str, redactions: list[dict[str, Any]]) -> str:
    return "\n".join(f"{r['type']} [{r['start']}:{r['end']}]" for r in redactions) or "-"


def sentiment_table(title: str, texts: list[str], out: dict[str, Any], labels: list[str]) -> Table:
    table = Table(title=title, show_lines=True, title_justify="left")
    table.add_column("text in (redacted spans reversed)", ratio=3)
    if "redactions" in out:
        table.add_column("redacted (type \\[start:end])")
    table.add_column("label")
    table.add_column("score", justify="right")
    table.add_column(" / ".join(labels), justify="right")
    for row, text in enumerate(texts):
        redactions = json.loads(out["redactions"][row]) if "redactions" in out else []
        label = out["label"][row]
        cells = [highlighted(text, redactions)]
        if "redactions" in out:
            cells.append(_redaction_list(text, redactions))
        cells += [Text(label, style=_LABEL_STYLE.get(label, "")), f"{out['score'][row]:.2f}",
                  " / ".join(f"{p:.2f}" for p in out["scores"][row])]  # fmt: skip
        table.add_row(*cells)
    return table


def ner_table(texts: list[str], out: dict[str, Any]) -> Table:
    table = Table(title="medical-ner  (plugin: medical)", show_lines=True, title_justify="left")
    table.add_column("text in (identifiers reversed, entities coloured)", ratio=3)
    table.add_column("redacted")
    table.add_column("entities (offsets into the original text)", ratio=2)
    for row, text in enumerate(texts):
        redactions, entities = json.loads(out["redactions"][row]), json.loads(out["entities"][row])
        found = "\n".join(f"{e['label']}: {text[e['start'] : e['end']]!r} ({e['score']:.2f})" for e in entities) or "-"
        table.add_row(highlighted(text, redactions, entities), _redaction_list(text, redactions), found)
    return table


def fraud_table(rows: list[dict[str, Any]], out: dict[str, Any], threshold: float) -> Table:
    table = Table(
        title=f"finance-fraud  (plugin: finance, threshold {threshold})", show_lines=True, title_justify="left"
    )
    table.add_column("transaction in", ratio=3)
    table.add_column("fraud probability", justify="right")
    table.add_column("decision")
    table.add_column("reasons (log-odds added)", ratio=2)
    for index, row in enumerate(rows):
        reasons = json.loads(out["reasons"][index])
        probability = float(out["fraud_probability"][index])
        bar = "█" * round(probability * 20)
        table.add_row(
            ", ".join(f"{k}={v}" for k, v in row.items()),
            f"{probability:.3f} {bar}",
            Text(out["decision"][index], style=_LABEL_STYLE.get(out["decision"][index], "")),
            "\n".join(f"{r['feature']} +{r['contribution']:.3f}" for r in reasons) or "-",
        )
    return table


def search_table(queries: list[str], out: dict[str, Any]) -> Table:
    table = Table(title="retail-search  (plugin: retail, top_k=3)", show_lines=True, title_justify="left")
    table.add_column("query in")
    table.add_column("results (best first)", ratio=2)
    if "explanation" in out:
        table.add_column("why the top result: query words shaded by their share of its similarity", ratio=2)
    for row, query in enumerate(queries):
        hits = json.loads(out["results"][row])
        cells: list[Any] = [query, "\n".join(f"{h['score']:.3f}  {h['id']}  {h['title']}" for h in hits)]
        if "explanation" in out:
            explanation = json.loads(out["explanation"][row])
            summary = f"{_summary(explanation)}\n{strongest_words(explanation, 3)}"
            cells.append(Text("\n").join([shaded_words(query, explanation), Text(summary, "dim")]))
        table.add_row(*cells)
    return table


# ---------------------------------------------------------------- explanations

_TOWARD, _AGAINST, _NEUTRAL = (0, 175, 60), (215, 30, 30), (48, 48, 48)
"""Background colours: full strength toward / against the explained label, and no weight."""


def attribution_style(weight: float, scale: float) -> str:
    """A word's style: its background blends from grey to green (toward) or red (against) by ``|weight| / scale``."""
    share = min(1.0, abs(weight) / scale) if scale > 0 else 0.0
    target = _TOWARD if weight > 0 else _AGAINST
    r, g, b = (round(n + (t - n) * share) for n, t in zip(_NEUTRAL, target, strict=True))
    return f"bright_white on rgb({r},{g},{b})"


def shaded_words(text: str, explanation: dict[str, Any]) -> Text:
    """``text`` (what the client sent) with every explained word shaded by its weight.

    A masked span is drawn as its unit's text, the tag (``[CARD]``): the explanation
    weighed the tag, and never held the value.
    """
    units = sorted((item for item in explanation["attributions"] if "text" in item), key=lambda item: item["start"])
    scale = max((abs(item["weight"]) for item in units), default=0.0)
    shaded, cursor = Text(), 0
    for unit in units:
        shaded.append(text[cursor : unit["start"]])
        shaded.append(unit["text"], style=attribution_style(unit["weight"], scale))
        cursor = unit["end"]
    shaded.append(text[cursor:])
    return shaded


def strongest_words(explanation: dict[str, Any], count: int = 4) -> str:
    """The ``count`` largest weights, signed: ``+0.31 jumped  -0.05 bank``."""
    units = sorted(explanation["attributions"], key=lambda item: -abs(item["weight"]))[:count]
    return "\n".join(f"{item['weight']:+.3f} {item.get('text', item.get('feature'))}" for item in units) or "-"


def _summary(explanation: dict[str, Any]) -> str:
    """What was explained and how it moved from base (nothing kept) to value (everything kept)."""
    return (
        f"{explanation['target']}\nbase {explanation['base_value']:.3f} -> {explanation['value']:.3f}\n"
        f"{explanation['method']}, {explanation['samples']} coalitions"
    )


def explanation_table(title: str, texts: list[str], out: dict[str, Any]) -> Table:
    """One row per text: its words shaded by attribution, what was explained, and the strongest words."""
    table = Table(title=f"{title}: why (the explanation output)", show_lines=True, title_justify="left")
    table.add_column("words shaded: green toward the explained label, red against (masked spans show their tag)",
                     ratio=3)  # fmt: skip
    table.add_column("explained (base: no word kept)", ratio=1)
    table.add_column("strongest words", ratio=1)
    for row, text in enumerate(texts):
        explanation = json.loads(out["explanation"][row])
        table.add_row(shaded_words(text, explanation), _summary(explanation), strongest_words(explanation))
    return table


def shapley_bar(weight: float, scale: float, width: int = 8) -> Text:
    """A bar beside an axis: left and red where ``weight`` lowers the output, right and green where it raises it."""
    blocks = round(abs(weight) / scale * width) if scale > 0 else 0
    left = " " * width if weight >= 0 else " " * (width - blocks) + "█" * blocks
    right = "█" * blocks + " " * (width - blocks) if weight >= 0 else " " * width
    return Text.assemble((left, "red"), ("│", "dim"), (right, "green"), f" {weight:+.2f}")


def fraud_shapley_table(rows: list[dict[str, Any]], out: dict[str, Any]) -> Table:
    """Per field, each transaction's value and its Shapley bar in log-odds of fraud; they add up to value - base."""
    explanations = [json.loads(item) for item in out["explanation"]]
    scale = max((abs(a["weight"]) for e in explanations for a in e["attributions"]), default=0.0)
    first = explanations[0] if explanations else {"method": "-", "samples": 0}
    table = Table(
        title=f"finance-fraud: why (Shapley value per field, in log-odds of fraud, against the background set; "
        f"{first['method']}, {first['samples']} coalitions)",
        title_justify="left",
    )
    table.add_column("field")
    for index, _ in enumerate(rows):
        decision = out["decision"][index]
        table.add_column(
            Text.assemble(f"#{index + 1} ", (decision, _LABEL_STYLE.get(decision, "")),
                          f"  p={float(out['fraud_probability'][index]):.3f}"),
            justify="right",
        )  # fmt: skip
    for position, attribution in enumerate(explanations[0]["attributions"] if explanations else []):
        cells = []
        for explanation in explanations:
            item = explanation["attributions"][position]
            cells.append(Text.assemble(f"{_value(item['value'])} ", shapley_bar(item["weight"], scale)))
        table.add_row(attribution["feature"], *cells)
    table.add_section()
    table.add_row("base: the background's mean", *(f"{e['base_value']:+.2f}" for e in explanations))
    table.add_row("this transaction (base + bars)", *(f"{e['value']:+.2f}" for e in explanations))
    return table


def _value(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def scores_table(manifest: dict[str, Any]) -> Table:
    table = Table(title="held-out scores (measured through the served path at build time)", title_justify="left")
    table.add_column("model")
    table.add_column("scores")
    table.add_column("build s", justify="right")
    for name, entry in manifest.items():
        scores = ", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in entry["held_out"].items())
        table.add_row(name, scores, f"{entry['seconds']}")
    return table


def console() -> Console:
    return Console(width=160) if not Console().is_terminal else Console()
