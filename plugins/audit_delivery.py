"""The audit thread: ``gatewise_request_finished`` events delivered in order, off the event loop.

``PluginManager.post_request_finished`` posts here for every request, so posting is cheap and
never raises, and a slow audit sink delays only the audit trail, never an answer.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

from gatewise.plugins import metrics

log = logging.getLogger("gatewise.plugins")

AUDIT_QUEUE_SIZE = 10_000
"""Audit events that may wait for a slow audit sink before new ones are dropped."""


class AuditThread:
    """One daemon thread that delivers audit events in order, off the event loop.

    Posting is cheap on purpose (it runs on the event loop for every request): a C
    ``SimpleQueue`` put and two counter reads. The bound is on posted minus delivered.
    """

    def __init__(self, deliver: Callable[..., None], name: str = "gatewise-audit") -> None:
        self._deliver = deliver
        self._name = name
        self._limit = AUDIT_QUEUE_SIZE
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._events: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._posted = 0
        self._delivered = 0
        self.dropped = 0

    def post(self, event: dict[str, Any]) -> None:
        try:
            if self._thread is None:
                self._start()
            if self._posted - self._delivered >= self._limit:
                self._drop()
                return
            self._posted += 1  # only event-loop / caller threads write it; the worker only reads
            self._events.put(event)
        except Exception:
            log.exception("could not queue an audit event")

    def _drop(self) -> None:
        self.dropped += 1
        metrics.AUDIT_DROPPED.inc()
        if self.dropped == 1 or self.dropped % 1000 == 0:
            log.warning(
                "audit queue full (%d events waiting for a slow audit plugin): %d event(s) dropped so far",
                self._limit, self.dropped,
            )  # fmt: skip

    def flush(self, timeout: float | None) -> bool:
        """True once every event posted before this call was delivered (False after ``timeout``)."""
        if self._thread is None:
            return True
        done = threading.Event()
        self._events.put(done)  # FIFO and one worker: once it is reached, everything before it ran
        return done.wait(timeout)

    def close(self, timeout: float | None) -> bool:
        delivered = self.flush(timeout)
        with self._lock:
            thread, events = self._thread, self._events
            self._thread, self._events = None, queue.SimpleQueue()
            self._posted = self._delivered = 0
        if thread is not None:
            events.put(None)  # the stop marker; a stuck sink keeps its daemon thread
            if delivered:
                thread.join(timeout)
        return delivered

    def _start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, args=(self._events,), name=self._name, daemon=True)
                self._thread.start()

    def _run(self, events: queue.SimpleQueue) -> None:
        while True:
            event = events.get()
            if event is None:
                return
            if isinstance(event, threading.Event):
                event.set()
                continue
            try:
                self._deliver(**event)
            except Exception:
                log.exception("audit delivery failed")
            finally:
                if events is self._events:
                    self._delivered += 1  # only this thread writes it
