"""The plugin machinery's own Prometheus series, prefixed ``gatewise_`` like the gateway's.

They register in prometheus_client's default registry, which the gateway's metrics
endpoint serves, so they need no wiring and the plugins need nothing from the gateway.
"""

from __future__ import annotations

from prometheus_client import Counter

AUDIT_DROPPED = Counter(
    "gatewise_audit_dropped", "Audit events dropped because the audit queue was full (a slow audit plugin)."
)
