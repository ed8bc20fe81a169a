"""Parity and ground truth in parallel: partitions read on Dask workers, digests compared in key-space buckets.

The partitions (``harness.parallel.plan``): an exclusive store (a Qdrant Edge shard) is one partition, read
by the worker that holds it open; a store that allows concurrent readers (a Qdrant server, Pinecone) is cut
into chunks of whole scroll pages, read by whichever worker is free; a store living in this process
(``exact://``) is read here. Each partition builds its part of the digest table where it is read
(``DigestTableBuilder``, the same code as the single-process scan) and keeps it there; a source partition
also spills its vectors to its worker's disk.

Only small things come back to this process:
- each partition's summary (records, non-finite positions, the finite rows of each page);
- for each key-space bucket, what its comparison found (missing and extra ids, the pairs whose digests
  differ, duplicates, the mapping audit's findings): one task per bucket compares both sides' rows of that
  bucket on a worker (data-diff's segments; ``diff_tables`` is the comparison, the same as in one process).
  A partition makes its rows of a bucket when that bucket's turn comes (as many buckets at once as there
  are workers), so no worker holds a second copy of all its digests; once every bucket is compared, the
  digests are dropped and only what lookups need is kept;
- ground truth as each source partition's partial top-k, merged here (scoped to a query's namespace and
  leaving a sampled query's own record out, as in one process: each partition maps its namespaces to
  the run's codes, numbered in scan order);
- the payloads of the first ``FIELD_SAMPLE_ROWS`` records in scan order (``FieldStats``, for the
  filters ``quality.filtered`` generates), and each sampled query's namespace;
- the ids, vectors and key lookups the checks ask for by position.

Positions are global scan positions: a partition's rows follow the rows of the partitions before it, in
the order one scroll of the whole store would have read them. So the result is the single-process result
whatever the number of workers: the same findings in the same order, the same ground truth (ties go to the
earlier position), and the same query sample — the single-process reservoir (``QueryReservoir``) is
replayed here over the partitions' per-page finite-row counts, which is all its random draws depend on.
"""

from __future__ import annotations

import itertools
import pickle
import threading
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from harness.errors import StoreError
from harness.model import Distance, PointId, RecordBatch
from harness.parallel.engine import Engine
from harness.parallel.held import held_store
from harness.parallel.plan import Chunk, ChunkPlanner, bucket_count, bucket_of, chunk_records_for
from harness.progress import NO_PROGRESS, Progress
from harness.records import Comparison, RecordId
from harness.stores.base import VectorStore, iter_batches, paging_gc
from harness.vectormath import prepare
from harness.verify.mapping_audit import MappingFindings
from harness.verify.parity import DigestTable, DigestTableBuilder, IdLog, TableDiff, diff_tables, key_order
from harness.verify.payload_fields import FIELD_SAMPLE_ROWS, FieldStats
from harness.verify.quality import GroundTruth, QueryReservoir, VectorSpill
from harness.verify.queries import QuerySet

__all__ = ["PartitionedScan", "PartitionedSpill", "PartitionedTable", "Side", "scan_partitioned"]

U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]
I32 = npt.NDArray[np.int32]
B1 = npt.NDArray[np.bool_]
HANDLE_BITS = 40  # a bucket row names its record as (partition << 40) | position in the partition
_LOCAL_MASK = (1 << HANDLE_BITS) - 1


# -- what lives in the process that read a partition --------------------------------------------------
@dataclass
class _PartState:
    table: DigestTable  # with its digests until the buckets are compared (``release_digests``)
    spill: VectorSpill | None  # the partition's raw source vectors, in scan order
    codes: I32 | None = None  # each row's namespace as an index into ``names`` (-1: read without one)
    names: tuple[str, ...] = ()  # the namespaces in the order the partition met them
    payloads: bytes = pickle.dumps([])  # the first FIELD_SAMPLE_ROWS payloads, pickled (3 MB, not 20, at 1M)
    part: int = 0
    which: npt.NDArray[np.unsignedinteger[Any]] | None = None  # each row's key-space bucket, until compared
    buckets: int = 1
    payload_rows: int = 0  # how many payloads ``payloads`` holds


_PARTS: dict[str, _PartState] = {}
_PARTS_LOCK = threading.Lock()


@dataclass(frozen=True, slots=True)
class PartSummary:
    """What a partition's scan sends back (small): positions are the partition's own."""

    token: str
    worker: str | None
    records: int
    page_finite: I64  # finite vectors per non-empty page, in order (the reservoir's replay)
    non_finite: I64
    sparse_entries: int
    unnamed: I64  # mapping audit (target side of Pinecone → Qdrant)
    wrong_point_id: I64
    namespaces: tuple[str, ...] = ()  # the namespaces the partition met, in the order it met them
    uncoded: int = 0  # rows read without a namespace


@dataclass(frozen=True, slots=True)
class BucketRows:
    """One partition's rows of one key-space bucket."""

    handles: I64
    keys: U64
    vector_digests: U64
    payload_digests: U64
    named_digests: U64 | None
    sparse_digests: U64 | None
    non_finite: B1
    name_keys: U64  # mapping audit: per named target point, the key of the record it names
    name_handles: I64


