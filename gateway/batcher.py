"""Per-model dynamic batcher: a bounded queue, size/delay triggers, deadlines, instances.

Each request waits on its own future. The batcher forms a batch when a free engine
instance exists and either the queued rows reach ``max_batch_size`` (or a preferred
size) or the oldest request has waited ``max_queue_delay_ms``. When the queue holds more
rows than fit, the oldest request goes first and the rest of the batch is filled with
requests of the most similar length, so little compute goes to padding. Requests whose
deadline passed or whose client cancelled are dropped before they reach an engine. A
failed batch sets its exception on every future in it; none is ever dropped.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

from gateway.config import BatchingConfig
from gateway.errors import DeadlineExceeded, ModelNotReady, QueueFull

log = logging.getLogger("gatewise.batcher")


@dataclass(eq=False)
class Pending:
    """One request waiting in the queue."""

    payload: Any
    rows: int
    length: int = 0
    """A cost hint used to group rows of similar length (e.g. the longest text in bytes)."""
    deadline: float | None = None
    """Absolute ``time.monotonic()`` after which the request is not worth running.

    Not ``loop.time()``: uvloop's is cached per loop iteration at millisecond resolution,
    too coarse for queue times and delays measured in fractions of a millisecond."""
    enqueued: float = 0.0
    future: asyncio.Future = field(default=None)  # type: ignore[assignment]
    trace: Any = None
    """The request's trace context when tracing is on (``gateway.tracing.current()``)."""


RunBatch = Callable[[Sequence[Pending], int], Sequence[Any]]
"""Runs in a worker thread: (requests, instance index) -> one result or exception per request."""


class DynamicBatcher:
    """Queue, trigger and dispatch; the work itself is ``run_batch`` in ``executor``."""

    def __init__(
        self, name: str, config: BatchingConfig, run_batch: RunBatch, instances: int, executor: Executor
    ) -> None:
        self.name = name
        self._config = config
        self._run_batch = run_batch
        self._executor = executor
        self._queue: list[Pending] = []
        self._arrived = asyncio.Event()
        self._free = asyncio.Queue[int]()
        for index in range(instances):
            self._free.put_nowait(index)
        self._in_flight: set[asyncio.Future] = set()
        self._task: asyncio.Task | None = None
        self.on_expired: Callable[[Pending], None] = lambda pending: None

    @property
    def queue_depth(self) -> int:
        return len(self._queue)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._dispatch_forever(), name=f"batcher:{self.name}")

    async def submit(self, pending: Pending) -> Any:
        """Queue ``pending`` and wait for its result; QueueFull at once when the queue is full.

        Only live requests count towards ``max_queue_size``: while every instance is busy the
        dispatcher is not looking at the queue, so before refusing, requests whose client
        cancelled or whose deadline passed are dropped here.
        """
        loop = asyncio.get_running_loop()
        if len(self._queue) >= self._config.max_queue_size:
            self._drop_dead(time.monotonic())
        if len(self._queue) >= self._config.max_queue_size:
            raise QueueFull(self.name, self._config.max_queue_size)
        pending.future = loop.create_future()
        pending.enqueued = time.monotonic()
        self._queue.append(pending)
        self._arrived.set()
        return await pending.future

    async def drain(self) -> None:
        """Wait until nothing is queued or running (used when a model version retires)."""
        while self._queue or self._in_flight:
            await asyncio.sleep(0.005)

    async def close(self) -> None:
        """Stop dispatching; whatever is still queued fails UNAVAILABLE (ModelNotReady) rather than hanging."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        for pending in self._queue:
            if not pending.future.done():
                pending.future.set_exception(ModelNotReady(self.name, "UNLOADING", "unloaded before the request ran"))
        self._queue.clear()
        if self._in_flight:
            await asyncio.gather(*self._in_flight, return_exceptions=True)

    async def _dispatch_forever(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            instance = await self._free.get()
            batch = await self._next_batch()
            future = loop.run_in_executor(self._executor, self._run_batch, batch, instance)
            self._in_flight.add(future)
            future.add_done_callback(lambda done, b=batch, i=instance: self._finish(done, b, i))

    async def _next_batch(self) -> list[Pending]:
        """Wait until a batch is due, then take it off the queue."""
        while True:
            self._drop_dead(time.monotonic())
            if self._queue:
                rows = sum(pending.rows for pending in self._queue)
                due = self._queue[0].enqueued + self._config.max_queue_delay_ms / 1000
                if rows >= self._config.max_batch_size or rows in self._config.preferred_batch_sizes:
                    return self._take()
                if time.monotonic() >= due:
                    return self._take()
                timeout = due - time.monotonic()
            else:
                timeout = None
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), timeout)
            except TimeoutError:
                pass

    def _drop_dead(self, now: float) -> None:
        alive = []
        for pending in self._queue:
            if pending.future.done():  # cancelled by its client
                continue
            if pending.deadline is not None and now >= pending.deadline:
                pending.future.set_exception(DeadlineExceeded(self.name))
                self.on_expired(pending)
                continue
            alive.append(pending)
        self._queue = alive

    def _take(self) -> list[Pending]:
        """The oldest request plus the most similar-length others that fit."""
        limit = self._config.max_batch_size
        if sum(pending.rows for pending in self._queue) <= limit:
            batch, self._queue = self._queue, []
            return batch
        oldest, rest = self._queue[0], self._queue[1:]
        batch, rows = [oldest], oldest.rows
        for pending in sorted(rest, key=lambda other: abs(other.length - oldest.length)):
            if rows + pending.rows <= limit:
                batch.append(pending)
                rows += pending.rows
        chosen = set(map(id, batch))
        self._queue = [pending for pending in self._queue if id(pending) not in chosen]
        return batch

    def _finish(self, done: asyncio.Future, batch: list[Pending], instance: int) -> None:
        self._in_flight.discard(done)
        self._free.put_nowait(instance)
        error = done.exception() if not done.cancelled() else asyncio.CancelledError()
        results = [error] * len(batch) if error is not None else done.result()
        for pending, result in zip(batch, results, strict=True):
            if pending.future.done():
                continue
            if isinstance(result, BaseException):
                pending.future.set_exception(result)
            else:
                pending.future.set_result(result)
