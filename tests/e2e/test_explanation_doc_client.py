"""docs/explanations.md's tritonclient example runs as written against a real server (only the address differs)."""

from __future__ import annotations

import contextlib
import io
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import RunningServer, start_server, stop_server
from models import build_repository, write_classifier

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "explanations.md"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A 'finance-sentiment' as the example names it: the tiny classifier behind the finance plugin."""
    root = tmp_path_factory.mktemp("documented")
    repository = build_repository(root / "models")
    write_classifier(repository, "finance-sentiment", plugin="finance")
    running = start_server(repository, root / "server.log")
    yield running
    stop_server(running)


def test_the_tritonclient_example_prints_a_weight_per_word_and_the_card_as_its_tag(server: RunningServer) -> None:
    example = next(
        body for body in re.findall(r"^```python\n(.*?)^```", DOC.read_text(encoding="utf-8"), flags=re.M | re.S)
        if "tritonclient" in body
    )  # fmt: skip
    assert '"127.0.0.1:8001"' in example
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(example.replace("127.0.0.1:8001", server.url), {})  # the documented example itself
    lines = printed.getvalue().splitlines()
    assert lines[0] in ("b'negative'", "b'neutral'", "b'positive'", "b'uncertain'")
    words = [line.split()[-1] for line in lines[1:]]
    assert words == ["Refund", "to", "card", "[CARD]", "failed", "margins", "collapsed"]
    assert all(re.fullmatch(r"[+-]\d\.\d{3}", line.split()[0]) for line in lines[1:])
    assert "4111" not in printed.getvalue()
