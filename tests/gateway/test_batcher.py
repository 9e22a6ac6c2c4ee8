"""The dynamic batcher: triggers, ordering, deadlines, queue bound, failures, cancellation.

Deterministic: the batcher reads a ``FakeClock`` that only the test moves, and the test waits for
what it needs (an instance running, requests queued) instead of sleeping for it.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Sequence

import grpc
import pytest
from gatewise.gateway.batcher import DynamicBatcher, Pending
from gatewise.gateway.config import BatchingConfig
from gatewise.protos.errors import DeadlineExceeded, EngineError, ModelNotReady, QueueFull

DEFAULTS = BatchingConfig()
HOLD_S = DEFAULTS.explanation_hold_ms / 1000
"""How long explanation rows alone are held back while ordinary traffic is about (the batch policy's settings)."""
RECENT_S = DEFAULTS.ordinary_recent_ms / 1000
MAX_WAIT_S = DEFAULTS.explanation_max_wait_ms / 1000


def request(tag: object, rows: int = 1, **fields: object) -> Pending:
    """A queued request that carries ``tag`` (in its parameters) for run_batch to echo."""
    return Pending(inputs={}, parameters={"tag": tag}, rows=rows, **fields)


def tag_of(pending: Pending) -> object:
    return pending.parameters["tag"]


class FakeClock:
    """A monotonic clock that moves only when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


async def until(condition: Callable[[], bool], what: str) -> None:
    """Let the event loop run until ``condition`` holds (queued requests are queued within a few passes)."""
    for _ in range(10_000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError(f"never happened: {what}")


async def queued(batcher: DynamicBatcher, depth: int) -> None:
    await until(lambda: batcher.queue_depth == depth, f"{depth} request(s) queued")


async def wait_for_thread(event: threading.Event, what: str) -> None:
    """Wait, off the event loop, for an instance thread to set ``event``."""
    assert await asyncio.to_thread(event.wait, 5), f"never happened: {what}"


class Recorder:
    """A run_batch that echoes each request's tag and records the batches it was given."""

    def __init__(self, fail_on: object = None, gate: threading.Event | None = None) -> None:
        self.batches: list[list[object]] = []
        self.fail_on = fail_on
        self.gate = gate
        self.running = threading.Event()
        """Set when a batch has started (and waits at the gate, if there is one)."""

    def __call__(self, batch: Sequence[Pending], instance: int) -> list[object]:
        self.running.set()
        if self.gate is not None:
            self.gate.wait(5)
        tags = [tag_of(pending) for pending in batch]
        self.batches.append(tags)
        if self.fail_on in tags:
            raise EngineError("engine failed")
        return [("done", tag) for tag in tags]


def make(
    config: BatchingConfig, run: Recorder, instances: int = 1, clock: Callable[[], float] | None = None
) -> DynamicBatcher:
    batcher = DynamicBatcher("m", config, run, instances, clock=clock or FakeClock())
    batcher.start()
    return batcher


async def occupied(
    config: BatchingConfig, tag: object, rows: int = 1, background: bool = False
) -> tuple[DynamicBatcher, Recorder, threading.Event, asyncio.Future, FakeClock]:
    """A batcher whose only instance is running ``tag`` and stays busy until the gate is set.

    Returns the batcher, its recorder, the gate, the running request and the batcher's clock.
    """
    gate = threading.Event()
    run = Recorder(gate=gate)
    clock = FakeClock()
    batcher = make(config, run, clock=clock)
    running = asyncio.ensure_future(batcher.submit(request(tag, rows=rows, background=background)))
    await wait_for_thread(run.running, f"{tag!r} running")  # the only instance is busy behind the gate
    return batcher, run, gate, running, clock


async def test_full_batch_dispatches_without_waiting_for_the_delay() -> None:
    """Rows reaching max_batch_size go at once even with a long queue delay."""
    run = Recorder()
    batcher = make(BatchingConfig(max_batch_size=4, max_queue_delay_ms=10_000), run)
    results = await asyncio.wait_for(asyncio.gather(*(batcher.submit(request(i, rows=1)) for i in range(4))), timeout=2)
    assert results == [("done", i) for i in range(4)]
    assert run.batches == [[0, 1, 2, 3]]
    await batcher.close()


async def test_partial_batch_waits_for_the_delay_then_goes() -> None:
    """Fewer rows than max go once the oldest has waited max_queue_delay_ms, not before."""
    run = Recorder()
    clock = FakeClock()
    batcher = make(BatchingConfig(max_batch_size=8, max_queue_delay_ms=50), run, clock=clock)
    waiting = asyncio.gather(batcher.submit(request("a", rows=1)), batcher.submit(request("b", rows=2)))
    await queued(batcher, 2)
    clock.advance(0.049)
    await asyncio.sleep(0.06)  # the delay timer fires (real time) and finds the batch not yet due by the clock
    assert run.batches == [] and not waiting.done()
    clock.advance(0.001)
    results = await asyncio.wait_for(waiting, timeout=2)
    assert results == [("done", "a"), ("done", "b")]
    assert run.batches == [["a", "b"]]
    await batcher.close()


async def test_preferred_size_dispatches_early() -> None:
    """Reaching a preferred batch size dispatches without waiting for the delay."""
    run = Recorder()
    batcher = make(BatchingConfig(max_batch_size=8, max_queue_delay_ms=10_000, preferred_batch_sizes=(2,)), run)
    await asyncio.wait_for(asyncio.gather(batcher.submit(request(1, rows=1)), batcher.submit(request(2, rows=1))), 2)
    assert run.batches == [[1, 2]]
    await batcher.close()


async def test_each_caller_gets_its_own_result_under_concurrency() -> None:
    """Many concurrent callers across several batches each get the answer to their own request."""
    run = Recorder()
    batcher = make(BatchingConfig(max_batch_size=5, max_queue_delay_ms=1), run, instances=2, clock=time.monotonic)
    results = await asyncio.gather(*(batcher.submit(request(i, rows=1 + i % 3)) for i in range(60)))
    assert results == [("done", i) for i in range(60)]
    assert all(len(batch) <= 5 for batch in run.batches)
    assert sorted(p for batch in run.batches for p in batch) == list(range(60))
    await batcher.close()


async def test_expired_requests_never_reach_the_engine() -> None:
    """A request whose deadline passes while queued fails DEADLINE_EXCEEDED and is not run."""
    batcher, run, gate, blocker, clock = await occupied(BatchingConfig(max_batch_size=1), "blocker")
    late = asyncio.ensure_future(batcher.submit(request("late", rows=1, deadline=clock() + 0.05)))
    await queued(batcher, 1)
    clock.advance(0.05)
    gate.set()
    assert await blocker == ("done", "blocker")
    with pytest.raises(DeadlineExceeded, match="deadline passed"):
        await late
    assert ["late"] not in run.batches
    await batcher.close()


async def test_full_queue_is_refused_at_once() -> None:
    """Past max_queue_size a request fails RESOURCE_EXHAUSTED immediately; queued ones still finish."""
    batcher, _run, gate, running, _clock = await occupied(BatchingConfig(max_batch_size=1, max_queue_size=2), 0)
    waiting = [asyncio.ensure_future(batcher.submit(request(i, rows=1))) for i in (1, 2)]
    await queued(batcher, 2)
    with pytest.raises(QueueFull, match="queue is full \\(2 requests waiting\\)"):
        await batcher.submit(request(3, rows=1))
    gate.set()
    assert [await task for task in (running, *waiting)] == [("done", 0), ("done", 1), ("done", 2)]
    await batcher.close()


async def test_engine_error_fails_only_its_own_batch() -> None:
    """Every request in the failed batch gets the error; the next batch succeeds."""
    run = Recorder(fail_on="bad")
    batcher = make(BatchingConfig(max_batch_size=2, max_queue_delay_ms=10_000), run)
    first = await asyncio.gather(
        batcher.submit(request("bad", rows=1)),
        batcher.submit(request("x", rows=1)),
        return_exceptions=True,
    )
    assert all(isinstance(result, EngineError) for result in first)
    second = await asyncio.gather(batcher.submit(request("y", rows=1)), batcher.submit(request("z", rows=1)))
    assert second == [("done", "y"), ("done", "z")]
    await batcher.close()


async def test_cancelled_request_is_dropped_before_the_engine() -> None:
    """A client that cancels while queued frees its place; it never runs."""
    batcher, run, gate, running, _clock = await occupied(BatchingConfig(max_batch_size=1), "first")
    waiting = asyncio.ensure_future(batcher.submit(request("cancelled", rows=1)))
    await queued(batcher, 1)
    waiting.cancel()
    gate.set()
    assert await running == ("done", "first")
    assert await batcher.submit(request("after", rows=1)) == ("done", "after")
    assert ["cancelled"] not in run.batches
    await batcher.close()


async def test_rows_of_similar_length_are_batched_together() -> None:
    """With more queued rows than fit, the oldest goes with the most similar lengths."""
    batcher, run, gate, blocker, _clock = await occupied(BatchingConfig(max_batch_size=3), "blocker", rows=3)
    lengths = {"short-1": 10, "long-1": 500, "short-2": 12, "long-2": 480, "short-3": 9, "long-3": 510}
    tasks = [asyncio.ensure_future(batcher.submit(request(name, rows=1, length=n))) for name, n in lengths.items()]
    await queued(batcher, 6)
    gate.set()
    await asyncio.gather(blocker, *tasks)
    assert [sorted(batch) for batch in run.batches[1:]] == [
        ["short-1", "short-2", "short-3"],
        ["long-1", "long-2", "long-3"],
    ]
    await batcher.close()


async def test_cancelled_and_expired_requests_do_not_fill_the_queue() -> None:
    """While the only instance is busy, requests that were cancelled or expired hold no place:
    a new request is queued, not refused RESOURCE_EXHAUSTED, and the expired ones are told so."""
    batcher, run, gate, running, clock = await occupied(BatchingConfig(max_batch_size=1, max_queue_size=2), "running")
    cancelled = asyncio.ensure_future(batcher.submit(request("cancelled", rows=1)))
    expired = asyncio.ensure_future(batcher.submit(request("expired", rows=1, deadline=clock() + 0.02)))
    await queued(batcher, 2)
    cancelled.cancel()
    await until(cancelled.cancelled, "the cancellation delivered")
    clock.advance(0.05)  # past the deadline; the dispatcher is still waiting for the instance
    fresh = [asyncio.ensure_future(batcher.submit(request(f"fresh-{i}", rows=1))) for i in range(2)]
    await until(expired.done, "the expired request answered")
    await queued(batcher, 2)
    with pytest.raises(DeadlineExceeded):
        await asyncio.wait_for(expired, 1)
    with pytest.raises(QueueFull):  # the two live ones fill it again
        await batcher.submit(request("one-too-many", rows=1))
    gate.set()
    assert await running == ("done", "running")
    assert [await task for task in fresh] == [("done", "fresh-0"), ("done", "fresh-1")]
    assert [["cancelled"], ["expired"]] not in run.batches
    await batcher.close()


async def test_requests_queued_when_the_model_closes_are_unavailable() -> None:
    """Closing (unloading) fails what is still queued with ModelNotReady: UNAVAILABLE, not INTERNAL."""
    batcher, _run, gate, running, _clock = await occupied(BatchingConfig(max_batch_size=1), "running")
    waiting = asyncio.ensure_future(batcher.submit(request("queued", rows=1)))
    await queued(batcher, 1)
    closing = asyncio.ensure_future(batcher.close())
    with pytest.raises(ModelNotReady, match="'m' is not ready \\(UNLOADING\\): unloaded") as info:
        await asyncio.wait_for(waiting, 1)
    assert info.value.status == grpc.StatusCode.UNAVAILABLE
    gate.set()
    await closing
    assert await running == ("done", "running")


async def test_requests_that_arrive_together_share_a_batch_without_delay() -> None:
    """With no queue delay, requests that arrive in the same event-loop pass still go as one
    batch: dispatch waits for that pass to end, not for a timer."""
    run = Recorder()
    batcher = make(BatchingConfig(max_batch_size=8, max_queue_delay_ms=0), run)
    results = await asyncio.wait_for(asyncio.gather(*(batcher.submit(request(i, rows=1)) for i in range(5))), 2)
    assert results == [("done", i) for i in range(5)]
    assert run.batches == [[0, 1, 2, 3, 4]]
    await batcher.close()


async def test_instances_run_batches_at_the_same_time() -> None:
    """Two instances, two one-row batches: both run at once (each waits for the other)."""
    both_running = threading.Barrier(2, timeout=2)

    def run(batch: Sequence[Pending], instance: int) -> list[object]:
        both_running.wait()
        return [(instance, tag_of(pending)) for pending in batch]

    batcher = DynamicBatcher("m", BatchingConfig(max_batch_size=1), run, instances=2, clock=FakeClock())
    batcher.start()
    results = await asyncio.wait_for(asyncio.gather(*(batcher.submit(request(i, rows=1)) for i in range(2))), 5)
    assert sorted(instance for instance, _ in results) == [0, 1]
    assert [tag for _, tag in results] == [0, 1]
    await batcher.close()


async def test_a_finishing_instance_takes_the_next_batch_without_the_event_loop() -> None:
    """Under load an instance never waits for the event loop: when its batch finishes it takes
    the next due batch from the queue itself. Here the loop is blocked while that happens."""
    gate = threading.Event()
    first_started = threading.Event()
    second_started = threading.Event()

    def run(batch: Sequence[Pending], instance: int) -> list[object]:
        tags = [tag_of(pending) for pending in batch]
        if tags == ["first"]:
            first_started.set()
            gate.wait(5)
        else:
            second_started.set()
        return [("done", tag) for tag in tags]

    batcher = DynamicBatcher("m", BatchingConfig(max_batch_size=1), run, instances=1, clock=FakeClock())
    batcher.start()
    first = asyncio.ensure_future(batcher.submit(request("first", rows=1)))
    await wait_for_thread(first_started, "'first' running behind the gate")
    second = asyncio.ensure_future(batcher.submit(request("second", rows=1)))
    await queued(batcher, 1)
    gate.set()
    assert second_started.wait(2), "the instance waited for the blocked event loop"
    assert await first == ("done", "first")
    assert await second == ("done", "second")
    await batcher.close()


# ---------------------------------------------------------------- explanation rows (background)


async def test_explanation_rows_keep_to_their_share_of_a_batch_while_ordinary_requests_are_about() -> None:
    """Ordinary requests first; explanation rows take at most explanation_share of each batch (2 of 8 rows),
    and while ordinary traffic is recent a batch of explanation rows alone keeps to that share too."""
    config = BatchingConfig(max_batch_size=8, max_queue_delay_ms=0, explanation_share=0.25)
    batcher, run, gate, running, clock = await occupied(config, "busy")
    background = [asyncio.ensure_future(batcher.submit(request(f"b{i}", rows=2, background=True))) for i in range(3)]
    await queued(batcher, 3)
    ordinary = [asyncio.ensure_future(batcher.submit(request(f"o{i}"))) for i in range(3)]
    await queued(batcher, 6)
    gate.set()
    await asyncio.wait_for(asyncio.gather(running, *ordinary, background[0]), timeout=2)
    for chunk in background[1:]:  # each held back for the clients just answered, then one share at a time
        assert not chunk.done()
        clock.advance(HOLD_S)
        await asyncio.wait_for(chunk, timeout=2)
    assert run.batches == [["busy"], ["o0", "o1", "o2", "b0"], ["b1"], ["b2"]]
    await batcher.close()


async def test_explanation_rows_run_as_full_batches_when_no_ordinary_request_is_about() -> None:
    config = BatchingConfig(max_batch_size=8, max_queue_delay_ms=0, explanation_share=0.25)
    batcher, run, gate, running, _clock = await occupied(config, "busy", rows=2, background=True)
    background = [asyncio.ensure_future(batcher.submit(request(f"b{i}", rows=2, background=True))) for i in range(3)]
    await queued(batcher, 3)
    gate.set()
    await asyncio.wait_for(asyncio.gather(running, *background), timeout=2)
    assert run.batches == [["busy"], ["b0", "b1", "b2"]]
    await batcher.close()


async def test_background_rows_alone_go_at_once_without_the_queue_delay() -> None:
    run = Recorder()
    batcher = make(BatchingConfig(max_batch_size=8, max_queue_delay_ms=10_000), run)
    result = await asyncio.wait_for(batcher.submit(request("b", rows=2, background=True)), timeout=2)
    assert result == ("done", "b")
    await batcher.close()


async def test_background_rows_are_not_refused_by_the_ordinary_queue_bound() -> None:
    """Explanations are bounded where they are admitted (ServedModel.run_rows), not by max_queue_size."""
    batcher, run, gate, running, clock = await occupied(
        BatchingConfig(max_batch_size=4, max_queue_delay_ms=0, max_queue_size=2), "busy"
    )
    background = [asyncio.ensure_future(batcher.submit(request(f"b{i}", background=True))) for i in range(5)]
    ordinary = [asyncio.ensure_future(batcher.submit(request(f"o{i}"))) for i in range(2)]
    await queued(batcher, 7)
    with pytest.raises(QueueFull):
        await batcher.submit(request("o-extra"))
    gate.set()
    assert await asyncio.wait_for(asyncio.gather(*ordinary), timeout=2) == [("done", "o0"), ("done", "o1")]
    clock.advance(RECENT_S)  # no ordinary traffic any more: the rest go at once
    await asyncio.wait_for(asyncio.gather(running, *background), timeout=2)
    assert run.batches[1] == ["o0", "o1", "b0"]  # explanation_share 0.25 of 4 rows: one
    assert batcher.queue_depth == 0
    await batcher.close()


async def test_explanation_rows_still_progress_when_ordinary_requests_fill_every_batch() -> None:
    """A chunk that waited explanation_max_wait_ms takes its share of the next batch, whatever ordinary rows wait."""
    config = BatchingConfig(max_batch_size=8, max_queue_delay_ms=0, explanation_share=0.25)
    batcher, run, gate, running, clock = await occupied(config, "busy")
    background = asyncio.ensure_future(batcher.submit(request("b", rows=2, background=True)))
    await queued(batcher, 1)
    clock.advance(MAX_WAIT_S)
    ordinary = [asyncio.ensure_future(batcher.submit(request(f"o{i}", rows=2))) for i in range(8)]
    await queued(batcher, 9)
    gate.set()
    await asyncio.wait_for(asyncio.gather(running, background, *ordinary[:3]), timeout=2)
    clock.advance(HOLD_S)
    await asyncio.wait_for(asyncio.gather(*ordinary[3:]), timeout=2)
    assert run.batches[1] == ["o0", "o1", "o2", "b"]  # 16 ordinary rows waited; the explanation got its 2
    await batcher.close()


async def test_a_batch_of_explanation_rows_alone_waits_briefly_for_the_ordinary_clients_just_answered() -> None:
    """An instance that finishes while ordinary traffic is about holds explanation rows back for
    explanation_hold_ms, so the clients it just answered get the next batch (first) instead of queueing behind it."""
    config = BatchingConfig(max_batch_size=8, max_queue_delay_ms=0, explanation_share=0.25)
    batcher, run, gate, running, clock = await occupied(config, "busy")
    background = [asyncio.ensure_future(batcher.submit(request(f"b{i}", rows=2, background=True))) for i in range(2)]
    await queued(batcher, 2)
    first = asyncio.ensure_future(batcher.submit(request("o1")))  # ordinary traffic after the explanation was queued
    await queued(batcher, 3)
    gate.set()
    await asyncio.wait_for(asyncio.gather(running, first), timeout=2)
    clock.advance(HOLD_S / 2)  # the answered client sends again, inside the hold
    assert run.batches == [["busy"], ["o1", "b0"]]
    again = await asyncio.wait_for(batcher.submit(request("o2")), timeout=2)
    await asyncio.wait_for(asyncio.gather(*background), timeout=2)
    assert again == ("done", "o2")
    assert run.batches == [["busy"], ["o1", "b0"], ["o2", "b1"]]
    await batcher.close()


async def test_an_explanation_alone_is_not_held_back_by_the_request_it_belongs_to() -> None:
    """The request answered before its explanation's rows were queued is no competition: they run at once, in full."""
    config = BatchingConfig(max_batch_size=8, max_queue_delay_ms=0, explanation_share=0.25)
    run = Recorder()
    clock = FakeClock()
    batcher = make(config, run, clock=clock)
    assert await asyncio.wait_for(batcher.submit(request("own request")), timeout=2) == ("done", "own request")
    clock.advance(0.001)  # the rows are queued after the answer, and the clock stops there: held back, they never go
    background = [batcher.submit(request(f"b{i}", rows=2, background=True)) for i in range(3)]
    await asyncio.wait_for(asyncio.gather(*background), timeout=2)
    assert run.batches == [["own request"], ["b0", "b1", "b2"]]
    await batcher.close()