@dataclass(frozen=True, slots=True)
class BucketDiff:
    """What comparing one bucket found (handles, see ``HANDLE_BITS``)."""

    missing: I64
    extra: I64
    pairs_source: I64  # suspect pairs: digests differ or a vector is non-finite
    pairs_target: I64
    vector_suspects: B1
    payload_suspects: B1
    sparse_suspects: B1
    compared: int
    duplicates: tuple[int, int]
    name_duplicates: I64
    name_unknown: I64


def _worker_address() -> str | None:
    try:
        from distributed import get_worker

        return str(get_worker().address)
    except (ImportError, ValueError):
        return None


def _pages(store: VectorStore, batch_size: int, chunk: Chunk | None) -> Iterator[RecordBatch]:
    """The non-empty pages of the whole store, or of one chunk (``chunk.pages`` pages from its cursor)."""
    if chunk is None:
        yield from iter_batches(store, batch_size)
        return
    cursor = chunk.cursor
    with paging_gc(batch_size):
        for _ in range(chunk.pages):
            batch, cursor = store.scroll(batch_size=batch_size, cursor=cursor)
            if len(batch):
                yield batch
            if cursor is None:
                return


def scan_part(
    token: str,
    part: int,
    store: VectorStore | str,
    chunk: Chunk | None,
    comparison: Comparison,
    *,
    target_side: bool,
    batch_size: int,
    spill: bool,
    buckets: int,
    capacity: int,
    spill_dir: str | None = None,
) -> PartSummary:
    """Read one partition (``store`` a URI: the store held open in this worker), keep its digests and
    spilled vectors here under ``token``, and return its summary. Its rows of each key-space bucket are
    made when that bucket is compared (``bucket_rows``), not all at once: a copy of every digest."""
    opened = held_store(store) if isinstance(store, str) else store
    builder = DigestTableBuilder(comparison, target_side=target_side, capacity=capacity)
    vectors = VectorSpill(spill_dir) if spill else None
    page_finite: list[int] = []
    names: dict[str, int] = {}
    codes: list[I32] = []
    payloads: list[dict[str, Any]] = []
    try:
        for batch in _pages(opened, batch_size, chunk):
            builder.add(batch)
            if len(payloads) < FIELD_SAMPLE_ROWS:
                payloads.extend(dict(p) for p in batch.payloads[: FIELD_SAMPLE_ROWS - len(payloads)])
            if not target_side:
                codes.append(_local_codes(batch, names))
            if vectors is not None:
                vectors.append(batch.vectors)
                page_finite.append(int(np.isfinite(batch.vectors).all(axis=1).sum()))
    except BaseException:
        if vectors is not None:
            vectors.close()
        raise
    table = builder.finish()
    which = bucket_of(table.keys, buckets).astype(np.min_scalar_type(max(buckets - 1, 0)))
    audit = table.audit.finish(lambda keys: np.zeros(len(keys), dtype=np.int64)) if table.audit else None
    row_codes = np.concatenate(codes) if codes else np.zeros(0, dtype=np.int32)
    with _PARTS_LOCK:
        _PARTS[token] = _PartState(
            table,
            vectors,
            row_codes,
            tuple(names),
            pickle.dumps(payloads, pickle.HIGHEST_PROTOCOL),
            part,
            which,
            buckets,
            len(payloads),
        )
    return PartSummary(
        token=token,
        worker=_worker_address(),
        records=len(table),
        page_finite=np.asarray(page_finite, dtype=np.int64),
        non_finite=table.non_finite,
        sparse_entries=table.sparse_entries,
        unnamed=audit.positions["unnamed"] if audit else np.zeros(0, dtype=np.int64),
        wrong_point_id=audit.positions["wrong_point_id"] if audit else np.zeros(0, dtype=np.int64),
        namespaces=tuple(names),
        uncoded=int((row_codes < 0).sum()),
    )


def _local_codes(batch: RecordBatch, names: dict[str, int]) -> I32:
    """Each row's namespace as a partition-local code (new namespaces get the next one; -1 for a batch
    read without namespaces)."""
    if batch.namespaces is None:
        return np.full(len(batch), -1, dtype=np.int32)
    return np.fromiter((names.setdefault(ns, len(names)) for ns in batch.namespaces), np.int32, len(batch))


def bucket_rows(token: str, bucket: int) -> BucketRows:
    """A partition's rows of one key-space bucket (run where the partition lives, while its digests are kept)."""
    state = _state(token)
    table, which = state.table, state.which
    if which is None:
        raise StoreError(f"partition {token}: its buckets were already compared")
    base = np.int64(state.part) << np.int64(HANDLE_BITS)
    sel = np.flatnonzero(which == bucket)
    name_keys, name_rows = _audit_names(table)
    in_bucket = bucket_of(name_keys, state.buckets) == bucket
    return BucketRows(
        handles=base + sel.astype(np.int64),
        keys=table.keys[sel],
        vector_digests=table.vector_digests[sel],
        payload_digests=table.payload_digests[sel],
        named_digests=None if table.named_digests is None else table.named_digests[sel],
        sparse_digests=None if table.sparse_digests is None else table.sparse_digests[sel],
        non_finite=np.isin(sel, table.non_finite),
        name_keys=name_keys[in_bucket],
        name_handles=base + name_rows[in_bucket],
    )


