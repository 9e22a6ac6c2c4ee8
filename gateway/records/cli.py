"""``gatewise records``: verify the chains, query, show one decision, export for auditors, purge by age.

Every command reads the store ``gatewise serve`` writes: ``--records DIR`` or
``--records-url postgresql://...`` (also ``GATEWISE_RECORDS`` / ``GATEWISE_RECORDS_URL``).
"""

from __future__ import annotations

import json
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from gatewise.gateway.records import sqlite
from gatewise.gateway.records.build import stored
from gatewise.gateway.records.chain import read_key, sign, verify_chain
from gatewise.gateway.records.store import COLUMNS, Filters, Store, StoreError, decode, open_store
from rich.console import Console
from rich.table import Table

records_app = typer.Typer(
    help="Decision records: verify, query, show, export, purge (docs/records.md).", no_args_is_help=True
)

Folder = Annotated[
    Path | None, typer.Option("--records", envvar="GATEWISE_RECORDS", help="The records folder (SQLite).")
]
Url = Annotated[str | None, typer.Option("--records-url", envvar="GATEWISE_RECORDS_URL", help="postgresql://... URL.")]
KeyFile = Annotated[
    Path | None,
    typer.Option(
        "--key-file", envvar="GATEWISE_RECORDS_KEY_FILE", help="The HMAC key file the server signed checkpoints with."
    ),
]


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(1)


def _store(folder: Path | None, url: str | None) -> Store:
    if folder is not None and url is None and not (folder / sqlite.FILE).is_file():
        raise _fail(f"no records in {folder} ({sqlite.FILE} not found)")
    try:
        store = open_store(folder, url)
        store.connect()
    except StoreError as exc:
        raise _fail(str(exc)) from exc
    return store


def _key(path: Path | None) -> bytes | None:
    if path is None:
        return None
    try:
        return read_key(path)
    except ValueError as exc:
        raise _fail(f"--key-file: {exc}") from None


ID_PREFIX = 12
"""``query`` shows ids cut to this many characters; ``show`` takes any unique prefix, as git does."""

