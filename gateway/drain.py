"""The drain: which RPCs were accepted, the moment none is left, and the gate that closes.

A rolling update must lose nothing that was sent before SIGTERM. grpc.aio's own
``Server.stop(grace)`` cannot promise that: it refuses at once every call that reached the
transport but has not yet been matched to a handler (under a burst, most of them), and a
load balancer's health ``Watch`` stream never ends by itself, so it always sits out the
whole grace period. So shutdown (``GatewayServer.stop``) runs in steps on this object:

1. ``wait_quiet``: keep serving until no new call arrived for a short while, so every
   call already on the wire has been matched and counted;
2. ``close``: from now on ``admit`` refuses with UNAVAILABLE, which a client may retry on
   another replica (its handler never ran), and open streams are told to wind down;
3. ``wait_idle``: every admitted call has been answered;
4. ``wait_quiet`` again, so calls that arrived meanwhile are refused with UNAVAILABLE
   rather than cancelled by the hard stop;
5. only then the hard stop, which now cancels nothing but health and reflection streams.

A call counts until the task grpc.aio runs it in is done, that is once its response and
status were handed to the transport, not when the handler returns: grpc.aio sends the
response after the handler returns, so a count that ended there let the hard stop cut off
answers that were computed but not yet sent. (``ServicerContext.add_done_callback`` fires
at the same moment, but its list of callbacks ties the RPC's state into a reference cycle
that only the garbage collector frees, later, at any point of another call or test.)

Calls are admitted by the handler wrappers in ``gateway.admission`` rather than by a
server interceptor: any interceptor takes grpc.aio off its fast path for every RPC (what
that cost a bare ``ServerLive`` is in docs/benchmarks.md).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from gatewise.gateway.metrics import IN_FLIGHT
from gatewise.protos.errors import ShuttingDown


class Drain:
    """Counts admitted RPCs, refuses new ones once closed, and tells streams when it closes."""

    def __init__(self) -> None:
        self.count = 0
        self.closed = False
        self.refused = 0
        """Calls refused since the gate closed: each one a retry some client had to make."""
        self.arrivals = 0
        """Calls admitted or refused so far: ``wait_quiet`` watches it move."""
        self._idle = asyncio.Event()
        self._idle.set()
        self._on_close: set[Callable[[], None]] = set()

    def admit(self) -> None:
        """Count the calling RPC until grpc.aio's task for it is done; ShuttingDown once closed.

        Call from the RPC's own task (the handler), before any work.
        """
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("Drain.admit() must be called from an RPC handler's task")
        self.enter()
        task.add_done_callback(self._release)

    def enter(self) -> None:
        """Count a call until ``leave``; ShuttingDown once closed. For a front door whose task
        outlives the call (HTTP keep-alive serves many requests in one task): leave only once
        the answer was handed to the transport."""
        self.arrivals += 1
        if self.closed:
            self.refused += 1
            raise ShuttingDown()
        self.count += 1
        IN_FLIGHT.inc()
        self._idle.clear()

    def leave(self) -> None:
        self._release(None)

    def on_close(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Run ``callback`` (on the loop, no arguments) when the gate closes; returns the
        function that takes it back. A long-lived stream uses it to stop taking requests."""
        self._on_close.add(callback)
        return lambda: self._on_close.discard(callback)

    async def wait_quiet(self, quiet_s: float, limit_s: float, checks: int = 10) -> bool:
        """Wait until no RPC arrived (admitted or refused) for ``quiet_s`` (True) or ``limit_s``
        passed (False).

        Calls that reached the server are matched to handlers one after another on the event
        loop; while that goes on, arrivals keep coming, and a pause means the backlog is
        through. The pause must also span ``checks`` turns of the loop, not only wall time: a
        process the OS did not run for a while (a loaded host) has matched nothing meanwhile,
        and that stall must not pass for quiet. A client that ignores health and keeps sending
        never pauses, hence the limit.
        """
        deadline = time.monotonic() + limit_s
        seen = self.arrivals
        turns, calm_turns, calm_since = 0, 0, time.monotonic()
        while True:
            await asyncio.sleep(quiet_s / checks)
            now = time.monotonic()
            turns += 1
            if self.arrivals != seen:
                seen, calm_turns, calm_since = self.arrivals, 0, now
            else:
                calm_turns += 1
            if calm_turns >= checks and now - calm_since >= quiet_s:
                return True
            if now >= deadline and turns >= checks:  # a stall alone does not use up the limit
                return False

    def close(self) -> None:
        """Refuse every RPC from now on and tell the open streams."""
        self.closed = True
        for callback in list(self._on_close):
            callback()

    async def wait_idle(self) -> None:
        await self._idle.wait()

    def _release(self, task: asyncio.Task | None) -> None:
        self.count -= 1
        IN_FLIGHT.dec()
        if self.count == 0:
            self._idle.set()
