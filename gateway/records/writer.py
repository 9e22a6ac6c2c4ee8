"""The background writer: a bounded queue in, one thread that builds, chains and commits records in batches.

Serving never waits for the store unless a model's policy is ``require``. The request path
puts a ``Draft`` on a bounded ``queue.Queue`` (full: the record is dropped and counted, the
request goes on) and returns. The writer thread takes what is queued, waits at most
``commit_interval_s`` for more, and commits the batch in one transaction (group commit: one
commit serves every record that arrived while the previous one ran). A ``require`` request
waits for its batch's commit; its presence ends the gathering wait at once.

If the process is killed, what is lost is what waited in the queue: the last commit interval
(more only if the store had fallen behind). A failed commit (store down, disk full) drops the
batch, marks the store down and reconnects on a later batch with back-off, re-reading each
chain's last record so the chain continues exactly where the store says it ended.
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gatewise.gateway.records import metrics
from gatewise.gateway.records.build import Artifacts, Draft, build, now
from gatewise.gateway.records.chain import GENESIS, record_hash, sign
from gatewise.gateway.records.store import Store, StoreError

log = logging.getLogger("gatewise.records")

Waiter = Callable[[str | None], None]
"""Told the outcome of one record's commit: None when kept, else why not."""

RETRY_S = (0.5, 1.0, 2.0, 5.0)
LOG_EVERY_S = 10.0
"""Failures are logged at most this often, with how many records went since the last line."""


@dataclass(frozen=True)
class WriterOptions:
    queue_size: int = 10000
    commit_interval_s: float = 0.05
    max_batch: int = 512
    checkpoint_every: int = 1000
    """A signed checkpoint every this many records of a chain (and at each chain's end), when a key is given."""
    checkpoint_key: bytes | None = None


class _Stop:
    pass


_STOP = _Stop()


