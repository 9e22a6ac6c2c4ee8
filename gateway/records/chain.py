"""Tamper evidence: each record's hash covers its content and the previous record of its writer.

One chain per writer (a server process) and model: ``hash = SHA-256(prev_hash || canonical JSON of the
record's fields)``. Changing a record changes its hash; deleting or inserting one breaks the
link or the sequence of the next. A hash chain alone can be rebuilt by whoever can write the
store, so a writer may also sign checkpoints (``seq``, ``hash``) with an HMAC key from a file
that the store never holds: a rebuilt chain no longer matches its signed checkpoints.
Purging keeps an anchor per writer (the last purged record's seq and hash, signed when a key
is given), so what remains still verifies from the anchor on.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

GENESIS = "0" * 64


def read_key(path: Path) -> bytes:
    """An HMAC key file's bytes (checkpoints, input digests); ValueError says why it cannot be one."""
    try:
        key = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read {path} ({exc.strerror})") from None
    if len(key) < 16:
        raise ValueError(f"{path} holds {len(key)} bytes; an HMAC key needs at least 16 (32 recommended)")
    return key


"""The ``prev_hash`` of a writer's first record."""

CHAINED = (
    "id",
    "kind",
    "ref",
    "chain",
    "writer",
    "seq",
    "time",
    "model",
    "version",
    "artifact_sha256",
    "plugin",
    "plugin_version",
    "principal",
    "auth",
    "request_id",
    "trace_id",
    "method",
    "status",
    "latency_ms",
    "decision",
    "inputs",
    "input_digest",
    "outputs",
    "explanation",
    "prev_hash",
)
"""Every field the hash covers: all of a record but its own hash."""


def canonical(record: Mapping[str, Any]) -> bytes:
    """The bytes hashed for ``record``: its chained fields as sorted, compact JSON."""
    return json.dumps(
        {key: record.get(key) for key in CHAINED}, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode()


def record_hash(record: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical(record)).hexdigest()


def sign(key: bytes, chain: str, seq: int, digest: str) -> str:
    """The HMAC of a checkpoint or an anchor: which chain, how far, and its hash there."""
    return hmac.new(key, f"{chain}\n{seq}\n{digest}".encode(), hashlib.sha256).hexdigest()


@dataclass
class Finding:
    """The first thing wrong with one chain, or None when it holds."""

    chain: str
    seq: int | None
    record_id: str | None
    problem: str

    def __str__(self) -> str:
        where = (
            f"record {self.record_id} (chain {self.chain}, seq {self.seq})"
            if self.record_id
            else (f"chain {self.chain}" + (f" at seq {self.seq}" if self.seq is not None else ""))
        )
        return f"{where}: {self.problem}"


@dataclass
class ChainReport:
    """What verifying one chain found."""

    chain: str
    records: int = 0
    checkpoints: int = 0
    finding: Finding | None = None
    closed: bool = True
    notes: list[str] = field(default_factory=list)


def verify_chain(
    chain: str,
    records: Iterable[Mapping[str, Any]],
    anchor: Mapping[str, Any] | None,
    checkpoints: Mapping[int, Mapping[str, Any]],
    key: bytes | None,
) -> ChainReport:
    """Walk one chain's records in ``seq`` order from its anchor; stop at the first problem.

    Altered: a record's stored hash is not the hash of its content. Deleted: a ``seq`` is
    missing, or the link to the previous hash is broken. Inserted: a ``seq`` repeats, or a
    record links to a hash that is not its predecessor's. With ``key``, every checkpoint and
    the anchor must carry a valid HMAC and match the record at its ``seq``.
    """
    report = ChainReport(chain)
    expected_seq, expected_prev = 1, GENESIS
    if anchor is not None:
        if key is not None and not hmac.compare_digest(
            sign(key, chain, anchor["seq"], anchor["hash"]), anchor.get("mac") or ""
        ):
            report.finding = Finding(chain, anchor["seq"], None, "the purge anchor's signature does not match the key")
            return report
        expected_seq, expected_prev = anchor["seq"] + 1, anchor["hash"]
        report.notes.append(f"starts after purged seq {anchor['seq']}")
    for record in records:
        seq, rid = record["seq"], record["id"]
        if seq < expected_seq:
            report.finding = Finding(chain, seq, rid, f"inserted: seq {seq} repeats or precedes seq {expected_seq - 1}")
            return report
        if seq > expected_seq:
            missing = f"seq {expected_seq}" if seq == expected_seq + 1 else f"seq {expected_seq}..{seq - 1}"
            report.finding = Finding(chain, seq, rid, f"deleted: {missing} missing before this record")
            return report
        if record_hash(record) != record["hash"]:
            report.finding = Finding(chain, seq, rid, "altered: its content does not match its hash")
            return report
        if record["prev_hash"] != expected_prev:
            report.finding = Finding(chain, seq, rid, "inserted or replaced: it does not link to the previous record")
            return report
        checkpoint = checkpoints.get(seq)
        if checkpoint is not None:
            if checkpoint["hash"] != record["hash"]:
                report.finding = Finding(chain, seq, rid, "rewritten: it differs from the signed checkpoint at its seq")
                return report
            if key is not None and not hmac.compare_digest(
                sign(key, chain, seq, checkpoint["hash"]), checkpoint.get("mac") or ""
            ):
                report.finding = Finding(chain, seq, rid, "the checkpoint's signature does not match the key")
                return report
            report.checkpoints += 1
        report.records += 1
        expected_seq, expected_prev = seq + 1, record["hash"]
    beyond = [seq for seq in checkpoints if seq >= expected_seq]
    if beyond:
        report.finding = Finding(
            chain,
            min(beyond),
            None,
            f"deleted: a signed checkpoint names seq {min(beyond)}, past the chain's last record",
        )
    return report
