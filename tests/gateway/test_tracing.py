"""OpenTelemetry spans per stage when tracing is on; nothing at all when it is off."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from gatewise.gateway import tracing
from gatewise.gateway.repository import ModelRepository
from gatewise.plugins.manager import PluginManager
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter


@pytest.fixture
def exporter():
    memory = InMemorySpanExporter()
    tracing.configure(True, exporter=memory)
    yield memory
    tracing.configure(False)


async def test_a_request_yields_queue_and_stage_spans(repository: Path, exporter: InMemorySpanExporter) -> None:
    """One request: a queue span under the request's span, and preprocess/compute/postprocess spans."""
    repo = ModelRepository(repository, PluginManager(entry_points=False))
    await repo.load("tiny-sentiment")
    exporter.clear()  # drop warm-up spans
    with tracing.span("infer", model="tiny-sentiment"):
        await repo.get("tiny-sentiment").infer({"text": np.array([b"good"], dtype=object)}, 1, {}, None)
    await repo.close()
    spans = {span.name: span for span in exporter.get_finished_spans()}
    assert {"gatewise.infer", "gatewise.queue", "gatewise.batch", "gatewise.preprocess", "gatewise.compute",
            "gatewise.postprocess"} <= set(spans)  # fmt: skip
    assert spans["gatewise.queue"].parent.span_id == spans["gatewise.infer"].context.span_id
    assert spans["gatewise.batch"].links[0].context.span_id == spans["gatewise.infer"].context.span_id
    assert spans["gatewise.compute"].attributes["rows"] == 1


def test_tracing_off_is_a_shared_no_op() -> None:
    """Off, span() returns the same null context every time and current() is None."""
    tracing.configure(False)
    assert tracing.span("a") is tracing.span("b")
    assert tracing.current() is None


def test_string_attributes_are_cut_to_a_short_prefix(exporter: InMemorySpanExporter) -> None:
    """A client's 20 KB model name becomes a 64-character attribute (and "..."), whatever was sent."""
    with tracing.span("infer", model="m" * 20_000 + "\n", rows=3):
        pass
    [span] = exporter.get_finished_spans()
    assert span.attributes["model"] == "m" * 64 + "..."
    assert span.attributes["rows"] == 3
