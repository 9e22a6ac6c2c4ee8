"""The length policy: choosing similar lengths from the queue, and splitting a batch of mixed
text lengths into engine calls that pad only to their own longest row."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from gatewise.gateway.batcher import Pending
from gatewise.gateway.config import load_config
from gatewise.gateway.engines import close_all
from gatewise.gateway.length_policy import length_input, length_of, split, take
from gatewise.gateway.model import ServedModel
from gatewise.plugins.manager import PluginManager
from gatewise.protos.tensors import TensorSpec


def queued(tag: object, rows: int, length: int) -> Pending:
    return Pending(inputs={}, parameters={"tag": tag}, rows=rows, length=length)


def requests(*lengths: int, rows: int = 1) -> list[Pending]:
    return [queued(index, rows, length) for index, length in enumerate(lengths)]


def lengths_of(parts: list[list[Pending]]) -> list[list[int]]:
    return [sorted(pending.length for pending in part) for part in parts]


def test_take_fills_the_oldest_requests_batch_with_the_nearest_lengths() -> None:
    """With more rows queued than fit, the oldest goes with the lengths nearest its own; the rest wait in order."""
    queue = [queued("oldest", 1, 100), queued("far", 1, 900), queued("near", 2, 120), queued("nearer", 1, 95)]
    batch, rest = take(queue, queued_rows=5, limit=4)
    assert [pending.parameters["tag"] for pending in batch] == ["oldest", "nearer", "near"]
    assert rest == [queue[1]]
    assert take(queue, queued_rows=5, limit=5) == (queue, [])


def test_the_length_hint_is_the_longest_text_in_bytes() -> None:
    """A request's hint is its longest BYTES element; a model without a BYTES input gives 0."""
    specs = [
        TensorSpec(name="ids", datatype="INT64", shape=[-1, 4]),
        TensorSpec(name="text", datatype="BYTES", shape=[-1]),
    ]
    assert length_input(specs) == "text"
    assert length_of({"text": np.array([b"ab", "é".encode(), b"abcd"], dtype=object)}, "text") == 4
    assert length_input(specs[:1]) is None
    assert length_of({"ids": np.zeros((1, 4), np.int64)}, None) == 0


def test_short_and_long_rows_run_as_separate_calls() -> None:
    """Ten short texts and two long ones: padding all twelve to the longest would triple the work."""
    batch = requests(*([10] * 10), 300, 320)
    parts = split(batch)
    assert lengths_of(parts) == [[10] * 10, [300, 320]]
    assert sorted(pending.parameters["tag"] for part in parts for pending in part) == list(range(12))


def test_similar_lengths_stay_one_call() -> None:
    """When a split would save less than a fifth of the padded size, the extra call is not worth it."""
    batch = requests(40, 44, 38, 50, 47)
    assert split(batch) == [batch]


def test_requests_without_a_length_hint_never_split() -> None:
    """Tensor models (no BYTES input) give every request length 0."""
    batch = requests(0, 0, 0)
    assert split(batch) == [batch]


def test_rows_count_not_requests() -> None:
    """One long single-row request beside many short rows splits; one short row beside many long rows does not."""
    long_alone = [queued("long", rows=1, length=400), queued("short", rows=30, length=20)]
    assert lengths_of(split(long_alone)) == [[20], [400]]
    short_alone = [queued("short", rows=1, length=20), queued("long", rows=30, length=400)]
    assert split(short_alone) == [short_alone]


def test_each_part_can_split_again() -> None:
    batch = requests(*([10] * 8), *([100] * 8), *([1000] * 8))
    assert lengths_of(split(batch)) == [[10] * 8, [100] * 8, [1000] * 8]


def test_a_mixed_batch_gets_the_answers_each_request_gets_alone(repository: Path) -> None:
    """Through a real model: the split batch takes two engine calls, and every request gets its own rows."""
    config = load_config(repository / "tiny-sentiment")
    model = ServedModel.load(config, "1", repository / "tiny-sentiment" / "1", PluginManager())
    texts = [b"good", b"bad", b"fine", b"ok", b"the movie was long and slow and bad and dull and far too long"]
    try:
        alone = [model.run_batch([pending(text)], 0)[0].outputs["label"][0] for text in texts]
        calls = model.stats.execution_count
        together = model.run_batch([pending(text) for text in texts], 0)
        assert model.stats.execution_count - calls == 2
        assert [result.outputs["label"][0] for result in together] == alone
    finally:
        close_all(model.engines)


def pending(text: bytes) -> Pending:
    inputs = {"text": np.array([text], dtype=object)}
    return Pending(inputs=inputs, parameters={}, rows=1, length=length_of(inputs, "text"))
