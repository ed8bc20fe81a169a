"""Data parity: are the target's records exactly the source's, read once from each store?

Each store is scrolled once. Per record we keep an 8-byte key (``records.record_keys64``) and two 16-byte
keyed digests (``Comparison.vector_digests``, ``payload_digests``), one of the canonical vector and one of
the canonical payload, in flat numpy arrays
(~56 bytes a record: 1M records take ~56 MB, not the gigabytes of the records). The two tables are
compared in bulk (sorted keys, ``searchsorted``); only the records whose digests differ — or whose
vectors hold NaN or ±Inf — are fetched from both stores and compared exactly: the data-diff recipe,
with the float tolerance data-diff lacked. Named dense vectors and sparse vectors get a digest each
(``Comparison.named_digests`` / ``sparse_digests``) only when a store holds them, so a store of one dense
vector pays nothing for them.

What "equal" means is ``harness.records.Comparison``'s to decide (README, "Comparison semantics"), for
the digests and the exact comparison alike: payloads type-exact (5 ≠ 5.0, true ≠ 1), vectors within the
tolerance after the target distance's canonical form (named vectors each after their own), non-finite
vectors a finding of their own, sparse vectors equal with the same indices in any order and values within
the tolerance (``parity.sparse``; skipped when neither store has sparse vectors).
Pinecone → Qdrant (``records.mapping_for``): source ids are keyed as the uuid5 point ids the mapping
gives them, the target must hold the mapped payload, and ``parity.mapping`` checks the mapping fields.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from harness.model import Check, PointId, RecordBatch, Status
from harness.records import (
    Comparison,
    RecordId,
    RecordMapping,
    RecordParts,
    field_diffs,
    qdrant_point_id,
    record_keys64,
)
from harness.stores.base import VectorStore, iter_batches
from harness.verify.findings import FINDINGS_LIMIT, Finding, ParityFindings
from harness.verify.mapping_audit import (
    MAPPING_KINDS,
    MappingAudit,
    MappingFindings,
    mapping_check,
    skipped_mapping_check,
)
from harness.verify.thresholds import Thresholds

__all__ = [
    "PARITY_CHECK_IDS",
    "DigestTable",
    "DigestTableBuilder",
    "IdLog",
    "ParityOutcome",
    "TableDiff",
    "check_parity",
    "compare_tables",
    "exact_diff",
    "key_order",
    "parity_checks",
    "parity_outcome",
    "point_keys",
    "scan_table",
]

U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]

PARITY_CHECK_IDS = (
    "parity.count",
    "parity.ids",
    "parity.vectors",
    "parity.payloads",
    "parity.mapping",
    "parity.sparse",
)
FETCH_CHUNK = 256
_COMPARE_CHUNK = 65_536  # digest pairs compared at once
VALUE_CLIP = 200  # characters of a payload value shown in a field diff
SHOWN_IN_MESSAGE = 5  # ids named in a check's message


# -- keys ---------------------------------------------------------------------------------------------
def point_keys(
    ids: Sequence[PointId], namespaces: Sequence[str] | None = None, *, pinecone_to_qdrant: bool = False
) -> U64:
    """Parity's keys of records (``records.record_keys64``); with ``pinecone_to_qdrant`` the key of the
    Qdrant point the mapping writes each record as, so source and target keys compare directly."""
    if pinecone_to_qdrant:
        spaces = namespaces if namespaces else ("",) * len(ids)
        return record_keys64([qdrant_point_id(pid, ns) for pid, ns in zip(ids, spaces, strict=True)])
    return record_keys64(ids, namespaces)


# -- compact id log -----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Strings:
    """Strings joined into one str with end offsets: ~1 byte a character instead of a Python object."""

    text: str
    ends: I64

    @classmethod
    def of(cls, values: Sequence[str]) -> _Strings:
        return cls("".join(values), np.cumsum(np.fromiter(map(len, values), dtype=np.int64, count=len(values))))

    def __getitem__(self, i: int) -> str:
        start = int(self.ends[i - 1]) if i else 0
        return self.text[start : int(self.ends[i])]


class IdLog:
    """The ids (and namespaces) of one scan in scan order, kept compact, read back by position."""

    def __init__(self) -> None:
        self._ids: list[Any] = []
        self._namespaces: list[_Strings | None] = []
        self._ends: list[int] = []

    def __len__(self) -> int:
        return self._ends[-1] if self._ends else 0

    def append(self, ids: Sequence[PointId], namespaces: Sequence[str] | None) -> None:
        """Log one batch's ids."""
        if all(type(pid) is int for pid in ids):
            column: Any = np.array(ids, dtype=np.uint64).reshape(len(ids))
        elif all(type(pid) is str for pid in ids):
            column = _Strings.of(ids)  # type: ignore[arg-type]
        else:
            column = tuple(ids)
        self._ids.append(column)
        self._namespaces.append(_Strings.of(namespaces) if namespaces is not None and any(namespaces) else None)
        self._ends.append(len(self) + len(ids))

    def get(self, positions: Sequence[int] | I64) -> list[tuple[PointId, str]]:
        """(id, namespace) at each scan position."""
        out: list[tuple[PointId, str]] = []
        ends = np.asarray(self._ends)
        for pos in np.asarray(positions, dtype=np.int64).tolist():
            chunk = int(np.searchsorted(ends, pos, side="right"))
            offset = pos - (self._ends[chunk - 1] if chunk else 0)
            column, spaces = self._ids[chunk], self._namespaces[chunk]
            value = column[offset]
            pid: PointId = int(value) if isinstance(value, np.integer) else value
            out.append((pid, spaces[offset] if spaces is not None else ""))
        return out

    def records(self, positions: Sequence[int] | I64) -> list[RecordId]:
        """The ``RecordId`` at each scan position."""
        return [RecordId(ns, pid) for pid, ns in self.get(positions)]


