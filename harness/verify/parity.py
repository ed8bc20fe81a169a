"""Data parity: are the target's records exactly the source's, read once from each store?

Each store is scrolled once. Per record we keep an 8-byte key (the id) and two 16-byte blake2b digests,
one of the canonical vector and one of the canonical payload, in flat numpy arrays (~56 bytes a record:
1M records take ~56 MB, not the gigabytes of the records). The two tables are compared in bulk
(sorted keys, ``searchsorted``); only the records whose digests differ are fetched from both stores
and compared exactly — the data-diff recipe, with the float tolerance data-diff lacked.

Canonical forms:
- vector: unit-normalised when the *target* ranks by cosine (Qdrant stores cosine vectors normalised),
  then quantised to multiples of ``vector_tolerance``, a whole batch at a time in numpy. A difference
  larger than the tolerance changes the quantised vector, so equal digests mean "equal within
  tolerance"; float noise that crosses a rounding boundary only costs an exact re-check.
- payload: JSON with sorted keys (msgspec, in C); integral floats become ints (``canonical_payload``),
  so Pinecone's ``2020.0`` equals Qdrant's ``2020`` while ``"2020"`` or ``true`` does not.
- ids: Pinecone → Qdrant, source ids become ``qdrant_point_id(id, namespace)`` and the target's
  payloads lose the mapping fields (``strip_mapping_fields``) before they are compared.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
import numpy as np
import numpy.typing as npt

from harness.migration.mapping import canonical_payload, qdrant_point_id, strip_mapping_fields
from harness.model import Check, CollectionSchema, Distance, Payload, PointId, RecordBatch, Status
from harness.stores.base import VectorStore, iter_batches
from harness.verify.thresholds import Thresholds

U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]

PARITY_CHECK_IDS = ("parity.count", "parity.ids", "parity.vectors", "parity.payloads")
FETCH_CHUNK = 256
_COMPARE_CHUNK = 65_536  # digest pairs compared at once
VALUE_CLIP = 200  # characters of a payload value shown in a field diff

# msgspec's encoder (sorted keys) is several times faster than json's; json remains for what msgspec
# refuses (non-string keys) and for the exact comparison. Both write NaN/inf as null, which no store's
# JSON can hold anyway.
_FAST_JSON = msgspec.json.Encoder(order="sorted", enc_hook=repr)
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), check_circular=False, default=repr)
_INTEGRAL_FLOAT_MARKS = (b".0,", b".0}", b".0]")
# Quantised rows are hashed as the narrowest type that holds them; beyond int64, as float64.
_QUANT_BOUNDS = np.array([2.0**15 - 1, 2.0**31 - 1, 2.0**62])
_QUANT_TYPES = (np.int16, np.int32, np.int64, np.float64)
_MIX1, _MIX2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)


# -- keys ---------------------------------------------------------------------------------------------
def _mix64(values: U64) -> U64:
    """splitmix64's finaliser: a bijection on uint64, so distinct int ids never share a key."""
    x = values ^ (values >> np.uint64(30))
    x *= _MIX1
    x ^= x >> np.uint64(27)
    x *= _MIX2
    x ^= x >> np.uint64(31)
    return x


def point_keys(
    ids: Sequence[PointId], namespaces: Sequence[str] | None = None, *, pinecone_to_qdrant: bool = False
) -> U64:
    """8-byte keys of ``ids``, equal for the same record in both stores (valid within this process).

    Int ids are mixed by a bijection; strings use Python's keyed 64-bit SipHash (the tables never leave
    the process). A record in a non-default namespace is keyed by (namespace, id); with
    ``pinecone_to_qdrant`` the key is that of the Qdrant point id the migration gives the record.
    """
    n = len(ids)
    if pinecone_to_qdrant:
        spaces = namespaces if namespaces else ("",) * n
        mapped = [qdrant_point_id(pid, ns) for pid, ns in zip(ids, spaces, strict=True)]
        return np.fromiter(map(hash, mapped), dtype=np.int64, count=n).view(np.uint64)
    if all(type(pid) is int for pid in ids):
        keys = _mix64(np.array(ids, dtype=np.uint64).reshape(n))
    else:
        keys = np.fromiter(map(hash, ids), dtype=np.int64, count=n).view(np.uint64)
        is_int = np.fromiter((type(pid) is int for pid in ids), dtype=bool, count=n)
        if is_int.any():
            int_rows = np.flatnonzero(is_int).tolist()
            keys[int_rows] = _mix64(np.array([ids[r] for r in int_rows], dtype=np.uint64))
    if namespaces is not None and any(namespaces):
        ns_rows = [r for r, ns in enumerate(namespaces) if ns]
        keys[ns_rows] = np.fromiter((hash((namespaces[r], ids[r])) for r in ns_rows), dtype=np.int64).view(np.uint64)
    return keys


