"""On-demand models in a real repository of tiny models: described not loaded, single flight,
deadlines, back-off, LRU eviction within a budget, pins, and what clients see meanwhile."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import numpy as np
import pytest
from gatewise.gateway import repository as repository_module
from gatewise.gateway.memory import Footprint
from gatewise.gateway.repository import EVICTED, NOT_LOADED_YET, UNLOADED, ModelRepository
from gatewise.gateway.residency import Budget
from gatewise.plugins.manager import PluginManager
from gatewise.protos.errors import DeadlineExceeded, InvalidConfig, ModelNotReady, OverBudget, StartupError

from models import add_one_graph, write_model

ON_DEMAND = 'name = "{name}"\nload = "on-demand"\n\n[batching]\nmax_batch_size = 4\n'
PINNED = 'name = "{name}"\n\n[batching]\nmax_batch_size = 4\n'


def repo_with(root: Path, on_demand: list[str], pinned: list[str] = ()) -> Path:
    for name in on_demand:
        write_model(root, name, add_one_graph(), ON_DEMAND.format(name=name))
    for name in pinned:
        write_model(root, name, add_one_graph(), PINNED.format(name=name))
    return root


def make(root: Path, **budget: int) -> ModelRepository:
    return ModelRepository(root, PluginManager(entry_points=False), budget=Budget(**budget))


@asynccontextmanager
async def started(
    root: Path, on_demand: list[str], pinned: list[str] = (), **budget: int
) -> AsyncIterator[ModelRepository]:
    """A repository of add-one models after its startup load pass; closed afterwards."""
    repository = make(repo_with(root, on_demand, pinned), **budget)
    await repository.load_all()
    try:
        yield repository
    finally:
        await repository.close()


async def infer(repository: ModelRepository, name: str, deadline: float | None = None) -> np.ndarray:
    """One request through acquire/release, as the servicer makes it."""
    model = await repository.acquire(name, "", deadline)
    try:
        result = await model.infer({"x": np.zeros((1, 4), np.float32)}, 1, {}, None)
    finally:
        repository.release(model)
    return result.outputs["y"]


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The names of models loaded, in order, by the repository's one load function."""
    seen: list[str] = []
    real = repository_module.load_measured

    def counting(config, version, version_dir, plugins):
        seen.append(config.name)
        return real(config, version, version_dir, plugins)

    monkeypatch.setattr(repository_module, "load_measured", counting)
    yield seen


def states(repository: ModelRepository) -> dict[str, tuple[str, str]]:
    return {name: (state, reason) for name, _version, state, reason in repository.index()}


async def test_on_demand_models_are_described_but_not_loaded_at_startup(tmp_path: Path, loads: list[str]) -> None:
    """Metadata, config and readiness answer for an on-demand model without loading it."""
    async with started(tmp_path, ["a"], ["p"]) as repository:
        assert loads == ["p"]
        assert states(repository) == {"a": ("UNAVAILABLE", NOT_LOADED_YET), "p": ("READY", "")}
        info = repository.info("a")
        assert [spec.name for spec in info.signature.inputs] == ["x"]
        assert info.describe()["engine"] == "onnxruntime"
        assert not repository.is_ready("a")
        assert loads == ["p"]
        assert (await infer(repository, "a")).tolist() == [[1.0, 1.0, 1.0, 1.0]]
        assert loads == ["p", "a"] and repository.is_ready("a")


async def test_concurrent_first_requests_share_one_load(tmp_path: Path, loads: list[str]) -> None:
    async with started(tmp_path, ["a"]) as repository:
        results = await asyncio.gather(*(infer(repository, "a") for _ in range(8)))
        assert len(results) == 8 and loads == ["a"]
        assert repository.counts[("a", "load")] == 1


