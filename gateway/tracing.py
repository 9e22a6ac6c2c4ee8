"""OpenTelemetry spans per stage (queue, preprocess, compute, postprocess), when switched on.

Off by default, and free when off: ``span()`` hands back one shared no-op context and
OpenTelemetry is never imported. On (``--tracing``), spans go to the OTLP exporter when
``opentelemetry-exporter-otlp`` is installed and ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set,
else to the console.
"""

from __future__ import annotations

import os
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from gatewise.protos.quoting import clip

_NO_SPAN = nullcontext()
_tracer: Any = None


def configure(enabled: bool, exporter: Any = None) -> None:
    """Switch tracing on or off; ``exporter`` overrides the default (tests pass an in-memory one)."""
    global _tracer
    if not enabled:
        _tracer = None
        return
    try:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SimpleSpanProcessor
    except ImportError as exc:
        raise RuntimeError("--tracing needs OpenTelemetry: pip install 'gatewise[tracing]'") from exc
    provider = TracerProvider(resource=Resource.create({"service.name": "gatewise"}))
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    else:
        provider.add_span_processor(BatchSpanProcessor(_default_exporter() or ConsoleSpanExporter()))
    _tracer = provider.get_tracer("gatewise")


def _default_exporter() -> Any:
    if not os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        return None
    try:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    except ImportError:
        return None
    return OTLPSpanExporter()


def enabled() -> bool:
    return _tracer is not None


def current() -> Any:
    """The caller's trace context, to carry a request's span across the queue to its batch."""
    if _tracer is None:
        return None
    from opentelemetry import context

    return context.get_current()


def extract(headers: Any) -> Any:
    """The trace context a W3C ``traceparent`` header carries (None when tracing is off or none came)."""
    if _tracer is None or "traceparent" not in headers:
        return None
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    return TraceContextTextMapPropagator().extract(carrier={"traceparent": headers["traceparent"]})


def trace_id() -> str | None:
    """The current span's trace id (32 hex digits) while tracing is on, for decision records."""
    if _tracer is None:
        return None
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    return f"{context.trace_id:032x}" if context.is_valid else None


def span(
    name: str, start_time_ns: int | None = None, parent: Any = None, links: Any = (), **attributes: Any
) -> AbstractContextManager[Any]:
    """A span named ``gatewise.<name>`` as the current span, or a shared no-op when tracing is off.

    ``parent`` is a context from ``current()``; ``links`` are contexts of the requests a
    batch serves (one batch span, many requests). String attributes (a model name the client
    chose, say) are cut to a short prefix (``protos.quoting.clip``): a span costs the same
    whatever the client sent.
    """
    if _tracer is None:
        return _NO_SPAN
    from opentelemetry import trace

    attributes = {key: clip(value) if isinstance(value, str) else value for key, value in attributes.items()}
    span_links = [trace.Link(trace.get_current_span(link).get_span_context()) for link in links if link is not None]
    return _tracer.start_as_current_span(
        f"gatewise.{name}", context=parent, start_time=start_time_ns, attributes=attributes, links=span_links
    )