class Writer:
    """One per server process: its chains are ``<writer id>/<model>``."""

    def __init__(self, store: Store, options: WriterOptions) -> None:
        self.store = store
        self.options = options
        self.id = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.queue: queue.Queue[tuple[Draft, Waiter | None] | _Stop] = queue.Queue(options.queue_size)
        self._digest_keys: dict[Path, bytes] = {}
        """``digest_key_file`` contents by path, read once (the model's config checked the file at load)."""
        self._artifacts = Artifacts()
        self._chains: dict[str, tuple[int, str]] = {}
        """Per chain, the last committed (seq, hash), valid while the store stays connected."""
        self._signed: dict[str, int] = {}
        self._retry_at = 0.0
        self._failures = 0
        self._lost_since_log = 0
        self._logged_at = 0.0
        self._lost_lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="gatewise-records", daemon=True)
        metrics.QUEUE_DEPTH.set_function(self.queue.qsize)

    # ---------------------------------------------------------------- life cycle

    def open(self) -> None:
        """Connect now, so start-up can say at once that the store is unreachable (StoreError)."""
        try:
            self.store.connect()
        except StoreError:
            metrics.STORE_UP.set(0)
            self._retry_at = time.monotonic() + RETRY_S[0]
            raise
        metrics.STORE_UP.set(1)

    def start(self) -> None:
        self._thread.start()

    def close(self, timeout: float = 10.0) -> bool:
        """Commit what is queued, sign each chain's end, mark the chains closed; False if it timed out."""
        if not self._thread.is_alive():
            return True
        try:
            self.queue.put(_STOP, timeout=timeout)
        except queue.Full:
            return False
        self._thread.join(timeout)
        return not self._thread.is_alive()

    # ---------------------------------------------------------------- the request path's side

    def submit(self, draft: Draft, waiter: Waiter | None = None) -> bool:
        """Queue one record without blocking; False (and counted as dropped) when the queue is full."""
        try:
            self.queue.put_nowait((draft, waiter))
        except queue.Full:
            metrics.DROPPED.labels(draft.model, "queue_full").inc()
            self._lost("the records queue is full", 1)
            return False
        return True

    # ---------------------------------------------------------------- the writer thread

    def _run(self) -> None:
        stopping = False
        while not stopping:
            item = self.queue.get()
            if isinstance(item, _Stop):
                break
            batch = [item]
            waiting = item[1] is not None
            deadline = time.monotonic() + self.options.commit_interval_s
            while len(batch) < self.options.max_batch:
                timeout = 0.0 if waiting else deadline - time.monotonic()
                try:
                    item = self.queue.get(timeout=timeout) if timeout > 0 else self.queue.get_nowait()
                except queue.Empty:
                    break
                if isinstance(item, _Stop):
                    stopping = True
                    break
                batch.append(item)
                waiting = waiting or item[1] is not None
            self._commit(batch)
        self._finish()

    def _digest_key(self, path: Path | None) -> bytes | None:
        if path is None:
            return None
        if path not in self._digest_keys:
            self._digest_keys[path] = path.read_bytes()
        return self._digest_keys[path]

    def _commit(self, batch: list[tuple[Draft, Waiter | None]]) -> None:
        records, waiters = [], []
        for draft, waiter in batch:
            try:
                records.append((draft, build(draft, self._artifacts, self._digest_key(draft.config.digest_key_file))))
                waiters.append(waiter)
            except Exception as exc:  # noqa: BLE001 - one record that cannot be built never stops the writer
                log.error("cannot build a record for model %r: %s", draft.model, type(exc).__name__)
                metrics.DROPPED.labels(draft.model, "build_error").inc()
                _tell(waiter, f"the record could not be built ({type(exc).__name__})")
        if not records:
            return
        started = time.perf_counter()
        try:
            self._ensure_connected()
            chained, checkpoints, heads = self._chain(records)
            self.store.append(chained, checkpoints)
        except StoreError as exc:
            self._failed(records, waiters, str(exc))
            return
        except Exception as exc:  # a bug here must not leave require requests waiting forever
            log.error("records writer failed on a batch", exc_info=exc)
            self._failed(records, waiters, f"the records writer failed ({type(exc).__name__})")
            return
        metrics.COMMIT_LATENCY.observe(time.perf_counter() - started)
        metrics.BATCH_SIZE.observe(len(chained))
        metrics.STORE_UP.set(1)
        self._chains.update(heads)
        for draft, _ in records:
            metrics.WRITTEN.labels(draft.model).inc()
        for waiter in waiters:
            _tell(waiter, None)

    def _ensure_connected(self) -> None:
        if self.store.connected:
            return
        if time.monotonic() < self._retry_at:
            raise StoreError(f"{self.store.describe} is down; reconnecting")
        self._chains.clear()  # re-read from the store: a failed commit may or may not have landed
        try:
            self.store.connect()
        except StoreError:
            self._back_off()
            raise
        if self._failures:
            log.warning("records store reachable again: %s", self.store.describe)
        self._failures = 0

    def _back_off(self) -> None:
        """One more failure: the next connection attempt waits the next step of RETRY_S."""
        self._failures += 1
        self._retry_at = time.monotonic() + RETRY_S[min(self._failures, len(RETRY_S)) - 1]

    def _chain(self, records: list[tuple[Draft, dict]]) -> tuple[list[dict], list[dict], dict[str, tuple[int, str]]]:
        """Give each record its chain, seq, prev_hash and hash; sign checkpoints that fall due."""
        heads: dict[str, tuple[int, str]] = {}
        checkpoints = []
        out = []
        for draft, record in records:
            chain = f"{self.id}/{draft.model}"
            if chain not in heads:
                heads[chain] = self._head(chain, draft)
            seq, prev = heads[chain]
            record.update(chain=chain, writer=self.id, seq=seq + 1, prev_hash=prev)
            record["hash"] = record_hash(record)
            heads[chain] = (seq + 1, record["hash"])
            key = self.options.checkpoint_key
            if key is not None and (seq + 1) % self.options.checkpoint_every == 0:
                checkpoints.append(self._checkpoint(chain, seq + 1, record["hash"], key))
            out.append(record)
        return out, checkpoints, heads

    def _head(self, chain: str, draft: Draft) -> tuple[int, str]:
        if chain in self._chains:
            return self._chains[chain]
        seq, digest = self.store.open_chain(
            chain, self.id, draft.model, socket.gethostname(), os.getpid(), now(), draft.config.retention_days
        )
        return seq, digest or GENESIS

    def _checkpoint(self, chain: str, seq: int, digest: str, key: bytes) -> dict:
        self._signed[chain] = seq
        return {"chain": chain, "seq": seq, "hash": digest, "time": now(), "mac": sign(key, chain, seq, digest)}

    def _failed(self, records: list[tuple[Draft, dict]], waiters: list[Waiter | None], reason: str) -> None:
        metrics.STORE_UP.set(0)
        self.store.close()
        if self._retry_at <= time.monotonic():
            self._back_off()
        for draft, _ in records:
            metrics.DROPPED.labels(draft.model, "store_error").inc()
        self._lost(reason, len(records))
        for waiter in waiters:
            _tell(waiter, reason)

    def _lost(self, reason: str, count: int) -> None:
        """Log lost records at most every LOG_EVERY_S, with the count since the last line (from the event
        loop and the writer thread alike: the count is kept under a lock)."""
        with self._lost_lock:
            self._lost_since_log += count
            if time.monotonic() - self._logged_at < LOG_EVERY_S:
                return
            lost, self._lost_since_log, self._logged_at = self._lost_since_log, 0, time.monotonic()
        log.warning("%d decision record(s) not kept: %s", lost, reason)

    def _finish(self) -> None:
        """Sign each chain's last record and mark the chains closed (a clean end, unlike a crash)."""
        try:
            if not self._chains:
                return
            key = self.options.checkpoint_key
            points = [
                self._checkpoint(chain, seq, digest, key)
                for chain, (seq, digest) in self._chains.items()
                if key is not None and self._signed.get(chain) != seq
            ]
            if points:
                self.store.append([], points)
            self.store.close_chains(list(self._chains), now())
        except StoreError as exc:
            log.warning("records: could not close the chains cleanly: %s", exc)
        finally:
            self.store.close()


def _tell(waiter: Waiter | None, outcome: str | None) -> None:
    if waiter is not None:
        waiter(outcome)
