"""Residency rules without a model: LRU order, pins, busy models, the budget's errors, back-off, sizes."""

from __future__ import annotations

import pytest
from gatewise.gateway.memory import Footprint, parse_size, pss
from gatewise.gateway.residency import Backoff, Budget, Residency
from gatewise.protos.errors import ModelNotReady, OverBudget

MiB = 1024 * 1024


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def tick(self, seconds: float = 1.0) -> None:
        self.now += seconds


def resident(budget: Budget, *names: str, size: int = 10 * MiB, clock: Clock | None = None) -> Residency:
    clock = clock or Clock()
    residency = Residency(budget, clock)
    for name in names:
        residency.add(name, Footprint(host=size), pinned=False)
        clock.tick()
    return residency


def test_least_recently_used_goes_first() -> None:
    """Evicting for one more model takes the one used longest ago; a request moves a model to the back."""
    clock = Clock()
    residency = resident(Budget(host=30 * MiB), "a", "b", "c", clock=clock)
    assert residency.victims("d", Footprint(host=10 * MiB), busy=()) == ["a"]
    residency.touch("a")
    clock.tick()
    assert residency.names == ["b", "c", "a"]
    assert residency.victims("d", Footprint(host=10 * MiB), busy=()) == ["b"]
    assert residency.victims("d", Footprint(host=25 * MiB), busy=()) == ["b", "c", "a"]


def test_room_already_free_evicts_nothing() -> None:
    residency = resident(Budget(host=100 * MiB), "a", "b")
    assert residency.victims("c", Footprint(host=50 * MiB), busy=()) == []


def test_pinned_and_busy_models_are_never_chosen() -> None:
    """A pinned model and a model with requests are skipped; with nothing else to take, the caller waits (None)."""
    residency = resident(Budget(host=30 * MiB), "a", "b", "c")
    residency.pin("a", True)
    assert residency.victims("d", Footprint(host=10 * MiB), busy={"b"}) == ["c"]
    assert residency.victims("d", Footprint(host=10 * MiB), busy={"b", "c"}) is None


def test_reloading_a_resident_model_counts_only_the_difference() -> None:
    residency = resident(Budget(host=30 * MiB), "a", "b", "c")
    assert residency.victims("c", Footprint(host=10 * MiB), busy=()) == []
    assert residency.victims("c", Footprint(host=15 * MiB), busy=()) == ["a"]


def test_a_count_budget_keeps_that_many_models() -> None:
    residency = resident(Budget(models=2), "a", "b")
    assert residency.victims("c", Footprint(), busy=()) == ["a"]
    assert residency.victims("b", Footprint(), busy=()) == []


def test_device_memory_is_freed_only_by_models_on_that_device() -> None:
    """Short of memory on device 1, a model on device 0 is no help, however old."""
    clock = Clock()
    residency = Residency(Budget(device=8 * MiB), clock)
    residency.add("on0", Footprint(host=MiB, device=6 * MiB, device_id=0), pinned=False)
    clock.tick()
    residency.add("on1", Footprint(host=MiB, device=6 * MiB, device_id=1), pinned=False)
    need = Footprint(host=MiB, device=4 * MiB, device_id=1)
    assert residency.victims("new", need, busy=()) == ["on1"]
    assert residency.victims("new", need, busy={"on1"}) is None


def test_a_model_larger_than_the_budget_is_refused_with_its_size_and_the_budget() -> None:
    residency = resident(Budget(host=100 * MiB), "small")
    residency.pin("small", True)
    with pytest.raises(
        OverBudget, match=r"model 'huge' needs 200.0 MiB of host memory; the memory budget is 100.0 MiB"
    ):
        residency.check_fits("huge", Footprint(host=200 * MiB))
    with pytest.raises(OverBudget, match=r"of which pinned models hold 10.0 MiB"):
        residency.check_fits("big", Footprint(host=95 * MiB))
    residency.check_fits("fits", Footprint(host=90 * MiB))


def test_backoff_doubles_and_answers_with_the_failure_meanwhile() -> None:
    """After a failure no attempt until the back-off passes: 1 s, 2 s, 4 s ... at most the limit."""
    clock = Clock()
    backoff = Backoff(initial_s=1.0, limit_s=3.0, clock=clock)
    error = ModelNotReady("m", "UNAVAILABLE", "load failed: boom")
    assert backoff.blocking() is None
    assert backoff.failed(error) == 1.0
    assert backoff.blocking() is error
    clock.tick(1.0)
    assert backoff.blocking() is None
    assert backoff.failed(error) == 2.0
    assert backoff.failed(error) == 3.0  # capped
    backoff.succeeded()
    assert backoff.blocking() is None and backoff.failures == 0


@pytest.mark.parametrize(("text", "size"), [("4GiB", 4 * 1024**3), ("512MB", 512_000_000), ("1048576", MiB)])
def test_sizes_are_read_as_people_write_them(text: str, size: int) -> None:
    assert parse_size(text, "memory_budget") == size


@pytest.mark.parametrize("text", ["4XB", "lots", "0"])
def test_a_size_that_is_not_one_names_the_setting(text: str) -> None:
    with pytest.raises(ValueError, match=f"memory_budget: '{text}'"):
        parse_size(text, "memory_budget")


def test_pss_reads_this_process() -> None:
    assert pss() > 0
