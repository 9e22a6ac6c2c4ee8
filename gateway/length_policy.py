"""The length policy: which queued requests run together, and in how many engine calls.

Pure functions; in the gateway only the batch policy (``gateway.batch_policy``) calls them:
it owns every batching decision and passes the settings in.

A text batch is padded to its longest row, so an engine call costs about ``rows x longest
length`` whatever the other rows hold. Every decision below reads one cost hint per
request, ``length``: the longest text it carries in bytes (``length_of``), 0 for a model
without a BYTES input, which the policy then leaves alone.

1. Choosing (``take``, from ``BatchPolicy.next`` under the batcher's lock): when more rows
   are queued than one batch holds, the oldest request goes first and the batch is filled
   with the requests nearest its length; the rest wait for the next batch.
2. Splitting (``split``, from ``Batch.calls`` in the instance thread): the chosen batch may
   still mix short and long texts (everything queued fits, or the nearest lengths were far
   apart).
   Where running it as two calls, shorter rows and longer rows, cuts its padded size by at
   least ``min_saving`` (``[batching] length_split_min_saving``, default ``MIN_SAVING``,
   a fifth), it runs as two, and each part may split again.

A fifth is where the saved padding pays for the extra engine call; what the split did to
the demo classifier's throughput is in docs/benchmarks.md ("Batching and the length policy").
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Protocol, TypeVar

if TYPE_CHECKING:
    from gatewise.gateway.engines.base import Tensors
    from gatewise.protos.tensors import TensorSpec

MIN_SAVING = 0.2
"""A batch splits by length when that saves at least this share of its padded size."""


class Sized(Protocol):
    """What the policy reads of a request: its rows and its length hint."""

    rows: int
    length: int


Request = TypeVar("Request", bound=Sized)


def length_input(inputs: Iterable[TensorSpec]) -> str | None:
    """The input whose length drives padding: the model's first BYTES input, None without one."""
    return next((spec.name for spec in inputs if spec.datatype == "BYTES"), None)


def length_of(inputs: Tensors, name: str | None) -> int:
    """A request's length hint: its longest element of input ``name`` in bytes (0 when ``name`` is None)."""
    if name is None:
        return 0
    return max((len(value) for value in inputs[name].reshape(-1)), default=0)


def take(queue: list[Request], queued_rows: int, limit: int) -> tuple[list[Request], list[Request]]:
    """(the next batch, what stays queued): the oldest request plus the nearest lengths that fit.

    ``queue`` is oldest first; ``queued_rows`` its rows, which the caller has just counted;
    ``limit`` the most rows a batch holds. When everything fits, everything goes.
    """
    if queued_rows <= limit:
        return queue, []
    oldest = queue[0]
    batch, rows = [oldest], oldest.rows
    for request in sorted(queue[1:], key=lambda other: abs(other.length - oldest.length)):
        if rows + request.rows <= limit:
            batch.append(request)
            rows += request.rows
    chosen = set(map(id, batch))
    return batch, [request for request in queue if id(request) not in chosen]


def split(group: list[Request], min_saving: float = MIN_SAVING) -> list[list[Request]]:
    """``group`` as engine calls, each padded only to its own longest row.

    Splits in two (shorter rows | longer rows) where that cuts the padded size, rows x
    longest length, by at least ``min_saving``; each part may split again. Requests without
    a length hint (``length`` 0) never split.
    """
    if len(group) < 2:
        return [group]
    ordered = sorted(group, key=lambda request: request.length)
    rows = sum(request.rows for request in ordered)
    whole = rows * ordered[-1].length
    best_cost, best_split = whole, 0
    rows_before = 0
    for index in range(1, len(ordered)):
        rows_before += ordered[index - 1].rows
        cost = rows_before * ordered[index - 1].length + (rows - rows_before) * ordered[-1].length
        if cost < best_cost:
            best_cost, best_split = cost, index
    if best_split == 0 or best_cost > (1 - min_saving) * whole:
        return [group]
    return split(ordered[:best_split], min_saving) + split(ordered[best_split:], min_saving)
