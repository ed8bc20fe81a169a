"""Dual-write: every write reaches both stores, the authoritative one first, nothing lost in between.

``DualWriteStore`` wraps a source and a target (composition; it is itself a ``VectorStore``):

- The write mode comes from the flag store, never from routing: SOURCE_ONLY, DUAL_SOURCE_FIRST (source
  authoritative, then target), DUAL_TARGET_FIRST (target authoritative, mirrored to source), TARGET_ONLY.
- The authoritative side's failure fails the write (the other side is not attempted, as in
  LaunchDarkly's migration flags). The other side's failure goes to the journal's durable outbox, and
  ``replay_outbox`` applies it later, in order, until acknowledged.
- Per-record order holds: while a record has an unacknowledged outbox entry for a side, later writes
  of that record to that side queue behind it instead of overtaking it.
- Writes to a Qdrant target go through the Pinecone → Qdrant mapping when the source is Pinecone.
- While a backfill runs, the keys about to be dual-written are logged first and the acknowledged write
  after, so the backfill re-applies it and a page it read earlier can never leave an older version on
  the target (nor can a source slow to show its own writes make the backfill delete one).

Every write either dual mode acknowledged is logged in the journal (``Journal.note_acknowledged``):
``read_back`` compares such records on both stores through the one record comparison (what the
orchestrator's parity gate and read-your-writes probes do), and ``replay_records`` copies the ones a
target silently dropped from the source again.

``OrphanWatch`` catches writes that still reach the source after cut-over from any writer, including
one that bypasses this wrapper entirely (a second handle on the source): it compares per-record digests
of the source against a baseline taken when source writes were switched off.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.clock import Clock, SystemClock
from harness.errors import InvalidInputError, TransientStoreError
from harness.migration.backfill import resolve_mapping
from harness.migration.flags import FlagStore, WriteMode
from harness.migration.journal import Journal
from harness.model import CollectionSchema, PointId, RecordBatch, SearchResult
from harness.records import (
    Comparison,
    RecordId,
    RecordMapping,
    batch_keys,
    batch_record_ids,
    key_parts,
    record_fingerprints,
    record_key,
)
from harness.records.filters import Filter
from harness.redact import redact_text
from harness.stores.base import Cursor, SearchParams, VectorStore, iter_batches

__all__ = [
    "DualWriteStore",
    "OrphanReport",
    "OrphanWatch",
    "ReadBack",
    "ReplayReport",
    "read_back",
    "replay_outbox",
    "replay_records",
]

SOURCE, TARGET = "source", "target"
# (authoritative side, mirrored side or None) per write mode.
_SIDES: dict[WriteMode, tuple[str, str | None]] = {
    WriteMode.SOURCE_ONLY: (SOURCE, None),
    WriteMode.DUAL_SOURCE_FIRST: (SOURCE, TARGET),
    WriteMode.DUAL_TARGET_FIRST: (TARGET, SOURCE),
    WriteMode.TARGET_ONLY: (TARGET, None),
}
FAULT_EVENT_INTERVAL_S = 1.0


@dataclass(frozen=True, slots=True)
class ReplayReport:
    """One outbox replay: entries acknowledged now, entries that failed again, entries still pending."""

    acknowledged: int
    failed: int
    pending: int

    def to_dict(self) -> dict[str, int]:
        """JSON-ready form."""
        return {"acknowledged": self.acknowledged, "failed": self.failed, "pending": self.pending}


def _apply(
    entry_side: str,
    op: str,
    source: VectorStore,
    target: VectorStore,
    mapping: RecordMapping,
    batch: RecordBatch | None,
    ids: Sequence[PointId],
    namespaces: Sequence[str] | None,
) -> None:
    """Apply one write to one side (target writes mapped)."""
    store = source if entry_side == SOURCE else target
    if op == "upsert":
        assert batch is not None
        store.upsert(batch if entry_side == SOURCE else mapping.records(batch))
    elif entry_side == SOURCE:
        store.delete(list(ids))
    else:
        store.delete(mapping.target_ids(ids, namespaces))


def replay_outbox(
    journal: Journal,
    source: VectorStore,
    target: VectorStore,
    mapping: RecordMapping,
    *,
    side: str | None = None,
    max_entries: int | None = None,
) -> ReplayReport:
    """Apply pending outbox entries in order; an entry that fails stays pending, and later entries of
    the same records wait behind it (per-record order). Idempotent: upserts and deletes repeat safely."""
    outbox = journal.outbox
    blocked: dict[str, set[str]] = {SOURCE: set(), TARGET: set()}
    acknowledged = failed = 0
    for entry in outbox.pending(side=side, limit=max_entries):
        keys = set(entry.keys(mapping.default_namespace))
        if keys & blocked[entry.side]:
            blocked[entry.side] |= keys
            continue
        try:
            _apply(entry.side, entry.op, source, target, mapping, entry.batch, entry.ids, entry.namespaces)
        except Exception as exc:  # any failure keeps the entry: the write was acknowledged to its caller
            outbox.record_failure(entry.seq, redact_text(f"{type(exc).__name__}: {exc}"))
            blocked[entry.side] |= keys
            failed += 1
            continue
        outbox.acknowledge(entry.seq)
        acknowledged += 1
    return ReplayReport(acknowledged=acknowledged, failed=failed, pending=outbox.size(side))


class DualWriteStore:
    """A ``VectorStore`` that writes per the write-mode flag and reads from the authoritative side.

    Reads (search, scroll, fetch, count, describe) go to the source under SOURCE_ONLY and
    DUAL_SOURCE_FIRST, to the target otherwise (per-user read routing is the router's job, not this).
    ``close`` does not close the wrapped stores: they belong to the caller.
    """

    def __init__(
        self,
        source: VectorStore,
        target: VectorStore,
        journal: Journal,
        flags: FlagStore,
        clock: Clock | None = None,
        *,
        mapping: RecordMapping | None = None,
    ) -> None:
        self.source = source
        self.target = target
        self.journal = journal
        self.flags = flags
        self.clock = clock or SystemClock()
        self.mapping = mapping if mapping is not None else resolve_mapping(source, target)
        self.uri = f"dual-write({source.uri} -> {target.uri})"
        self._fault_lock = threading.Lock()
        self._last_fault_event: dict[str, float] = {}

    # -- reads: the authoritative side -----------------------------------------------------------------
    def _read_store(self) -> VectorStore:
        return self.source if _SIDES[self.flags.write_mode()][0] == SOURCE else self.target

    def describe(self) -> CollectionSchema:
        """The read side's schema."""
        return self._read_store().describe()

    def exists(self) -> bool:
        """True when both collections exist."""
        return self.source.exists() and self.target.exists()

    def create(self, schema: CollectionSchema) -> None:
        """Create whichever of the two collections is missing, from ``schema``."""
        for store in (self.source, self.target):
            if not store.exists():
                store.create(schema)

    def count(self) -> int:
        """The read side's count."""
        return self._read_store().count()

    def scroll(self, batch_size: int = 1000, cursor: Cursor | None = None) -> tuple[RecordBatch, Cursor | None]:
        """A page of the read side."""
        return self._read_store().scroll(batch_size=batch_size, cursor=cursor)

    def fetch(self, ids: Sequence[PointId]) -> RecordBatch:
        """Records of the read side (target ids are the mapped ones when the mapping applies)."""
        return self._read_store().fetch(ids)

    def search(self, queries: np.ndarray, k: int, params: SearchParams | None = None) -> SearchResult:
        """Nearest records on the read side."""
        return self._read_store().search(queries, k, params)

    def search_filtered(
        self,
        queries: np.ndarray,
        k: int,
        where: Filter | None,
        *,
        namespace: str | None = None,
        params: SearchParams | None = None,
    ) -> SearchResult:
        """Filtered nearest records on the read side."""
        return self._read_store().search_filtered(queries, k, where, namespace=namespace, params=params)

    def count_filtered(self, where: Filter | None, *, namespace: str | None = None) -> int:
        """The read side's filtered count."""
        return self._read_store().count_filtered(where, namespace=namespace)

    def optimize(self) -> None:
        """Optimize both stores."""
        self.source.optimize()
        self.target.optimize()

    def close(self) -> None:
        """Nothing to release: the wrapped stores belong to the caller."""

    # -- writes ----------------------------------------------------------------------------------------
    def upsert(self, batch: RecordBatch) -> None:
        """Write ``batch`` per the write mode; returns when the authoritative side acknowledged it and
        the other side either did too or holds it durably in the outbox."""
        if len(batch) == 0:
            return
        if batch.named or batch.sparse:
            # The outbox and the dual-write log keep the default dense vector and the payload only:
            # writing such a batch would drop its other vectors on the side that replays it.
            raise InvalidInputError(
                "dual-write carries the default dense vector and the payload only; a write with named vectors "
                f"{sorted(batch.named)} or sparse vectors {sorted(batch.sparse)} is refused, not half-written"
            )
        keys = batch_keys(batch, self.mapping.default_namespace)
        self._write(keys, "upsert", batch, batch.ids, batch.namespaces)

    def delete(self, ids: Sequence[PointId]) -> None:
        """Delete ``ids`` per the write mode. With the Pinecone mapping, the delete reaches the target's
        point for every namespace the source holds the id in (as a source spanning namespaces deletes)."""
        ids = list(ids)
        if not ids:
            return
        namespaces: list[str] | None = None
        if self.mapping.pinecone_to_qdrant:
            ids, namespaces = self._where_on_source(ids)
        default = (self.mapping.default_namespace,) * len(ids)
        keys = [record_key(pid, ns) for pid, ns in zip(ids, namespaces or default, strict=True)]
        self._write(keys, "delete", None, ids, namespaces)

    def _where_on_source(self, ids: Sequence[PointId]) -> tuple[list[PointId], list[str]]:
        """Every (id, namespace) the source holds for ``ids``, so the delete reaches each mapped point;
        ids it does not hold keep the default namespace (the target must not hold them either)."""
        fetched = self.source.fetch(ids)
        found = list(
            zip(fetched.ids, fetched.namespaces or (self.mapping.default_namespace,) * len(fetched), strict=True)
        )
        held = {pid for pid, _ in found}
        found += [(pid, self.mapping.default_namespace) for pid in ids if pid not in held]
        return [pid for pid, _ in found], [ns for _, ns in found]

    def _write(
        self,
        keys: list[str],
        op: str,
        batch: RecordBatch | None,
        ids: Sequence[PointId],
        namespaces: Sequence[str] | None,
    ) -> None:
        mode = self.flags.write_mode()
        primary, mirror = _SIDES[mode]
        logged = False
        if mode is WriteMode.DUAL_SOURCE_FIRST:
            # Logged before writing, so a backfill that copied an older version puts this record right.
            logged = self.journal.note_dual_writes(keys, op)
        self._clear_way(primary, keys)
        _apply(primary, op, self.source, self.target, self.mapping, batch, ids, namespaces)
        if logged:
            # Acknowledged: the backfill re-applies exactly this write, whatever the source shows yet.
            self.journal.note_dual_writes_acknowledged(
                keys, op, batch.vectors if batch is not None else None, batch.payloads if batch is not None else None
            )
        if mirror is None:
            return
        # Acknowledged by the authoritative side: the parity gate will read it back from the target.
        self.journal.note_acknowledged(keys, op)
        outbox = self.journal.outbox
        if outbox.pending_keys(mirror, keys):
            self._enqueue(mirror, op, batch, ids, namespaces, "queued behind earlier unacknowledged writes")
            return
        try:
            _apply(mirror, op, self.source, self.target, self.mapping, batch, ids, namespaces)
        except Exception as exc:  # the authoritative write stands; the mirror write must not be lost
            self._enqueue(mirror, op, batch, ids, namespaces, redact_text(f"{type(exc).__name__}: {exc}"))

    def _clear_way(self, side: str, keys: list[str]) -> None:
        """Before an authoritative write: replay older queued writes of these records to that side
        (after a write-mode switch), or fail the write rather than let it overtake them."""
        outbox = self.journal.outbox
        if not outbox.pending_keys(side, keys):
            return
        replay_outbox(self.journal, self.source, self.target, self.mapping, side=side)
        if outbox.pending_keys(side, keys):
            raise TransientStoreError(f"earlier writes of these records to the {side} are not applied yet; retry")

    def _enqueue(
        self,
        side: str,
        op: str,
        batch: RecordBatch | None,
        ids: Sequence[PointId],
        namespaces: Sequence[str] | None,
        error: str,
    ) -> None:
        outbox = self.journal.outbox
        ns = self.mapping.default_namespace
        if op == "upsert":
            assert batch is not None
            outbox.enqueue_upsert(side, batch, error, default_namespace=ns)
        else:
            outbox.enqueue_delete(side, ids, namespaces, error, default_namespace=ns)
        self._fault_event(side, error, len(ids))

    def _fault_event(self, side: str, error: str, records: int) -> None:
        """Journal a mirror-write failure (at most one event per side per second, for the timeline)."""
        now = self.clock.now()
        with self._fault_lock:
            last = self._last_fault_event.get(side)
            if last is not None and now - last < FAULT_EVENT_INTERVAL_S:
                return
            self._last_fault_event[side] = now
        self.journal.append(
            "fault", {"fault": "mirror_write_failed", "side": side, "records": records, "error": error}, at=now
        )

    def replay_outbox(self, side: str | None = None, max_entries: int | None = None) -> ReplayReport:
        """Retry the outbox's pending writes (see ``replay_outbox``)."""
        return replay_outbox(self.journal, self.source, self.target, self.mapping, side=side, max_entries=max_entries)


# -- reading acknowledged writes back ---------------------------------------------------------------
READ_BACK_CHUNK = 256
_Held = tuple[np.ndarray, dict[str, Any]]


@dataclass(frozen=True, slots=True)
class ReadBack:
    """Acknowledged writes read back from both stores (records named by their source identity).

    ``missing``: the source holds the record, the target does not; ``different``: the target holds
    another version; ``extra``: the source deleted it, the target still holds it (a dropped delete);
    ``pending``: still queued in the outbox for the target (known, not silent: never counted as dropped).
    """

    checked: int
    missing: tuple[RecordId, ...] = ()
    different: tuple[RecordId, ...] = ()
    extra: tuple[RecordId, ...] = ()
    pending: tuple[RecordId, ...] = ()

    @property
    def dropped(self) -> tuple[RecordId, ...]:
        """Every record the target silently does not hold as acknowledged."""
        return self.missing + self.different + self.extra

    def to_dict(self, sample: int = 100) -> dict[str, Any]:
        """JSON-ready form with at most ``sample`` ids per kind (counts exact)."""

        def ids(records: tuple[RecordId, ...]) -> list[Any]:
            return [r.id for r in records[:sample]]

        return {
            "checked": self.checked,
            "dropped": len(self.dropped),
            "missing": ids(self.missing),
            "different": ids(self.different),
            "extra": ids(self.extra),
            "pending": len(self.pending),
        }


def _held(store: VectorStore, ids: Sequence[PointId], default_namespace: str) -> dict[RecordId, _Held]:
    """The records ``store`` holds under ``ids``, by ``RecordId``."""
    unique = list(dict.fromkeys(ids))
    out: dict[RecordId, _Held] = {}
    for start in range(0, len(unique), READ_BACK_CHUNK):
        batch = store.fetch(unique[start : start + READ_BACK_CHUNK])
        for rid, vector, payload in zip(
            batch_record_ids(batch, default_namespace), batch.vectors, batch.payloads, strict=True
        ):
            out[rid] = (vector, payload)
    return out


def read_back(
    records: Sequence[RecordId],
    source: VectorStore,
    target: VectorStore,
    mapping: RecordMapping,
    comparison: Comparison,
    *,
    pending: frozenset[RecordId] = frozenset(),
) -> ReadBack:
    """Fetch ``records`` from both stores and compare each pair with ``comparison`` (see ``ReadBack``);
    records in ``pending`` are reported as pending, not compared."""
    wanted = [r for r in dict.fromkeys(records) if r not in pending]
    on_source = _held(source, [r.id for r in wanted], mapping.default_namespace)
    target_namespace = "" if mapping.pinecone_to_qdrant else mapping.default_namespace
    on_target = _held(target, [mapping.target_record(r).id for r in wanted], target_namespace)
    missing: list[RecordId] = []
    different: list[RecordId] = []
    extra: list[RecordId] = []
    both: list[tuple[RecordId, _Held, _Held]] = []
    for record in wanted:
        held_source = on_source.get(record)
        held_target = on_target.get(mapping.target_record(record))
        if held_source is None and held_target is None:
            continue
        if held_target is None:
            missing.append(record)
        elif held_source is None:
            extra.append(record)
        else:
            both.append((record, held_source, held_target))
    if both:
        # The one comparison, its vectors in bulk: equal vectors and equal payloads.
        same = comparison.vectors_equal(np.stack([s[0] for _, s, _ in both]), np.stack([t[0] for _, _, t in both]))
        different += [
            record
            for (record, s, t), equal in zip(both, same, strict=True)
            if not (equal and comparison.payloads_equal(s[1], t[1]))
        ]
    kept_pending = tuple(r for r in dict.fromkeys(records) if r in pending)
    return ReadBack(len(wanted), tuple(missing), tuple(different), tuple(extra), kept_pending)


def replay_records(
    records: Sequence[RecordId], source: VectorStore, target: VectorStore, mapping: RecordMapping
) -> tuple[int, int]:
    """Copy ``records`` from the source to the target again: upsert those the source holds (mapped),
    delete from the target those it does not. Returns (upserted, deleted)."""
    unique = list(dict.fromkeys(records))
    upserted = deleted = 0
    for start in range(0, len(unique), READ_BACK_CHUNK):
        chunk = unique[start : start + READ_BACK_CHUNK]
        batch = source.fetch(list(dict.fromkeys(r.id for r in chunk)))
        wanted = set(chunk)
        held = [i for i, rid in enumerate(batch_record_ids(batch, mapping.default_namespace)) if rid in wanted]
        if held:
            target.upsert(mapping.records(batch.take(held)))
            upserted += len(held)
        found = set(batch_record_ids(batch, mapping.default_namespace))
        gone = [r for r in chunk if r not in found]
        if gone:
            target.delete(mapping.target_ids([r.id for r in gone], [r.namespace for r in gone]))
            deleted += len(gone)
    return upserted, deleted


# -- orphaned writes ----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class OrphanReport:
    """Writes that reached the source after its writes were switched off (ids per kind of change)."""

    at: float
    added: tuple[PointId, ...]
    changed: tuple[PointId, ...]
    deleted: tuple[PointId, ...]
    baseline_count: int
    source_count: int

    @property
    def count(self) -> int:
        """Number of orphaned writes (records added, changed or deleted)."""
        return len(self.added) + len(self.changed) + len(self.deleted)

    @property
    def ids(self) -> tuple[PointId, ...]:
        """Every orphaned id."""
        return self.added + self.changed + self.deleted

    def to_dict(self, sample: int = 100) -> dict[str, Any]:
        """JSON-ready form with at most ``sample`` ids per kind."""
        return {
            "at": self.at,
            "count": self.count,
            "added": list(self.added[:sample]),
            "changed": list(self.changed[:sample]),
            "deleted": list(self.deleted[:sample]),
            "baseline_count": self.baseline_count,
            "source_count": self.source_count,
        }


def record_digests(store: VectorStore, batch_size: int = 1000) -> dict[str, bytes]:
    """A fingerprint of every record (``records.record_fingerprints``), keyed by ``record_key``."""
    digests: dict[str, bytes] = {}
    for batch in iter_batches(store, batch_size=batch_size):
        digests.update(zip(batch_keys(batch), record_fingerprints(batch), strict=True))
    return digests


class OrphanWatch:
    """Watches the source after cut-over: ``start`` takes the baseline, ``check`` lists what changed.

    It scans the source itself, so it sees writes from any writer, wrapped or not. With a journal the
    baseline survives a restart.
    """

    def __init__(
        self, source: VectorStore, journal: Journal | None = None, *, clock: Clock | None = None, batch_size: int = 1000
    ) -> None:
        self.source = source
        self.journal = journal
        self.clock = clock or SystemClock()
        self.batch_size = batch_size
        self._baseline: dict[str, bytes] | None = journal.orphan_baseline() if journal is not None else None

    @property
    def started(self) -> bool:
        """True once a baseline exists."""
        return self._baseline is not None

    def start(self) -> int:
        """Take (and journal) the baseline; returns the number of source records in it."""
        self._baseline = record_digests(self.source, self.batch_size)
        if self.journal is not None:
            self.journal.save_orphan_baseline(self._baseline)
        return len(self._baseline)

    def check(self) -> OrphanReport:
        """Every record added, changed or deleted on the source since ``start``."""
        if self._baseline is None:
            raise RuntimeError("OrphanWatch.check() before start(): there is no baseline to compare with")
        now = record_digests(self.source, self.batch_size)
        base = self._baseline
        added = tuple(key_parts(k).id for k in now if k not in base)
        changed = tuple(key_parts(k).id for k, d in now.items() if k in base and base[k] != d)
        deleted = tuple(key_parts(k).id for k in base if k not in now)
        return OrphanReport(
            at=self.clock.now(),
            added=added,
            changed=changed,
            deleted=deleted,
            baseline_count=len(base),
            source_count=len(now),
        )
