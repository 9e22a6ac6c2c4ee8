"""Rate-limited log lines: the first of a kind, then one per interval saying how many were left out."""

from __future__ import annotations

import logging

import pytest
from gatewise.gateway import throttle
from gatewise.protos.quoting import clip, quote, shape_text


def test_one_line_per_kind_per_interval_then_a_count(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    now = [100.0]
    monkeypatch.setattr(throttle.time, "monotonic", lambda: now[0])
    limited = throttle.RateLimitedLog(logging.getLogger("gatewise.test.throttle"), every_s=10)
    with caplog.at_level(logging.INFO, logger="gatewise.test.throttle"):
        assert limited(logging.INFO, "refused", "refused %s", "a")
        assert not limited(logging.INFO, "refused", "refused %s", "b")
        assert not limited(logging.INFO, "refused", "refused %s", "c")
        assert limited(logging.INFO, "denied", "denied %s", "d")  # another kind has its own budget
        now[0] += 10
        assert limited(logging.INFO, "refused", "refused %s", "e")
    assert [record.getMessage() for record in caplog.records] == [
        "refused a",
        "denied d",
        "refused e (2 more like it in the last 10 s not logged)",
    ]


def test_client_strings_are_cut_printable_and_short() -> None:
    assert clip("model\nINFO forged line") == "model?INFO forged line"
    assert clip("x" * 1000) == "x" * 64 + "..."
    assert quote("finance-sentiment") == "'finance-sentiment'"
    assert shape_text([1] * 20) == "[1, 1, 1, 1, 1, 1, 1, 1, ... (20 dims)]"
    assert shape_text([2, 4]) == "[2, 4]"
