"""Client strings as they may appear in a log line, span attribute or error message: short and printable.

A model name, tensor name or request id is chosen by the client and may be megabytes long or
carry control characters that forge log lines. Everything the gateway writes about a request
quotes such strings through ``clip``, so what one line costs is bounded whatever was sent.
"""

from __future__ import annotations

from collections.abc import Sequence

QUOTE_CHARS = 64
"""Characters of a client string kept in a log line, span attribute or error message."""

SHAPE_DIMS = 8
"""Dimensions of a client-sent shape quoted before the rest is summarised."""


def clip(value: object, limit: int = QUOTE_CHARS) -> str:
    """``value`` as printable ASCII of at most ``limit`` characters, "..." marking a cut."""
    text = value if isinstance(value, str) else str(value)
    head = text[:limit]
    printable = "".join(char if " " <= char <= "~" else "?" for char in head)
    return printable + ("..." if len(text) > limit else "")


def quote(value: object, limit: int = QUOTE_CHARS) -> str:
    """``clip`` in quotes, as ``repr`` would print a name: ``'finance-sentiment'``."""
    return f"'{clip(value, limit)}'"


def shape_text(shape: Sequence[int]) -> str:
    """A client-sent shape as ``[2, 3]``, its first ``SHAPE_DIMS`` dimensions at most."""
    dims = [str(dim) for dim in list(shape[:SHAPE_DIMS])]
    more = f", ... ({len(shape)} dims)" if len(shape) > SHAPE_DIMS else ""
    return f"[{', '.join(dims)}{more}]"
