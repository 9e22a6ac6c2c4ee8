"""Models that misbehave on purpose: slow to batch, crashing at inference, failing to load,
a plugin that raises, and a second version whose answers differ from the first."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from gatewise.plugins.hookspecs import hookimpl
from onnx import TensorProto, helper, numpy_helper

from models import _finish, add_one_graph, build_repository, write_model

SLOW_CONFIG = """\
name = "slow"

[batching]
max_batch_size = 64
max_queue_delay_ms = {delay_ms}
"""
"""add-one that holds a lone request in its queue for delay_ms: in flight, on demand."""

CRASHY_CONFIG = 'name = "crashy"\n\n[batching]\nmax_batch_size = 1\nmax_queue_delay_ms = 0\n'
"""One row per batch: an engine error fails its whole batch, and this one should fail alone."""
FAULTY_CONFIG = 'name = "faulty"\nplugin = "faulty"\n\n[batching]\nmax_batch_size = 4\nmax_queue_delay_ms = 0\n'


def add_graph(amount: float) -> object:
    """y = x + amount on FP32 [batch, 4]: version 2 of add-one answers differently from version 1."""
    graph = add_one_graph()
    graph.graph.initializer[0].CopyFrom(numpy_helper.from_array(np.full(4, amount, dtype=np.float32), "one"))
    return graph


def crashy_graph() -> object:
    """y = table[idx] on INT64 [batch, 4]: an index past the table of 10 makes ONNX Runtime raise."""
    graph = helper.make_graph(
        [helper.make_node("Gather", ["table", "idx"], ["y"])],
        "crashy",
        [helper.make_tensor_value_info("idx", TensorProto.INT64, ["batch", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])],
        initializer=[numpy_helper.from_array(np.arange(10, dtype=np.float32), "table")],
    )
    return _finish(graph)


class FaultyPlugin:
    """add-one behind a plugin that fails on a marker value in x[0, 0]."""

    BAD_INPUT, CRASH = 7.0, 13.0

    @hookimpl
    def gatewise_preprocess(self, inputs: dict) -> None:
        first = float(inputs["x"].reshape(-1)[0])
        if first == self.BAD_INPUT:
            raise ValueError("x[0, 0] = 7 is refused by the faulty plugin")
        if first == self.CRASH:
            raise RuntimeError("the faulty plugin crashed")


def build_faulty_repository(root: Path) -> Path:
    """The tiny repository plus slow (1.5 s queue delay), crashy, faulty and corrupt models."""
    build_repository(root)
    write_model(root, "slow", add_one_graph(), SLOW_CONFIG.format(delay_ms=1500))
    write_model(root, "crashy", crashy_graph(), CRASHY_CONFIG)
    write_model(root, "faulty", add_one_graph(), FAULTY_CONFIG)
    corrupt = write_model(root, "corrupt", add_one_graph(), 'name = "corrupt"\n')
    (corrupt / "1" / "model.onnx").write_bytes(b"this is not an ONNX file")
    return root
