"""Accuracy-aware INT8: when the first quantisation misses its tolerance, keep in FP32 the
groups of matrix products that cost the most agreement, one group at a time.

The approach is Intel Neural Compressor's op-wise fallback ("basic" tuning strategy): try the
model with each group alone left in FP32, rank the groups by how much that helps, then leave
the best-ranked groups in FP32 cumulatively until the tolerance holds. Here a group is the
matrix products between two LayerNorms of a transformer (one layer's attention block, one
layer's feed-forward block, the output head), found in the graph itself, so a ranking trial
per group stays affordable (13 for a 6-layer MiniLM) and every re-quantisation passes
``nodes_to_exclude`` to ONNX Runtime's own quantiser. The measure is the one that decides the
verdict: each trial's outputs against the FP32 step on the validation rows (flips on clear
rows, then all flips, then mean absolute difference).

The search stops at a floor: at most MAX_FP32_SHARE of the matrix products may stay FP32
(beyond half, most of INT8's speed is gone; the measured speed-up is printed either way).
If the tolerance still does not hold, no INT8 configuration within the floor meets it, and
the conversion fails with what was tried and what to do.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from gatewise.converters.errors import ToleranceUnreachable
from gatewise.converters.validate import DriftReport

DYNAMIC_OPS = ("MatMul", "Attention", "Gather")
"""What ``quantize_dynamic`` quantises in these graphs: MatMul, fused Attention, and embedding lookups
(Gather of a float table); not Gemm."""
STATIC_OPS = ("MatMul", "Gemm")
"""What static INT8 quantises (``converters.quantize.QUANTIZED_OPS``)."""
MAX_FP32_SHARE = 0.5
"""The floor: at most this share of the quantisable ops may be kept in FP32."""
SPEED_RUNS = 5
"""Timed runs per model for the speed-up (after 2 warm-up runs); the best run counts."""


@dataclass(frozen=True)
class Group:
    """Quantisable nodes that stay FP32 together."""

    name: str
    nodes: tuple[str, ...]


@dataclass(frozen=True)
class Trial:
    """One quantisation: the groups kept in FP32, its reports against the step before, and its failures."""

    kept: tuple[Group, ...]
    reports: tuple[DriftReport, ...]
    failures: tuple[str, ...]

    @property
    def passed(self) -> bool:
        return not self.failures

    def nodes(self) -> list[str]:
        return [node for group in self.kept for node in group.nodes]

    def key(self) -> tuple[float, ...]:
        """Lower is better: flips on clear rows, all flips, mean abs diff, lowest cosine (summed over outputs)."""
        clear = sum((1 - (r.clear_agreement or 1.0)) * (r.clear_rows or 0) for r in self.reports)
        flips = sum((1 - (r.agreement if r.agreement is not None else 1.0)) * (r.judged or 0) for r in self.reports)
        cosine = sum(1 - (r.min_cosine if r.min_cosine is not None else 1.0) for r in self.reports)
        return (round(clear, 6), round(flips, 6), sum(r.mean_abs for r in self.reports), cosine)

    def summary(self) -> str:
        parts = []
        for report in self.reports:
            if report.agreement is not None:
                clear = "" if report.clear_agreement is None else f", {report.clear_agreement:.2%} on clear rows"
                parts.append(f"agreement {report.agreement:.2%}{clear}")
            if report.min_cosine is not None:
                parts.append(f"min cosine {report.min_cosine:.6f}")
            parts.append(f"mean abs diff {report.mean_abs:.3g}")
        return ", ".join(parts)


Quantise = Callable[[list[str]], Path]
"""Quantise with these node names excluded (kept FP32); returns the written model."""
Evaluate = Callable[[Path], tuple[list[DriftReport], list[str]]]
"""Run a model on the validation rows: its reports against the step before, and the failures in words."""


def matmul_groups(model: Path, ops: tuple[str, ...] = STATIC_OPS) -> list[Group]:
    """The nodes of ``model`` INT8 quantises (``ops``), in graph order, cut at every LayerNorm (plain, skip
    or embedding).

    A group holding a product of two activations (Q x K, or a fused Attention) is a layer's
    attention block and starts a new layer; the others are feed-forward blocks, and the group
    after the last LayerNorm is the output head.
    """
    import onnx

    graph = onnx.load(str(model), load_external_data=False).graph
    constants = {init.name for init in graph.initializer}
    constants |= {out for node in graph.node if node.op_type == "Constant" for out in node.output}
    tables = {init.name for init in graph.initializer if init.data_type == onnx.TensorProto.FLOAT}
    blocks: list[list[Any]] = [[]]
    for node in graph.node:
        if node.op_type.endswith("LayerNormalization"):
            blocks.append([])
        elif node.op_type in ops and (node.op_type != "Gather" or node.input[0] in tables):
            blocks[-1].append(node)
    last = len(blocks) - 1  # the block after the final LayerNorm: the output head, where it has products
    groups: list[Group] = []
    layer = 0
    for index, block in enumerate(blocks):
        if not block:
            continue
        attention = any(
            node.op_type == "Attention" or (node.op_type == "MatMul" and not set(node.input) & constants)
            for node in block
        )
        layer += attention
        if attention:
            name = f"layer {layer} attention"
        elif index == last and layer:
            name = "output head"
        elif layer:
            name = f"layer {layer} feed-forward"
        else:
            name = "embeddings" if all(node.op_type == "Gather" for node in block) else f"block {index + 1}"
        groups.append(Group(name, tuple(node.name for node in block)))
    return groups


def search(
    groups: list[Group],
    first: Trial,
    quantise: Quantise,
    evaluate: Evaluate,
    say: Callable[[str], None],
    max_share: float | None = None,
) -> tuple[Trial, Path, list[dict[str, Any]]]:
    """From a failed ``first`` trial, the smallest cumulative fallback that passes: (trial, model file, log).

    Ranks every group by a trial with it alone in FP32, then keeps the best-ranked groups in
    FP32 one more at a time. Raises ToleranceUnreachable when the floor is reached first.
    """
    total = sum(len(group.nodes) for group in groups)
    budget = int((MAX_FP32_SHARE if max_share is None else max_share) * total)
    log: list[dict[str, Any]] = []

    def attempt(kept: tuple[Group, ...]) -> tuple[Trial, Path]:
        path = quantise([node for group in kept for node in group.nodes])
        reports, failures = evaluate(path)
        trial = Trial(kept, tuple(reports), tuple(failures))
        log.append({"fp32": [group.name for group in kept], "passed": trial.passed, "summary": trial.summary()})
        return trial, path

    say(
        f"accuracy-aware INT8: the first quantisation missed ({'; '.join(first.failures)}); ranking {len(groups)} "
        f"groups of matrix products by a trial with each alone in FP32 (at most {budget} of {total} ops may stay FP32)"
    )
    ranked: list[tuple[Trial, Path]] = []
    for group in groups:
        if len(group.nodes) > budget:
            continue
        ranked.append(attempt((group,)))
    ranked.sort(key=lambda pair: pair[0].key())
    for trial, _ in ranked[:5]:
        say(f"  {trial.kept[0].name} in FP32: {trial.summary()}{'' if trial.passed else ' (misses)'}")
    passing = [pair for pair in ranked if pair[0].passed]
    if passing:
        return passing[0][0], passing[0][1], log
    best = min([first, *(trial for trial, _ in ranked)], key=Trial.key)
    kept: tuple[Group, ...] = ()
    for step, (single, _) in enumerate(ranked):
        kept = (*kept, single.kept[0])
        if sum(len(group.nodes) for group in kept) > budget:
            break
        if step == 0:
            continue  # its trial is the ranking's, and it missed
        trial, path = attempt(kept)
        verdict = "" if trial.passed else " (misses)"
        say(f"  FP32: {', '.join(group.name for group in kept)}: {trial.summary()}{verdict}")
        if trial.passed:
            return trial, path, log
        best = min(best, trial, key=Trial.key)
    raise ToleranceUnreachable(
        f"{first.summary()} ({'; '.join(first.failures)})",
        f"{best.summary()} ({'; '.join(best.failures)})",
        ", ".join(group.name for group in best.kept) or "nothing",
        len(best.nodes()),
        total,
        budget,
        (first, best),
    )


def throughput(model: Path, batch: dict[str, np.ndarray], runs: int = SPEED_RUNS) -> float:
    """Rows per second of ``model`` on ``batch`` with ONNX Runtime's CPU defaults: the best of ``runs`` timed runs."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
    names = {node.name for node in session.get_inputs()}
    feed = {name: array for name, array in batch.items() if name in names}
    for _ in range(2):
        session.run(None, feed)
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        session.run(None, feed)
        best = min(best, time.perf_counter() - started)
    return len(next(iter(feed.values()))) / best
