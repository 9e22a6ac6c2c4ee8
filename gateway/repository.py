"""The model repository: scan the folder, load versions, track each model's state.

    models/NAME/config.toml
    models/NAME/<version>/model.onnx | model.plan
    models/NAME/assets/...

Each version folder holds one engine, and that file decides the version's backend
(``model.onnx``: ONNX Runtime, ``model.plan``: TensorRT), so ``1/model.onnx`` and
``2/model.plan`` serve side by side; config.toml's ``backend`` is the default, used where a
folder holds both files.

A model that fails (bad config, missing engine, plugin error) is marked UNAVAILABLE
with the reason; the others keep serving. Loading a new version of a serving model
warms it fully before it takes traffic; the old one drains its in-flight requests first.

Residency (``gateway.residency`` decides, this module does): a pinned model (``load =
"always"``, or loaded by RepositoryModelLoad) loads at startup and stays; an on-demand one is
only described at startup and loads when a request needs it. Requests hold their model
(``acquire``/``release``) from lookup to answer, so eviction only ever takes an idle one. Every
load, eviction and unload runs under one lock: one at a time, so the PSS measured around a
load is that load's, and nothing is loaded twice. Requests for a model being loaded wait for
that one load (single flight), each within its own deadline; a failed load answers all of
them with its error, and the next attempt waits for a back-off.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path

from gatewise.gateway import metrics
from gatewise.gateway.config import CONFIG_FILE, ModelConfig, load_config
from gatewise.gateway.engines import registry
from gatewise.gateway.loading import estimate, load_measured
from gatewise.gateway.memory import Footprint, human, pss, trim
from gatewise.gateway.model import ServedModel, VersionInfo
from gatewise.gateway.residency import Backoff, Budget, Residency
from gatewise.gateway.stats import ModelStats
from gatewise.plugins.manager import PluginManager
from gatewise.protos.errors import (
    DeadlineExceeded,
    GatewiseError,
    InvalidConfig,
    ModelNotFound,
    ModelNotReady,
    OverBudget,
    StartupError,
)

log = logging.getLogger("gatewise.repository")


class State(StrEnum):
    LOADING = "LOADING"
    READY = "READY"
    UNLOADING = "UNLOADING"
    UNAVAILABLE = "UNAVAILABLE"


@dataclass
class ModelEntry:
    """One model's state and its serving versions (newest last)."""

    name: str
    state: State = State.UNAVAILABLE
    reason: str = ""
    config: ModelConfig | None = None
    versions: dict[str, ServedModel] = field(default_factory=dict)
    on_demand: bool = False
    """Loaded by requests and evictable (config.toml's ``load = "on-demand"``, or the server default)."""
    pinned: bool = False
    """Resident until unloaded: ``load = "always"`` or RepositoryModelLoad."""
    described: dict[str, VersionInfo] = field(default_factory=dict)
    """Versions known without being loaded: what metadata and ModelConfig report while not resident."""
    footprints: dict[str, Footprint] = field(default_factory=dict)
    """Each version's footprint, measured at its last load."""
    stats: dict[str, ModelStats] = field(default_factory=dict)
    """Each version's statistics, kept across evictions and reloads."""

    @property
    def busy(self) -> bool:
        """A request holds one of its serving versions (``acquire`` to ``release``): never evicted then."""
        return any(model.holders for model in self.versions.values())

    flight: asyncio.Task[None] | None = None
    """The load requests are waiting for, when one runs."""
    backoff: Backoff = field(default_factory=Backoff)


NOT_LOADED_YET = "not loaded yet"
EVICTED = "evicted"
UNLOADED = "unloaded"


def _name_pattern() -> re.Pattern[str]:
    """ModelConfig.name's own pattern, so a folder name is valid exactly when a config name is."""
    for rule in ModelConfig.model_fields["name"].metadata:
        if getattr(rule, "pattern", None):
            return re.compile(rule.pattern)
    raise AssertionError("ModelConfig.name has no pattern")  # pragma: no cover - config.py defines one


NAME_PATTERN = _name_pattern()


def valid_name(name: str) -> bool:
    """Whether ``name`` can be a model: a plain folder name (no separators, no leading dot)."""
    return NAME_PATTERN.fullmatch(name) is not None


def is_model_dir(path: Path) -> bool:
    """A model folder: holds a config.toml or a numbered version folder."""
    try:
        return path.is_dir() and ((path / CONFIG_FILE).exists() or any(sub.name.isdigit() for sub in path.iterdir()))
    except OSError:
        return False