# -- tables -------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class DigestTable:
    """Key and digests of every record of one scan (scan order) plus the key order for lookups.

    ``non_finite``: scan positions of the records whose vector (default or named) holds NaN or ±Inf.
    ``audit``: on a Pinecone → Qdrant target, what each point's mapping fields name (``parity.mapping``).
    ``named_digests`` / ``sparse_digests``: per record, of its named dense / sparse vectors (None when
    the scan met none: every record compares as zeros); ``sparse_entries``: sparse entries the scan met.
    """

    keys: U64
    vector_digests: U64
    payload_digests: U64
    order: I64  # argsort of keys, first occurrence of a key only
    ids: IdLog
    duplicates: int
    non_finite: I64 = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    audit: MappingAudit | None = None
    named_digests: U64 | None = None
    sparse_digests: U64 | None = None
    sparse_entries: int = 0
    _sorted: U64 | None = field(default=None, repr=False, compare=False)  # keys[order], made by the first lookup

    def __len__(self) -> int:
        return len(self.keys)

    def without_digests(self) -> DigestTable:
        """The same table keeping only what id lookups need (keys, order, ids): parity is done with it."""
        empty = np.empty((0, 2), dtype=np.uint64)
        return DigestTable(
            self.keys,
            empty,
            empty,
            self.order,
            self.ids,
            self.duplicates,
            self.non_finite,
            sparse_entries=self.sparse_entries,
            _sorted=self._sorted,
        )

    def named_at(self, positions: I64) -> U64:
        """Named-vector digests at scan ``positions`` (zeros when the scan met none)."""
        if self.named_digests is None:
            return np.zeros((len(positions), 2), dtype=np.uint64)
        return self.named_digests[positions]

    def sparse_at(self, positions: I64) -> U64:
        """Sparse-vector digests at scan ``positions`` (zeros when the scan met none)."""
        if self.sparse_digests is None:
            return np.zeros((len(positions), 2), dtype=np.uint64)
        return self.sparse_digests[positions]

    def keys_at(self, positions: I64) -> U64:
        """The parity key of the records at these scan positions."""
        return self.keys[np.asarray(positions, dtype=np.int64)]

    def positions(self, keys: U64) -> I64:
        """Scan position of each key, -1 where the key is not in the table."""
        keys = np.asarray(keys, dtype=np.uint64)
        if len(self.order) == 0:
            return np.full(len(keys), -1, dtype=np.int64)
        ordered = self._sorted
        if ordered is None:  # made once: a lookup is then a binary search, not a copy of every key
            ordered = self.keys[self.order]
            object.__setattr__(self, "_sorted", ordered)
        idx = np.minimum(np.searchsorted(ordered, keys), len(ordered) - 1)
        return np.where(ordered[idx] == keys, self.order[idx], -1).astype(np.int64)