def uses_pinecone_mapping(source: CollectionSchema, target: CollectionSchema) -> bool:
    """True when the records were migrated Pinecone → Qdrant with ``map_pinecone_batch``."""
    return source.backend == "pinecone" and target.backend.startswith("qdrant")


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


# -- digests ------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Canonicaliser:
    """How records are brought to one comparable form (see the module docstring)."""

    normalise: bool
    tolerance: float
    pinecone_to_qdrant: bool = False

    @classmethod
    def for_stores(cls, source: CollectionSchema, target: CollectionSchema, tolerance: float) -> Canonicaliser:
        """Canonical form for this pair: the target's distance decides normalisation."""
        return cls(target.distance is Distance.COSINE, tolerance, uses_pinecone_mapping(source, target))

    def vectors(self, vectors: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
        """Float64 canonical vectors (unit-normalised when the target ranks by cosine)."""
        v = np.asarray(vectors, dtype=np.float64)
        if self.normalise:
            norms = np.sqrt(np.einsum("ij,ij->i", v, v))
            norms[norms == 0] = 1.0
            v = v / norms[:, None]
        return v

    def vector_digests(self, vectors: npt.NDArray[np.float32]) -> U64:
        """(n, 2) uint64: blake2b-128 of each canonical vector quantised to multiples of the tolerance.

        Each row is hashed as the narrowest integer type that holds it (int16 for unit vectors), so a
        row's digest depends on that row alone (at one dimension, rows of different types differ in
        length). Unit vectors are quantised in float32 (their quotients stay far below float32's
        integer precision), raw vectors in float64.
        """
        n = len(vectors)
        out = np.empty((n, 2), dtype=np.uint64)
        if n == 0:
            return out
        if self.normalise:
            v = np.asarray(vectors, dtype=np.float32)
            norms = np.sqrt(np.einsum("ij,ij->i", v, v))
            norms[norms == 0] = 1.0
            q = np.rint(v * (1.0 / (norms * np.float32(self.tolerance)))[:, None])
            if 1.0 / self.tolerance < _QUANT_BOUNDS[0] - 1:  # every component fits int16
                groups = np.zeros(n, dtype=np.intp)
            else:
                groups = np.searchsorted(_QUANT_BOUNDS, np.abs(q).max(axis=1))
        else:
            q = np.rint(np.asarray(vectors, dtype=np.float64) / self.tolerance)
            groups = np.searchsorted(_QUANT_BOUNDS, np.abs(q).max(axis=1))
        present = np.unique(groups).tolist()
        for group in present:
            rows = slice(None) if len(present) == 1 else np.flatnonzero(groups == group)
            part = np.ascontiguousarray(q[rows].astype(_QUANT_TYPES[group]))
            out[rows] = _digests(part.view(f"V{part.shape[1] * part.itemsize}").ravel())
        return out

    def payload(self, payload: Payload, *, target_side: bool) -> dict[str, Any]:
        """The payload in canonical form (mapping fields dropped on a Pinecone-mapped target)."""
        if target_side and self.pinecone_to_qdrant:
            payload = strip_mapping_fields(payload)
        return canonical_payload(payload)

    def payload_digests(self, payloads: Sequence[Payload], *, target_side: bool) -> U64:
        """(n, 2) uint64: blake2b-128 of each payload's canonical JSON."""
        if target_side and self.pinecone_to_qdrant:
            payloads = [strip_mapping_fields(p) for p in payloads]
        return _digests(_encode_payloads(payloads))


def _digests(chunks: Iterable[Any]) -> U64:
    """(n, 2) uint64: the first 16 bytes of each chunk's blake2b digest.

    The default-parameter constructor is the cheapest per call (keyword arguments cost as much as
    hashing a short payload), and a prefix of blake2b-512 is as good a 128-bit digest as blake2b-128.
    """
    raw = b"".join([h.digest() for h in map(hashlib.blake2b, chunks)])
    return np.ascontiguousarray(np.frombuffer(raw, np.uint64).reshape(-1, 8)[:, :2])


def _encode_payloads(payloads: Sequence[Payload]) -> list[bytes]:
    """Canonical JSON of each payload (sorted keys, integral floats as ints)."""
    try:
        parts = list(map(_FAST_JSON.encode, payloads))
    except (TypeError, ValueError, msgspec.EncodeError):  # e.g. non-string keys: the slow, general path
        return [_canonical_json(p) for p in payloads]
    joined = b"".join(parts)
    if any(mark in joined for mark in _INTEGRAL_FLOAT_MARKS):
        # Integral floats (or text that looks like one): canonicalise just those records.
        for i, part in enumerate(parts):
            if any(mark in part for mark in _INTEGRAL_FLOAT_MARKS):
                parts[i] = _FAST_JSON.encode(canonical_payload(payloads[i]))
    return parts


def _canonical_json(payload: Payload) -> bytes:
    try:
        return _ENCODER.encode(canonical_payload(payload)).encode()
    except (TypeError, ValueError):
        return repr(sorted(payload.items(), key=lambda kv: str(kv[0]))).encode()


# -- tables -------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class DigestTable:
    """Key and digests of every record of one scan (scan order) plus the key order for lookups."""

    keys: U64
    vector_digests: U64
    payload_digests: U64
    order: I64  # argsort of keys, first occurrence of a key only
    ids: IdLog
    duplicates: int

    def __len__(self) -> int:
        return len(self.keys)

    def without_digests(self) -> DigestTable:
        """The same table keeping only what id lookups need (keys, order, ids): parity is done with it."""
        empty = np.empty((0, 2), dtype=np.uint64)
        return DigestTable(self.keys, empty, empty, self.order, self.ids, self.duplicates)

    def positions(self, keys: U64) -> I64:
        """Scan position of each key, -1 where the key is not in the table."""
        keys = np.asarray(keys, dtype=np.uint64)
        if len(self.order) == 0:
            return np.full(len(keys), -1, dtype=np.int64)
        ordered = self.keys[self.order]
        idx = np.minimum(np.searchsorted(ordered, keys), len(ordered) - 1)
        return np.where(ordered[idx] == keys, self.order[idx], -1).astype(np.int64)


class DigestTableBuilder:
    """Builds a ``DigestTable`` one scrolled batch at a time, in memory proportional to the record count."""

    def __init__(self, canon: Canonicaliser, *, target_side: bool, capacity: int = 0) -> None:
        self.canon = canon
        self.target_side = target_side
        self._n = 0
        self._keys = np.empty(max(capacity, 1024), dtype=np.uint64)
        self._vd = np.empty((len(self._keys), 2), dtype=np.uint64)
        self._pd = np.empty((len(self._keys), 2), dtype=np.uint64)
        self.ids = IdLog()

    def add(self, batch: RecordBatch) -> U64:
        """Digest one batch; returns its keys (scan positions follow on from the previous batch)."""
        n = len(batch)
        keys = point_keys(
            batch.ids, batch.namespaces, pinecone_to_qdrant=self.canon.pinecone_to_qdrant and not self.target_side
        )
        if self._n + n > len(self._keys):
            grow = max(self._n + n, 2 * len(self._keys))
            self._keys = np.resize(self._keys, grow)
            self._vd = np.resize(self._vd, (grow, 2))
            self._pd = np.resize(self._pd, (grow, 2))
        end = self._n + n
        self._keys[self._n : end] = keys
        self._vd[self._n : end] = self.canon.vector_digests(batch.vectors)
        self._pd[self._n : end] = self.canon.payload_digests(batch.payloads, target_side=self.target_side)
        self.ids.append(batch.ids, batch.namespaces)
        self._n = end
        return keys

    def finish(self) -> DigestTable:
        """The table of everything added (the builder must not be used afterwards)."""
        exact = self._n == len(self._keys)  # sized by count(): keep the buffers, do not copy them
        keys = self._keys if exact else self._keys[: self._n].copy()
        order = np.argsort(keys, kind="stable")
        first = np.ones(len(order), dtype=bool)
        first[1:] = keys[order[1:]] != keys[order[:-1]]
        table = DigestTable(
            keys=keys,
            vector_digests=self._vd if exact else self._vd[: self._n].copy(),
            payload_digests=self._pd if exact else self._pd[: self._n].copy(),
            order=order[first],
            ids=self.ids,
            duplicates=int(len(order) - first.sum()),
        )
        # The builder's buffers are not needed any more: free them before the caller builds the next table.
        self._keys = np.empty(0, dtype=np.uint64)
        self._vd = self._pd = np.empty((0, 2), dtype=np.uint64)
        return table


def scan_table(store: VectorStore, canon: Canonicaliser, *, target_side: bool, batch_size: int = 1000) -> DigestTable:
    """Scroll ``store`` once and return its digest table."""
    builder = DigestTableBuilder(canon, target_side=target_side, capacity=store.count())
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
    vector_suspects: npt.NDArray[np.bool_]  # per common pair: vector digests differ
    payload_suspects: npt.NDArray[np.bool_]


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
    for start in range(0, len(common_source), _COMPARE_CHUNK):  # bounded temporaries
        s, t = common_source[start : start + _COMPARE_CHUNK], common_target[start : start + _COMPARE_CHUNK]
        end = start + len(s)
        vector_suspects[start:end] = (source.vector_digests[s] != target.vector_digests[t]).any(axis=1)
        payload_suspects[start:end] = (source.payload_digests[s] != target.payload_digests[t]).any(axis=1)
    return TableDiff(
        missing=np.sort(source.order[~found]),
        extra=np.sort(target.order[~matched]),
        common_source=common_source,
        common_target=common_target,
        vector_suspects=vector_suspects,
        payload_suspects=payload_suspects,
    )


@dataclass(frozen=True, slots=True)
class Mismatches:
    """Records confirmed different by exact comparison (all counted, the first ``sample_size`` kept)."""

    vector_count: int
    vector_sample: list[dict[str, Any]]
    payload_count: int
    payload_ids: list[PointId]
    payload_sample: list[dict[str, Any]]
    rechecked: int


def confirm_mismatches(
    source: VectorStore,
    target: VectorStore,
    source_table: DigestTable,
    target_table: DigestTable,
    diff: TableDiff,
    canon: Canonicaliser,
    sample_size: int,
) -> Mismatches:
    """Fetch every pair whose digests differ from both stores and compare exactly (in chunks)."""
    suspects = diff.vector_suspects | diff.payload_suspects
    src_pos, tgt_pos = diff.common_source[suspects], diff.common_target[suspects]
    order = np.argsort(src_pos, kind="stable")  # report in source scan order
    src_pos, tgt_pos = src_pos[order], tgt_pos[order]
    vector_count = payload_count = 0
    vector_sample: list[dict[str, Any]] = []
    payload_ids: list[PointId] = []
    payload_sample: list[dict[str, Any]] = []
    for start in range(0, len(src_pos), FETCH_CHUNK):
        src_ids = source_table.ids.get(src_pos[start : start + FETCH_CHUNK])
        tgt_ids = target_table.ids.get(tgt_pos[start : start + FETCH_CHUNK])
        for (sid, _), (tid, _), src, tgt in _fetch_pairs(source, target, src_ids, tgt_ids, canon):
            shown = sid if sid == tid else {"source": sid, "target": tid}
            if src is None or tgt is None:  # changed under our feet: cannot compare, count both
                vector_count += 1
                payload_count += 1
                continue
            if src[0].shape != tgt[0].shape:  # another dimension: schema.dimension fails too
                diff_abs = float("inf")
            else:
                diff_abs = float(np.abs(canon.vectors(src[0][None]) - canon.vectors(tgt[0][None])).max())
            if diff_abs > canon.tolerance:
                vector_count += 1
                if len(vector_sample) < sample_size:
                    vector_sample.append({"id": shown, "max_abs_diff": diff_abs})
            fields = _field_diff(canon.payload(src[1], target_side=False), canon.payload(tgt[1], target_side=True))
            if fields:
                payload_count += 1
                if len(payload_ids) < sample_size:
                    payload_ids.append(sid)
                for field_diff in fields:
                    if len(payload_sample) < sample_size:
                        payload_sample.append({"id": shown, **field_diff})
    return Mismatches(vector_count, vector_sample, payload_count, payload_ids, payload_sample, len(src_pos))


def _fetch_pairs(
    source: VectorStore,
    target: VectorStore,
    src_ids: list[tuple[PointId, str]],
    tgt_ids: list[tuple[PointId, str]],
    canon: Canonicaliser,
) -> Iterator[tuple[tuple[PointId, str], tuple[PointId, str], Any, Any]]:
    """Yield each (source id, target id, (vector, payload) | None, (vector, payload) | None)."""
    src_batch = source.fetch([pid for pid, _ in src_ids])
    tgt_batch = target.fetch([pid for pid, _ in tgt_ids])
    src_keys = point_keys(src_batch.ids, src_batch.namespaces, pinecone_to_qdrant=canon.pinecone_to_qdrant)
    tgt_keys = point_keys(tgt_batch.ids, tgt_batch.namespaces)
    src_rows = {int(k): r for r, k in enumerate(src_keys)}
    tgt_rows = {int(k): r for r, k in enumerate(tgt_keys)}
    wanted = point_keys(
        [pid for pid, _ in src_ids], [ns for _, ns in src_ids], pinecone_to_qdrant=canon.pinecone_to_qdrant
    )
    for sid, tid, key in zip(src_ids, tgt_ids, wanted.tolist(), strict=True):
        s, t = src_rows.get(key), tgt_rows.get(key)
        yield (
            sid,
            tid,
            None if s is None else (src_batch.vectors[s], src_batch.payloads[s]),
            None if t is None else (tgt_batch.vectors[t], tgt_batch.payloads[t]),
        )


def _field_diff(source: dict[str, Any], target: dict[str, Any]) -> list[dict[str, Any]]:
    """Fields whose canonical JSON differs (so 1 vs "1" and true vs 1 differ; 2020.0 vs 2020 do not)."""
    out = []
    for name in sorted(set(source) | set(target)):
        in_s, in_t = name in source, name in target
        if in_s and in_t and values_equal(source[name], target[name]):
            continue
        out.append(
            {
                "field": name,
                "change": "changed" if in_s and in_t else "removed" if in_s else "added",
                "source": _clip(source.get(name)),
                "target": _clip(target.get(name)),
            }
        )
    return out


def _canonical_value(value: Any) -> str:
    return _ENCODER.encode(value)


# Qdrant parses JSON floats with serde_json's fast (not correctly rounded) path: a double can come back
# one ulp off. Two floats this close are the same value as far as a migration is concerned.
FLOAT_REL_TOLERANCE = 1e-12


def values_equal(source: Any, target: Any) -> bool:
    """Payload values equal after canonicalisation: same JSON types (1 vs "1" and true vs 1 differ),
    floats equal within a relative ``FLOAT_REL_TOLERANCE`` (engines may round a parsed double by an ulp)."""
    if isinstance(source, bool) or isinstance(target, bool):
        return type(source) is type(target) and source == target
    if isinstance(source, float | int) and isinstance(target, float | int):
        if isinstance(source, int) and isinstance(target, int):
            return source == target
        return math.isclose(source, target, rel_tol=FLOAT_REL_TOLERANCE, abs_tol=0.0)
    if isinstance(source, list | tuple) and isinstance(target, list | tuple):
        return len(source) == len(target) and all(values_equal(a, b) for a, b in zip(source, target, strict=True))
    if isinstance(source, dict) and isinstance(target, dict):
        return source.keys() == target.keys() and all(values_equal(source[k], target[k]) for k in source)
    return _canonical_value(source) == _canonical_value(target)


def _clip(value: Any) -> Any:
    """A payload value small enough for a report: long values become a clipped JSON string."""
    text = _canonical_value(value)
    if len(text) <= VALUE_CLIP:
        return value
    return text[:VALUE_CLIP] + "…"


# -- checks -------------------------------------------------------------------------------------------
def parity_checks(
    source: VectorStore,
    target: VectorStore,
    source_table: DigestTable,
    target_table: DigestTable,
    canon: Canonicaliser,
    thresholds: Thresholds,
    counts: tuple[int, int],
) -> list[Check]:
    """``parity.count``, ``parity.ids``, ``parity.vectors``, ``parity.payloads`` from two scanned tables.

    ``counts`` are the stores' own exact counts (source, target).
    """
    diff = diff_tables(source_table, target_table)
    mism = confirm_mismatches(source, target, source_table, target_table, diff, canon, thresholds.sample_size)
    n = thresholds.sample_size
    source_count, target_count = counts
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
    missing = source_table.ids.get(diff.missing[:n])
    extra = target_table.ids.get(diff.extra[:n])
    id_details: dict[str, Any] = {
        "missing_count": len(diff.missing),
        "extra_count": len(diff.extra),
        "missing": [pid for pid, _ in missing],
        "extra": [pid for pid, _ in extra],
        "sample_size": n,
        "duplicates": {"source": source_table.duplicates, "target": target_table.duplicates},
    }
    if any(ns for _, ns in missing):
        id_details["missing_namespaces"] = [ns for _, ns in missing]
    if canon.pinecone_to_qdrant:
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
    form = "unit-normalised (cosine target), " if canon.normalise else ""
    checks.append(
        Check(
            "parity.vectors",
            Status.PASS if mism.vector_count == 0 else Status.FAIL,
            mism.vector_count,
            0,
            f"{mism.vector_count} of {len(diff.common_source)} common records have vectors that differ by more than "
            f"{canon.tolerance:g} ({form}max abs component difference)",
            {
                "mismatch_count": mism.vector_count,
                "mismatched": [s["id"] for s in mism.vector_sample],
                "sample": mism.vector_sample,
                "compared": len(diff.common_source),
                "rechecked_exactly": mism.rechecked,
                "tolerance": canon.tolerance,
                "normalised": canon.normalise,
            },
        )
    )
    checks.append(
        Check(
            "parity.payloads",
            Status.PASS if mism.payload_count == 0 else Status.FAIL,
            mism.payload_count,
            0,
            f"{mism.payload_count} of {len(diff.common_source)} common records have payloads that differ "
            "(after canonicalisation: key order and integral floats vs ints do not count)",
            {
                "mismatch_count": mism.payload_count,
                "mismatched": mism.payload_ids,
                "sample": mism.payload_sample,
                "compared": len(diff.common_source),
            },
        )
    )
    return checks


def check_parity(
    source: VectorStore, target: VectorStore, thresholds: Thresholds | None = None, batch_size: int = 1000
) -> list[Check]:
    """Scroll both stores once each and return the four parity checks (see ``parity_checks``)."""
    thresholds = thresholds or Thresholds()
    canon = Canonicaliser.for_stores(source.describe(), target.describe(), thresholds.vector_tolerance)
    counts = (source.count(), target.count())
    source_table = scan_table(source, canon, target_side=False, batch_size=batch_size)
    target_table = scan_table(target, canon, target_side=True, batch_size=batch_size)
    return parity_checks(source, target, source_table, target_table, canon, thresholds, counts)
