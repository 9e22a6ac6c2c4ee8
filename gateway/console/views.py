"""What the console's pages need besides routing: security headers, form reading, the try-it form's
fields, and the model folder's files shown on a model's page."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from aiohttp import web
from gatewise.protos.errors import InvalidInput

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; object-src 'none'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
MAX_FORM_BYTES = 16 * 1024
"""Largest login or logout form body: a credential is a few hundred bytes, a JWT a few KiB."""
MAX_FILE_BYTES = 256 * 1024
"""Largest config.toml or validation.json shown on a model's page."""


def harden(response: web.StreamResponse) -> web.StreamResponse:
    """The headers of every console response: no inline script or style, no framing, no sniffing, no referrer."""
    headers = response.headers
    headers["Content-Security-Policy"] = CSP
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "no-referrer"
    headers["X-Frame-Options"] = "DENY"
    headers["Cross-Origin-Opener-Policy"] = "same-origin"
    if "Cache-Control" not in headers:
        content_type = headers.get("Content-Type", "")
        static = not content_type.startswith(("text/html", "application/json"))
        headers["Cache-Control"] = "no-cache" if static else "no-store"
    return response


def see_other(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location})


def same_origin(request: web.Request) -> bool:
    """Whether a form post came from this console, as far as the browser says: ``Sec-Fetch-Site`` where
    it is sent (every current browser), else ``Origin``. The pages' ``Referrer-Policy: no-referrer``
    makes a browser send ``Origin: null`` for their own form posts, so ``null`` says nothing."""
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None:
        return site in ("same-origin", "none")
    origin = request.headers.get("Origin")
    return origin is None or origin == "null" or urlsplit(origin).netloc == request.host


async def small_form(request: web.Request) -> dict[str, Any]:
    if request.content_length is not None and request.content_length > MAX_FORM_BYTES:
        raise InvalidInput(f"the form is {request.content_length} bytes; at most {MAX_FORM_BYTES} are read")
    body = await request.content.read(MAX_FORM_BYTES + 1)
    if len(body) > MAX_FORM_BYTES:
        raise InvalidInput(f"the form is over {MAX_FORM_BYTES} bytes")
    return {key: values[0] for key, values in parse_qs(body.decode("utf-8", "replace")).items()}


def field_of(spec: Any) -> dict[str, Any]:
    """How the try-it form asks for one input tensor: a text box, one typed field, or a row of numbers."""
    shape = list(spec.shape)
    per_row = shape[1:] if len(shape) > 1 else []
    if spec.name == "text" and spec.datatype == "BYTES" and not per_row:
        kind = "text"
    elif per_row:
        kind = "vector"
    elif spec.datatype == "BOOL":
        kind = "bool"
    elif spec.datatype == "BYTES":
        kind = "string"
    else:
        kind = "number"
    integer = spec.datatype.startswith(("INT", "UINT"))
    return {"name": spec.name, "datatype": spec.datatype, "shape": shape, "kind": kind, "integer": integer}


def read_text(path: Path) -> str | None:
    try:
        with path.open("rb") as handle:
            return handle.read(MAX_FILE_BYTES).decode("utf-8", "replace")
    except OSError:
        return None


def validation(path: Path) -> list[dict[str, Any]] | None:
    """The converter's validation steps (validation.json), as rows of a table; None without one."""
    text = read_text(path)
    if text is None:
        return None
    try:
        document = json.loads(text)
    except ValueError:
        return [{"step": "validation.json", "note": "not valid JSON"}]
    steps = document if isinstance(document, list) else document.get("steps", [document])
    columns = ("step", "output", "rows", "max_abs", "mean_abs", "agreement", "min_cosine")
    return [{column: step.get(column) for column in columns} for step in steps if isinstance(step, dict)]


def pretty(value: Any) -> str:
    return "" if value is None else json.dumps(value, indent=2, ensure_ascii=False)