class DigestTableBuilder:
    """Builds a ``DigestTable`` one scrolled batch at a time, in memory proportional to the record count."""

    def __init__(self, comparison: Comparison, *, target_side: bool, capacity: int = 0) -> None:
        self.comparison = comparison
        self.target_side = target_side
        self._n = 0
        self._keys = np.empty(max(capacity, 1024), dtype=np.uint64)
        self._vd = np.empty((len(self._keys), 2), dtype=np.uint64)
        self._pd = np.empty((len(self._keys), 2), dtype=np.uint64)
        self._non_finite: list[I64] = []
        self._nd: U64 | None = None  # allocated when a batch first carries named / sparse vectors
        self._sd: U64 | None = None
        self._sparse_entries = 0
        self.ids = IdLog()
        mapped = comparison.mapping.pinecone_to_qdrant
        self.audit = MappingAudit(comparison.mapping) if mapped and target_side else None

    def add(self, batch: RecordBatch) -> U64:
        """Digest one batch; returns its keys (scan positions follow on from the previous batch)."""
        n = len(batch)
        mapped = self.comparison.mapping.pinecone_to_qdrant and not self.target_side
        keys = point_keys(batch.ids, batch.namespaces, pinecone_to_qdrant=mapped)
        if self._n + n > len(self._keys):
            grow = max(self._n + n, 2 * len(self._keys))
            self._keys = np.resize(self._keys, grow)
            self._vd = np.resize(self._vd, (grow, 2))
            self._pd = np.resize(self._pd, (grow, 2))
            self._nd = None if self._nd is None else _grown(self._nd, grow)
            self._sd = None if self._sd is None else _grown(self._sd, grow)
        end = self._n + n
        self._keys[self._n : end] = keys
        digests, non_finite = self.comparison.vector_digests(batch.vectors)
        self._vd[self._n : end] = digests
        if non_finite.any():
            self._non_finite.append(self._n + np.flatnonzero(non_finite))
        self._pd[self._n : end] = self.comparison.payload_digests(batch.payloads, target_side=self.target_side)
        if batch.named:
            named, named_bad = self.comparison.named_digests(batch.named, n)
            assert named is not None  # the batch has named vectors
            if self._nd is None:
                self._nd = np.zeros((len(self._keys), 2), dtype=np.uint64)
            self._nd[self._n : end] = named
            if named_bad.any():
                self._non_finite.append(self._n + np.flatnonzero(named_bad & ~non_finite))
        if batch.sparse:
            sparse, _ = self.comparison.sparse_digests(batch.sparse, n, target_side=self.target_side)
            assert sparse is not None  # the batch has sparse vectors
            if self._sd is None:
                self._sd = np.zeros((len(self._keys), 2), dtype=np.uint64)
            self._sd[self._n : end] = sparse
            self._sparse_entries += sum(c.nnz for c in batch.sparse.values())
        self.ids.append(batch.ids, batch.namespaces)
        if self.audit is not None:
            self.audit.add(batch)
        self._n = end
        return keys

    def finish(self) -> DigestTable:
        """The table of everything added (the builder must not be used afterwards)."""
        exact = self._n == len(self._keys)  # sized by count(): keep the buffers, do not copy them
        keys = self._keys if exact else self._keys[: self._n].copy()
        named = None if self._nd is None else (self._nd if exact else self._nd[: self._n].copy())
        sparse = None if self._sd is None else (self._sd if exact else self._sd[: self._n].copy())
        order, duplicates = key_order(keys)
        table = DigestTable(
            keys=keys,
            vector_digests=self._vd if exact else self._vd[: self._n].copy(),
            payload_digests=self._pd if exact else self._pd[: self._n].copy(),
            order=order,
            ids=self.ids,
            duplicates=duplicates,
            non_finite=np.unique(np.concatenate(self._non_finite)) if self._non_finite else np.zeros(0, dtype=np.int64),
            audit=self.audit,
            named_digests=named,
            sparse_digests=sparse,
            sparse_entries=self._sparse_entries,
        )
        # The builder's buffers are not needed any more: free them before the caller builds the next table.
        self._keys = np.empty(0, dtype=np.uint64)
        self._vd = self._pd = np.empty((0, 2), dtype=np.uint64)
        self._nd = self._sd = None
        return table


def key_order(keys: U64) -> tuple[I64, int]:
    """The scan positions of ``keys`` in key order, the first occurrence of each key only (a stable sort:
    the earliest position wins), and how many later occurrences (duplicates) were left out."""
    order = np.argsort(keys, kind="stable")
    first = np.ones(len(order), dtype=bool)
    first[1:] = keys[order[1:]] != keys[order[:-1]]
    return order[first], int(len(order) - first.sum())


def _grown(digests: U64, rows: int) -> U64:
    """``digests`` resized to ``rows`` rows, the new rows zero."""
    out = np.zeros((rows, 2), dtype=np.uint64)
    out[: len(digests)] = digests[: min(len(digests), rows)]
    return out


def scan_table(
    store: VectorStore, comparison: Comparison, *, target_side: bool, batch_size: int = 1000, count: int | None = None
) -> DigestTable:
    """Scroll ``store`` once and return its digest table (sized by ``count``, the store's count when given)."""
    builder = DigestTableBuilder(
        comparison, target_side=target_side, capacity=store.count() if count is None else count
    )
    for batch in iter_batches(store, batch_size):
        builder.add(batch)
    return builder.finish()


