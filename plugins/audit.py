"""Built-in audit trail: who called which model, when, and how it ended; never the data.

A cross-cutting plugin: its ``gatewise_request_finished`` runs for every request of every
model, and for every call the auth interceptor refused (UNAUTHENTICATED, PERMISSION_DENIED).
Each becomes one JSON line on the ``gatewise.audit`` logger (route it to its own file or
collector with standard logging config), written by the gateway's audit thread, not the
event loop. The hook never receives payloads; the client-chosen model name and request id
are cut to 64 printable characters so they cannot smuggle data or forge log lines.

Records go at INFO, except a request answered OK to a caller that proved nothing
(``principal_via == "none"``: no authentication configured): that trail cannot say who, and
a line per request would only cost throughput, so it goes at DEBUG. The level follows how
the caller authenticated, never its name: a key or JWT subject named "anonymous" is at INFO,
and so is every refusal.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from gatewise.plugins.hookspecs import hookimpl
from gatewise.protos.quoting import clip

log = logging.getLogger("gatewise.audit")

MAX_ID_CHARS = 64


@hookimpl
def gatewise_request_finished(
    model_name, model_version, request_id, principal, principal_via, status, rows, duration_s, method
) -> None:
    """Log one audit record per request (the module docstring says at which level; the hookspec types each argument)."""
    level = logging.DEBUG if principal_via == "none" and status == "OK" else logging.INFO
    if not log.isEnabledFor(level):
        return
    record = {
        "event": "request",
        "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "principal": _clean(principal),
        "via": _clean(principal_via),
        "method": _clean(method),
        "model": _clean(model_name),
        "version": _clean(model_version),
        "request_id": _clean(request_id),
        "status": status,
        "rows": rows,
        "duration_ms": round(duration_s * 1000, 3),
    }
    log.log(level, "%s", json.dumps(record, separators=(",", ":")))


def _clean(value: str) -> str:
    """Printable ASCII only, at most MAX_ID_CHARS: a name or an id, never free text (``protos.quoting.clip``)."""
    return clip(value, MAX_ID_CHARS)