_AGE = re.compile(r"^(\d+)([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_time(value: str | None, option: str) -> str | None:
    """``90d`` (that long ago), ``2026-12-01`` or a full ISO time -> the stored UTC form."""
    if value is None:
        return None
    try:
        return stored_time(value)
    except ValueError:
        raise _fail(f"{option} {value!r}: give an age (90d, 12h, 30m) or an ISO date/time") from None


def stored_time(value: str) -> str:
    """``parse_time`` without the CLI: ValueError for a value that is neither an age nor an ISO time."""
    match = _AGE.match(value.strip())
    if match:
        moment = datetime.now(UTC) - timedelta(**{_UNITS[match[2]]: int(match[1])})
    else:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
    return stored(moment)


@records_app.command()
def verify(folder: Folder = None, url: Url = None, key_file: KeyFile = None) -> None:
    """Check every chain: names the first altered, inserted or deleted record, or says the chains hold."""
    store, key = _store(folder, url), _key(key_file)
    console = Console()
    table = Table(title="decision record chains", title_justify="left")
    for column in ("chain", "records", "checkpoints", "ended", "verdict"):
        table.add_column(column)
    findings, total = [], 0
    with store:
        for chain in store.chains():
            name = chain["chain"]
            report = verify_chain(name, store.chain_records(name), store.anchor(name), store.checkpoints(name), key)
            total += report.records
            ended = "cleanly" if chain["closed"] else "open: serving, or crashed (last commit interval may be lost)"
            if report.finding is not None:
                findings.append(report.finding)
            verdict = "holds" if report.finding is None else "BROKEN"
            table.add_row(
                name,
                str(report.records),
                str(report.checkpoints),
                ended,
                verdict + "".join(f" ({note})" for note in report.notes),
            )
    console.print(table)
    for finding in findings:
        typer.echo(f"error: {finding}", err=True)
    if findings:
        raise typer.Exit(1)
    console.print(f"the chains hold: {total} record(s)" + ("" if key else " (no --key-file: signatures not checked)"))


@records_app.command()
def query(
    folder: Folder = None,
    url: Url = None,
    model: Annotated[str | None, typer.Option(help="Only this model.")] = None,
    version: Annotated[str | None, typer.Option(help="Only this version.")] = None,
    since: Annotated[str | None, typer.Option(help="From this time: 7d, 12h, or an ISO date/time.")] = None,
    until: Annotated[str | None, typer.Option(help="Before this time (same forms).")] = None,
    decision: Annotated[str | None, typer.Option(help="The label or decision contains this.")] = None,
    principal: Annotated[str | None, typer.Option(help="Only this caller.")] = None,
    status: Annotated[str | None, typer.Option(help="Only this status (OK, INVALID_ARGUMENT, ...).")] = None,
    limit: Annotated[int, typer.Option(help="Most rows shown.")] = 50,
) -> None:
    """A table of decisions matching the filters, oldest first."""
    filters = Filters(
        model, version, parse_time(since, "--since"), parse_time(until, "--until"), decision, principal, status
    )
    with _store(folder, url) as store:
        rows = store.query(filters, limit)
    table = Table(title=f"decision records ({len(rows)} shown)", title_justify="left")
    table.add_column("id", no_wrap=True)
    table.add_column("time (UTC)", no_wrap=True)
    for column in ("model", "version", "principal", "status", "decision", "ms"):
        table.add_column(column, overflow="fold")
    for row in rows:
        time = row["time"][:19].replace("T", " ")
        cells = [row[column] for column in ("model", "version", "principal", "status", "decision")]
        cells.append(None if row["latency_ms"] is None else f"{row['latency_ms']:.1f}")
        table.add_row(row["id"][:ID_PREFIX], time, *("" if cell is None else str(cell) for cell in cells))
    Console().print(table)


@records_app.command()
def show(
    record_id: Annotated[str, typer.Argument(help="The record's id, or a unique prefix of it (from query).")],
    folder: Folder = None,
    url: Url = None,
) -> None:
    """One decision with its explanation drawn: shaded words, or Shapley bars per field."""
    from gatewise.gateway.records.render import record_view

    with _store(folder, url) as store:
        found = store.find(record_id)
        if len(found) != 1:
            raise _fail(
                f"no record {record_id!r}" if not found else f"{record_id!r} names several records; give more of the id"
            )
        record = found[0]
        attached = [decode(item) for item in store.attached(record["id"])]
    Console().print(record_view(decode(record), attached))


@records_app.command()
def export(
    out: Annotated[Path, typer.Option("--out", help="The file to write.")],
    format: Annotated[str, typer.Option("--format", help="jsonl or parquet.")] = "jsonl",
    folder: Folder = None,
    url: Url = None,
    model: Annotated[str | None, typer.Option(help="Only this model.")] = None,
    since: Annotated[str | None, typer.Option(help="From this time: 90d or an ISO date/time.")] = None,
    until: Annotated[str | None, typer.Option(help="Before this time.")] = None,
) -> None:
    """Every matching record, every field (hashes included, so the export can be checked), for auditors."""
    if format not in ("jsonl", "parquet"):
        raise _fail(f"--format {format!r}: choose jsonl or parquet")
    filters = Filters(model=model, since=parse_time(since, "--since"), until=parse_time(until, "--until"), kind=None)
    if format == "parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise _fail("--format parquet needs pyarrow: pip install 'gatewise[records-parquet]'") from None
    with _store(folder, url) as store:
        rows = store.query(filters, None, COLUMNS)
    if format == "jsonl":
        with out.open("w", encoding="utf-8") as handle:
            for row in rows:
                handle.write(json.dumps(decode(row), ensure_ascii=False) + "\n")
    else:
        _parquet(rows, out)
    typer.echo(f"wrote {len(rows)} record(s) to {out}", err=sys.stderr.isatty())


def _parquet(rows: list[dict[str, Any]], out: Path) -> None:
    """JSON columns stay JSON text: their shape differs per model, and the text is what the hash covers."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    types = {"seq": pa.int64(), "latency_ms": pa.float64()}
    schema = pa.schema([(column, types.get(column, pa.string())) for column in COLUMNS])
    table = pa.Table.from_pylist(rows, schema=schema)
    pq.write_table(table, out)


@records_app.command()
def purge(
    folder: Folder = None,
    url: Url = None,
    older_than: Annotated[str | None, typer.Option(help="Remove records older than this (90d, 12w, ...).")] = None,
    key_file: KeyFile = None,
) -> None:
    """Remove old records, oldest first per chain, keeping what remains verifiable (an anchor per chain).

    Without --older-than, each chain's own retention (its model's ``retention_days``) applies.
    """
    key = _key(key_file)
    cutoff = parse_time(older_than, "--older-than")
    removed = 0
    with _store(folder, url) as store:
        for chain in store.chains():
            limit = cutoff
            if limit is None:
                if chain["retention_days"] is None:
                    continue
                limit = parse_time(f"{chain['retention_days']}d", "retention_days")
            name = chain["chain"]
            removed += store.purge(
                name, limit, lambda seq, digest, name=name: sign(key, name, seq, digest) if key else None
            )
    typer.echo(f"purged {removed} record(s)")
