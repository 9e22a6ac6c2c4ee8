"""The console's pieces without a server: sessions under an injected clock, histogram quantiles, filters."""

from __future__ import annotations

import math

import pytest
from gatewise.gateway.console.records import parse_filters
from gatewise.gateway.console.session import Sessions
from gatewise.gateway.console.stats import BOUNDS, quantile
from gatewise.gateway.security.principal import Principal
from gatewise.protos.errors import InvalidInput


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_session_idle_past_its_limit_is_gone_and_use_keeps_one_alive() -> None:
    """Each use restarts the idle time; one unused for longer than idle_s is dropped on sight."""
    clock = Clock()
    sessions = Sessions(max_sessions=10, idle_s=60, clock=clock)
    kept, left = sessions.create("key-a", "a"), sessions.create("key-b", "b")
    for _ in range(3):
        clock.now += 45
        assert sessions.get(kept.id) is kept
    assert sessions.get(left.id) is None  # 135 s idle
    clock.now += 61
    assert sessions.get(kept.id) is None
    assert len(sessions) == 0


def test_the_table_is_bounded_and_the_least_recently_used_session_goes_first() -> None:
    clock = Clock()
    sessions = Sessions(max_sessions=2, idle_s=600, clock=clock)
    first, second = sessions.create("k1", "a"), sessions.create("k2", "b")
    clock.now += 1
    assert sessions.get(first.id) is first  # now second is the least recently used
    third = sessions.create("k3", "c")
    assert len(sessions) == 2
    assert sessions.get(second.id) is None
    assert sessions.get(first.id) is first and sessions.get(third.id) is third


def test_ids_and_csrf_tokens_are_fresh_random_values_and_csrf_must_match_exactly() -> None:
    sessions = Sessions(max_sessions=100, idle_s=600)
    made = [sessions.create("k", "a") for _ in range(50)]
    assert len({s.id for s in made} | {s.csrf for s in made}) == 100
    assert all(len(s.id) >= 43 for s in made)  # 32 random bytes, base64url
    session = made[0]
    assert session.csrf_matches(session.csrf)
    assert not session.csrf_matches(None)
    assert not session.csrf_matches("")
    assert not session.csrf_matches(session.csrf[:-1])
    assert not session.csrf_matches(made[1].csrf)


def _cumulative(per_bucket: list[float]) -> tuple[float, ...]:
    total, out = 0.0, []
    for count in per_bucket:
        total += count
        out.append(total)
    return tuple(out)


def test_quantiles_interpolate_inside_the_bucket_as_prometheus_does() -> None:
    counts = [0.0] * len(BOUNDS)
    counts[BOUNDS.index(0.01)] = 100  # every request in (0.005, 0.01]
    cumulative = _cumulative(counts)
    assert quantile(0.5, cumulative) == pytest.approx(0.0075)
    assert quantile(0.99, cumulative) == pytest.approx(0.005 + 0.005 * 0.99)
    assert quantile(0.5, (0.0,) * len(BOUNDS)) is None


def test_a_quantile_past_the_largest_bound_reports_that_bound() -> None:
    counts = [0.0] * len(BOUNDS)
    counts[-1] = 5  # only in +Inf
    assert math.isinf(BOUNDS[-1])
    assert quantile(0.99, _cumulative(counts)) == BOUNDS[-2]


def test_record_filters_are_scoped_to_the_models_the_caller_may_call() -> None:
    alice = Principal("alice", ("tiny-*",))
    filters, given = parse_filters({"model": "add-one", "since": "2h"}, alice, ["add-one", "tiny-a", "tiny-b"])
    assert filters.models == ("tiny-a", "tiny-b") and filters.model == "add-one" and filters.since
    everyone = Principal("ops", ("*",))
    assert parse_filters({}, everyone, ["add-one"])[0].models is None
    with pytest.raises(InvalidInput, match=r"since 'yesterday-ish': give an age \(30m, 12h, 7d\) or a date/time"):
        parse_filters({"since": "yesterday-ish"}, everyone, [])
