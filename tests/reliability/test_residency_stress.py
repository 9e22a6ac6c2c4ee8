"""Loads, evictions, explicit loads and unloads and requests racing on four tiny models with room
for two: no deadlock, no model loaded while it is resident, every request answered once, and right."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from gatewise.gateway import repository as repository_module
from gatewise.gateway.repository import ModelRepository
from gatewise.gateway.residency import Budget
from gatewise.plugins.manager import PluginManager

from models import add_one_graph, write_model

MODELS = ["m0", "m1", "m2", "m3"]
RUN_S = 4.0
CLIENTS = 12


async def test_loads_evictions_unloads_and_requests_race_without_loss(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in MODELS:
        write_model(tmp_path, name, add_one_graph(), f'name = "{name}"\nload = "on-demand"\n')
    repository = ModelRepository(tmp_path, PluginManager(entry_points=False), budget=Budget(models=2))
    loading_now: Counter[str] = Counter()
    overlaps: list[str] = []
    resident_at_load: list[str] = []
    real = repository_module.load_measured

    def watched(config, version, version_dir, plugins):
        name = config.name
        loading_now[name] += 1
        if sum(loading_now.values()) > 1:
            overlaps.append(name)
        try:
            return real(config, version, version_dir, plugins)
        finally:
            loading_now[name] -= 1

    monkeypatch.setattr(repository_module, "load_measured", watched)
    original = repository._load_versions

    async def checked(entry, config, model_dir, reason):
        if reason == "request" and entry.versions:
            resident_at_load.append(entry.name)  # a request load of a resident model: a double load
        return await original(entry, config, model_dir, reason)

    monkeypatch.setattr(repository, "_load_versions", checked)
    await repository.load_all()
    sent = answered = 0
    wrong: list[str] = []
    failures: list[BaseException] = []
    max_resident = 0
    stop_at = time.monotonic() + RUN_S

    async def client(seed: int) -> None:
        nonlocal sent, answered, max_resident
        rng = random.Random(seed)
        while time.monotonic() < stop_at:
            name = rng.choice(MODELS)
            value = float(rng.randrange(100))
            sent += 1
            try:
                model = await repository.acquire(name)
                try:
                    result = await model.infer({"x": np.full((1, 4), value, np.float32)}, 1, {}, None)
                finally:
                    repository.release(model)
            except Exception as exc:  # noqa: BLE001 - counted: the test wants none
                failures.append(exc)
            else:
                if result.outputs["y"].tolist() != [[value + 1] * 4]:
                    wrong.append(name)
            answered += 1
            max_resident = max(max_resident, sum(1 for e in repository.entries.values() if e.versions))

    async def operator(seed: int) -> None:
        """RepositoryModelLoad / Unload at random: at most one pinned model at a time, so two fit."""
        rng = random.Random(seed)
        while time.monotonic() < stop_at:
            name = rng.choice(MODELS)
            await repository.load(name)
            await asyncio.sleep(rng.random() * 0.05)
            await repository.unload(name)
            await asyncio.sleep(rng.random() * 0.05)

    try:
        await asyncio.wait_for(
            asyncio.gather(*(client(seed) for seed in range(CLIENTS)), operator(99)), timeout=RUN_S + 60
        )
    finally:
        await repository.close()
    assert failures == [], failures[:3]
    assert wrong == []
    assert answered == sent and sent > 100
    assert overlaps == [] and resident_at_load == []
    assert max_resident <= 2
    evictions = sum(repository.counts[(name, "eviction")] for name in MODELS)
    assert evictions > 10, repository.counts  # the budget really was exercised
