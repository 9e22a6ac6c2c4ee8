"""The batch policy without threads or a loop: ``BatchPolicy.next(now)`` at chosen instants decides every batch."""

from __future__ import annotations

from concurrent.futures import Future

import numpy as np
import pytest
from gatewise.gateway.batch_policy import Batch, BatchPolicy, engine_calls
from gatewise.gateway.batcher import Pending
from gatewise.gateway.config import BatchingConfig, parse_config
from gatewise.protos.errors import InvalidConfig
from gatewise.protos.tensors import TensorSpec

TEXT = (TensorSpec(name="text", datatype="BYTES", shape=(-1,)),)


def queued(policy: BatchPolicy, tag: str, at: float, rows: int = 1, **fields: object) -> Pending:
    """A request queued at ``at`` (the policy's clock) that carries ``tag``."""
    pending = Pending(inputs=fields.pop("inputs", {}), parameters={"tag": tag}, rows=rows, **fields)
    pending.future, pending.enqueued = Future(), at
    policy.stamp(pending)
    if not pending.background:
        policy.note_traffic([pending], at)
    policy.add(pending)
    return pending


def tags(batch: Batch | None) -> list[str] | None:
    return None if batch is None else [pending.parameters["tag"] for pending in batch]


def texts(*values: bytes) -> dict[str, np.ndarray]:
    return {"text": np.array(list(values), dtype=object)}


def test_ordinary_requests_wait_for_the_delay_unless_the_batch_is_full() -> None:
    """Not full: nothing now, and the instant the oldest falls due; full or due: everything queued, oldest first."""
    policy = BatchPolicy(BatchingConfig(max_batch_size=4, max_queue_delay_ms=5))
    queued(policy, "a", at=10.0)
    queued(policy, "b", at=10.001)
    waiting = policy.next(10.002)
    assert waiting.batch is None and waiting.due == pytest.approx(10.005)
    assert tags(policy.next(10.005).batch) == ["a", "b"]
    for index in range(4):
        queued(policy, f"f{index}", at=20.0)
    assert tags(policy.next(20.0).batch) == ["f0", "f1", "f2", "f3"]  # full: no wait
    assert policy.depth == 0


def test_more_rows_than_fit_take_the_oldest_and_the_nearest_lengths() -> None:
    """The oldest request goes with the lengths nearest its own; the rest wait, and the calls split long from short."""
    policy = BatchPolicy(BatchingConfig(max_batch_size=3, max_queue_delay_ms=0), TEXT)
    queued(policy, "oldest", at=1.0, inputs=texts(b"x" * 10))
    queued(policy, "long", at=1.1, inputs=texts(b"x" * 400))
    queued(policy, "near", at=1.2, inputs=texts(b"x" * 12))
    queued(policy, "short", at=1.3, inputs=texts(b"x" * 9))
    queued(policy, "longer", at=1.4, inputs=texts(b"x" * 500))
    first = policy.next(2.0).batch
    assert tags(first) == ["oldest", "short", "near"]
    second = policy.next(2.0).batch
    assert tags(second) == ["long", "longer"]
    mixed = Batch([*first, *second], BatchingConfig())
    assert [tags(call) for call in mixed.calls] == [["short", "oldest", "near"], ["long", "longer"]]


def test_engine_calls_group_by_shape_and_keep_a_batch_whose_split_saves_too_little() -> None:
    """Tensors of different widths never share a call; similar lengths stay one call."""
    config = BatchingConfig(length_split_min_saving=0.5)
    wide = Pending(inputs={"x": np.zeros((1, 8), np.float32)}, parameters={"tag": "wide"}, rows=1)
    narrow = Pending(inputs={"x": np.zeros((1, 4), np.float32)}, parameters={"tag": "narrow"}, rows=1)
    other = Pending(inputs={"x": np.zeros((2, 8), np.float32)}, parameters={"tag": "other"}, rows=2)
    assert [tags(call) for call in engine_calls([wide, narrow, other], config)] == [["wide", "other"], ["narrow"]]
    a = Pending(inputs=texts(b"x" * 10), parameters={"tag": "a"}, rows=1, length=10)
    b = Pending(inputs=texts(b"x" * 14), parameters={"tag": "b"}, rows=1, length=14)
    assert [tags(call) for call in engine_calls([a, b], config)] == [["a", "b"]]  # saves 2/7 < 0.5


