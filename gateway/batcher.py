"""Per-model dynamic batcher: a bounded queue, size/delay triggers, deadlines, instances.

Each engine instance has its own thread, and every request waits on its own future. A batch
is formed whenever an instance is free and either the queued rows reach ``max_batch_size``
(or a preferred size) or the oldest request has waited ``max_queue_delay_ms``; so decisions
are taken when something changes (a request arrives, a batch finishes, the delay runs out),
never by polling. An instance that finishes a batch takes the next due one itself, under
the queue's lock: under load it never waits for the event loop, which would first have to
win the GIL back (a 5 ms switch interval) before it could hand over more work.

When the queue holds more rows than fit, ``gateway.length_policy`` chooses the batch: the
oldest request and the most similar lengths. Requests whose deadline passed or whose
client cancelled are dropped before they reach an engine. ``run_batch`` answers each
request with its result or its error; should it raise instead, that exception fails every
request of the batch, none is dropped. Errors pass through unchanged: they were made
GatewiseErrors where the plugin or the engine was called. Futures are only ever set on
the event loop.

Explanation rows (``Pending.background``) wait in a queue of their own. A batch is formed
from ordinary requests first; explanation rows then take at most ``explanation_share`` of
it, and while ordinary traffic is about (since the waiting explanation rows were queued, an
ordinary request arrived or was answered in the last ``ORDINARY_RECENT_S``) a batch of
explanation rows alone is held to that share too and waits ``EXPLANATION_DEFER_S`` first,
so an ordinary request waits behind at most one small batch of them and shares its own
batch with at most that many. With no ordinary traffic they run as full batches, at once. Under
ordinary traffic that fills every batch they still progress: a chunk that has waited
``EXPLANATION_WAIT_S`` takes its share of the next batch. On a CPU every row costs the same
wherever it runs, so this share is what explanations may take from ordinary requests under
load; on a GPU the room in a batch is nearly free.

A lone request costs two thread hand-offs: loop -> instance thread -> loop.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gatewise.gateway import length_policy
from gatewise.gateway.config import BatchingConfig
from gatewise.protos.errors import DeadlineExceeded, ModelNotReady, QueueFull

if TYPE_CHECKING:
    from gatewise.gateway.engines.base import Tensors


@dataclass(eq=False, slots=True)
class Pending:
    """One validated inference request, from the queue until its future is answered."""

    inputs: Tensors
    """The request's input tensors, checked against the model's public signature."""
    parameters: dict[str, Any]
    """The request's parameters, which plugins read through ``BatchContext``."""
    rows: int
    length: int = 0
    """The length policy's cost hint: the longest text in bytes (``length_policy.length_of``)."""
    deadline: float | None = None
    """Absolute ``time.monotonic()`` (the batcher's clock) after which the request is not worth running.

    Not ``loop.time()``: uvloop's is cached per loop iteration at millisecond resolution,
    too coarse for queue times and delays measured in fractions of a millisecond."""
    enqueued: float = 0.0
    future: asyncio.Future = field(default=None)  # type: ignore[assignment]
    trace: Any = None
    """The request's trace context when tracing is on (``gateway.tracing.current()``)."""
    background: bool = False
    """Explanation rows: queued apart, they take at most ``explanation_share`` of a batch."""


RunBatch = Callable[[Sequence[Pending], int], Sequence[Any]]
"""Runs in an instance's thread: (requests, instance index) -> one result or exception per request."""

_STOP = None