def release_digests(token: str) -> None:
    """Keep only what lookups need of a partition's table once its buckets are compared."""
    state = _state(token)
    state.table = state.table.without_digests()
    state.which = None


def _audit_names(table: DigestTable) -> tuple[U64, I64]:
    """(name key, position) of each target point that names a record (the mapping audit's raw material)."""
    audit = table.audit
    if audit is None:
        return np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.int64)
    keys = np.concatenate(audit._name_keys) if audit._name_keys else np.zeros(0, dtype=np.uint64)
    named = np.concatenate(audit._named) if audit._named else np.zeros(0, dtype=bool)
    rows = np.flatnonzero(named)
    return keys[rows], rows.astype(np.int64)


def _concat(parts: Sequence[BucketRows]) -> BucketRows:
    def stack(name: str) -> Any:
        return np.concatenate([getattr(p, name) for p in parts]) if parts else None

    def optional(name: str) -> U64 | None:
        if all(getattr(p, name) is None for p in parts):
            return None
        return np.concatenate(
            [
                getattr(p, name) if getattr(p, name) is not None else np.zeros((len(p.keys), 2), dtype=np.uint64)
                for p in parts
            ]
        )

    if len(parts) == 1:  # one partition (an Edge shard): its rows are in scan order already, no copy
        return parts[0]
    if not parts:
        empty_u, empty_i = np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.int64)
        return BucketRows(
            empty_i, empty_u, np.zeros((0, 2), np.uint64), np.zeros((0, 2), np.uint64), None, None,
            np.zeros(0, dtype=bool), empty_u, empty_i,
        )  # fmt: skip
    rows = BucketRows(
        handles=stack("handles"),
        keys=stack("keys"),
        vector_digests=stack("vector_digests"),
        payload_digests=stack("payload_digests"),
        named_digests=optional("named_digests"),
        sparse_digests=optional("sparse_digests"),
        non_finite=stack("non_finite"),
        name_keys=stack("name_keys"),
        name_handles=stack("name_handles"),
    )
    order = np.argsort(rows.handles, kind="stable")  # scan order: the earliest position of a key wins
    if np.all(order[1:] > order[:-1]):
        return rows
    return BucketRows(
        rows.handles[order], rows.keys[order], rows.vector_digests[order], rows.payload_digests[order],
        None if rows.named_digests is None else rows.named_digests[order],
        None if rows.sparse_digests is None else rows.sparse_digests[order],
        rows.non_finite[order], rows.name_keys, rows.name_handles,
    )  # fmt: skip


def _table(rows: BucketRows) -> DigestTable:
    order, duplicates = key_order(rows.keys)
    return DigestTable(
        keys=rows.keys,
        vector_digests=rows.vector_digests,
        payload_digests=rows.payload_digests,
        order=order,
        ids=IdLog(),
        duplicates=duplicates,
        non_finite=np.flatnonzero(rows.non_finite).astype(np.int64),
        named_digests=rows.named_digests,
        sparse_digests=rows.sparse_digests,
    )


def compare_bucket(source: Sequence[BucketRows], target: Sequence[BucketRows]) -> BucketDiff:
    """Compare one bucket's rows of every source and every target partition (``diff_tables``)."""
    src, tgt = _concat(source), _concat(target)
    src_table, tgt_table = _table(src), _table(tgt)
    diff = diff_tables(src_table, tgt_table)
    suspects = diff.vector_suspects | diff.payload_suspects | diff.sparse_suspects
    # The mapping audit: a record named by two points, or by a point while the source does not hold it.
    _, inverse, counts = np.unique(tgt.name_keys, return_inverse=True, return_counts=True)
    name_duplicates = tgt.name_handles[counts[inverse] > 1] if len(tgt.name_keys) else tgt.name_handles
    known = src_table.positions(tgt.name_keys) >= 0
    return BucketDiff(
        missing=src.handles[diff.missing],
        extra=tgt.handles[diff.extra],
        pairs_source=src.handles[diff.common_source[suspects]],
        pairs_target=tgt.handles[diff.common_target[suspects]],
        vector_suspects=diff.vector_suspects[suspects],
        payload_suspects=diff.payload_suspects[suspects],
        sparse_suspects=diff.sparse_suspects[suspects],
        compared=len(diff.common_source),
        duplicates=(src_table.duplicates, tgt_table.duplicates),
        name_duplicates=name_duplicates,
        name_unknown=tgt.name_handles[~known],
    )


# -- lookups in a partition's state (run where it lives) -----------------------------------------------
def _state(token: str) -> _PartState:
    state = _PARTS.get(token)
    if state is None:
        raise StoreError(f"partition {token} is gone from its worker (the worker restarted?): rerun the verification")
    return state


def part_ids(token: str, positions: I64) -> list[tuple[PointId, str]]:
    """(id, namespace) at these positions of a partition."""
    return _state(token).table.ids.get(positions)


def part_keys(token: str, positions: I64) -> U64:
    """The parity keys at these positions of a partition."""
    return _state(token).table.keys_at(positions)