def test_explanation_rows_fill_at_most_their_share_of_an_ordinary_batch() -> None:
    """Ordinary requests first; explanation chunks only in the share left for them (2 of 8 rows)."""
    policy = BatchPolicy(BatchingConfig(max_batch_size=8, explanation_share=0.25))
    assert policy.share == 2 and policy.background_chunks(5) == [(0, 2), (2, 4), (4, 5)]
    for index in range(3):
        queued(policy, f"b{index}", at=1.0, rows=2, background=True)
    for index in range(3):
        queued(policy, f"o{index}", at=1.01)
    assert tags(policy.next(1.02).batch) == ["o0", "o1", "o2", "b0"]


def test_explanation_rows_alone_are_held_while_ordinary_traffic_is_about_then_keep_to_their_share() -> None:
    """Right after ordinary traffic, explanation rows alone wait explanation_hold_ms, then take their share."""
    config = BatchingConfig(max_batch_size=8, explanation_share=0.25, explanation_hold_ms=10, ordinary_recent_ms=100)
    policy = BatchPolicy(config)
    for index in range(3):
        queued(policy, f"b{index}", at=1.0, rows=2, background=True)
    answered = Pending(inputs={}, parameters={}, rows=1)
    policy.note_traffic([answered], 1.001)  # an ordinary client was just answered
    held = policy.next(1.002)
    assert held.batch is None and held.due == pytest.approx(1.012)
    assert tags(policy.next(1.012).batch) == ["b0"]


def test_explanation_rows_run_as_full_batches_without_ordinary_traffic() -> None:
    """The request an explanation belongs to came before its rows: no competition, so they go at once, in full."""
    policy = BatchPolicy(BatchingConfig(max_batch_size=8, explanation_share=0.25, explanation_hold_ms=5000))
    policy.note_traffic([Pending(inputs={}, parameters={}, rows=1)], 0.5)
    for index in range(3):
        queued(policy, f"b{index}", at=1.0, rows=2, background=True)
    assert tags(policy.next(1.0).batch) == ["b0", "b1", "b2"]


def test_a_chunk_that_waited_explanation_max_wait_ms_takes_its_share_of_a_full_queue() -> None:
    """Aging: however many ordinary rows wait, a starving chunk gets its rows in the next batch."""
    config = BatchingConfig(max_batch_size=8, explanation_share=0.25, explanation_max_wait_ms=100)
    policy = BatchPolicy(config)
    queued(policy, "b", at=1.0, rows=2, background=True)
    for index in range(8):
        queued(policy, f"o{index}", at=1.05, rows=2)
    assert tags(policy.next(1.099).batch) == ["o0", "o1", "o2", "o3"]  # not yet starving: ordinary fill it
    assert tags(policy.next(1.1).batch) == ["o4", "o5", "o6", "b"]


def test_expired_and_cancelled_requests_never_reach_a_batch() -> None:
    """A request past its deadline is returned as expired; one whose client cancelled is dropped silently."""
    policy = BatchPolicy(BatchingConfig(max_batch_size=4))
    late = queued(policy, "late", at=1.0, deadline=1.5)
    gone = queued(policy, "gone", at=1.0)
    gone.future.cancel()
    queued(policy, "alive", at=1.0)
    decision = policy.next(2.0)
    assert tags(decision.batch) == ["alive"] and decision.expired == [late]


def test_the_length_hint_comes_from_the_first_bytes_input_and_is_left_alone_without_one() -> None:
    with_text = BatchPolicy(BatchingConfig(), TEXT)
    pending = Pending(inputs=texts(b"abc", b"abcdefg"), parameters={}, rows=2)
    with_text.stamp(pending)
    assert pending.length == 7
    tensors_only = Pending(inputs={"x": np.zeros((1, 2))}, parameters={}, rows=1, length=42)
    BatchPolicy(BatchingConfig()).stamp(tensors_only)
    assert tensors_only.length == 42


@pytest.mark.parametrize("field", ["explanation_hold_ms", "explanation_max_wait_ms", "ordinary_recent_ms"])
def test_a_negative_policy_window_is_refused_naming_the_field(field: str) -> None:
    with pytest.raises(InvalidConfig, match=f"batching.{field}"):
        parse_config(f'name = "m"\n\n[batching]\n{field} = -1\n', source="config.toml")