def scan(root: Path) -> list[str]:
    """Model names: sub-folders with a valid model name holding a config.toml or a numbered version folder."""
    if not root.is_dir():
        raise InvalidConfig(str(root), "model repository folder does not exist")
    return [child.name for child in sorted(root.iterdir()) if valid_name(child.name) and is_model_dir(child)]


def select_versions(config: ModelConfig, model_dir: Path) -> list[str]:
    """Version folders that hold an engine file (any registered backend's), chosen by the version policy."""
    engine_files = registry.engine_files().values()
    present = sorted(
        int(child.name)
        for child in model_dir.iterdir()
        if child.name.isdigit() and any((child / engine_file).is_file() for engine_file in engine_files)
    )
    if not present:
        files = " or ".join(engine_files)
        raise InvalidConfig(str(model_dir), f"no version folder holds {files} (backend {config.backend!r})")
    policy = config.version_policy
    if policy.versions is not None:
        missing = sorted(set(policy.versions) - set(present))
        if missing:
            raise InvalidConfig(str(model_dir / CONFIG_FILE), f"version_policy.versions: {missing} not found")
        return [str(version) for version in sorted(policy.versions)]
    return [str(version) for version in present[-(policy.latest or 1) :]]


class ModelRepository:
    """Owns every ServedModel; all methods run on the event loop."""

    def __init__(
        self,
        root: Path,
        plugins: PluginManager,
        on_change: Callable[[str, bool], None] | None = None,
        *,
        budget: Budget | None = None,
        default_load: str = "always",
        workers: int = 1,
    ):
        self.root = root
        self.plugins = plugins
        self.entries: dict[str, ModelEntry] = {}
        self.residency = Residency(budget or Budget())
        self.default_load = default_load
        self.workers = workers
        self.counts: Counter[tuple[str, str]] = Counter()
        """(model, "load" | "eviction" | "unload") -> how many times: what the stress test audits."""
        self._baseline: int | None = None
        """The process's PSS after startup less the pinned models' footprints: what the budget does not cover."""
        self._lock = asyncio.Lock()
        """Held by every load, eviction and unload: one at a time."""
        self._idle = asyncio.Event()
        """Set (and replaced) whenever a model goes idle: a load waiting for room looks again."""
        self._on_change = on_change or (lambda name, ready: None)
        metrics.BUDGET_BYTES.set(self.residency.budget.host or 0)

    # ------------------------------------------------------------ startup

    async def load_all(self) -> None:
        """Load every pinned model and describe every on-demand one; failures are recorded per model.

        Raises StartupError when the pinned models together exceed the memory budget.
        """
        if self.root.is_dir():
            for child in sorted(self.root.iterdir()):
                if not child.name.startswith(".") and not valid_name(child.name) and is_model_dir(child):
                    log.warning(
                        "%s is not loaded: %r is not a valid model name (%s)", child, child.name, NAME_PATTERN.pattern
                    )
        results = await asyncio.gather(
            *(self.load(name, raise_errors=False, pin=None, reason="startup") for name in scan(self.root)),
            return_exceptions=True,
        )
        for result in results:
            if isinstance(result, ModelNotFound):  # its folder went away between scan and load
                log.warning("%s", result.message)
            elif isinstance(result, BaseException):
                raise result
        await asyncio.to_thread(trim)  # what describing the on-demand models allocated and freed
        self._baseline = pss() - self.residency.used_host()
        self._check_pinned_budget()

    def _check_pinned_budget(self) -> None:
        budget = self.residency.budget
        pinned = {name: e for name, e in self.entries.items() if e.pinned and e.versions}
        host = sum(fp.host for e in pinned.values() for fp in e.footprints.values())
        sizes = ", ".join(f"{name} {human(sum(f.host for f in e.footprints.values()))}" for name, e in pinned.items())
        if budget.host is not None and host > budget.host:
            raise StartupError(
                f"the pinned models need {human(host)} of memory, more than --memory-budget {human(budget.host)} "
                f'({sizes}); raise the budget or give some of them load = "on-demand"'
            )
        if budget.models is not None and len(pinned) > budget.models:
            raise StartupError(
                f"{len(pinned)} pinned models are more than --max-resident-models {budget.models}; "
                'raise it or give some of them load = "on-demand"'
            )
        if budget.device is not None:
            per_device: Counter[int | None] = Counter()
            for entry in pinned.values():
                for fp in entry.footprints.values():
                    per_device[fp.device_id] += fp.device
            for device_id, used in per_device.items():
                if used > budget.device:
                    raise StartupError(
                        f"the pinned models need {human(used)} on CUDA device {device_id}, more than "
                        f"--device-memory-budget {human(budget.device)}"
                    )

    def model_dir(self, name: str) -> Path:
        """``root/name`` when ``name`` is a model folder directly in the repository; ModelNotFound otherwise.

        Names follow config.toml's name pattern, so ``../x``, ``a/b`` or ``.hidden`` never
        reach the filesystem and nothing outside the repository root can be loaded.
        """
        if not valid_name(name):
            raise ModelNotFound(name)
        path = self.root / name
        if not is_model_dir(path):
            raise ModelNotFound(name)
        return path

    # ------------------------------------------------------------ load, evict, unload

    async def load(
        self, name: str, *, raise_errors: bool = True, pin: bool | None = True, reason: str = "explicit"
    ) -> None:
        """(Re)load ``name`` from disk; the versions already serving keep serving until the new ones are warm.

        ``pin=True`` (RepositoryModelLoad) loads it and keeps it resident until unloaded;
        ``pin=None`` follows config.toml (startup, the watcher): a pinned model loads, an
        on-demand one that is not resident is only described. A name that is not a model folder
        in the repository raises ModelNotFound (even with ``raise_errors=False``, which covers
        load failures only) and records nothing.
        """
        model_dir = self.model_dir(name)
        async with self._lock:
            if not is_model_dir(model_dir):  # removed while this call waited for the lock
                raise ModelNotFound(name)
            entry = self.entries.setdefault(name, ModelEntry(name))
            try:
                config = self._config(model_dir)
                entry.on_demand = config.load == "on-demand"
                describe_only = pin is None and entry.on_demand and not entry.versions
                if pin is not None:
                    entry.pinned = pin
                elif not entry.on_demand:
                    entry.pinned = True
                if describe_only:
                    await self._describe(entry, config, model_dir)
                    return
                await self._load_versions(entry, config, model_dir, reason)
            except Exception as exc:
                self._record_failure(entry, exc)
                if raise_errors:
                    if isinstance(exc, OverBudget):
                        raise
                    raise ModelNotReady(name, State.UNAVAILABLE.value, entry.reason or str(exc)) from exc

    def _config(self, model_dir: Path) -> ModelConfig:
        """config.toml with the server's defaults resolved: ``load``, and whether weights are shared
        (``onnxruntime.share_weights``: with several workers). The engines read both."""
        config = load_config(model_dir)
        load = config.load or self.default_load
        onnxruntime = config.onnxruntime
        if onnxruntime.share_weights is None:
            onnxruntime = onnxruntime.model_copy(update={"share_weights": self.workers > 1})
        return config.model_copy(update={"load": load, "onnxruntime": onnxruntime})

    def _record_failure(self, entry: ModelEntry, exc: Exception) -> None:
        reason = _load_failure(exc)
        log.error("model %s failed to load: %s", entry.name, reason)
        if not entry.versions:
            entry.state, entry.reason = State.UNAVAILABLE, reason
            self._on_change(entry.name, False)

    async def _describe(self, entry: ModelEntry, config: ModelConfig, model_dir: Path) -> None:
        """What metadata needs of an on-demand model, without keeping it loaded."""
        versions = select_versions(config, model_dir)
        infos = await asyncio.gather(
            *(asyncio.to_thread(ServedModel.describe_only, config, v, model_dir / v, self.plugins) for v in versions)
        )
        entry.config = config
        entry.described = {info.version: info for info in infos}
        for info in infos:
            info.stats = entry.stats.setdefault(info.version, info.stats)
        if entry.state != State.READY:
            entry.state = State.UNAVAILABLE
            entry.reason = entry.reason if entry.reason in (EVICTED, UNLOADED) else NOT_LOADED_YET
        self._on_change(entry.name, True)
        size = sum(estimate(model_dir / v) for v in versions)
        budget = self.residency.budget.host
        if budget is not None and size > budget:
            log.warning(
                "model %s: its engine files alone (%s) exceed --memory-budget %s; requests for it will be refused",
                entry.name,
                human(size),
                human(budget),
            )
        log.info("model %s: on demand, %s; loads with its first request", entry.name, NOT_LOADED_YET)

    async def _load_versions(self, entry: ModelEntry, config: ModelConfig, model_dir: Path, reason: str) -> None:
        """Load every selected version (room made first), then swap them in. Holds ``_lock``."""
        name = entry.name
        versions = select_versions(config, model_dir)
        if not entry.versions:
            entry.state = State.LOADING
        need = _total(entry.footprints.get(v) or Footprint(host=estimate(model_dir / v)) for v in versions)
        # Startup loads the pinned models whatever the budget; load_all then refuses to start when over it.
        strict = reason != "startup"
        await self._make_room(name, need, strict=strict)
        started = time.perf_counter()
        loaded: list[tuple[ServedModel, Footprint]] = []
        try:
            for version in versions:  # one at a time: each footprint is that load's alone
                loaded.append(
                    await asyncio.to_thread(load_measured, config, version, model_dir / version, self.plugins)
                )
            for model, footprint in loaded:  # remembered even if refused below: the next attempt knows
                entry.footprints[model.version] = footprint
            total = _total(fp for _, fp in loaded)
            if strict and self.residency.budget.limited:  # measured, it may be larger than its files said
                self.residency.check_fits(name, total)
        except BaseException:
            for model, _ in loaded:
                await model.close(drain=False)
            raise
        seconds = time.perf_counter() - started
        for model, _ in loaded:
            model.stats = entry.stats.setdefault(model.version, model.stats)
            model.start()
        retired = entry.versions
        entry.versions = {model.version: model for model, _ in loaded}
        entry.described = {model.version: model.info() for model, _ in loaded}
        entry.config, entry.state, entry.reason = config, State.READY, ""
        entry.backoff.succeeded()
        self.residency.add(name, total, pinned=entry.pinned)
        self.counts[(name, "load")] += 1
        self._observe_load(entry, reason, seconds)
        self._on_change(name, True)
        for model, footprint in loaded:
            facts = model.describe()
            log.info(
                "model %s version %s loaded (%s) in %.2f s on %s (%s): %s host%s; %s",
                name,
                model.version,
                reason,
                seconds,
                facts.get("engine", model.backend),
                facts.get("providers") or facts.get("gpu", "?"),
                human(footprint.host),
                f", {human(footprint.device)} on CUDA device {footprint.device_id}" if footprint.device else "",
                self._usage(),
            )
        await self._wait_released(retired.values())
        for model in retired.values():
            await model.close(drain=True)
        # Estimates can be low: the measured footprint may leave the process over budget.
        await self._make_room(name, Footprint(), waiting=False, strict=False)

    async def _make_room(self, name: str, need: Footprint, *, waiting: bool = True, strict: bool = True) -> None:
        """Evict idle unpinned models, least recently used first, until ``need`` fits. Holds ``_lock``.

        Waits while only busy models could make room (``waiting``); OverBudget when nothing
        could (``strict``; otherwise it evicts what it can).
        """
        if not self.residency.budget.limited:
            return
        if strict:
            self.residency.check_fits(name, need)
        else:
            waiting = False
        while True:
            busy = {other for other, entry in self.entries.items() if entry.busy}
            drift = self._drift()
            victims = self.residency.victims(name, replace(need, host=need.host + drift), busy)
            if victims is None and drift:  # the growth may sit in busy or pinned models: the measured footprints rule
                victims = self.residency.victims(name, need, busy)
            if victims is not None:
                for victim in victims:
                    await self._evict(victim)
                return
            if not waiting:
                return
            log.debug("model %s waits for a busy model to go idle to make room", name)
            await self._idle.wait()

    def _drift(self) -> int:
        """What the process holds beyond the baseline and the footprints measured at load: models grow
        after loading (operator arenas sized by the largest batch, embedding rows first touched by a
        request), and that counts against the budget too."""
        if self.residency.budget.host is None or self._baseline is None:
            return 0
        return max(0, pss() - self._baseline - self.residency.used_host())

    async def _evict(self, name: str) -> None:
        """Release an idle model's engines (holds ``_lock``); its next request loads it again."""
        entry = self.entries[name]
        retired, entry.versions = entry.versions, {}
        freed = self.residency.footprint(name) or Footprint()
        self.residency.remove(name)
        entry.state, entry.reason = State.UNAVAILABLE, EVICTED
        for model in retired.values():
            await model.close(drain=True)
        await asyncio.to_thread(trim)
        self.counts[(name, "eviction")] += 1
        metrics.EVICTIONS.labels(name).inc()
        self._observe_usage()
        log.info(
            "model %s evicted (least recently used, idle) to make room: freed %s; %s",
            name,
            human(freed.host),
            self._usage(),
        )

    async def _wait_released(self, models: Iterable[ServedModel]) -> None:
        """Until no request holds any of ``models`` (they were taken out of service first)."""
        models = list(models)
        while any(model.holders for model in models):
            await self._idle.wait()

    async def unload(self, name: str) -> None:
        """Stop taking requests for ``name``, finish those in flight, release its engines; unpins it.

        An on-demand model loads again with its next request; a pinned one stays unloaded
        until RepositoryModelLoad.
        """
        entry = self.entries.get(name)
        if entry is None:
            raise ModelNotFound(name)
        async with self._lock:
            retired, entry.versions = entry.versions, {}
            entry.pinned = False
            entry.state, entry.reason = State.UNLOADING, ""
            self._on_change(name, False)
            self.residency.remove(name)
            await self._wait_released(retired.values())
            for model in retired.values():
                await model.close(drain=True)
            entry.state, entry.reason = State.UNAVAILABLE, UNLOADED
            if retired:
                self.counts[(name, "unload")] += 1
                await asyncio.to_thread(trim)
            self._observe_usage()
            log.info("model %s unloaded (explicit); %s", name, self._usage())
            if entry.on_demand and is_model_dir(self.root / name):  # still loadable by its next request
                self._on_change(name, True)

    async def close(self) -> None:
        for entry in self.entries.values():
            if entry.flight is not None:
                entry.flight.cancel()
            for model in entry.versions.values():
                await model.close(drain=True)
            entry.versions = {}

    # ------------------------------------------------------------ requests

    async def acquire(self, name: str, version: str = "", deadline: float | None = None) -> ServedModel:
        """The model for a request, loaded first if it is on demand; ``release`` it when answered.

        ``deadline`` (``time.monotonic()``) bounds the wait for a load: DeadlineExceeded when it
        passes first. The load itself goes on for the others waiting, and for the next request.
        """
        while True:
            entry = self.entries.get(name)
            if entry is None:
                raise ModelNotFound(name, version)
            if entry.versions:
                model = self._pick(entry, version)
                model.holders += 1
                self.residency.touch(name)
                return model
            if not entry.on_demand:
                raise ModelNotReady(name, entry.state.value, entry.reason)
            if version and version not in entry.described:
                raise ModelNotFound(name, version)
            if entry.flight is None:
                blocked = entry.backoff.blocking()
                if blocked is not None:
                    raise blocked
                entry.flight = asyncio.create_task(self._load_for_request(entry))
                entry.flight.add_done_callback(lambda task, entry=entry: _landed(entry, task))
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise DeadlineExceeded(name)
            try:
                await asyncio.wait_for(asyncio.shield(entry.flight), remaining)
            except TimeoutError:
                raise DeadlineExceeded(name) from None
            # Loaded: loop to take it (evicted again meanwhile, it loads again).

    def release(self, model: ServedModel) -> None:
        """A request that ``acquire``d ``model`` is answered."""
        model.holders -= 1
        if model.holders == 0:
            self._idle.set()
            self._idle = asyncio.Event()

    async def _load_for_request(self, entry: ModelEntry) -> None:
        """The one load that every request waiting for ``entry`` shares."""
        async with self._lock:
            if entry.versions or not entry.on_demand:  # loaded (or pinned by hand) while this waited
                return
            entry.state = State.LOADING
            try:
                model_dir = self.model_dir(entry.name)
                config = self._config(model_dir)
                await self._load_versions(entry, config, model_dir, "request")
            except Exception as exc:
                delay = entry.backoff.failed(_as_status(entry.name, exc))
                self._record_failure(entry, exc)
                log.warning("model %s: next load attempt in %.0f s at the earliest", entry.name, delay)
                raise entry.backoff.error from exc

    def _pick(self, entry: ModelEntry, version: str) -> ServedModel:
        if not version:
            return entry.versions[max(entry.versions, key=int)]
        model = entry.versions.get(version)
        if model is None:
            raise ModelNotFound(entry.name, version)
        return model

    # ------------------------------------------------------------ what clients see

    def get(self, name: str, version: str = "") -> ServedModel:
        """The resident model (newest version unless one is named), without loading it."""
        entry = self.entries.get(name)
        if entry is None:
            raise ModelNotFound(name, version)
        if not entry.versions:
            raise ModelNotReady(name, entry.state.value, entry.reason)
        return self._pick(entry, version)

    def info(self, name: str, version: str = "") -> ServedModel | VersionInfo:
        """What metadata and ModelConfig report: the resident model, or its description; never loads."""
        entry = self.entries.get(name)
        if entry is None:
            raise ModelNotFound(name, version)
        if entry.versions:
            return self._pick(entry, version)
        if not entry.on_demand or not entry.described:  # a pinned model unloaded by hand is out, as in Triton
            raise ModelNotReady(name, entry.state.value, entry.reason)
        if not version:
            return entry.described[max(entry.described, key=int)]
        described = entry.described.get(version)
        if described is None:
            raise ModelNotFound(name, version)
        return described

    def versions(self, name: str) -> list[str]:
        """The versions ``name`` serves or would serve on demand, oldest first."""
        entry = self.entries[name]
        return sorted(entry.versions or (entry.described if entry.on_demand else {}), key=int)

    def is_ready(self, name: str, version: str = "") -> bool:
        """Resident and serving (an on-demand model that is not loaded is not ready)."""
        try:
            self.get(name, version)
        except GatewiseError:
            return False
        return True

    def index(self) -> list[tuple[str, str, str, str]]:
        """(name, version, state, reason) for every model on disk or known, as RepositoryIndex lists."""
        names = set(self.entries)
        try:
            names.update(scan(self.root))
        except InvalidConfig:
            pass
        rows = []
        for name in sorted(names):
            entry = self.entries.get(name)
            if entry is None:
                rows.append((name, "", State.UNAVAILABLE.value, "not loaded"))
            elif entry.versions:
                rows.extend((name, version, State.READY.value, "") for version in sorted(entry.versions, key=int))
            elif entry.described:
                state, reason = entry.state, entry.reason
                if entry.flight is not None:
                    state, reason = State.LOADING, ""
                rows.extend((name, version, state.value, reason) for version in sorted(entry.described, key=int))
            else:
                rows.append((name, "", entry.state.value, entry.reason))
        return rows

    def footprint(self, name: str, version: str) -> Footprint | None:
        entry = self.entries.get(name)
        return entry.footprints.get(version) if entry else None

    # ------------------------------------------------------------ metrics and logs

    def _observe_load(self, entry: ModelEntry, reason: str, seconds: float) -> None:
        metrics.LOADS.labels(entry.name, reason).inc()
        metrics.LOAD_SECONDS.observe(seconds)
        for version, footprint in entry.footprints.items():
            metrics.MODEL_BYTES.labels(entry.name, version, "host").set(footprint.host)
            metrics.MODEL_BYTES.labels(entry.name, version, "device").set(footprint.device)
        self._observe_usage()

    def _observe_usage(self) -> None:
        metrics.RESIDENT.set(sum(1 for entry in self.entries.values() if entry.versions))
        metrics.BUDGET_USED.set(self.residency.used_host())

    def _usage(self) -> str:
        budget = self.residency.budget.host
        resident = sum(1 for entry in self.entries.values() if entry.versions)
        used = human(self.residency.used_host())
        return f"{resident} model(s) resident, {used}" + (f" of {human(budget)} budget" if budget else "")