def part_namespaces(token: str, positions: I64) -> list[str | None]:
    """The namespace each row at these positions was read with (None: its page carried none)."""
    state = _state(token)
    if state.codes is None or not len(state.codes):
        return [None] * len(positions)
    return [None if c < 0 else state.names[c] for c in state.codes[np.asarray(positions, np.int64)].tolist()]


def part_payloads(token: str, count: int) -> bytes:
    """The payloads of the partition's first ``count`` rows (at most ``FIELD_SAMPLE_ROWS`` are kept), pickled
    as one object: Dask serialises a returned list item by item (20,000 payloads took 3 s a side)."""
    state = _state(token)
    if count >= state.payload_rows:
        return state.payloads
    return pickle.dumps(pickle.loads(state.payloads)[:count], protocol=pickle.HIGHEST_PROTOCOL)


def part_positions(token: str, keys: U64) -> I64:
    """Each key's position in a partition (-1: not there)."""
    return _state(token).table.positions(keys)


def part_vectors(token: str, positions: I64, distance: Distance | None) -> npt.NDArray[np.float32]:
    """The spilled vectors at these positions: as read (``distance`` None) or prepared for ``distance``."""
    spill = _state(token).spill
    if spill is None:
        raise StoreError(f"partition {token} spilled no vectors")
    raw = spill.take(positions)
    return raw if distance is None else prepare(raw, distance)


def part_truth(
    token: str,
    queries: npt.NDArray[np.float32],
    k: int,
    distance: Distance,
    offset: int,
    scopes: I64 | None = None,
    own: I64 | None = None,
    code_map: I32 | None = None,
) -> tuple[npt.NDArray[np.float32], I64]:
    """A source partition's exact top-``k`` (keys, global rows) of each query (``GroundTruth``'s order).

    ``scopes`` / ``own``: as ``GroundTruth`` (global codes and positions); ``code_map[local + 1]``: the
    global namespace code of each partition-local code (index 0: rows read without a namespace)."""
    truth = GroundTruth(queries, k, distance, scopes=scopes, own=own)
    state = _state(token)
    spill = state.spill
    codes = None
    if code_map is not None and state.codes is not None and len(state.codes):
        codes = code_map[state.codes.astype(np.int64) + 1]
    if spill is not None:
        for first_row, block in spill.blocks():
            block_codes = None if codes is None else codes[first_row : first_row + len(block)]
            truth.push(prepare(block, distance), offset + first_row, block_codes)
    return truth.keys, truth.rows


def drop_parts(prefix: str) -> int:
    """Forget every partition of one run (its spill files are deleted); returns how many."""
    with _PARTS_LOCK:
        tokens = [t for t in _PARTS if t.startswith(prefix)]
        states = [_PARTS.pop(t) for t in tokens]
    for state in states:
        if state.spill is not None:
            state.spill.close()
    return len(states)


# -- this process's view of the partitions ------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class PartRef:
    """Where a partition's state lives (``worker`` None: this process) and where its rows start."""

    token: str
    worker: str | None
    offset: int
    records: int


