"""Which models stay in memory: a budget, least-recently-used eviction, and a back-off after failed loads.

Pure bookkeeping, no I/O and no event loop, so its rules are unit-tested with a fake clock;
``gateway.repository`` asks it what to evict and does the evicting.

- The budget is per process: host memory as PSS (``--memory-budget``), and optionally each
  CUDA device's memory (``--device-memory-budget``, the same amount for every device).
- A resident model costs the footprint measured when it loaded (``memory.Footprint``); before
  its first load the size of its engine files stands in for it.
- To make room, idle unpinned models go first, least recently used first. A model with a
  request queued or running (``busy``) is never chosen, and neither is a pinned one.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field

from gatewise.gateway.memory import Footprint, human
from gatewise.protos.errors import GatewiseError, OverBudget


@dataclass(frozen=True)
class Budget:
    """What a process may hold in models: host PSS and per CUDA device in bytes, and a count (None: no limit)."""

    host: int | None = None
    device: int | None = None
    models: int | None = None

    @property
    def limited(self) -> bool:
        return self.host is not None or self.device is not None or self.models is not None


@dataclass
class _Resident:
    footprint: Footprint
    pinned: bool
    last_used: float


@dataclass
class Residency:
    """The resident models, their footprints, pins and last use; answers what to evict."""

    budget: Budget = field(default_factory=Budget)
    clock: Callable[[], float] = time.monotonic
    _resident: dict[str, _Resident] = field(default_factory=dict)

    # ------------------------------------------------------------ bookkeeping

    def add(self, name: str, footprint: Footprint, *, pinned: bool) -> None:
        """``name`` is resident now (a reload replaces its footprint); it counts as just used."""
        self._resident[name] = _Resident(footprint, pinned, self.clock())

    def remove(self, name: str) -> None:
        self._resident.pop(name, None)

    def touch(self, name: str) -> None:
        """A request used ``name``: it moves to the back of the eviction order."""
        resident = self._resident.get(name)
        if resident is not None:
            resident.last_used = self.clock()

    def pin(self, name: str, pinned: bool) -> None:
        resident = self._resident.get(name)
        if resident is not None:
            resident.pinned = pinned

    @property
    def names(self) -> list[str]:
        """Resident models, least recently used first."""
        return sorted(self._resident, key=lambda name: self._resident[name].last_used)

    def footprint(self, name: str) -> Footprint | None:
        resident = self._resident.get(name)
        return resident.footprint if resident else None

    def used_host(self) -> int:
        return sum(resident.footprint.host for resident in self._resident.values())

    def used_device(self, device_id: int | None) -> int:
        return sum(
            r.footprint.device
            for r in self._resident.values()
            if device_id is None or r.footprint.device_id == device_id
        )

    # ------------------------------------------------------------ decisions

    def check_fits(self, name: str, need: Footprint) -> None:
        """OverBudget when ``need`` could never fit: more than the budget left by the pinned models."""
        pinned = [other for other, r in self._resident.items() if r.pinned and other != name]
        host, device = self.budget.host, self.budget.device
        if self.budget.models is not None and len(pinned) + 1 > self.budget.models:
            raise OverBudget(
                f"model {name!r} cannot be resident: {len(pinned)} pinned model(s) fill "
                f"max_resident_models ({self.budget.models})"
            )
        pinned_host = sum(self._resident[other].footprint.host for other in pinned)
        if host is not None and need.host + pinned_host > host:
            raise OverBudget(
                f"model {name!r} needs {human(need.host)} of host memory; the memory budget is {human(host)}"
                + (f", of which pinned models hold {human(pinned_host)}" if pinned_host else "")
            )
        if device is not None and need.device:
            pinned_device = sum(
                self._resident[other].footprint.device
                for other in pinned
                if self._resident[other].footprint.device_id == need.device_id
            )
            if need.device + pinned_device > device:
                raise OverBudget(
                    f"model {name!r} needs {human(need.device)} on CUDA device {need.device_id}; the device memory "
                    f"budget is {human(device)}"
                    + (f", of which pinned models hold {human(pinned_device)}" if pinned_device else "")
                )

    def victims(self, name: str, need: Footprint, busy: Collection[str]) -> list[str] | None:
        """The models to evict so that ``need`` (for ``name``) fits, least recently used first.

        An empty list: it fits already. None: it would fit only by evicting a busy model, so
        the caller waits for one to go idle (``check_fits`` has ruled out never).
        """
        over_host, over_device = self._overshoot(name, need)
        over_count = 0
        if self.budget.models is not None:
            over_count = len(self._resident) - (name in self._resident) + 1 - self.budget.models
        chosen: list[str] = []
        for other in self.names:
            if over_host <= 0 and over_device <= 0 and over_count <= 0:
                break
            resident = self._resident[other]
            if other == name or resident.pinned or other in busy:
                continue
            frees_device = resident.footprint.device if resident.footprint.device_id == need.device_id else 0
            if over_host <= 0 and over_count <= 0 and not frees_device:
                continue  # only device memory is short, and this one holds none there
            chosen.append(other)
            over_host -= resident.footprint.host
            over_device -= frees_device
            over_count -= 1
        return chosen if over_host <= 0 and over_device <= 0 and over_count <= 0 else None

    def _overshoot(self, name: str, need: Footprint) -> tuple[int, int]:
        """How many bytes (host, device) over budget loading ``need`` for ``name`` would go."""
        current = self._resident.get(name)
        host = device = 0
        if self.budget.host is not None:
            already = current.footprint.host if current else 0
            host = self.used_host() - already + need.host - self.budget.host
        if self.budget.device is not None and need.device:
            already = current.footprint.device if current and current.footprint.device_id == need.device_id else 0
            device = self.used_device(need.device_id) - already + need.device - self.budget.device
        return host, device


@dataclass
class Backoff:
    """After a failed load, no new attempt until the back-off passes: 1 s, doubling to 60 s.

    Requests that arrive meanwhile get the failure's own status at once, so a model that
    cannot load costs one attempt per back-off, not one per request.
    """

    initial_s: float = 1.0
    limit_s: float = 60.0
    clock: Callable[[], float] = time.monotonic
    failures: int = 0
    error: GatewiseError | None = None
    retry_at: float = 0.0

    def failed(self, error: GatewiseError) -> float:
        """Record a failure; the seconds until the next attempt."""
        delay = min(self.limit_s, self.initial_s * 2**self.failures)
        self.failures += 1
        self.error = error
        self.retry_at = self.clock() + delay
        return delay

    def succeeded(self) -> None:
        self.failures, self.error, self.retry_at = 0, None, 0.0

    def blocking(self) -> GatewiseError | None:
        """The last failure while the back-off lasts, else None (a load may be tried)."""
        if self.error is not None and self.clock() < self.retry_at:
            return self.error
        return None