# -- comparison ---------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class TableDiff:
    """What the bulk comparison of two tables found (scan positions on each side)."""

    missing: I64  # source positions whose key the target lacks
    extra: I64  # target positions whose key the source lacks
    common_source: I64
    common_target: I64
    vector_suspects: npt.NDArray[np.bool_]  # per common pair: vector digests differ, or a vector is non-finite
    payload_suspects: npt.NDArray[np.bool_]
    sparse_suspects: npt.NDArray[np.bool_]
    compared: int | None = None  # common records in all; None: every common pair is listed above

    @property
    def common_count(self) -> int:
        """Records both stores hold (a partitioned comparison lists only the suspect pairs)."""
        return len(self.common_source) if self.compared is None else self.compared


def diff_tables(source: DigestTable, target: DigestTable) -> TableDiff:
    """Compare two tables in bulk: missing and extra keys, and common keys whose digests differ."""
    src_sorted = source.keys[source.order]
    tgt_sorted = target.keys[target.order]
    if len(tgt_sorted):
        idx = np.minimum(np.searchsorted(tgt_sorted, src_sorted), len(tgt_sorted) - 1)
        found = tgt_sorted[idx] == src_sorted
    else:
        idx, found = np.zeros(len(src_sorted), dtype=np.int64), np.zeros(len(src_sorted), dtype=bool)
    matched = np.zeros(len(tgt_sorted), dtype=bool)
    matched[idx[found]] = True
    common_source = source.order[found]
    common_target = target.order[idx[found]]
    vector_suspects = np.empty(len(common_source), dtype=bool)
    payload_suspects = np.empty(len(common_source), dtype=bool)
    sparse_suspects = np.zeros(len(common_source), dtype=bool)
    named = source.named_digests is not None or target.named_digests is not None
    sparse = source.sparse_digests is not None or target.sparse_digests is not None
    for start in range(0, len(common_source), _COMPARE_CHUNK):  # bounded temporaries
        s, t = common_source[start : start + _COMPARE_CHUNK], common_target[start : start + _COMPARE_CHUNK]
        end = start + len(s)
        vector_suspects[start:end] = (source.vector_digests[s] != target.vector_digests[t]).any(axis=1)
        payload_suspects[start:end] = (source.payload_digests[s] != target.payload_digests[t]).any(axis=1)
        if named:
            vector_suspects[start:end] |= (source.named_at(s) != target.named_at(t)).any(axis=1)
        if sparse:
            sparse_suspects[start:end] = (source.sparse_at(s) != target.sparse_at(t)).any(axis=1)
    if len(source.non_finite) or len(target.non_finite):  # a NaN row's digest means nothing
        vector_suspects |= np.isin(common_source, source.non_finite) | np.isin(common_target, target.non_finite)
    return TableDiff(
        missing=np.sort(source.order[~found]),
        extra=np.sort(target.order[~matched]),
        common_source=common_source,
        common_target=common_target,
        vector_suspects=vector_suspects,
        payload_suspects=payload_suspects,
        sparse_suspects=sparse_suspects,
    )


@dataclass(frozen=True, slots=True)
class ExactDiff:
    """The exact comparison of record pairs (one entry per pair)."""

    vectors_equal: npt.NDArray[np.bool_]
    max_abs_diff: npt.NDArray[np.float64]  # NaN where a vector is non-finite, inf for another dimension
    payload_fields: list[list[tuple[str, str]]]  # per pair: (field, change) of each differing field


def exact_diff(
    comparison: Comparison,
    source_vectors: npt.ArrayLike,
    source_payloads: Sequence[Any],
    target_vectors: npt.ArrayLike,
    target_payloads: Sequence[Any],
) -> ExactDiff:
    """Compare record pairs exactly (``Comparison``'s rule) — what parity does for every suspect pair."""
    a, b = np.asarray(source_vectors), np.asarray(target_vectors)
    fields = [
        field_diffs(*comparison.payload_forms(sp, tp)) for sp, tp in zip(source_payloads, target_payloads, strict=True)
    ]
    if a.shape != b.shape:  # another dimension: schema.dimension fails too
        n = len(fields)
        return ExactDiff(np.zeros(n, dtype=bool), np.full(n, np.inf), fields)
    return ExactDiff(comparison.vectors_equal(a, b), comparison.vector_differences(a, b), fields)


@dataclass
class _Mismatches:
    """Records confirmed different by exact comparison (all counted, the first ``sample_size`` kept)."""

    vector_count: int = 0
    vector_sample: list[dict[str, Any]] = field(default_factory=list)
    sparse_count: int = 0
    sparse_sample: list[dict[str, Any]] = field(default_factory=list)
    payload_count: int = 0
    payload_ids: list[Any] = field(default_factory=list)
    payload_sample: list[dict[str, Any]] = field(default_factory=list)
    rechecked: int = 0
    findings: list[Finding] = field(default_factory=list)