class _Runner:
    """Runs a function where a partition lives: on its worker, or here."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def submit(self, ref: PartRef, fn: Callable[..., Any], *args: Any) -> Callable[[], Any]:
        if ref.worker is None:
            value = fn(ref.token, *args)
            return lambda: value
        future = self.engine.submit(fn, ref.token, *args, worker=ref.worker)
        return lambda: self.engine.result(future)

    def each(
        self, refs: Sequence[PartRef], fn: Callable[..., Any], args: Callable[[PartRef], tuple[Any, ...]]
    ) -> list[Any]:
        """``fn(token, *args(ref))`` on every partition at once; results in order."""
        waits = [self.submit(ref, fn, *args(ref)) for ref in refs]
        return [wait() for wait in waits]


def _split(refs: Sequence[PartRef], positions: I64) -> list[tuple[PartRef, I64, I64]]:
    """(partition, its local positions, their indices in ``positions``) for the partitions they fall in."""
    positions = np.asarray(positions, dtype=np.int64)
    starts = np.asarray([r.offset for r in refs], dtype=np.int64)
    owner = np.searchsorted(starts, positions, side="right") - 1
    out = []
    for p in np.unique(owner).tolist():
        where = np.flatnonzero(owner == p)
        out.append((refs[p], positions[where] - refs[p].offset, where))
    return out


class PartitionedIds(IdLog):
    """The ids of a partitioned scan, read by global position from the partitions that hold them."""

    def __init__(self, refs: Sequence[PartRef], runner: _Runner) -> None:
        super().__init__()
        self.refs = list(refs)
        self.runner = runner
        self._cache: dict[int, tuple[PointId, str]] = {}

    def __len__(self) -> int:
        return sum(r.records for r in self.refs)

    def append(self, ids: Sequence[PointId], namespaces: Sequence[str] | None) -> None:
        raise TypeError("a partitioned id log is read-only")

    def get(self, positions: Sequence[int] | I64) -> list[tuple[PointId, str]]:
        """(id, namespace) at each global position (one request per partition involved; cached)."""
        wanted = np.asarray(positions, dtype=np.int64)
        missing = np.unique(np.asarray([p for p in wanted.tolist() if p not in self._cache], dtype=np.int64))
        if len(missing):
            parts = _split(self.refs, missing)
            waits = [(local, where, self.runner.submit(ref, part_ids, local)) for ref, local, where in parts]
            for _, where, wait in waits:
                for pos, value in zip(missing[where].tolist(), wait(), strict=True):
                    self._cache[pos] = value
        return [self._cache[p] for p in wanted.tolist()]

    def records(self, positions: Sequence[int] | I64) -> list[RecordId]:
        """The ``RecordId`` at each global position."""
        return [RecordId(ns, pid) for pid, ns in self.get(positions)]


class _FoundAudit:
    """A mapping audit already finished in the buckets (``finish`` returns its findings)."""

    def __init__(self, found: MappingFindings) -> None:
        self.found = found

    def finish(self, source_positions: Any) -> MappingFindings:
        return self.found


@dataclass(frozen=True, slots=True)
class PartitionedTable(DigestTable):
    """A digest table whose rows live in the partitions: lookups go there, nothing is kept here."""

    refs: tuple[PartRef, ...] = ()
    runner: Any = None
    records: int = 0

    def __len__(self) -> int:
        return self.records

    def without_digests(self) -> DigestTable:
        return self  # the digests never came here

    def keys_at(self, positions: I64) -> U64:
        """The parity keys at these global positions (one request per partition involved)."""
        positions = np.asarray(positions, dtype=np.int64)
        out = np.zeros(len(positions), dtype=np.uint64)
        waits = [
            (where, self.runner.submit(ref, part_keys, local)) for ref, local, where in _split(self.refs, positions)
        ]
        for where, wait in waits:
            out[where] = wait()
        return out

    def positions(self, keys: U64) -> I64:
        """Global position of each key (-1: in no partition); the earliest partition wins."""
        keys = np.asarray(keys, dtype=np.uint64)
        out = np.full(len(keys), -1, dtype=np.int64)
        if not len(keys) or not self.refs:
            return out
        found = self.runner.each(self.refs, part_positions, lambda ref: (keys,))
        for ref, local in zip(reversed(self.refs), reversed(found), strict=True):
            out = np.where(local >= 0, local + ref.offset, out)
        return out


class PartitionedSpill(VectorSpill):
    """The source's spilled vectors, spread over the partitions that read them (prepared on read)."""

    def __init__(self, refs: Sequence[PartRef], runner: _Runner, distance: Distance, dimension: int) -> None:
        self.refs = list(refs)
        self.runner = runner
        self.distance = distance
        self.rows = sum(r.records for r in refs)
        self.dimension = dimension

    def append(self, vectors: npt.NDArray[np.float32], codes: I32 | None = None) -> None:
        raise TypeError("a partitioned spill is written by its partitions")

    def blocks(self, block_rows: int = 0) -> Iterator[tuple[int, npt.NDArray[np.float32]]]:
        raise TypeError("a partitioned spill is not read here: ground truth runs in its partitions")

    def _gather(self, positions: I64, distance: Distance | None) -> npt.NDArray[np.float32]:
        positions = np.asarray(positions, dtype=np.int64)
        out = np.empty((len(positions), self.dimension), dtype=np.float32)
        parts = _split(self.refs, positions)
        waits = [(where, self.runner.submit(ref, part_vectors, local, distance)) for ref, local, where in parts]
        for where, wait in waits:
            out[where] = wait()
        return out

    def take(self, positions: I64) -> npt.NDArray[np.float32]:
        """The vectors at these global positions, prepared for the source's distance (as ``VectorSpill``)."""
        return self._gather(positions, self.distance)

    def take_raw(self, positions: I64) -> npt.NDArray[np.float32]:
        """The vectors at these global positions as the source returned them."""
        return self._gather(positions, None)

    def close(self) -> None:
        """Nothing here: the partitions' files go with ``PartitionedScan.close``."""


# -- the scan -----------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Side:
    """How one store is read: ``store`` here (a ``WorkerStore`` for an exclusive one), ``uri`` and the
    ``worker`` holding it for an exclusive store, ``shared`` for chunks, neither for a local store."""

    store: VectorStore
    uri: str | None = None
    worker: str | None = None
    shared: bool = False


