"""Repository watch: poll the model folder and load, reload or unload what changed.

Polling (not inotify) because it works the same on every filesystem, network mounts and
container volumes included. A change is acted on only once two polls agree, so a model
still being copied in is not loaded half-written. Reloads go through
``ModelRepository.load``: the new version warms up before it takes traffic and the old
one drains, so watching never fails a request.
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

from gatewise.gateway.repository import ModelRepository, scan
from gatewise.protos.errors import GatewiseError

log = logging.getLogger("gatewise.watch")

Snapshot = dict[str, tuple[tuple[str, int, int], ...]]
"""Model name -> (relative path, mtime_ns, size) of every file in its folder."""


def snapshot(root: Path) -> Snapshot:
    """What is on disk now; a file vanishing mid-scan just makes this poll differ."""
    result: Snapshot = {}
    try:
        names = scan(root)
    except GatewiseError:
        return result
    for name in names:
        files = []
        for folder, dirs, filenames in os.walk(root / name):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for filename in sorted(filenames):
                if filename.startswith("."):
                    continue
                path = Path(folder) / filename
                try:
                    stat = path.stat()
                except OSError:
                    continue
                files.append((str(path.relative_to(root / name)), stat.st_mtime_ns, stat.st_size))
        result[name] = tuple(files)
    return result


class RepositoryWatcher:
    """Polls every ``interval_s`` seconds; ``prime`` before the first load, then ``start``."""

    def __init__(self, repository: ModelRepository, interval_s: float) -> None:
        self.repository = repository
        self.interval_s = interval_s
        self._applied: Snapshot = {}
        self._task: asyncio.Task | None = None

    async def prime(self) -> None:
        """Record what the initial ``load_all`` will see, so it is not loaded twice."""
        self._applied = await asyncio.to_thread(snapshot, self.repository.root)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="repository-watch")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        candidate: Snapshot | None = None
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                current = await asyncio.to_thread(snapshot, self.repository.root)
                if current == self._applied:
                    candidate = None
                elif current != candidate:
                    candidate = current  # changed since last poll: wait for it to settle
                else:
                    await self.apply(current)
                    candidate = None
            except Exception:
                log.exception("repository watch poll failed; trying again in %.1f s", self.interval_s)

    async def apply(self, current: Snapshot) -> None:
        """Load new models, reload changed ones, unload removed ones."""
        previous, self._applied = self._applied, current
        for name in sorted(set(previous) | set(current)):
            if name not in current:
                if name in self.repository.entries:
                    log.info("watch: %s removed from the repository, unloading", name)
                    await self.repository.unload(name)
            elif previous.get(name) != current[name]:
                log.info("watch: %s %s, loading", name, "changed" if name in previous else "added")
                try:
                    await self.repository.load(name, raise_errors=False, pin=None, reason="reload")
                except GatewiseError as exc:
                    log.error("watch: %s could not be loaded: %s", name, exc.message)
