"""The backfill: copy every source record into the target, resumable from the journal after any crash.

- Pages come from the store's own cursor (``VectorStore.scroll``), never numeric offsets, so records
  written or deleted meanwhile cannot shift a page under us.
- Pipelined: a reader thread fetches (and maps) the next page while the current one is written;
  the read-ahead is bounded, so memory stays a few batches whatever the collection size (a source a
  worker reads comes ``WORKER_READ_RECORDS`` a task, so then about twice that many records).
- Every store call (the existence check, the count, each page, each write, the resync, the optimize)
  retries transient store errors (timeouts, 429, outages) with exponential backoff and jitter,
  honouring a server's Retry-After; waits go through the injected clock.
- The checkpoint (next cursor + records done, one transaction) is written only after the target
  acknowledged the batch; upserts are idempotent, so a crash redoes at most the batch in flight.
- Records that dual-write changed while the backfill ran are put right after each batch from the
  journal's dual-write log: an acknowledged write is re-applied as written (upsert or delete), so a
  page read before a write can never leave the older version on the target, and a source that does
  not show its own writes yet (Pinecone's read-after-write lag) can never make the backfill delete or
  roll back an acknowledged write. A write still in flight is re-copied from the source, never deleted
  for being invisible there.
- Pinecone → Qdrant: string ids become uuid5 of (namespace, id) with the original kept in the payload.
"""

from __future__ import annotations

import queue
import random
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal, TypeVar

import numpy as np

from harness.clock import Clock, SystemClock
from harness.errors import InvalidURIError, TransientStoreError
from harness.migration.journal import DualWrite, Journal
from harness.model import CollectionSchema, RecordBatch
from harness.parallel.held import WorkerStore
from harness.records import NAMESPACE_FIELD, RecordMapping, batch_keys, key_parts, mapping_for
from harness.stores.base import Cursor, VectorStore
from harness.stores.uri import parse_store_uri

__all__ = [
    "Backfill",
    "BackfillProgress",
    "BackfillResult",
    "RetryPolicy",
    "call_with_retry",
    "ensure_target_collection",
    "resolve_mapping",
]

T = TypeVar("T")
CHECKPOINT = "backfill"
WORKER_READ_RECORDS = 8_000  # records per read task when a worker reads the source (whole pages)


# -- how source records become target records --------------------------------------------------------
def _scheme(store: VectorStore) -> str | None:
    """The scheme of the store's URI, or None for a URI that is not a store URI (a wrapper's label)."""
    try:
        return parse_store_uri(store.uri).scheme
    except InvalidURIError:
        return None


def resolve_mapping(source: VectorStore, target: VectorStore) -> RecordMapping:
    """``records.mapping_for`` these stores: their backends by URI scheme (a target that does not exist
    yet has no schema to ask), else by ``describe().backend``; the source URI's namespace as default."""
    source_backend = _scheme(source) or source.describe().backend
    target_backend = _scheme(target)
    if target_backend is None:
        target_backend = target.describe().backend if target.exists() else ""
    try:
        namespace = parse_store_uri(source.uri).options.get("namespace", "")
    except InvalidURIError:
        namespace = ""
    return mapping_for(source_backend, target_backend, default_namespace=namespace)


def ensure_target_collection(
    source: VectorStore, target: VectorStore, payload_indexes: Mapping[str, str] | None = None
) -> bool:
    """Create the target from the source's schema when it does not exist (the target URI's creation
    options override the index parameters), with every named and sparse vector of the source (Pinecone's
    ``sparse_values`` as ``records.QDRANT_SPARSE``). Returns True when it created the collection.

    Payload indexes: the source's, a keyword index on ``__namespace__`` for a Pinecone → Qdrant target
    (queries per namespace filter on it), and ``payload_indexes`` (field → type, e.g. the config's
    ``[target] payload_indexes``). An existing target is left as it is.
    """
    if target.exists():
        return False
    schema = source.describe()
    mapping = resolve_mapping(source, target)
    # The source's named and sparse vectors, under the names the mapping writes them as.
    mapped = mapping.target_schema(schema)
    indexes = dict(schema.payload_indexes)
    if mapping.pinecone_to_qdrant:
        indexes[NAMESPACE_FIELD] = "keyword"
    indexes.update(payload_indexes or {})
    target.create(
        CollectionSchema(
            dimension=schema.dimension,
            distance=schema.distance,
            datatype=schema.datatype,
            hnsw=schema.hnsw,
            quantization=schema.quantization,
            payload_indexes=indexes,
            named_vectors=dict(mapped.named_vectors),
            sparse_vectors=dict(mapped.sparse_vectors),
        )
    )
    return True