def _shown(sid: PointId, tid: PointId) -> Any:
    return sid if sid == tid else {"source": sid, "target": tid}


def confirm_mismatches(
    source: VectorStore,
    target: VectorStore,
    source_table: DigestTable,
    target_table: DigestTable,
    diff: TableDiff,
    comparison: Comparison,
    sample_size: int,
) -> _Mismatches:
    """Fetch every pair whose digests differ from both stores and compare exactly (in chunks)."""
    suspects = diff.vector_suspects | diff.payload_suspects | diff.sparse_suspects
    src_pos, tgt_pos = diff.common_source[suspects], diff.common_target[suspects]
    order = np.argsort(src_pos, kind="stable")  # report in source scan order
    src_pos, tgt_pos = src_pos[order], tgt_pos[order]
    out = _Mismatches(rechecked=len(src_pos))
    for start in range(0, len(src_pos), FETCH_CHUNK):
        src_ids = source_table.ids.records(src_pos[start : start + FETCH_CHUNK])
        tgt_ids = target_table.ids.records(tgt_pos[start : start + FETCH_CHUNK])
        pairs = list(_fetch_pairs(source, target, src_ids, tgt_ids, comparison.mapping))
        _judge_pairs(pairs, comparison, sample_size, out)
    return out


def _judge_pairs(
    pairs: list[tuple[RecordId, RecordId, RecordParts | None, RecordParts | None]],
    comparison: Comparison,
    sample_size: int,
    out: _Mismatches,
) -> None:
    """Compare fetched record pairs exactly, adding what differs to ``out``."""
    both = [(i, s, t) for i, (_, _, s, t) in enumerate(pairs) if s is not None and t is not None]
    exact = (
        exact_diff(
            comparison,
            np.array([s.vector for _, s, _ in both]),
            [s.payload for _, s, _ in both],
            np.array([t.vector for _, _, t in both]),
            [t.payload for _, _, t in both],
        )
        if both
        else None
    )
    verdicts = {i: j for j, (i, _, _) in enumerate(both)}
    for i, (sid, tid, src, tgt) in enumerate(pairs):
        shown = _shown(sid.id, tid.id)
        j = verdicts.get(i)
        named: list[str] = []
        sparse: list[str] = []
        if j is None or exact is None or src is None or tgt is None:  # changed under our feet: count both
            vector_bad, payload_fields, max_abs = True, [("*", "unavailable")], float("nan")
            sparse = ["*"] if comparison.sparse_names else []
        else:
            named = comparison.named_differences(src, tgt)
            sparse = comparison.sparse_differences(src, tgt)
            vector_bad = not bool(exact.vectors_equal[j]) or bool(named)
            payload_fields = exact.payload_fields[j]
            max_abs = float(exact.max_abs_diff[j])
        if vector_bad:
            out.vector_count += 1
            if len(out.vector_sample) < sample_size:
                entry: dict[str, Any] = {"id": shown, "max_abs_diff": max_abs}
                if named:
                    entry["named_vectors"] = named
                out.vector_sample.append(entry)
            if len(out.findings) < 3 * FINDINGS_LIMIT:
                out.findings.append(Finding("parity.vectors", "vectors", sid, tid, shown))
        if sparse:
            out.sparse_count += 1
            if len(out.sparse_sample) < sample_size:
                out.sparse_sample.append(
                    {
                        "id": shown,
                        "vectors": sparse,
                        "source_entries": _entries(src),
                        "target_entries": _entries(tgt),
                    }
                )
            if len(out.findings) < 3 * FINDINGS_LIMIT:
                out.findings.append(Finding("parity.sparse", "sparse", sid, tid, shown))
        if payload_fields:
            out.payload_count += 1
            if len(out.payload_ids) < sample_size:
                out.payload_ids.append(sid.id)
            if len(out.findings) < 3 * FINDINGS_LIMIT:
                out.findings.append(Finding("parity.payloads", "payloads", sid, tid, sid.id))
            if src is not None and tgt is not None:
                expected, held = comparison.payload_forms(src.payload, tgt.payload)
                for name, change in payload_fields:
                    if len(out.payload_sample) < sample_size:
                        out.payload_sample.append(
                            {
                                "id": shown,
                                "field": name,
                                "change": change,
                                "source": _clip(expected.get(name)),
                                "target": _clip(held.get(name)),
                            }
                        )


def _entries(record: RecordParts | None) -> int | None:
    """Sparse entries of a record (None: the record could not be read)."""
    return None if record is None else sum(len(row[0]) for row in record.sparse.values())


