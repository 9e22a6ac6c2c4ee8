"""Per-model dynamic batcher: a bounded queue, size/delay triggers, deadlines, instances.

Each engine instance has its own thread, and every request waits on its own future. A batch
is formed whenever an instance is free and either the queued rows reach ``max_batch_size``
(or a preferred size) or the oldest request has waited ``max_queue_delay_ms``; so decisions
are taken when something changes (a request arrives, a batch finishes, the delay runs out),
never by polling. An instance that finishes a batch takes the next due one itself, under
the queue's lock: under load it never waits for the event loop, which would first have to
win the GIL back (a 5 ms switch interval) before it could hand over more work.

Which requests go together, in what order and as which engine calls is the batch policy's
(``gateway.batch_policy``, its one entry point ``BatchPolicy.next``), which also holds the
queues; this module is the mechanism around it. Requests whose deadline passed or whose
client cancelled are dropped before they reach an engine. ``run_batch`` answers each
request with its result or its error; should it raise instead, that exception fails every
request of the batch, none is dropped. Errors pass through unchanged: they were made
GatewiseErrors where the plugin or the engine was called. Futures are only ever set on
the event loop.

A lone request costs two thread hand-offs: loop -> instance thread -> loop.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gatewise.gateway.batch_policy import BatchPolicy, Decision
from gatewise.gateway.config import BatchingConfig
from gatewise.protos.errors import DeadlineExceeded, ModelNotReady, QueueFull

if TYPE_CHECKING:
    from gatewise.gateway.engines.base import Tensors
    from gatewise.protos.tensors import TensorSpec


@dataclass(eq=False, slots=True)
class Pending:
    """One validated inference request, from the queue until its future is answered."""

    inputs: Tensors
    """The request's input tensors, checked against the model's public signature."""
    parameters: dict[str, Any]
    """The request's parameters, which plugins read through ``BatchContext``."""
    rows: int
    length: int = 0
    """The length policy's cost hint: the longest text in bytes (set by ``BatchPolicy.stamp``)."""
    deadline: float | None = None
    """Absolute ``time.monotonic()`` (the batcher's clock) after which the request is not worth running.

    Not ``loop.time()``: uvloop's is cached per loop iteration at millisecond resolution,
    too coarse for queue times and delays measured in fractions of a millisecond."""
    enqueued: float = 0.0
    future: asyncio.Future = field(default=None)  # type: ignore[assignment]
    trace: Any = None
    """The request's trace context when tracing is on (``gateway.tracing.current()``)."""
    background: bool = False
    """Explanation rows: queued apart, they take at most ``explanation_share`` of a batch (``gateway.batch_policy``)."""


RunBatch = Callable[[Sequence[Pending], int], Sequence[Any]]
"""Runs in an instance's thread: (requests, instance index) -> one result or exception per request."""

_STOP = None