def _total(footprints: Iterable[Footprint]) -> Footprint:
    """One model's footprint: its versions' together (they load, evict and unload as one)."""
    items = list(footprints)
    device_ids = [fp.device_id for fp in items if fp.device_id is not None]
    return Footprint(
        host=sum(fp.host for fp in items),
        device=sum(fp.device for fp in items),
        device_id=device_ids[0] if device_ids else None,
    )


def _as_status(name: str, exc: Exception) -> GatewiseError:
    """What every request waiting for a failed load gets: OverBudget as it is, else UNAVAILABLE with the reason."""
    if isinstance(exc, OverBudget | ModelNotFound):
        return exc
    return ModelNotReady(name, State.UNAVAILABLE.value, f"load failed: {_load_failure(exc)}")


def _load_failure(exc: Exception) -> str:
    """Why a load failed, in words: a GatewiseError's own message, else the exception's type and text."""
    return exc.message if isinstance(exc, GatewiseError) else f"{type(exc).__name__}: {exc}"


def _landed(entry: ModelEntry, task: asyncio.Task[None]) -> None:
    """The flight is over: the next request that finds the model absent starts another."""
    if entry.flight is task:
        entry.flight = None
    if not task.cancelled():
        task.exception()  # retrieved here: the waiters have their own reference to it
