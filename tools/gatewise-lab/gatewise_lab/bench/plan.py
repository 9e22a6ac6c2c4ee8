"""What one ``gatewise bench`` run measures, built once by the command and taken by every bench."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class BenchPlan:
    """The model served, the client concurrencies, and how long and how often each row is measured.

    ``concurrencies`` is kept sorted; a bench that measures one level takes ``top``. ``workers``
    is the server's worker processes where a bench serves the model alone (the console and
    records benches serve with one, as their figures were measured).
    """

    repository: Path
    model: str
    concurrencies: tuple[int, ...]
    seconds: float
    rounds: int = 3
    workers: int = 1

    def __post_init__(self) -> None:
        if not self.concurrencies or min(self.concurrencies) < 1:
            raise ValueError(f"concurrencies must be one or more whole numbers >= 1, not {self.concurrencies!r}")
        if self.seconds <= 0 or self.rounds < 1 or self.workers < 1:
            raise ValueError(
                f"seconds must be > 0, rounds and workers >= 1 (got {self.seconds:g}, {self.rounds}, {self.workers})"
            )
        object.__setattr__(self, "concurrencies", tuple(sorted(self.concurrencies)))

    @property
    def lowest(self) -> int:
        return self.concurrencies[0]

    @property
    def top(self) -> int:
        return self.concurrencies[-1]