async def test_a_waiter_gives_up_at_its_own_deadline_while_the_load_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request whose deadline passes during the load gets DEADLINE_EXCEEDED; one without one gets its answer."""
    async with started(tmp_path, ["a"]) as repository:
        release = threading.Event()
        real = repository_module.load_measured

        def held(*args):
            release.wait(30)
            return real(*args)

        monkeypatch.setattr(repository_module, "load_measured", held)
        try:
            patient = asyncio.create_task(infer(repository, "a"))
            while states(repository)["a"][0] != "LOADING":
                await asyncio.sleep(0.01)
            with pytest.raises(DeadlineExceeded):
                await infer(repository, "a", deadline=time.monotonic() + 0.05)
            release.set()
            assert (await patient).tolist() == [[1.0, 1.0, 1.0, 1.0]]
        finally:
            release.set()


async def test_a_failed_load_answers_every_waiter_and_is_retried_only_after_the_backoff(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with started(tmp_path, ["a"]) as repository:
        attempts: list[int] = []
        real = repository_module.load_measured

        def broken(*args):
            attempts.append(1)
            raise RuntimeError("engine file is corrupt")

        monkeypatch.setattr(repository_module, "load_measured", broken)
        now = [100.0]
        repository.entries["a"].backoff.clock = lambda: now[0]
        outcomes = await asyncio.gather(*(infer(repository, "a") for _ in range(5)), return_exceptions=True)
        assert len(attempts) == 1
        assert all(isinstance(o, ModelNotReady) for o in outcomes)
        assert len({str(o) for o in outcomes}) == 1
        assert "load failed: RuntimeError: engine file is corrupt" in str(outcomes[0])
        with pytest.raises(ModelNotReady, match="engine file is corrupt"):
            await infer(repository, "a")
        assert len(attempts) == 1  # within the back-off: no new attempt
        now[0] += 1.5
        monkeypatch.setattr(repository_module, "load_measured", real)
        assert (await infer(repository, "a")).shape == (1, 4)


async def test_least_recently_used_idle_model_is_evicted_and_reloads_on_its_next_request(
    tmp_path: Path, loads: list[str]
) -> None:
    async with started(tmp_path, ["a", "b", "c"], models=2) as repository:
        await infer(repository, "a")
        await infer(repository, "b")
        await infer(repository, "a")  # b is now the least recently used
        await infer(repository, "c")
        assert states(repository)["b"] == ("UNAVAILABLE", EVICTED)
        assert repository.is_ready("a") and repository.is_ready("c")
        assert repository.info("b").name == "b"  # metadata still answers
        await infer(repository, "b")
        assert states(repository)["a"] == ("UNAVAILABLE", EVICTED)
        assert loads == ["a", "b", "c", "b"]


async def test_a_busy_model_is_never_evicted_the_load_waits_for_it(tmp_path: Path) -> None:
    """With room for one model, a request for b waits while a request holds a, then a goes."""
    async with started(tmp_path, ["a", "b"], models=1) as repository:
        held = await repository.acquire("a")
        waiting = asyncio.create_task(infer(repository, "b"))
        while states(repository)["b"][0] != "LOADING":
            await asyncio.sleep(0.01)
        for _ in range(20):
            await asyncio.sleep(0)
        assert not waiting.done() and repository.is_ready("a")
        result = await held.infer({"x": np.ones((1, 4), np.float32)}, 1, {}, None)
        assert result.outputs["y"].tolist() == [[2.0, 2.0, 2.0, 2.0]]
        repository.release(held)
        assert (await waiting).shape == (1, 4)
        assert states(repository)["a"] == ("UNAVAILABLE", EVICTED)


async def test_explicit_load_pins_and_unload_unpins(tmp_path: Path) -> None:
    async with started(tmp_path, ["a", "b", "c"], models=2) as repository:
        await repository.load("a")  # RepositoryModelLoad: pinned
        await infer(repository, "b")
        await infer(repository, "c")
        assert repository.is_ready("a")
        assert states(repository)["b"] == ("UNAVAILABLE", EVICTED)
        await repository.unload("a")
        assert states(repository)["a"] == ("UNAVAILABLE", UNLOADED)
        await infer(repository, "b")  # a is no longer pinned, and not resident: c and b fit
        await infer(repository, "a")  # on demand again: loads, evicting the least recently used
        assert states(repository)["c"] == ("UNAVAILABLE", EVICTED)


async def test_pinned_models_over_the_budget_stop_startup(tmp_path: Path) -> None:
    repository = make(repo_with(tmp_path, [], ["p", "q"]), models=1)
    with pytest.raises(StartupError, match=r"2 pinned models are more than --max-resident-models 1"):
        await repository.load_all()
    await repository.close()


async def test_an_on_demand_model_larger_than_the_budget_is_refused_naming_both(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its files fit, its measured footprint does not: RESOURCE_EXHAUSTED with both sizes, the model not kept."""
    async with started(tmp_path, ["a"], host=1024 * 1024) as repository:
        real = repository_module.load_measured

        def five_mib(*args):
            model, _ = real(*args)
            return model, Footprint(host=5 * 1024 * 1024)

        monkeypatch.setattr(repository_module, "load_measured", five_mib)
        with pytest.raises(OverBudget, match=r"model 'a' needs 5.0 MiB of host memory; the memory budget is 1.0 MiB"):
            await infer(repository, "a")
        assert not repository.is_ready("a") and repository.footprint("a", "1").host == 5 * 1024 * 1024
        with pytest.raises(OverBudget, match="needs 5.0 MiB"):  # within the back-off: the same answer
            await infer(repository, "a")


async def test_measured_footprints_are_kept_per_version(tmp_path: Path) -> None:
    async with started(tmp_path, ["a"]) as repository:
        assert repository.footprint("a", "1") is None
        await infer(repository, "a")
        footprint = repository.footprint("a", "1")
        assert isinstance(footprint, Footprint) and footprint.host >= 0 and footprint.device_id is None


def test_a_bad_load_value_names_the_key_and_the_allowed_values(tmp_path: Path) -> None:
    from gatewise.gateway.config import load_config

    write_model(tmp_path, "m", add_one_graph(), 'name = "m"\nload = "lazy"\n')
    with pytest.raises(InvalidConfig, match=r"load: Input should be 'always' or 'on-demand'"):
        load_config(tmp_path / "m")