@dataclass
class PartitionedScan:
    """The partitions of one verification's scan and how to reach them; ``close`` frees them."""

    engine: Engine
    run_id: str
    source_refs: list[PartRef]
    target_refs: list[PartRef]
    source_table: PartitionedTable
    target_table: PartitionedTable
    diff: TableDiff | None
    spill: PartitionedSpill
    page_finite: list[I64]
    source_names: list[tuple[str, ...]] = field(default_factory=list)  # per source partition, as it met them
    source_uncoded: list[int] = field(default_factory=list)  # per source partition, rows without a namespace
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def runner(self) -> _Runner:
        return _Runner(self.engine)

    @property
    def namespace_codes(self) -> dict[str, int]:
        """Each source namespace's code (empty: no namespaces), numbered in the order the scan met them;
        rows read without a namespace are in ``""`` once any row had one (as in one process)."""
        codes: dict[str, int] = {}
        for names in self.source_names:
            for name in names:
                codes.setdefault(name, len(codes))
        if codes and any(self.source_uncoded):
            codes.setdefault("", len(codes))
        return codes

    def _code_maps(self) -> list[I32 | None]:
        """Per source partition, global code of each local code + 1 (index 0: rows without a namespace)."""
        codes = self.namespace_codes
        if not codes:
            return [None] * len(self.source_refs)
        unnamed = codes.get("", -1)
        return [np.asarray([unnamed, *(codes[n] for n in names)], dtype=np.int32) for names in self.source_names]

    def ground_truth(
        self,
        queries: npt.NDArray[np.float32],
        k: int,
        distance: Distance,
        *,
        scopes: I64 | None = None,
        own: I64 | None = None,
        advance: Callable[[int], None] | None = None,
    ) -> tuple[I64, npt.NDArray[np.float32], I64]:
        """Exact top-``k`` (global positions, scores) of each query and how many it really has
        (``quality.exact_ground_truth``): partial top-k per partition, merged (ties: the earlier row)."""
        maps = self._code_maps()
        waits = [
            self.runner.submit(ref, part_truth, queries, k, distance, ref.offset, scopes, own, code_map)
            for ref, code_map in zip(self.source_refs, maps, strict=True)
        ]
        parts = []
        for ref, wait in zip(self.source_refs, waits, strict=True):
            parts.append(wait())
            if advance is not None:
                advance(ref.records)
        truth = GroundTruth(queries, k, distance, scopes=scopes, own=own)
        keys = np.concatenate([truth.keys, *(p[0] for p in parts)], axis=1)
        rows = np.concatenate([truth.rows, *(p[1] for p in parts)], axis=1)
        order = np.lexsort((rows, keys), axis=1)[:, :k]
        truth.keys = np.take_along_axis(keys, order, axis=1)
        truth.rows = np.take_along_axis(rows, order, axis=1)
        found_rows, scores = truth.result()
        return found_rows, scores, truth.found

    def field_stats(self, side: str) -> FieldStats:
        """Payload field statistics of the first ``FIELD_SAMPLE_ROWS`` records of one side, in scan order
        (``payload_fields.FieldStats``, as one process tallies them)."""
        stats = FieldStats()
        for ref in self.source_refs if side == "source" else self.target_refs:
            if stats.rows >= stats.limit:
                break
            stats.add(pickle.loads(self.runner.submit(ref, part_payloads, stats.limit - stats.rows)()))
        return stats

    def sample_queries(self, size: int, seed: int) -> QuerySet:
        """The single-process reservoir's sample, replayed over the pages' finite-row counts: its draws
        depend only on how many finite rows each page offered, in order, so the same rows are picked."""
        reservoir = QueryReservoir(size, seed)
        non_finite = self.source_table.non_finite
        for finite_counts, ref in zip(self.page_finite, self.source_refs, strict=True):
            rows = np.arange(ref.offset, ref.offset + ref.records, dtype=np.int64)
            if len(non_finite):
                rows = np.setdiff1d(rows, non_finite, assume_unique=True)
            ends = np.cumsum(finite_counts)
            for start, end in zip(ends - finite_counts, ends, strict=True):
                page = rows[start:end]  # global positions stand in for the ids
                reservoir.add(np.zeros((len(page), 1), dtype=np.float32), page)  # type: ignore[arg-type]
        picked = np.asarray(reservoir.result().labels, dtype=np.int64)
        ids = [pid for pid, _ in self.source_table.ids.get(picked)]
        vectors = self.spill.take_raw(picked) if len(picked) else np.zeros((0, 0), dtype=np.float32)
        namespaces: list[str | None] = [None] * len(picked)
        waits = [
            (where, self.runner.submit(ref, part_namespaces, local))
            for ref, local, where in _split(self.source_refs, picked)
        ]
        for where, wait in waits:
            for i, ns in zip(where.tolist(), wait(), strict=True):
                namespaces[i] = ns
        return QuerySet(
            vectors=vectors,
            labels=tuple(ids),
            sampled=True,
            namespaces=tuple(namespaces) if any(ns is not None for ns in namespaces) else None,
            own_positions=picked,
            origin="sampled from the source",
        )

    def close(self) -> None:
        """Delete every partition's state and spill (on the workers and here)."""
        drop_parts(self.run_id)
        workers = {r.worker for r in self.source_refs + self.target_refs if r.worker is not None}
        for worker in sorted(workers):
            try:
                self.engine.run(drop_parts, self.run_id, worker=worker)
            except Exception:  # a worker that is gone took its partitions with it
                continue


def _chunks(store: VectorStore, batch_size: int, chunk_records: int) -> Iterator[Chunk]:
    """Chunks of whole pages of ``store``'s ids-only scan (``scroll_ids`` pages are ``scroll``'s pages)."""
    planner = ChunkPlanner(chunk_records)
    cursor: str | None = None
    while True:
        page, next_cursor = store.scroll_ids(batch_size=batch_size, cursor=cursor)  # type: ignore[attr-defined]
        done = planner.add_page(cursor, len(page.ids))
        if done is not None:
            yield done
        if next_cursor is None:
            break
        cursor = next_cursor
    last = planner.finish()
    if last is not None:
        yield last


