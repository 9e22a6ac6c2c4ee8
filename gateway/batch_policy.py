"""The batch policy: which queued rows run together, in what order, and as which engine calls.

One entry point, ``BatchPolicy.next(now)``: the batcher calls it (under its lock) whenever an
instance is free, and gets back the batch due now, if any (its requests in answer order, and
``Batch.calls``: how they run as engine calls), the requests that expired, and when to ask
again. The batcher owns the threads, the futures and the timers; everything it decides
about *which* rows go together is here, read from the model's ``[batching]`` settings
(``BatchingConfig``; their docs say units and defaults):

1. Ordinary requests first. A batch goes when the queued rows reach ``max_batch_size`` (or a
   preferred size) or the oldest has waited ``max_queue_delay_ms``. When more rows wait
   than fit, the oldest request goes with the nearest lengths (``length_policy.take``).
2. Explanation rows (``Pending.background``) wait in a queue of their own, queued in chunks
   of ``explanation_share`` of a batch (``background_chunks``), and fill at most that share
   of a batch of ordinary requests. While ordinary traffic is about (since the waiting
   explanation rows were queued, an ordinary request arrived or was answered in the last
   ``ordinary_recent_ms``), a batch of explanation rows alone keeps to that share too and
   is held ``explanation_hold_ms`` first, so the clients just answered get the next batch.
   With no ordinary traffic they run as full batches, at once. A chunk that has waited
   ``explanation_max_wait_ms`` takes its share of the next batch however busy ordinary
   traffic is, so explanations always progress.
3. Engine calls (``Batch.calls``): requests whose tensors agree on every non-batch
   dimension are concatenated, and a call where running shorter and longer rows apart cuts
   the padded size by ``length_split_min_saving`` or more runs as two (``length_policy.split``).

Every length decision reads one cost hint per request, ``Pending.length``, which ``stamp``
sets from the model's first BYTES input (``length_policy.length_of``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from gatewise.gateway import length_policy
from gatewise.gateway.config import BatchingConfig

if TYPE_CHECKING:
    from gatewise.gateway.batcher import Pending
    from gatewise.protos.tensors import TensorSpec


class Batch(list):
    """A batch's requests, in the order their answers come back, and the engine calls that run them."""

    def __init__(self, requests: Sequence[Pending], config: BatchingConfig) -> None:
        super().__init__(requests)
        self._min_saving = config.length_split_min_saving

    @cached_property
    def calls(self) -> list[list[Pending]]:
        """The engine calls, each a list of requests to concatenate: grouped by shape, then split by length.

        Computed on first use, in the instance thread that runs the batch, not under the batcher's lock.
        """
        return [part for group in _group_by_shape(self) for part in length_policy.split(group, self._min_saving)]


@dataclass
class Decision:
    """What ``BatchPolicy.next`` decided: the batch due now (None if none), the expired requests, when to ask again."""

    batch: Batch | None
    expired: list[Pending] = field(default_factory=list)
    due: float | None = None
    """``time.monotonic()`` when a batch falls due, when none is due now (None: ask when something changes)."""


