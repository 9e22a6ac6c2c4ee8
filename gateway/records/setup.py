"""From ``gatewise serve`` settings to a running recorder: open the store, report it, start the writer."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from gatewise.gateway.records import chain
from gatewise.gateway.records.config import RecordsConfig
from gatewise.gateway.records.recorder import Recorder
from gatewise.gateway.records.store import StoreError, open_store
from gatewise.gateway.records.writer import Writer, WriterOptions
from gatewise.gateway.settings import ServerSettings
from gatewise.plugins.manager import PluginManager
from gatewise.protos.errors import StartupError

log = logging.getLogger("gatewise.records")


def read_key(setting: str, path: Path) -> bytes:
    """An HMAC key file's bytes; StartupError names the setting when it cannot be read or is too short."""
    try:
        return chain.read_key(path)
    except ValueError as exc:
        raise StartupError(f"{setting}: {exc}") from None


def _globs(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def recorder_for(settings: ServerSettings, plugins: PluginManager) -> Recorder:
    """The recorder the settings describe (with no store: one that keeps nothing and says so per model)."""
    defaults = RecordsConfig(policy=settings.records_policy)
    writer = None
    if settings.records is not None or settings.records_url is not None:
        if settings.records is not None and settings.records_url is not None:
            raise StartupError("give --records (a folder) or --records-url (PostgreSQL), not both")
        key = read_key("records_key_file", settings.records_key_file) if settings.records_key_file else None
        try:
            store = open_store(settings.records, settings.records_url)
        except StoreError as exc:
            raise StartupError(str(exc)) from exc
        options = WriterOptions(
            queue_size=settings.records_queue_size,
            commit_interval_s=settings.records_interval_s,
            checkpoint_key=key,
        )
        writer = Writer(store, options)
    return Recorder(writer, defaults, _globs(settings.records_models), plugins, settings)


async def start_recorder(recorder: Recorder, settings: ServerSettings) -> None:
    """Connect and start the writer. Unreachable at start-up: an error (StartupError) when the
    default policy is ``require``, else a warning and ``gatewise_records_store_up`` 0 while the
    writer keeps trying."""
    writer = recorder.writer
    if writer is None:
        return
    try:
        await asyncio.to_thread(writer.open)
    except StoreError as exc:
        if settings.records_policy == "require":
            raise StartupError(f"decision records: {exc}") from exc
        log.warning("decision records: %s; serving on, records are dropped until it is reachable", exc)
    else:
        log.info("decision records: %s (writer %s)", writer.store.describe, writer.id)
    writer.start()