def scan_partitioned(
    engine: Engine,
    source: Side | None,
    target: Side | None,
    comparison: Comparison,
    counts: tuple[int, int],
    *,
    batch_size: int,
    spill_vectors: bool,
    dimension: int,
    distance: Distance,
    chunk_records: int | None = None,
    progress: Progress = NO_PROGRESS,
) -> PartitionedScan:
    """Read ``source`` and ``target`` (either may be None: not read) in partitions, all at once, and compare
    their digests bucket by bucket on the workers. See the module docstring. ``chunk_records``: records
    per chunk of a shared store (default ``plan.chunk_records_for``). ``progress`` hears of each partition
    as its scan is collected (one phase for both stores: they are read at once)."""
    read = [name for name, side in (("source", source), ("target", target)) if side is not None]
    total = (counts[0] if source is not None else 0) + (counts[1] if target is not None else 0)
    what = " and ".join(f"the {name}" for name in read) or "nothing"
    with progress.phase(f"scanning {what} on {len(engine.workers())} workers", total, "records") as advance:
        return _scan_partitioned(
            engine, source, target, comparison, counts, batch_size, spill_vectors, dimension, distance,
            chunk_records, advance,
        )  # fmt: skip


def _scan_partitioned(
    engine: Engine,
    source: Side | None,
    target: Side | None,
    comparison: Comparison,
    counts: tuple[int, int],
    batch_size: int,
    spill_vectors: bool,
    dimension: int,
    distance: Distance,
    chunk_records: int | None,
    advance: Callable[[int], None],
) -> PartitionedScan:
    run_id = f"ragmig-{uuid.uuid4().hex[:12]}:"
    workers = engine.workers()
    buckets = bucket_count(counts[0] + counts[1], len(workers))
    pending: dict[str, list[tuple[int, Any, int]]] = {"source": [], "target": []}  # (part, result, capacity)
    local: list[tuple[str, int, Callable[[], PartSummary]]] = []
    chunk_records = chunk_records or chunk_records_for(max(counts), len(workers))
    for name, side, count in (("source", source, counts[0]), ("target", target, counts[1])):
        if side is None:
            continue
        common: dict[str, Any] = {
            "target_side": name == "target",
            "batch_size": batch_size,
            "spill": spill_vectors and name == "source",
            "buckets": buckets,
        }
        if side.shared:
            assert side.uri is not None
            for part, chunk in enumerate(_chunks(side.store, batch_size, chunk_records)):
                token = f"{run_id}{name}:{part}"
                future = engine.submit(
                    scan_part, token, part, side.uri, chunk, comparison, capacity=chunk.records, **common
                )
                pending[name].append((part, future, chunk.records))
        elif side.worker is not None:
            token = f"{run_id}{name}:0"
            future = engine.submit(
                scan_part, token, 0, side.uri, None, comparison, capacity=count, worker=side.worker, **common
            )
            pending[name].append((0, future, count))
        else:
            token = f"{run_id}{name}:0"
            store = side.store

            def read_here(
                token: str = token, store: VectorStore = store, count: int = count, common: dict[str, Any] = common
            ) -> PartSummary:
                return scan_part(token, 0, store, None, comparison, capacity=count, **common)

            local.append((name, 0, read_here))
    # Stores that live here are read while the workers read the others.
    done_here: dict[str, list[tuple[int, PartSummary]]] = {"source": [], "target": []}
    for name, part, read_part in local:
        done_here[name].append((part, read_part()))
        advance(done_here[name][-1][1].records)
    summaries: dict[str, list[PartSummary]] = {}
    for name in ("source", "target"):
        entries: list[tuple[int, Any, bool]] = [(p, f, True) for p, f, _ in pending[name]]
        entries += [(p, value, False) for p, value in done_here[name]]
        entries.sort(key=lambda e: e[0])
        summaries[name] = []
        for _, value, is_future in entries:
            summaries[name].append(engine.result(value) if is_future else value)
            if is_future:
                advance(summaries[name][-1].records)
        for _, future, _ in pending[name]:
            future.release()
    refs = {name: _refs(summaries[name]) for name in ("source", "target")}
    compared = source is not None and target is not None
    diffs = _compare_buckets(engine, refs, buckets, window=len(workers)) if compared else []
    released = [_run_at(engine, ref, release_digests) for ref in refs["source"] + refs["target"]]
    engine.gather([f for f, ref in zip(released, refs["source"] + refs["target"], strict=True) if ref.worker])
    return _assemble(engine, run_id, refs, summaries, diffs, comparison, distance, dimension, compared=compared)


