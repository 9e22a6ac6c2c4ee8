"""The records pages' reads: gateway.records' own query, ``get`` and chain check, off the event loop.

The console opens its own connection to the store the server writes (SQLite in WAL mode lets
it read while the writer commits; PostgreSQL is shared anyway) and uses it from one worker
thread at a time. A caller sees the records of the models it may call, nothing else.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from dataclasses import dataclass
from typing import Any

from gatewise.gateway.records.chain import verify_chain
from gatewise.gateway.records.cli import stored_time
from gatewise.gateway.records.setup import read_key
from gatewise.gateway.records.store import Filters, Store, decode, open_store
from gatewise.gateway.security.principal import Principal
from gatewise.gateway.settings import ServerSettings
from gatewise.protos.errors import InvalidInput

PAGE_ROWS = 200
"""Most records one page lists (newest first); narrow the filters to see older ones."""
FILTER_FIELDS = ("model", "since", "until", "decision", "principal", "status")


@dataclass(frozen=True)
class ChainCheck:
    """Whether the record's chain verifies from its start (or purge anchor) up to the record."""

    holds: bool
    records: int
    problem: str | None
    signed: bool
    """Whether checkpoint signatures were checked (``--records-key-file`` given)."""


def parse_filters(
    query: dict[str, str], principal: Principal, known_models: list[str]
) -> tuple[Filters, dict[str, str]]:
    """Filters from the page's form fields, scoped to the models ``principal`` may call; InvalidInput
    names a bad time."""
    given = {name: query.get(name, "").strip() for name in FILTER_FIELDS}
    times = {}
    for name in ("since", "until"):
        if given[name]:
            try:
                times[name] = stored_time(given[name])
            except ValueError:
                raise InvalidInput(
                    f"{name} {given[name]!r}: give an age (30m, 12h, 7d) or a date/time (2026-12-01T09:00)"
                ) from None
    models = None if "*" in principal.models else tuple(name for name in known_models if principal.allows(name))
    filters = Filters(
        model=given["model"] or None,
        since=times.get("since"),
        until=times.get("until"),
        decision=given["decision"] or None,
        principal=given["principal"] or None,
        status=given["status"] or None,
        models=models,
    )
    return filters, given


class RecordsReader:
    """The store the server's records go to, read for the console."""

    def __init__(self, settings: ServerSettings) -> None:
        self._store: Store = open_store(settings.records, settings.records_url)
        self._key = read_key("records_key_file", settings.records_key_file) if settings.records_key_file else None
        self._lock = threading.Lock()

    async def query(self, filters: Filters) -> list[dict[str, Any]]:
        return await asyncio.to_thread(self._locked, lambda: self._store.query(filters, PAGE_ROWS, newest_first=True))

    async def detail(self, record_id: str) -> tuple[dict[str, Any], list[dict[str, Any]], ChainCheck] | None:
        """The record, the records attached to it (a background explanation), and its chain's check."""
        return await asyncio.to_thread(self._locked, lambda: self._detail(record_id))

    def close(self) -> None:
        with self._lock:
            self._store.close()

    def _locked(self, work: Any) -> Any:
        with self._lock:
            return work()

    def _detail(self, record_id: str) -> tuple[dict[str, Any], list[dict[str, Any]], ChainCheck] | None:
        record = self._store.get(record_id)
        if record is None:
            return None
        attached = [decode(item) for item in self._store.attached(record_id)]
        return decode(record), attached, self._check(record)

    def _check(self, record: dict[str, Any]) -> ChainCheck:
        chain, seq = record["chain"], record["seq"]
        upto = itertools.takewhile(lambda row: row["seq"] <= seq, self._store.chain_records(chain))
        checkpoints = {at: row for at, row in self._store.checkpoints(chain).items() if at <= seq}
        report = verify_chain(chain, upto, self._store.anchor(chain), checkpoints, self._key)
        problem = None if report.finding is None else str(report.finding)
        return ChainCheck(report.finding is None, report.records, problem, self._key is not None)