class BatchPolicy:
    """The queued requests of one model and the rules that turn them into batches.

    Not thread-safe: the batcher calls every method under its own lock.
    """

    def __init__(self, config: BatchingConfig, inputs: Iterable[TensorSpec] = ()) -> None:
        self.config = config
        self._length_input = length_policy.length_input(inputs)
        self._queue: list[Pending] = []
        self._background: list[Pending] = []
        """Explanation rows, oldest first. Not bounded by ``max_queue_size``: only rows holding a
        ``ServedModel.explanation_turn`` (``max_concurrent_explanations`` per instance) queue any,
        each at most ``--max-explain-samples`` + 2 coalitions, which bounds it."""
        self._last_ordinary = float("-inf")
        """When an ordinary request was last queued, or last answered (its client is then about to send again)."""
        self._defer_until: float | None = None
        """When a batch of explanation rows alone, held back for ordinary traffic, may go."""

    # ---------------------------------------------------------------- bookkeeping

    @property
    def waiting(self) -> int:
        """Ordinary requests queued: what ``max_queue_size`` bounds."""
        return len(self._queue)

    @property
    def depth(self) -> int:
        """Every queued request, explanation chunks included."""
        return len(self._queue) + len(self._background)

    @property
    def share(self) -> int:
        """The most explanation rows a batch holds while ordinary traffic is about; also their chunk size."""
        return max(1, int(self.config.max_batch_size * self.config.explanation_share))

    def background_chunks(self, rows: int) -> list[tuple[int, int]]:
        """(start, stop) of each chunk that ``rows`` explanation rows are queued in."""
        return [(start, min(start + self.share, rows)) for start in range(0, rows, self.share)]

    def stamp(self, pending: Pending) -> None:
        """Set ``pending.length``, the cost hint, from the model's first BYTES input (left alone without one)."""
        if self._length_input is not None:
            pending.length = length_policy.length_of(pending.inputs, self._length_input)

    def add(self, pending: Pending) -> None:
        """Queue ``pending`` (its ``enqueued`` set); the caller has checked ``max_queue_size``."""
        (self._background if pending.background else self._queue).append(pending)

    def note_traffic(self, requests: Sequence[Pending], now: float) -> None:
        """``requests`` arrived (queued or refused) or were answered at ``now``: if any is ordinary,
        ordinary traffic is about (an answered client is about to send again)."""
        if any(not pending.background for pending in requests):
            self._last_ordinary = now

    def remove_dead(self, now: float) -> list[Pending]:
        """Drop requests whose client cancelled or whose deadline passed; return the expired ones."""
        expired: list[Pending] = []
        self._queue = _alive(self._queue, now, expired)
        self._background = _alive(self._background, now, expired)
        return expired

    def take_all(self) -> list[Pending]:
        """Empty the queues (the model is closing); every request that waited, ordinary ones first."""
        queued, self._queue, self._background = self._queue + self._background, [], []
        return queued

    # ---------------------------------------------------------------- the entry point

    def next(self, now: float) -> Decision:
        """The batch due at ``now``, if any; it only reads futures, never sets them."""
        expired = self.remove_dead(now)
        if not (self._queue or self._background):
            return Decision(None, expired)
        config = self.config
        limit = config.max_batch_size
        rows = sum(pending.rows for pending in self._queue)
        if not self._background:
            full = rows >= limit or rows in config.preferred_batch_sizes
            due = self._queue[0].enqueued + config.max_queue_delay_ms / 1000
            if not full and now < due:
                return Decision(None, expired, due)
        share = self.share
        waited = now - self._background[0].enqueued if self._background else 0.0
        starving = bool(self._background) and waited >= config.explanation_max_wait_ms / 1000
        # A waiting explanation chunk is owed its share even when ordinary requests could fill the batch.
        ordinary_limit = limit - min(share, self._background[0].rows) if starving else limit
        # Ordinary traffic "about": a request arrived recently, and since the oldest explanation rows were
        # queued (the request an explanation belongs to came before them and is no competition).
        recent = (
            bool(self._background)
            and self._last_ordinary >= self._background[0].enqueued
            and now - self._last_ordinary < config.ordinary_recent_ms / 1000
        )
        if not self._queue and recent and not starving:
            if self._defer_until is None:
                self._defer_until = now + config.explanation_hold_ms / 1000
            if now < self._defer_until:
                return Decision(None, expired, self._defer_until)
        self._defer_until = None
        batch, self._queue = length_policy.take(self._queue, rows, ordinary_limit) if self._queue else ([], [])
        room = limit - sum(pending.rows for pending in batch)
        if batch or recent:
            room = min(room, share)
        while self._background and (self._background[0].rows <= room or not batch):
            filler = self._background.pop(0)
            batch.append(filler)
            room -= filler.rows
        return Decision(Batch(batch, config), expired)


def engine_calls(requests: Sequence[Pending], config: BatchingConfig) -> list[list[Pending]]:
    """The engine calls for requests batched outside the batcher (tests, benchmarks): ``Batch.calls``."""
    return requests.calls if isinstance(requests, Batch) else Batch(requests, config).calls


def _group_by_shape(batch: Sequence[Pending]) -> list[list[Pending]]:
    """Requests whose tensors agree on every non-batch dimension, which can be concatenated."""
    groups: dict[tuple, list[Pending]] = {}
    for pending in batch:
        key = tuple((name, array.shape[1:]) for name, array in sorted(pending.inputs.items()))
        groups.setdefault(key, []).append(pending)
    return list(groups.values())


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