def _fetch_pairs(
    source: VectorStore,
    target: VectorStore,
    src_ids: list[RecordId],
    tgt_ids: list[RecordId],
    mapping: RecordMapping,
) -> Iterator[tuple[RecordId, RecordId, RecordParts | None, RecordParts | None]]:
    """Yield each (source record, target record, its parts on the source | None, on the target | None)."""
    src_batch = source.fetch([r.id for r in src_ids])
    tgt_batch = target.fetch([r.id for r in tgt_ids])
    mapped = mapping.pinecone_to_qdrant
    src_keys = point_keys(src_batch.ids, src_batch.namespaces, pinecone_to_qdrant=mapped)
    tgt_keys = point_keys(tgt_batch.ids, tgt_batch.namespaces)
    src_rows = {int(k): r for r, k in enumerate(src_keys)}
    tgt_rows = {int(k): r for r, k in enumerate(tgt_keys)}
    wanted = point_keys([r.id for r in src_ids], [r.namespace for r in src_ids], pinecone_to_qdrant=mapped)
    for sid, tid, key in zip(src_ids, tgt_ids, wanted.tolist(), strict=True):
        s, t = src_rows.get(key), tgt_rows.get(key)
        yield (
            sid,
            tid,
            None if s is None else RecordParts.of(src_batch, s),
            None if t is None else RecordParts.of(tgt_batch, t),
        )


def _clip(value: Any) -> Any:
    """A payload value small enough for a report: long values become a clipped JSON string."""
    text = json.dumps(value, sort_keys=True, default=repr)
    if len(text) <= VALUE_CLIP:
        return value
    return text[:VALUE_CLIP] + "…"


def _named(ids: Sequence[Any]) -> str:
    shown = ", ".join(str(i) for i in ids[:SHOWN_IN_MESSAGE])
    return shown + (", …" if len(ids) > SHOWN_IN_MESSAGE else "")


# -- checks -------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ParityOutcome:
    """The parity checks and the typed findings behind them (what the re-check reads)."""

    checks: list[Check]
    findings: ParityFindings


def compare_tables(
    source: VectorStore,
    target: VectorStore,
    source_table: DigestTable,
    target_table: DigestTable,
    comparison: Comparison,
    thresholds: Thresholds,
    counts: tuple[int, int],
    diff: TableDiff | None = None,
) -> ParityOutcome:
    """The six ``parity.*`` checks from two scanned tables, and their findings.

    ``counts`` are the stores' own exact counts (source, target). ``diff``: the tables' bulk comparison
    when it was already made elsewhere (``harness.verify.partitioned`` compares in key-space buckets on
    the workers); ``diff_tables`` of the two tables otherwise.
    """
    diff = diff if diff is not None else diff_tables(source_table, target_table)
    mism = confirm_mismatches(source, target, source_table, target_table, diff, comparison, thresholds.sample_size)
    n = thresholds.sample_size
    mapping = comparison.mapping
    source_count, target_count = counts
    findings: list[Finding] = []
    unrecheckable: dict[str, str] = {}
    checks = [
        Check(
            "parity.count",
            Status.PASS if source_count == target_count else Status.FAIL,
            target_count,
            source_count,
            f"target holds {target_count} records, source {source_count}"
            + ("" if source_count == target_count else f" ({target_count - source_count:+d})"),
            {"source_scanned": len(source_table), "target_scanned": len(target_table)},
        )
    ]
    # parity.ids
    missing = source_table.ids.records(diff.missing[:FINDINGS_LIMIT])
    extra = target_table.ids.records(diff.extra[:FINDINGS_LIMIT])
    findings += [Finding("parity.ids", "missing", r, mapping.target_record(r), r.id) for r in missing]
    findings += [Finding("parity.ids", "extra", None if mapping.pinecone_to_qdrant else r, r, r.id) for r in extra]
    if len(diff.missing) > FINDINGS_LIMIT or len(diff.extra) > FINDINGS_LIMIT:
        unrecheckable["parity.ids"] = f"more than {FINDINGS_LIMIT} ids differ"
    id_details: dict[str, Any] = {
        "missing_count": len(diff.missing),
        "extra_count": len(diff.extra),
        "missing": [r.id for r in missing[:n]],
        "extra": [r.id for r in extra[:n]],
        "sample_size": n,
        "duplicates": {"source": source_table.duplicates, "target": target_table.duplicates},
    }
    if any(r.namespace for r in missing[:n]):
        id_details["missing_namespaces"] = [r.namespace for r in missing[:n]]
    if mapping.pinecone_to_qdrant:
        id_details["id_mapping"] = "pinecone id + namespace → uuid5 (qdrant_point_id)"
    ids_ok = not len(diff.missing) and not len(diff.extra)
    checks.append(
        Check(
            "parity.ids",
            Status.PASS if ids_ok else Status.FAIL,
            {"missing": len(diff.missing), "extra": len(diff.extra)},
            {"missing": 0, "extra": 0},
            "every source id is on the target and no other"
            if ids_ok
            else f"{len(diff.missing)} source ids missing on the target, {len(diff.extra)} extra ids on the target",
            id_details,
        )
    )
    checks.append(_vectors_check(mism, diff, source_table, target_table, comparison, n, findings, unrecheckable))
    # parity.payloads
    findings += [f for f in mism.findings if f.check == "parity.payloads"][:FINDINGS_LIMIT]
    if mism.payload_count > FINDINGS_LIMIT:
        unrecheckable["parity.payloads"] = f"more than {FINDINGS_LIMIT} payloads differ"
    kinds = "key order does not count; 5 and 5.0, true and 1 differ"
    if mapping.pinecone_to_qdrant:
        kinds += "; the target must hold the mapped payload (integral floats as ints)"
    checks.append(
        Check(
            "parity.payloads",
            Status.PASS if mism.payload_count == 0 else Status.FAIL,
            mism.payload_count,
            0,
            f"{mism.payload_count} of {diff.common_count} common records have payloads that differ ({kinds})",
            {
                "mismatch_count": mism.payload_count,
                "mismatched": mism.payload_ids,
                "sample": mism.payload_sample,
                "compared": diff.common_count,
            },
        )
    )
    checks.append(_mapping_check(source, target, source_table, target_table, n, findings, unrecheckable))
    checks.append(_sparse_check(mism, diff, source_table, target_table, comparison, findings, unrecheckable))
    return ParityOutcome(checks, ParityFindings(comparison, tuple(findings), unrecheckable, counts))