# -- retries ------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with jitter: attempt n waits ``min(max_s, base_s × 2**n)`` minus up to
    ``jitter`` of it at random (never less than a server's Retry-After). Seconds."""

    max_attempts: int = 8
    base_s: float = 0.2
    max_s: float = 3.2
    jitter: float = 0.5

    def delay(self, attempt: int, rng: random.Random, retry_after_s: float | None = None) -> float:
        """Wait before retry number ``attempt`` (0-based), in seconds."""
        capped = min(self.max_s, self.base_s * (2.0**attempt))
        wait = capped * (1.0 - self.jitter * rng.random())
        return max(wait, retry_after_s or 0.0)


def call_with_retry(
    fn: Callable[[], T],
    policy: RetryPolicy,
    clock: Clock,
    rng: random.Random,
    on_retry: Callable[[int, TransientStoreError, float], None] | None = None,
) -> T:
    """``fn()``, retried on ``TransientStoreError`` per ``policy``; the last error propagates."""
    attempt = 0
    while True:
        try:
            return fn()
        except TransientStoreError as exc:
            if attempt + 1 >= policy.max_attempts:
                raise
            wait = policy.delay(attempt, rng, exc.retry_after_s)
            if on_retry is not None:
                on_retry(attempt, exc, wait)
            clock.sleep(wait)
            attempt += 1


# -- the copy -----------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class BackfillProgress:
    """Progress after one acknowledged batch: records done (of ``total`` at start), rate in vectors/s."""

    done: int
    total: int
    batch: int
    vectors_per_s: float


@dataclass(frozen=True, slots=True)
class BackfillResult:
    """What a backfill run did. ``resumed_from`` is the checkpoint's done count when it started."""

    done: int
    total: int
    copied: int
    resumed_from: int
    batches: int
    retries: int
    resynced: int
    created_target: bool
    copy_s: float
    optimize_s: float
    status: str
    retry_log: tuple[str, ...] = field(default_factory=tuple)

    @property
    def vectors_per_s(self) -> float:
        """Records copied by this run per second of copying (wall time, optimize excluded)."""
        return self.copied / self.copy_s if self.copy_s > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary."""
        return {
            "done": self.done,
            "total": self.total,
            "copied": self.copied,
            "resumed_from": self.resumed_from,
            "batches": self.batches,
            "retries": self.retries,
            "resynced": self.resynced,
            "created_target": self.created_target,
            "copy_s": round(self.copy_s, 3),
            "optimize_s": round(self.optimize_s, 3),
            "vectors_per_s": round(self.vectors_per_s, 1),
            "status": self.status,
        }


_END = object()


def read_mapped(
    store: VectorStore, batch_size: int, cursor: Cursor | None, mapping: RecordMapping, pages: int = 1
) -> list[tuple[int, RecordBatch, Cursor | None]]:
    """Up to ``pages`` pages of ``store`` from ``cursor`` as the target stores them, each as (records read,
    the mapped page, the next cursor); fewer when the last page comes first. Run where the store is read: in
    a worker that holds it, the mapping is done there and only the mapped pages come back."""
    out: list[tuple[int, RecordBatch, Cursor | None]] = []
    for _ in range(pages):
        batch, cursor = store.scroll(batch_size=batch_size, cursor=cursor)
        out.append((len(batch), mapping.records(batch), cursor))
        if cursor is None:
            break
    return out


class _Reader(threading.Thread):
    """Reads (and maps) pages ahead of the writer; hands over (records read, mapped page, next cursor): a page
    of a store a worker holds is read and mapped in that worker (``read_mapped``), ``pages`` pages a task.
    The hand-over holds two pages more than a task brings, so the next task is on its way while the writer
    still has pages to write."""

    def __init__(self, backfill: Backfill, cursor: Cursor | None) -> None:
        super().__init__(name="ragmig-backfill-reader", daemon=True)
        self.backfill = backfill
        self.cursor = cursor
        in_worker = isinstance(backfill.source, WorkerStore)
        self.pages_per_read = max(1, WORKER_READ_RECORDS // backfill.batch_size) if in_worker else 1
        self.pages: queue.Queue[Any] = queue.Queue(maxsize=self.pages_per_read + 2)
        self.stop = threading.Event()

    def _put(self, item: Any) -> bool:
        while not self.stop.is_set():
            try:
                self.pages.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def run(self) -> None:
        bf = self.backfill
        cursor = self.cursor
        source = bf.source
        try:
            while not self.stop.is_set():
                if isinstance(source, WorkerStore):
                    # Several pages a task: a task's round trip through the scheduler costs more than
                    # carrying a page; a retry redoes at most these pages.
                    read = partial(source.call, read_mapped, bf.batch_size, cursor, bf.mapping, self.pages_per_read)
                else:
                    read = partial(read_mapped, source, bf.batch_size, cursor, bf.mapping)
                for page in bf._retry(read):
                    cursor = page[2]
                    if not self._put(page):
                        return
                if cursor is None:
                    break
            self._put(_END)
        except BaseException as exc:  # handed to the writer thread, which re-raises it
            self._put(exc)


class Backfill:
    """Copies ``source`` into ``target`` with a durable checkpoint in ``journal`` (see module docstring).

    ``mapping``: "auto" resolves Pinecone → Qdrant from the stores, or pass a ``RecordMapping``.
    ``progress``: a rich bar with vectors/s and ETA; "auto" shows it only when stderr is a terminal.
    ``optimize``: build the target's index at the end (``target.optimize()``).
    ``payload_indexes``: more payload indexes (field → type) for a target the backfill creates.
    ``activation_grace_s``: with dual-write on (per the journal), wait this long after switching the
    dual-write log on, before the first page is read (s). Skipped when the log was already on: the
    orchestrator switches it on before its own flag-propagation wait, which covers the same writes.
    """

    def __init__(
        self,
        source: VectorStore,
        target: VectorStore,
        journal: Journal,
        *,
        batch_size: int = 1000,
        clock: Clock | None = None,
        mapping: RecordMapping | Literal["auto"] = "auto",
        retry: RetryPolicy | None = None,
        progress: bool | Literal["auto"] = "auto",
        on_batch: Callable[[BackfillProgress], None] | None = None,
        optimize: bool = True,
        seed: int = 0,
        activation_grace_s: float = 1.0,
        payload_indexes: Mapping[str, str] | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.source = source
        self.target = target
        self.journal = journal
        self.batch_size = batch_size
        self.clock = clock or SystemClock()
        self._mapping = mapping
        self.retry = retry or RetryPolicy()
        self.progress = sys.stderr.isatty() if progress == "auto" else progress
        self.on_batch = on_batch
        self.optimize = optimize
        self.activation_grace_s = activation_grace_s
        self.payload_indexes = dict(payload_indexes or {})
        self._rng = random.Random(seed)
        self._retries = 0
        self._retry_log: list[str] = []
        self._retry_lock = threading.Lock()

    @property
    def mapping(self) -> RecordMapping:
        """The resolved source → target mapping."""
        if self._mapping == "auto":
            self._mapping = self._retry(partial(resolve_mapping, self.source, self.target))
        assert isinstance(self._mapping, RecordMapping)
        return self._mapping

    def _retry(self, fn: Callable[[], T]) -> T:
        def noted(attempt: int, exc: TransientStoreError, wait: float) -> None:
            with self._retry_lock:
                self._retries += 1
                if len(self._retry_log) < 100:
                    self._retry_log.append(f"attempt {attempt + 1}: {exc} (waited {wait:.2f} s)")

        return call_with_retry(fn, self.retry, self.clock, self._rng, noted)

    def run(self) -> BackfillResult:
        """Copy from the checkpoint to the end, then optimize. Raises the last ``TransientStoreError``
        when retries run out; the checkpoint then holds every acknowledged batch, so ``run`` again resumes."""
        started_wall = time.perf_counter()
        created = self._retry(partial(ensure_target_collection, self.source, self.target, self.payload_indexes))
        _ = self.mapping  # resolve once, before the reader thread needs it
        checkpoint = self.journal.checkpoint(CHECKPOINT)
        total = self._retry(self.source.count)
        copied = batches = resynced = 0
        status = checkpoint.status
        copy_s = optimize_s = 0.0
        if status in ("new", "copying"):
            was_active = self.journal.set_backfill_active(True)
            if not was_active and self.journal.state().write_mode != "source_only":
                # Dual-write is on: a write that checked the log flag just before it went up may still be
                # on its way to the source; let it land before the first page is read, or its record
                # could be copied stale.
                self.clock.sleep(self.activation_grace_s)
            if status == "new":
                self.journal.set_checkpoint_status("copying", CHECKPOINT)
            copied, batches, resynced = self._copy(checkpoint.cursor, checkpoint.done, total)
            status = "copied"
        if status == "copied":
            # Writes that raced the last pages: put right until no dual-write is newer than the last
            # resync; the log closes only if nothing was logged since (atomically).
            mark = 0
            while True:
                resynced_now, mark = self._resync_dual_writes(mark)
                resynced += resynced_now
                if not resynced_now and self.journal.close_dual_write_log(mark):
                    break
            copy_s = time.perf_counter() - started_wall
            if self.optimize:
                self._retry(self.target.optimize)
                optimize_s = time.perf_counter() - started_wall - copy_s
                status = "optimized"
                self.journal.set_checkpoint_status(status, CHECKPOINT)
        return BackfillResult(
            done=self.journal.checkpoint(CHECKPOINT).done,
            total=total,
            copied=copied,
            resumed_from=checkpoint.done,
            batches=batches,
            retries=self._retries,
            resynced=resynced,
            created_target=created,
            copy_s=copy_s,
            optimize_s=optimize_s,
            status=status,
            retry_log=tuple(self._retry_log),
        )

    def _copy(self, cursor: Cursor | None, done: int, total: int) -> tuple[int, int, int]:
        """Copy from ``cursor`` to the last page; the last checkpoint says "copied".
        Returns (records copied, batches, records re-copied after a dual-write)."""
        reader = _Reader(self, cursor)
        mark = 0
        copied = batches = resynced = 0
        began = time.perf_counter()
        bar = _ProgressBar(total, done) if self.progress else None
        reader.start()
        try:
            while True:
                item = reader.pages.get()
                if item is _END:
                    break
                if isinstance(item, BaseException):
                    raise item
                read, target_batch, next_cursor = item
                if len(target_batch):
                    self.journal.note_attempt(len(target_batch), CHECKPOINT)
                    self._retry(partial(self.target.upsert, target_batch))
                # Cursor, done count and (after the last page) "copied" in one transaction.
                status = "copying" if next_cursor is not None else "copied"
                self.journal.advance(next_cursor, read, CHECKPOINT, status=status)
                copied += read
                batches += 1
                resynced_now, mark = self._resync_dual_writes(mark)
                resynced += resynced_now
                rate = copied / max(time.perf_counter() - began, 1e-9)
                if bar is not None:
                    bar.advance(read, max(total, done + copied))
                if self.on_batch is not None:
                    self.on_batch(BackfillProgress(done + copied, max(total, done + copied), read, rate))
        finally:
            reader.stop.set()
            reader.join(timeout=30)
            if bar is not None:
                bar.close()
        return copied, batches, resynced

    def _resync_dual_writes(self, mark: int) -> tuple[int, int]:
        """Put right on the target every record dual-written since ``mark``; returns (records, new mark).

        Per record, the newest acknowledged write is re-applied as written: an upsert with its vector
        and payload, a delete as a delete. A record with only an intent logged (its write in flight, or
        failed on the source) is re-copied from the source when the source shows it, and otherwise left
        alone: only a delete ever deletes on the target.
        """
        entries, mark = self.journal.dual_writes_since(mark)
        if not entries:
            return 0, mark
        acknowledged: dict[str, DualWrite] = {}
        intents: dict[str, DualWrite] = {}
        for entry in entries:
            (acknowledged if entry.acknowledged else intents)[entry.key] = entry
        # A newer write of an acknowledged record either gets acknowledged too (a later resync
        # re-applies it) or failed and changed nothing: the acknowledged write is what the source holds.
        unsettled = {key: e for key, e in intents.items() if key not in acknowledged}
        self._reapply(list(acknowledged.values()))
        if unsettled:
            self._recopy_from_source(unsettled)
        return len(acknowledged) + len(unsettled), mark

    def _reapply(self, writes: list[DualWrite]) -> None:
        """Apply acknowledged dual-writes to the target exactly as they were written (mapped)."""
        upserts = [w for w in writes if w.op == "upsert" and w.vector is not None]
        if upserts:
            parts = [key_parts(w.key) for w in upserts]
            namespaces = tuple(ns for ns, _ in parts)
            batch = RecordBatch(
                ids=tuple(pid for _, pid in parts),
                vectors=np.stack([w.vector for w in upserts if w.vector is not None]),
                payloads=tuple(w.payload or {} for w in upserts),
                namespaces=namespaces if any(namespaces) else None,
            )
            self._retry(lambda: self.target.upsert(self.mapping.records(batch)))
        deletes = [key_parts(w.key) for w in writes if w.op == "delete"]
        if deletes:
            target_ids = self.mapping.target_ids([pid for _, pid in deletes], [ns for ns, _ in deletes])
            self._retry(lambda: self.target.delete(target_ids))

    def _recopy_from_source(self, intents: dict[str, DualWrite]) -> None:
        """Records whose write is not acknowledged (yet): copy what the source shows; delete on the target
        only a record whose pending write is a delete and that the source no longer shows."""
        parts = {key: key_parts(key) for key in intents}
        fetched = self._retry(lambda: self.source.fetch(list(dict.fromkeys(pid for _, pid in parts.values()))))
        fetched_keys = batch_keys(fetched, self.mapping.default_namespace)
        present = fetched.take([i for i, k in enumerate(fetched_keys) if k in intents])
        if len(present):
            self._retry(lambda: self.target.upsert(self.mapping.records(present)))
        shown = set(fetched_keys)
        gone = [parts[key] for key, e in intents.items() if e.op == "delete" and key not in shown]
        if gone:
            target_ids = self.mapping.target_ids([pid for _, pid in gone], [ns for ns, _ in gone])
            self._retry(lambda: self.target.delete(target_ids))


class _ProgressBar:
    """A rich progress bar: records done of total, vectors/s, ETA (to stderr)."""

    def __init__(self, total: int, done: int) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            ProgressColumn,
            Task,
            TextColumn,
            TimeRemainingColumn,
        )
        from rich.text import Text

        class RateColumn(ProgressColumn):
            def render(self, task: Task) -> Text:
                speed = task.finished_speed or task.speed
                return Text(f"{speed:,.0f} vectors/s" if speed else "… vectors/s")

        self._progress = Progress(
            TextColumn("backfill"),
            BarColumn(),
            MofNCompleteColumn(),
            RateColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=False,
        )
        self._progress.start()
        self._task = self._progress.add_task("backfill", total=max(total, done), completed=done)

    def advance(self, records: int, total: int) -> None:
        self._progress.update(self._task, advance=records, total=total)

    def close(self) -> None:
        self._progress.stop()
