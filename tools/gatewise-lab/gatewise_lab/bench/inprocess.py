"""The in-process limit: a model's plugin + engine called directly, no gRPC, no queue."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from gatewise.gateway import length_policy
from gatewise.gateway.batcher import Pending
from gatewise.gateway.config import load_config
from gatewise.gateway.engines import close_all
from gatewise.gateway.model import ServedModel
from gatewise.gateway.repository import select_versions
from gatewise.plugins.context import BatchContext
from gatewise.plugins.manager import PluginManager

from gatewise_lab.bench.rows import Row, measured_row
from gatewise_lab.bench.workload import texts_for


def load_model(repository: Path, model_name: str) -> ServedModel:
    """The newest version of ``model_name`` with its plugin, loaded in this process (no server)."""
    model_dir = repository / model_name
    config = load_config(model_dir)
    version = select_versions(config, model_dir)[-1]
    return ServedModel.load(config, version, model_dir / version, PluginManager())


class InProcess:
    """The model's plugin + engine loaded in this process, called directly (no gRPC, no queue)."""

    def __init__(self, repository: Path, model_name: str) -> None:
        self._model = load_model(repository, model_name)

    def measure(self, batch_size: int, seconds: float, parallel: bool = False, split: bool = False) -> Row:
        """One batch after another for ``seconds``; with ``parallel``, on every engine instance at once.

        Batch 1 runs on one instance (the latency of a lone request). At the max batch size
        every instance the config asks for runs its own loop in its own thread, as the
        batcher would drive them: the in-process limit of the same configuration. With
        ``split`` each batch runs as the gateway would run it, split by length
        (``gateway.length_policy.split``) into calls that pad less.
        """
        instances = len(self._model.engines) if parallel else 1
        latencies: list[list[float]] = [[] for _ in range(instances)]
        deadline = time.perf_counter() + seconds

        def loop(instance: int) -> None:
            step = instance
            while time.perf_counter() < deadline or len(latencies[instance]) < 5:
                texts = texts_for(batch_size, step)
                parts = [texts]
                if split:
                    rows = [Pending({"text": np.array([text], dtype=object)}, {}, 1, len(text)) for text in texts]
                    parts = [np.concatenate([row.inputs["text"] for row in part]) for part in length_policy.split(rows)]
                started = time.perf_counter()
                for part in parts:
                    self._model.execute({"text": part}, BatchContext.single(len(part)), instance, record=False)
                latencies[instance].append(time.perf_counter() - started)
                step += instances

        started = time.perf_counter()
        with ThreadPoolExecutor(instances) as pool:
            list(pool.map(loop, range(instances)))
        elapsed = time.perf_counter() - started
        pooled = [latency for per_instance in latencies for latency in per_instance]
        name = f"in-process, batch {batch_size}" + (", split by length" if split else "")
        return measured_row(name, batch_size * len(pooled) / elapsed, pooled)

    def close(self) -> None:
        close_all(self._model.engines)