def _sparse_check(
    mism: _Mismatches,
    diff: TableDiff,
    source_table: DigestTable,
    target_table: DigestTable,
    comparison: Comparison,
    findings: list[Finding],
    unrecheckable: dict[str, str],
) -> Check:
    """``parity.sparse``: records whose sparse vectors differ (skipped when neither side has any)."""
    return sparse_check(
        mism.sparse_count,
        diff.common_count,
        mism.sparse_sample,
        comparison,
        has_sparse=bool(comparison.sparse_names or source_table.sparse_entries or target_table.sparse_entries),
        findings=findings,
        found=[f for f in mism.findings if f.check == "parity.sparse"],
        unrecheckable=unrecheckable,
    )


def sparse_check(
    mismatches: int,
    compared: int,
    sample: list[dict[str, Any]],
    comparison: Comparison,
    *,
    has_sparse: bool,
    findings: list[Finding],
    found: list[Finding],
    unrecheckable: dict[str, str],
    scope: str = "common records",
) -> Check:
    """The ``parity.sparse`` check from its counts (full and sampled parity share it)."""
    if not has_sparse:
        return Check(
            "parity.sparse",
            Status.SKIP,
            None,
            None,
            "neither store has sparse vectors: nothing to compare",
            {"sparse_vectors": []},
        )
    findings += found[:FINDINGS_LIMIT]
    if mismatches > FINDINGS_LIMIT:
        unrecheckable["parity.sparse"] = f"more than {FINDINGS_LIMIT} sparse vectors differ"
    names = list(comparison.sparse_names)
    mapped = (
        " (Pinecone's sparse_values compared with the target's " + ", ".join(repr(n) for n in names) + ")"
        if comparison.mapping.pinecone_to_qdrant
        else ""
    )
    rule = f"same indices in any order, values within {comparison.tolerance:g}; absent equals no entries"
    ids = [entry["id"] for entry in sample]
    details: dict[str, Any] = {
        "mismatch_count": mismatches,
        "mismatched": ids,
        "sample": sample,
        "compared": compared,
        "tolerance": comparison.tolerance,
        "sparse_vectors": names,
    }
    if mismatches:
        message = (
            f"{mismatches} of {compared} {scope} have sparse vectors that differ{mapped}: ids {_named(ids)} ({rule})"
        )
        return Check("parity.sparse", Status.FAIL, mismatches, 0, message, details)
    return Check(
        "parity.sparse",
        Status.PASS,
        0,
        0,
        f"the sparse vectors of all {compared} {scope} are equal{mapped} ({rule})",
        details,
    )


