"""From what the request path hands over (a ``Draft``: references, no copies, no work) to a stored record.

``Draft`` is made on the event loop and must stay cheap; ``build`` runs in the writer's
thread and does the work: decoding tensors, redaction (``redact``), JSON. Nothing of the
raw inputs survives ``build`` but, with ``inputs = "digest"``, their keyed digest.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from gatewise.gateway.records.config import RecordsConfig
from gatewise.gateway.records.redact import RedactedText, digest, redact_text, scrub, scrub_string, strip_words

EXPLANATION = "explanation"
REDACTIONS = "redactions"
DECISION_OUTPUTS = ("label", "decision")
"""Outputs whose value is the decision (``gatewise records query --decision``)."""
TEXT_INPUT = "text"
MAX_ID_CHARS = 128
"""A client-chosen request id is kept to this length, with identifiers in it masked like any text."""


def stored(moment: datetime) -> str:
    """A time as stored: UTC, fixed-width ISO 8601, so text order is time order in both stores."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def now() -> str:
    return stored(datetime.now(UTC))


def new_id() -> str:
    return uuid.uuid4().hex


@dataclass
class Draft:
    """One decision as the request path saw it; turned into a record by ``build`` off the loop."""

    model: str
    version: str
    config: RecordsConfig
    artifact: Path | None
    """The engine file, hashed (once per version) by the writer."""
    plugin: str | None
    plugin_version: str | None
    principal: str
    auth: str
    request_id: str
    trace_id: str | None
    method: str
    status: str
    latency_ms: float
    inputs: dict[str, np.ndarray] | None
    outputs: dict[str, np.ndarray] | None
    kind: str = "decision"
    ref: str | None = None
    id: str = field(default_factory=new_id)
    time: str = field(default_factory=now)


class Artifacts:
    """SHA-256 of each engine file, computed once (by the writer thread) and remembered by path and mtime."""

    def __init__(self) -> None:
        self._known: dict[tuple[Path, float, int], str] = {}

    def sha256(self, path: Path | None) -> str | None:
        if path is None:
            return None
        try:
            stat = path.stat()
        except OSError:
            return None
        key = (path, stat.st_mtime, stat.st_size)
        if key not in self._known:
            digest_ = hashlib.sha256()
            with path.open("rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest_.update(block)
            self._known[key] = digest_.hexdigest()
        return self._known[key]


def build(draft: Draft, artifacts: Artifacts, digest_key: bytes | None) -> dict[str, Any]:
    """The record's columns, less its chain fields (``chain``, ``writer``, ``seq``, ``prev_hash``, ``hash``)."""
    config = draft.config
    outputs = draft.outputs or {}
    own = _json_rows(outputs.get(REDACTIONS))
    rows = _redacted_rows(draft.inputs or {}, own)
    kept_inputs: Any = None
    input_digest = None
    decision = draft.kind == "decision"  # an attached explanation keeps no inputs of its own
    if decision and draft.inputs is not None and config.inputs == "redacted":
        text_name = _text_name(draft.inputs)
        kept_inputs = {name: _kept_input(array, name, own, rows if name == text_name else None)
                       for name, array in draft.inputs.items()}  # fmt: skip
    elif decision and draft.inputs is not None and config.inputs == "digest" and digest_key is not None:
        input_digest = digest(digest_key, {name: _plain(array) for name, array in draft.inputs.items()})
    kept_outputs = None
    if config.outputs and draft.outputs is not None:
        kept_outputs = {name: _scrubbed(array, rows) for name, array in outputs.items() if name != EXPLANATION}
    explanation = None
    if EXPLANATION in outputs and config.explanation != "never":
        explanation = _scrubbed(outputs[EXPLANATION], rows)
        if config.inputs != "redacted":
            explanation = strip_words(explanation)
    return {
        "id": draft.id,
        "kind": draft.kind,
        "ref": draft.ref,
        "time": draft.time,
        "model": draft.model,
        "version": draft.version,
        "artifact_sha256": artifacts.sha256(draft.artifact),
        "plugin": draft.plugin,
        "plugin_version": draft.plugin_version,
        "principal": draft.principal,
        "auth": draft.auth,
        "request_id": scrub_string(draft.request_id[:MAX_ID_CHARS], None) if draft.request_id else None,
        "trace_id": draft.trace_id,
        "method": draft.method,
        "status": draft.status,
        "latency_ms": round(draft.latency_ms, 3),
        "decision": _decision(outputs),
        "inputs": _dump(kept_inputs),
        "input_digest": input_digest,
        "outputs": _dump(kept_outputs),
        "explanation": _dump(explanation),
    }


def _dump(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _text(value: Any) -> str:
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else str(value)


def _json_rows(array: np.ndarray | None) -> list[Any] | None:
    if array is None:
        return None
    rows = []
    for value in array.reshape(-1):
        try:
            rows.append(json.loads(_text(value)))
        except ValueError:
            rows.append(None)
    return rows


def _text_name(inputs: dict[str, np.ndarray]) -> str | None:
    """The input whose rows the outputs' offsets point into: ``text``, else the first BYTES input."""
    array = inputs.get(TEXT_INPUT)
    if array is not None and array.dtype == object:
        return TEXT_INPUT
    return next((name for name, value in inputs.items() if value.dtype == object), None)


def _redacted_rows(inputs: dict[str, np.ndarray], own: list[Any] | None) -> list[RedactedText | None]:
    """Per row, the text input redacted (kept, and its identifiers scrub the outputs); [] without text."""
    name = _text_name(inputs)
    if name is None:
        return []
    array = inputs[name]
    flat = array.reshape(-1)
    return [
        redact_text(_text(value), own[row] if own and row < len(own) and isinstance(own[row], list) else None)
        for row, value in enumerate(flat)
    ]


def _kept_input(
    array: np.ndarray, name: str, own: list[Any] | None, redacted: list[RedactedText | None] | None
) -> list[Any]:
    """An input as kept: strings with identifiers masked (the model's own spans for ``text``), numbers as they were.

    ``redacted``: the rows already redacted (the text input's, by ``_redacted_rows``)."""
    if array.dtype != object:
        return array.tolist()
    if redacted is not None and len(redacted) == array.size:
        return np.array([row.text if row else "" for row in redacted], dtype=object).reshape(array.shape).tolist()
    flat = [_text(value) for value in array.reshape(-1)]
    spans = own if name == TEXT_INPUT and own else None
    kept = [
        redact_text(text, spans[row] if spans and row < len(spans) and isinstance(spans[row], list) else None).text
        for row, text in enumerate(flat)
    ]
    return np.array(kept, dtype=object).reshape(array.shape).tolist()


def _plain(array: np.ndarray) -> Any:
    if array.dtype == object:
        return [_text(value) for value in array.reshape(-1)]
    return array.tolist()


def _scrubbed(array: np.ndarray, rows: list[RedactedText | None]) -> Any:
    """An output as kept: JSON strings parsed, every string scrubbed with its row's identifiers."""
    if array.dtype != object:
        return array.tolist()
    kept = []
    for row, value in enumerate(array.reshape(-1)):
        text = _text(value)
        try:
            parsed: Any = json.loads(text)
        except ValueError:
            parsed = text
        kept.append(scrub(parsed, rows[row] if row < len(rows) else None))
    return kept


def _decision(outputs: dict[str, np.ndarray]) -> str | None:
    for name in DECISION_OUTPUTS:
        if name in outputs and outputs[name].dtype == object:
            return ",".join(_text(value) for value in outputs[name].reshape(-1))
    return None
