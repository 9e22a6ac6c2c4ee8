"""Rich tables for the demo: what came in, what was redacted, what came out."""

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
    for row, query in enumerate(queries):
        hits = json.loads(out["results"][row])
        table.add_row(query, "\n".join(f"{h['score']:.3f}  {h['id']}  {h['title']}" for h in hits))
    return table


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
