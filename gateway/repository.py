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
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from gatewise.gateway.config import CONFIG_FILE, ModelConfig, load_config
from gatewise.gateway.engines import registry
from gatewise.gateway.model import ServedModel
from gatewise.plugins.manager import PluginManager
from gatewise.protos.errors import GatewiseError, InvalidConfig, ModelNotFound, ModelNotReady

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

    def __init__(self, root: Path, plugins: PluginManager, on_change: Callable[[str, bool], None] | None = None):
        self.root = root
        self.plugins = plugins
        self.entries: dict[str, ModelEntry] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._on_change = on_change or (lambda name, ready: None)

    async def load_all(self) -> None:
        """Load every model found; failures are recorded per model, never raised."""
        if self.root.is_dir():
            for child in sorted(self.root.iterdir()):
                if not child.name.startswith(".") and not valid_name(child.name) and is_model_dir(child):
                    log.warning(
                        "%s is not loaded: %r is not a valid model name (%s)", child, child.name, NAME_PATTERN.pattern
                    )
        results = await asyncio.gather(
            *(self.load(name, raise_errors=False) for name in scan(self.root)), return_exceptions=True
        )
        for result in results:
            if isinstance(result, ModelNotFound):  # its folder went away between scan and load
                log.warning("%s", result.message)
            elif isinstance(result, BaseException):
                raise result

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

    async def load(self, name: str, *, raise_errors: bool = True) -> None:
        """(Re)load ``name`` from disk; the versions already serving keep serving until the new ones are warm.

        A name that is not a model folder in the repository raises ModelNotFound (even with
        ``raise_errors=False``, which covers load failures only) and records nothing.
        """
        model_dir = self.model_dir(name)
        lock = self._locks.setdefault(name, asyncio.Lock())
        async with lock:
            if not is_model_dir(model_dir):  # removed while this call waited for the lock
                if name not in self.entries:
                    self._locks.pop(name, None)
                raise ModelNotFound(name)
            entry = self.entries.setdefault(name, ModelEntry(name))
            if not entry.versions:
                entry.state = State.LOADING
            try:
                config = load_config(model_dir)
                versions = select_versions(config, model_dir)
                loaded = await asyncio.gather(
                    *(asyncio.to_thread(ServedModel.load, config, v, model_dir / v, self.plugins) for v in versions),
                    return_exceptions=True,
                )
                failures = [result for result in loaded if isinstance(result, BaseException)]
                if failures:
                    for result in loaded:
                        if isinstance(result, ServedModel):
                            await result.close(drain=False)
                    raise failures[0]
            except Exception as exc:
                reason = exc.message if isinstance(exc, GatewiseError) else f"{type(exc).__name__}: {exc}"
                log.error("model %s failed to load: %s", name, reason)
                if not entry.versions:
                    entry.state, entry.reason = State.UNAVAILABLE, reason
                    self._on_change(name, False)
                if raise_errors:
                    raise ModelNotReady(name, State.UNAVAILABLE.value, reason) from exc
                return
            for model in loaded:
                model.start()
            retired = entry.versions
            entry.versions = {model.version: model for model in loaded}
            entry.config, entry.state, entry.reason = config, State.READY, ""
            self._on_change(name, True)
            for model in loaded:
                facts = model.describe()
                log.info(
                    "model %s version %s ready on %s (%s)",
                    name,
                    model.version,
                    facts.get("engine", model.backend),
                    facts.get("providers") or facts.get("gpu", "?"),
                )
            for model in retired.values():
                await model.close(drain=True)

    async def unload(self, name: str) -> None:
        """Stop taking requests for ``name``, finish those in flight, release its engines."""
        entry = self.entries.get(name)
        if entry is None:
            raise ModelNotFound(name)
        async with self._locks.setdefault(name, asyncio.Lock()):
            retired, entry.versions = entry.versions, {}
            entry.state, entry.reason = State.UNLOADING, ""
            self._on_change(name, False)
            for model in retired.values():
                await model.close(drain=True)
            entry.state, entry.reason = State.UNAVAILABLE, "unloaded"

    async def close(self) -> None:
        for entry in self.entries.values():
            for model in entry.versions.values():
                await model.close(drain=True)
            entry.versions = {}

    def get(self, name: str, version: str = "") -> ServedModel:
        """The serving model for a request: the newest version unless one is named."""
        entry = self.entries.get(name)
        if entry is None:
            raise ModelNotFound(name, version)
        if not entry.versions:
            raise ModelNotReady(name, entry.state.value, entry.reason)
        if not version:
            return entry.versions[max(entry.versions, key=int)]
        model = entry.versions.get(version)
        if model is None:
            raise ModelNotFound(name, version)
        return model

    def is_ready(self, name: str, version: str = "") -> bool:
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
            else:
                rows.append((name, "", entry.state.value, entry.reason))
        return rows