def _run_at(engine: Engine, ref: PartRef, fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(ref.token, *args)`` where the partition lives: on its worker (a pinned task), or here."""
    if ref.worker is None:
        return fn(ref.token, *args)
    return engine.submit(fn, ref.token, *args, worker=ref.worker)


def _compare_buckets(engine: Engine, refs: dict[str, list[PartRef]], buckets: int, window: int) -> list[BucketDiff]:
    """Compare every bucket, at most ``window`` at once: each bucket's rows are made where its partitions
    live only when it is its turn (a task pinned there, or here), so a worker never holds more than a
    few buckets' copies of its digests."""
    diffs: list[BucketDiff | None] = [None] * buckets
    in_flight: deque[tuple[int, Any]] = deque()
    for bucket in range(buckets):
        if len(in_flight) >= max(window, 1):
            done, future = in_flight.popleft()
            diffs[done] = engine.result(future)
            future.release()
        rows = {name: [_run_at(engine, ref, bucket_rows, bucket) for ref in refs[name]] for name in refs}
        in_flight.append((bucket, engine.submit(compare_bucket, rows["source"], rows["target"])))
    while in_flight:
        done, future = in_flight.popleft()
        diffs[done] = engine.result(future)
        future.release()
    assert all(d is not None for d in diffs)
    return [d for d in diffs if d is not None]


def _refs(summaries: Sequence[PartSummary]) -> list[PartRef]:
    offsets = itertools.accumulate([s.records for s in summaries], initial=0)
    return [PartRef(s.token, s.worker, offset, s.records) for s, offset in zip(summaries, offsets, strict=False)]


def _global(handles: I64, refs: Sequence[PartRef]) -> I64:
    if not len(handles):
        return np.zeros(0, dtype=np.int64)
    offsets = np.asarray([r.offset for r in refs], dtype=np.int64)
    return offsets[handles >> np.int64(HANDLE_BITS)] + (handles & np.int64(_LOCAL_MASK))


def _local_positions(arrays: Sequence[I64], refs: Sequence[PartRef]) -> I64:
    parts = [np.asarray(a, dtype=np.int64) + ref.offset for a, ref in zip(arrays, refs, strict=True)]
    return np.sort(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.int64)


def _assemble(
    engine: Engine,
    run_id: str,
    refs: dict[str, list[PartRef]],
    summaries: dict[str, list[PartSummary]],
    diffs: Sequence[BucketDiff],
    comparison: Comparison,
    distance: Distance,
    dimension: int,
    *,
    compared: bool,
) -> PartitionedScan:
    runner = _Runner(engine)
    src_refs, tgt_refs = refs["source"], refs["target"]

    def cat(name: str) -> I64:
        parts = [getattr(d, name) for d in diffs]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)

    def flags(name: str) -> B1:
        parts = [getattr(d, name) for d in diffs]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=bool)

    pairs_source, pairs_target = _global(cat("pairs_source"), src_refs), _global(cat("pairs_target"), tgt_refs)
    diff = TableDiff(
        missing=np.sort(_global(cat("missing"), src_refs)),
        extra=np.sort(_global(cat("extra"), tgt_refs)),
        common_source=pairs_source,
        common_target=pairs_target,
        vector_suspects=flags("vector_suspects"),
        payload_suspects=flags("payload_suspects"),
        sparse_suspects=flags("sparse_suspects"),
        compared=sum(d.compared for d in diffs),
    )
    audit = None
    if comparison.mapping.pinecone_to_qdrant and tgt_refs:
        audit = _FoundAudit(
            MappingFindings(
                points=sum(r.records for r in tgt_refs),
                positions={
                    "unnamed": _local_positions([s.unnamed for s in summaries["target"]], tgt_refs),
                    "wrong_point_id": _local_positions([s.wrong_point_id for s in summaries["target"]], tgt_refs),
                    "duplicate": np.sort(_global(cat("name_duplicates"), tgt_refs)),
                    "unknown": np.sort(_global(cat("name_unknown"), tgt_refs)),
                },
            )
        )

    def table(name: str, side_refs: list[PartRef], duplicates: int, audit: Any = None) -> PartitionedTable:
        empty_u, empty_i = np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.int64)
        return PartitionedTable(
            keys=empty_u,
            vector_digests=np.zeros((0, 2), np.uint64),
            payload_digests=np.zeros((0, 2), np.uint64),
            order=empty_i,
            ids=PartitionedIds(side_refs, runner),
            duplicates=duplicates,
            non_finite=_local_positions([s.non_finite for s in summaries[name]], side_refs),
            audit=audit,
            sparse_entries=sum(s.sparse_entries for s in summaries[name]),
            refs=tuple(side_refs),
            runner=runner,
            records=sum(r.records for r in side_refs),
        )

    return PartitionedScan(
        engine=engine,
        run_id=run_id,
        source_refs=src_refs,
        target_refs=tgt_refs,
        source_table=table("source", src_refs, sum(d.duplicates[0] for d in diffs)),
        target_table=table("target", tgt_refs, sum(d.duplicates[1] for d in diffs), audit),
        diff=diff if compared else None,
        spill=PartitionedSpill(src_refs, runner, distance, dimension),
        page_finite=[s.page_finite for s in summaries["source"]],
        source_names=[s.namespaces for s in summaries["source"]],
        source_uncoded=[s.uncoded for s in summaries["source"]],
        details={
            "workers": len(engine.workers()),
            "buckets": len(diffs),
            "source_partitions": len(src_refs),
            "target_partitions": len(tgt_refs),
        },
    )