class DynamicBatcher:
    """Queue and triggers shared by the event loop and the instance threads; futures answered on the loop."""

    def __init__(
        self,
        name: str,
        config: BatchingConfig,
        run_batch: RunBatch,
        instances: int,
        *,
        inputs: Iterable[TensorSpec] = (),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.clock = clock
        """Every time the batcher reads (queueing, delays, deadlines, explanation windows, and the queue
        time ``run_batch`` measures); tests pass a clock they move by hand, so their batches do not
        depend on how fast the machine is."""
        self._config = config
        self.policy = BatchPolicy(config, inputs)
        """Which requests run together; ``inputs``, the model's public inputs, say which one's length drives padding."""
        self._run_batch = run_batch
        self._instances = instances
        self._lock = threading.Lock()
        """Guards ``policy``, ``_free`` and ``_closed``: the loop queues requests and hands batches to
        free instances; an instance that finishes takes its next batch itself."""
        self._free = list(range(instances))
        self._inboxes: list[queue.SimpleQueue] = [queue.SimpleQueue() for _ in range(instances)]
        self._threads: list[threading.Thread] = []
        self._idle = asyncio.Event()
        self._idle.set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._dispatch_scheduled = False
        self._timer: asyncio.TimerHandle | None = None
        self._closed = False

    @property
    def queue_depth(self) -> int:
        return self.policy.depth

    def start(self) -> None:
        """Start one thread per instance; needs the running event loop."""
        self._loop = asyncio.get_running_loop()
        for instance in range(self._instances):
            thread = threading.Thread(
                target=self._serve_instance, args=(instance,), name=f"{self.name}-instance-{instance}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    async def submit(self, pending: Pending) -> Any:
        """Queue ``pending`` and wait for its result; QueueFull at once when the queue is full.

        Only live requests count towards ``max_queue_size``: while every instance is busy
        nothing looks at the queue, so before refusing, requests whose client cancelled or
        whose deadline passed are dropped here.
        """
        if self._closed or self._loop is None:
            raise ModelNotReady(self.name, "UNLOADING", "not accepting requests")
        self.policy.stamp(pending)
        pending.future = self._loop.create_future()
        pending.enqueued = self.clock()
        with self._lock:
            if not pending.background:
                self.policy.note_traffic([pending], pending.enqueued)
                if self.policy.waiting >= self._config.max_queue_size:
                    self._fail_expired(self.policy.remove_dead(pending.enqueued))
                if self.policy.waiting >= self._config.max_queue_size:
                    raise QueueFull(self.name, self._config.max_queue_size)
            self.policy.add(pending)
        self._schedule_dispatch()
        return await pending.future

    async def drain(self) -> None:
        """Wait until nothing is queued or running (used when a model version retires)."""
        while self.policy.depth or not self._idle.is_set():
            await asyncio.sleep(0.005)

    async def close(self) -> None:
        """Stop dispatching: whatever is still queued fails UNAVAILABLE (ModelNotReady) rather
        than hanging; running batches finish, then the instance threads end."""
        with self._lock:
            self._closed = True
            queued = self.policy.take_all()
        if self._timer is not None:
            self._timer.cancel()
        for pending in queued:
            if not pending.future.done():
                pending.future.set_exception(ModelNotReady(self.name, "UNLOADING", "unloaded before the request ran"))
        await self._idle.wait()
        for inbox in self._inboxes:
            inbox.put(_STOP)
        threads, self._threads = self._threads, []
        await asyncio.to_thread(lambda: [thread.join() for thread in threads])

    # ---------------------------------------------------------------- event loop side

    def _schedule_dispatch(self) -> None:
        """Dispatch on the next loop pass, so requests that arrive together are batched together."""
        if not self._dispatch_scheduled and self._loop is not None:
            self._dispatch_scheduled = True
            self._loop.call_soon(self._dispatch)

    def _dispatch(self) -> None:
        """Hand every due batch to a free instance; arm the timer for one that is not due yet."""
        self._dispatch_scheduled = False
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        due = None
        with self._lock:
            while self._free:
                decision = self._next_batch(self.clock())
                batch, due = decision.batch, decision.due
                self._fail_expired(decision.expired)
                if batch is None:
                    break
                instance = self._free.pop()
                self._idle.clear()
                self._inboxes[instance].put(batch)
        if due is not None and self._free:
            assert self._loop is not None
            self._timer = self._loop.call_later(max(0.0, due - self.clock()), self._dispatch)

    def _finished(
        self, freed: int | None, batch: list[Pending], results: Sequence[Any], expired: list[Pending]
    ) -> None:
        """Back on the loop: answer every request of ``batch`` and fail those that expired in the
        queue. ``freed``: the instance, when it found nothing due and is free again (then
        dispatch, which may arm the delay timer); None while it runs its next batch."""
        for pending, result in zip(batch, results, strict=True):
            if pending.future.done():  # cancelled by its client while running
                continue
            if isinstance(result, BaseException):
                pending.future.set_exception(result)
            else:
                pending.future.set_result(result)
        self._fail_expired(expired)
        if freed is not None:
            if len(self._free) == self._instances:
                self._idle.set()
            self._dispatch()

    def _fail_expired(self, expired: list[Pending]) -> None:
        for pending in expired:
            if not pending.future.done():
                pending.future.set_exception(DeadlineExceeded(self.name))

    # ---------------------------------------------------------------- under the lock

    def _next_batch(self, now: float) -> Decision:
        """The policy's decision at ``now`` (nothing once closed). Called with the lock held, from the
        loop or a thread: it only reads futures, never sets them; expired requests are failed on the loop."""
        if self._closed:
            return Decision(None, self.policy.remove_dead(now))
        return self.policy.next(now)

    # ---------------------------------------------------------------- instance threads

    def _serve_instance(self, instance: int) -> None:
        """Run the batches handed to this instance. Under load, take the next due batch straight
        from the queue when one finishes, so the instance never waits for the event loop."""
        inbox = self._inboxes[instance]
        batch = inbox.get()
        while batch is not _STOP:
            try:
                results: Sequence[Any] = self._run_batch(batch, instance)
            except BaseException as exc:  # noqa: BLE001 - a failure fails its own batch, nothing else
                results = [exc] * len(batch)  # delivered as raised: the servicer maps it to a status
            with self._lock:
                now = self.clock()
                self.policy.note_traffic(batch, now)  # the clients just answered are about to send again
                decision = self._next_batch(now)
                following, expired = decision.batch, decision.expired
                if following is None:
                    self._free.append(instance)
            assert self._loop is not None
            freed = instance if following is None else None
            self._loop.call_soon_threadsafe(self._finished, freed, batch, results, expired)
            batch = following if following is not None else inbox.get()