def _vectors_check(
    mism: _Mismatches,
    diff: TableDiff,
    source_table: DigestTable,
    target_table: DigestTable,
    comparison: Comparison,
    n: int,
    findings: list[Finding],
    unrecheckable: dict[str, str],
) -> Check:
    """``parity.vectors``: mismatched pairs, and every record whose vector holds NaN or ±Inf."""
    mapping = comparison.mapping
    bad_source = source_table.ids.records(source_table.non_finite[:FINDINGS_LIMIT])
    bad_target = target_table.ids.records(target_table.non_finite[:FINDINGS_LIMIT])
    findings += [f for f in mism.findings if f.check == "parity.vectors"][:FINDINGS_LIMIT]
    findings += [Finding("parity.vectors", "non_finite_source", r, mapping.target_record(r), r.id) for r in bad_source]
    findings += [
        Finding("parity.vectors", "non_finite_target", None if mapping.pinecone_to_qdrant else r, r, r.id)
        for r in bad_target
    ]
    if (
        mism.vector_count > FINDINGS_LIMIT
        or max(len(source_table.non_finite), len(target_table.non_finite)) > FINDINGS_LIMIT
    ):
        unrecheckable["parity.vectors"] = f"more than {FINDINGS_LIMIT} vectors differ"
    nf_source, nf_target = len(source_table.non_finite), len(target_table.non_finite)
    form = "unit-normalised (cosine target), " if comparison.normalise else ""
    message = (
        f"{mism.vector_count} of {diff.common_count} common records have vectors that differ by more than "
        f"{comparison.tolerance:g} ({form}max abs component difference)"
    )
    details: dict[str, Any] = {
        "mismatch_count": mism.vector_count,
        "mismatched": [s["id"] for s in mism.vector_sample],
        "sample": mism.vector_sample,
        "compared": diff.common_count,
        "rechecked_exactly": mism.rechecked,
        "tolerance": comparison.tolerance,
        "normalised": comparison.normalise,
    }
    if nf_source or nf_target:
        sides = []
        if nf_source:
            sides.append(f"{nf_source} source records (ids {_named([r.id for r in bad_source])})")
        if nf_target:
            sides.append(f"{nf_target} target records (ids {_named([r.id for r in bad_target])})")
        message += "; non-finite values (NaN or ±Inf) in the vectors of " + " and ".join(sides)
        details["non_finite"] = {
            "source_count": nf_source,
            "target_count": nf_target,
            "source": [r.id for r in bad_source[:n]],
            "target": [r.id for r in bad_target[:n]],
        }
    ok = mism.vector_count == 0 and not nf_source and not nf_target
    return Check("parity.vectors", Status.PASS if ok else Status.FAIL, mism.vector_count, 0, message, details)


def _mapping_check(
    source: VectorStore,
    target: VectorStore,
    source_table: DigestTable,
    target_table: DigestTable,
    n: int,
    findings: list[Finding],
    unrecheckable: dict[str, str],
) -> Check:
    """``parity.mapping`` (Pinecone → Qdrant targets; skipped otherwise)."""
    audit = target_table.audit
    if audit is None:
        return skipped_mapping_check(source.describe().backend, target.describe().backend)
    found: MappingFindings = audit.finish(source_table.positions)
    sampled = [target_table.ids.records(found.positions[kind][:n]) for kind in MAPPING_KINDS]
    unknown = target_table.ids.records(found.positions["unknown"][:FINDINGS_LIMIT])
    findings += [Finding("parity.mapping", "unknown", None, r, r.id) for r in unknown]
    hard = [kind for kind in MAPPING_KINDS if kind != "unknown" and len(found.positions[kind])]
    if hard:
        unrecheckable["parity.mapping"] = f"points no write in flight explains ({', '.join(hard)})"
    elif len(found.positions["unknown"]) > FINDINGS_LIMIT:
        unrecheckable["parity.mapping"] = f"more than {FINDINGS_LIMIT} points name unknown records"
    return mapping_check(found, target, [[r.id for r in rows] for rows in sampled], n)


def parity_checks(
    source: VectorStore,
    target: VectorStore,
    source_table: DigestTable,
    target_table: DigestTable,
    comparison: Comparison,
    thresholds: Thresholds,
    counts: tuple[int, int],
) -> list[Check]:
    """The six ``parity.*`` checks from two scanned tables (``compare_tables`` without the findings)."""
    return compare_tables(source, target, source_table, target_table, comparison, thresholds, counts).checks


def check_parity(
    source: VectorStore, target: VectorStore, thresholds: Thresholds | None = None, batch_size: int = 1000
) -> list[Check]:
    """Scroll both stores once each and return the six parity checks (see ``compare_tables``)."""
    return parity_outcome(source, target, thresholds, batch_size).checks


def parity_outcome(
    source: VectorStore, target: VectorStore, thresholds: Thresholds | None = None, batch_size: int = 1000
) -> ParityOutcome:
    """Scroll both stores once each: the parity checks and their findings."""
    thresholds = thresholds or Thresholds()
    comparison = Comparison.for_schemas(source.describe(), target.describe(), thresholds.vector_tolerance)
    counts = (source.count(), target.count())
    source_table = scan_table(source, comparison, target_side=False, batch_size=batch_size, count=counts[0])
    target_table = scan_table(target, comparison, target_side=True, batch_size=batch_size, count=counts[1])
    return compare_tables(source, target, source_table, target_table, comparison, thresholds, counts)