class DynamicBatcher:
    """Queue and triggers shared by the event loop and the instance threads; futures answered on the loop."""

    ORDINARY_RECENT_S = 0.1
    """How recently an ordinary request must have arrived or been answered for explanation rows to keep their share."""
    EXPLANATION_DEFER_S = 0.01
    """While ordinary traffic is about, a batch of explanation rows alone waits this long first: an
    instance that finishes a batch would otherwise start one before the clients it just answered
    have sent again, and their next requests would queue behind it."""
    EXPLANATION_WAIT_S = 0.1
    """After this long in the queue an explanation chunk joins the next batch however busy ordinary traffic is."""

    def __init__(
        self,
        name: str,
        config: BatchingConfig,
        run_batch: RunBatch,
        instances: int,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self._clock = clock
        """Every time the batcher reads (queueing, delays, deadlines, explanation windows); tests pass a
        clock they move by hand, so their batches do not depend on how fast the machine is."""
        self._config = config
        self._run_batch = run_batch
        self._instances = instances
        self._lock = threading.Lock()
        """Guards ``_queue``, ``_free`` and ``_closed``: the loop queues requests and hands batches to
        free instances; an instance that finishes takes its next batch itself."""
        self._queue: list[Pending] = []
        self._background: list[Pending] = []
        """Explanation rows, oldest first. Not bounded by ``max_queue_size``: only rows holding a
        ``ServedModel.explanation_turn`` (``max_concurrent_explanations`` per instance) queue any,
        each at most ``--max-explain-samples`` + 2 coalitions, which bounds it."""
        self._last_ordinary = float("-inf")
        """``time.monotonic()`` when an ordinary request was last queued, or last answered (its
        client is then about to send again)."""
        self._defer_until: float | None = None
        """When a batch of explanation rows alone, held back for ordinary traffic, may go."""
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
        return len(self._queue) + len(self._background)

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
        pending.future = self._loop.create_future()
        pending.enqueued = self._clock()
        with self._lock:
            if pending.background:
                self._background.append(pending)
            else:
                self._last_ordinary = pending.enqueued
                if len(self._queue) >= self._config.max_queue_size:
                    self._fail_expired(self._remove_dead(pending.enqueued))
                if len(self._queue) >= self._config.max_queue_size:
                    raise QueueFull(self.name, self._config.max_queue_size)
                self._queue.append(pending)
        self._schedule_dispatch()
        return await pending.future

    async def drain(self) -> None:
        """Wait until nothing is queued or running (used when a model version retires)."""
        while self._queue or self._background or not self._idle.is_set():
            await asyncio.sleep(0.005)

    async def close(self) -> None:
        """Stop dispatching: whatever is still queued fails UNAVAILABLE (ModelNotReady) rather
        than hanging; running batches finish, then the instance threads end."""
        with self._lock:
            self._closed = True
            queued, self._queue, self._background = self._queue + self._background, [], []
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
                batch, expired, due = self._next_batch(self._clock())
                self._fail_expired(expired)
                if batch is None:
                    break
                instance = self._free.pop()
                self._idle.clear()
                self._inboxes[instance].put(batch)
        if due is not None and self._free:
            assert self._loop is not None
            self._timer = self._loop.call_later(max(0.0, due - self._clock()), self._dispatch)

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

    def _next_batch(self, now: float) -> tuple[list[Pending] | None, list[Pending], float | None]:
        """(the batch due now or None, the requests that expired, when the oldest falls due if not yet).

        Called with the lock held, from the loop or a thread: it only reads futures, never sets
        them; the expired requests are failed on the loop.
        """
        expired = self._remove_dead(now)
        if self._closed or not (self._queue or self._background):
            return None, expired, None
        limit = self._config.max_batch_size
        rows = sum(pending.rows for pending in self._queue)
        if not self._background:
            full = rows >= limit or rows in self._config.preferred_batch_sizes
            due = self._queue[0].enqueued + self._config.max_queue_delay_ms / 1000
            if not full and now < due:
                return None, expired, due
        share = explanation_rows(self._config)
        starving = bool(self._background) and now - self._background[0].enqueued >= self.EXPLANATION_WAIT_S
        # A waiting explanation chunk is owed its share even when ordinary requests could fill the batch.
        ordinary_limit = limit - min(share, self._background[0].rows) if starving else limit
        # Ordinary traffic "about": a request arrived recently, and since the oldest explanation rows were
        # queued (the request an explanation belongs to came before them and is no competition).
        recent = (
            bool(self._background)
            and self._last_ordinary >= self._background[0].enqueued
            and now - self._last_ordinary < self.ORDINARY_RECENT_S
        )
        if not self._queue and recent and not starving:
            if self._defer_until is None:
                self._defer_until = now + self.EXPLANATION_DEFER_S
            if now < self._defer_until:
                return None, expired, self._defer_until
        self._defer_until = None
        batch, self._queue = length_policy.take(self._queue, rows, ordinary_limit) if self._queue else ([], [])
        room = limit - sum(pending.rows for pending in batch)
        if batch or recent:
            room = min(room, share)
        while self._background and (self._background[0].rows <= room or not batch):
            filler = self._background.pop(0)
            batch.append(filler)
            room -= filler.rows
        return batch, expired, None

    def _remove_dead(self, now: float) -> list[Pending]:
        """Drop requests whose client cancelled or whose deadline passed; return the expired ones."""
        expired: list[Pending] = []
        self._queue = _alive(self._queue, now, expired)
        self._background = _alive(self._background, now, expired)
        return expired

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
                now = self._clock()
                if any(not pending.background for pending in batch):
                    self._last_ordinary = now  # the clients just answered are about to send again
                following, expired, _ = self._next_batch(now)
                if following is None:
                    self._free.append(instance)
            assert self._loop is not None
            freed = instance if following is None else None
            self._loop.call_soon_threadsafe(self._finished, freed, batch, results, expired)
            batch = following if following is not None else inbox.get()


def _alive(queued: list[Pending], now: float, expired: list[Pending]) -> list[Pending]:
    """``queued`` without the cancelled requests and those past their deadline (appended to ``expired``)."""
    alive = []
    for pending in queued:
        if pending.future.done():  # cancelled by its client
            continue
        if pending.deadline is not None and now >= pending.deadline:
            expired.append(pending)
            continue
        alive.append(pending)
    return alive


def explanation_rows(config: BatchingConfig) -> int:
    """The most explanation rows a batch holds while ordinary traffic is about; also their chunk size."""
    return max(1, int(config.max_batch_size * config.explanation_share))
