"""``exact://NAME``: an in-memory exact store in numpy; the ground-truth oracle and the fake for tests.

Semantics follow Qdrant: cosine vectors are normalised on insert, euclid scores are plain distances.
Collections are process-local and shared by name, so two ``open_store("exact://x")`` see the same data.
Named dense vectors and sparse vectors are kept as the schema declares them (a record may lack any of
them); a hybrid query fuses an exact dense ranking and an exact sparse (dot) ranking with RRF or DBSF,
as Qdrant's prefetch + fusion does.
"""

from __future__ import annotations

import bisect
import dataclasses
import json
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from harness.errors import CollectionNotFoundError, InvalidInputError
from harness.model import (
    CollectionSchema,
    DenseColumn,
    Distance,
    PointId,
    RecordBatch,
    SearchResult,
    SparseColumn,
)
from harness.records.filters import Filter
from harness.stores._exact_columns import FilterColumns
from harness.stores.base import (
    RRF_K,
    Cursor,
    IdPage,
    SearchParams,
    fusion_of,
    prefetch_limit,
    sparse_vector_name,
    validate_batch,
    validate_hybrid,
    validate_queries,
    validate_vectors,
)
from harness.stores.uri import StoreURI
from harness.vectormath import exact_top_k, prepare

_SparseRow = tuple[np.ndarray, np.ndarray]

_SortKey = tuple[int, Any]


def _sort_key(point_id: PointId) -> _SortKey:
    # Qdrant order: integer ids before string ids.
    return (0, point_id) if isinstance(point_id, int) else (1, point_id)


def _check_id(point_id: object) -> PointId:
    if isinstance(point_id, bool) or not isinstance(point_id, int | str):
        raise InvalidInputError(f"invalid id {point_id!r}: ids are non-negative ints or non-empty strings")
    if isinstance(point_id, int) and point_id < 0:
        raise InvalidInputError(f"invalid id {point_id}: integer ids must be non-negative")
    if isinstance(point_id, str) and not point_id:
        raise InvalidInputError("invalid id '': string ids must not be empty")
    return point_id


class _Collection:
    """Rows in growable arrays; deleted rows are masked and reused on compaction."""

    def __init__(self, schema: CollectionSchema) -> None:
        self.schema = schema
        self.lock = threading.RLock()
        self.vectors = np.zeros((0, schema.dimension), dtype=np.float32)
        self.valid = np.zeros(0, dtype=bool)
        self.ids: list[PointId | None] = []
        self.payloads: list[dict[str, Any]] = []
        self.namespaces: list[str | None] = []
        self.size = 0  # rows used (live + deleted)
        self.row_of: dict[PointId, int] = {}
        self._sorted: list[_SortKey] | None = None
        # Named dense vectors: rows aligned with ``vectors``, and which rows hold one.
        self.named = {name: np.zeros((0, p.dimension), dtype=np.float32) for name, p in schema.named_vectors.items()}
        self.named_present = {name: np.zeros(0, dtype=bool) for name in schema.named_vectors}
        self.sparse: dict[str, list[_SparseRow | None]] = {name: [] for name in schema.sparse_vectors}
        self._admitted: tuple[tuple[Filter | None, str | None], np.ndarray] | None = None  # the last filter's rows

    def _grow(self, needed: int) -> None:
        cap = self.vectors.shape[0]
        if needed <= cap:
            return
        new_cap = max(needed, cap * 2, 1024)
        vectors = np.zeros((new_cap, self.schema.dimension), dtype=np.float32)
        vectors[: self.size] = self.vectors[: self.size]
        valid = np.zeros(new_cap, dtype=bool)
        valid[: self.size] = self.valid[: self.size]
        self.vectors, self.valid = vectors, valid
        for name, old in self.named.items():
            grown = np.zeros((new_cap, old.shape[1]), dtype=np.float32)
            grown[: self.size] = old[: self.size]
            present = np.zeros(new_cap, dtype=bool)
            present[: self.size] = self.named_present[name][: self.size]
            self.named[name], self.named_present[name] = grown, present

    def upsert(self, batch: RecordBatch) -> None:
        ids = [_check_id(i) for i in batch.ids]
        validate_batch(batch, self.schema.dimension)
        validate_vectors(batch, self.schema)
        stored = prepare(batch.vectors, self.schema.distance)
        named = {
            name: (prepare(batch.named[name].vectors, p.distance), batch.named[name].present_rows())
            for name, p in self.schema.named_vectors.items()
            if name in batch.named
        }
        sparse_rows = {name: column.rows() for name, column in batch.sparse.items()}
        with self.lock:
            # Last write wins inside one batch, as in Qdrant.
            last: dict[PointId, int] = {pid: pos for pos, pid in enumerate(ids)}
            new_ids = [pid for pid in last if pid not in self.row_of]
            self._grow(self.size + len(new_ids))
            for pid in new_ids:
                self.row_of[pid] = self.size
                self.ids.append(pid)
                self.payloads.append({})
                self.namespaces.append(None)
                for sparse_rows_of in self.sparse.values():
                    sparse_rows_of.append(None)
                self.size += 1
            rows = np.fromiter((self.row_of[pid] for pid in last), dtype=np.int64, count=len(last))
            positions = np.fromiter(last.values(), dtype=np.int64, count=len(last))
            self.vectors[rows] = stored[positions]
            self.valid[rows] = True
            for name in self.named:  # a record written without a named vector has none
                if name in named:
                    values, present = named[name]
                    self.named[name][rows] = values[positions]
                    self.named_present[name][rows] = present[positions]
                else:
                    self.named_present[name][rows] = False
            for name, stored_rows in self.sparse.items():
                given = sparse_rows.get(name)
                for row, pos in zip(rows.tolist(), positions.tolist(), strict=True):
                    entry = given[pos] if given is not None else None
                    stored_rows[row] = (
                        None
                        if entry is None
                        else (np.asarray(entry[0], dtype=np.uint32), np.asarray(entry[1], dtype=np.float32))
                    )
            for pid, pos in last.items():
                row = self.row_of[pid]
                self.payloads[row] = dict(batch.payloads[pos])
                self.namespaces[row] = batch.namespaces[pos] if batch.namespaces is not None else None
            if new_ids:
                self._sorted = None
            self._admitted = None

    def delete(self, ids: Sequence[PointId]) -> None:
        with self.lock:
            for pid in ids:
                row = self.row_of.pop(pid, None)
                if row is not None:
                    self.valid[row] = False
                    self.ids[row] = None
                    self.payloads[row] = {}
                    for stored in self.sparse.values():
                        stored[row] = None
                    self._sorted = None
                    self._admitted = None
            if self.size > 4096 and len(self.row_of) < self.size // 2:
                self._compact()

    def _compact(self) -> None:
        live = np.flatnonzero(self.valid[: self.size])
        self.vectors = np.ascontiguousarray(self.vectors[live])
        self.valid = np.ones(len(live), dtype=bool)
        self.ids = [self.ids[r] for r in live]
        self.payloads = [self.payloads[r] for r in live]
        self.namespaces = [self.namespaces[r] for r in live]
        for name in self.named:
            self.named[name] = np.ascontiguousarray(self.named[name][live])
            self.named_present[name] = self.named_present[name][live]
        for name, stored in self.sparse.items():
            self.sparse[name] = [stored[r] for r in live]
        self.size = len(live)
        self.row_of = {pid: row for row, pid in enumerate(self.ids) if pid is not None}
        self._admitted = None

    def admitted(self, where: Filter | None, namespace: str | None) -> np.ndarray:
        """Rows (of ``size``) that are live, in ``namespace`` and pass ``where`` with Qdrant's semantics; an
        integer payload index in the schema converts stored integral floats, as Qdrant's does. The last
        answer is kept until the next write (a count and a search with one filter judge it once)."""
        with self.lock:
            key = (where, namespace)
            if self._admitted is not None and self._admitted[0] == key:
                return self._admitted[1].copy()
            mask = self.valid[: self.size].copy()
            if namespace is not None:
                mask &= np.fromiter(((ns or "") == namespace for ns in self.namespaces), dtype=bool, count=self.size)
            if where is not None:
                indexed = [f for f, kind in self.schema.payload_indexes.items() if kind == "integer"]
                mask &= FilterColumns(self.payloads[: self.size], indexed).mask(where)
            self._admitted = (key, mask)
            return mask.copy()

    def sorted_keys(self) -> list[_SortKey]:
        with self.lock:
            if self._sorted is None:
                self._sorted = sorted(_sort_key(pid) for pid in self.row_of)
            return self._sorted

    def batch_of_rows(self, rows: Sequence[int]) -> RecordBatch:
        ns = [self.namespaces[r] for r in rows]
        picked = list(rows)
        return RecordBatch(
            ids=tuple(self.ids[r] for r in rows),  # type: ignore[misc]
            vectors=np.array(self.vectors[picked], dtype=np.float32).reshape(len(rows), self.schema.dimension),
            payloads=tuple(dict(self.payloads[r]) for r in rows),
            namespaces=tuple(n or "" for n in ns) if any(n is not None for n in ns) else None,
            named={
                name: DenseColumn.of(self.named[name][picked], self.named_present[name][picked]) for name in self.named
            },
            sparse={name: _sparse_column([stored[r] for r in picked]) for name, stored in self.sparse.items()},
        )

    def sparse_scores(self, name: str, query: _SparseRow) -> np.ndarray:
        """The sparse dot product of ``query`` with every row's sparse vector ``name`` (0 without one)."""
        weights = dict(zip(np.asarray(query[0]).tolist(), np.asarray(query[1], dtype=np.float64).tolist(), strict=True))
        scores = np.zeros(self.size, dtype=np.float64)
        for row, entry in enumerate(self.sparse[name]):
            if entry is not None and self.valid[row]:
                scores[row] = sum(
                    weights.get(i, 0.0) * v for i, v in zip(entry[0].tolist(), entry[1].tolist(), strict=True)
                )
        return scores


_REGISTRY: dict[str, _Collection] = {}
_REGISTRY_LOCK = threading.Lock()


class ExactStore:
    """The exact store behind ``exact://NAME``; see the module docstring."""

    def __init__(self, name: str, options: dict[str, str] | None = None) -> None:
        self.name = name
        self.options = dict(options or {})
        self.uri = f"exact://{name}"

    # -- lifecycle -------------------------------------------------------------------------------------
    def _collection(self) -> _Collection:
        coll = _REGISTRY.get(self.name)
        if coll is None:
            raise CollectionNotFoundError(
                f"exact store {self.name!r} does not exist; create it first (it lives only in this process)"
            )
        return coll

    def exists(self) -> bool:
        """True once ``create`` was called for this name in this process."""
        return self.name in _REGISTRY

    def create(self, schema: CollectionSchema) -> None:
        """Create (or replace) the named collection; ``?distance=`` in the URI overrides the schema's."""
        if "distance" in self.options:
            schema = dataclasses.replace(schema, distance=Distance.parse(self.options["distance"]))
        schema = CollectionSchema(
            dimension=schema.dimension,
            distance=schema.distance,
            datatype="float32",
            hnsw=None,
            quantization=None,
            payload_indexes=dict(schema.payload_indexes),
            index_config_reported=True,
            backend="exact",
            named_vectors={
                name: dataclasses.replace(p, datatype="float32") for name, p in schema.named_vectors.items()
            },
            sparse_vectors=dict(schema.sparse_vectors),
        )
        with _REGISTRY_LOCK:
            _REGISTRY[self.name] = _Collection(schema)

    def drop(self) -> None:
        """Forget the named collection."""
        with _REGISTRY_LOCK:
            _REGISTRY.pop(self.name, None)

    def close(self) -> None:
        """No-op: the data stays in the process registry until ``drop``."""

    # -- reads -----------------------------------------------------------------------------------------
    def describe(self) -> CollectionSchema:
        """The schema given at creation (exact search: no index config to drift)."""
        return self._collection().schema

    def count(self) -> int:
        """Exact number of live records."""
        return len(self._collection().row_of)

    def scroll(self, batch_size: int = 1000, cursor: Cursor | None = None) -> tuple[RecordBatch, Cursor | None]:
        """Pages in id order (ints before strings); the cursor is the last id returned."""
        if batch_size < 1:
            raise InvalidInputError(f"batch_size must be at least 1, got {batch_size}")
        coll = self._collection()
        with coll.lock:
            keys = coll.sorted_keys()
            start = 0
            if cursor is not None:
                kind, value = json.loads(cursor)
                start = bisect.bisect_right(keys, (kind, value))
            page = keys[start : start + batch_size]
            rows = [coll.row_of[k[1]] for k in page]
            batch = coll.batch_of_rows(rows) if rows else RecordBatch.empty(coll.schema.dimension)
            more = start + batch_size < len(keys)
        next_cursor = json.dumps(list(page[-1])) if page and more else None
        return batch, next_cursor

    def scroll_ids(self, batch_size: int = 10_000, cursor: Cursor | None = None) -> tuple[IdPage, Cursor | None]:
        """Ids only, in ``scroll``'s order and with its cursors."""
        if batch_size < 1:
            raise InvalidInputError(f"batch_size must be at least 1, got {batch_size}")
        coll = self._collection()
        with coll.lock:
            keys = coll.sorted_keys()
            start = 0
            if cursor is not None:
                kind, value = json.loads(cursor)
                start = bisect.bisect_right(keys, (kind, value))
            page = keys[start : start + batch_size]
            ids = tuple(k[1] for k in page)
            ns = [coll.namespaces[coll.row_of[i]] for i in ids]
            more = start + batch_size < len(keys)
        namespaces = tuple(n or "" for n in ns) if any(n is not None for n in ns) else None
        return IdPage(ids, namespaces), (json.dumps(list(page[-1])) if page and more else None)

    def fetch(self, ids: Sequence[PointId]) -> RecordBatch:
        """Records with these ids, in the order first asked, each once; absent ids are left out."""
        coll = self._collection()
        with coll.lock:
            rows = [coll.row_of[i] for i in dict.fromkeys(ids) if i in coll.row_of]
            return coll.batch_of_rows(rows) if rows else RecordBatch.empty(coll.schema.dimension)

    def search(self, queries: np.ndarray, k: int, params: SearchParams | None = None) -> SearchResult:
        """Exact top-k by blocked matmul; ``params`` are accepted and ignored (the search is exact)."""
        coll = self._collection()
        q = validate_queries(queries, coll.schema.dimension, k)
        with coll.lock:
            vectors = coll.vectors[: coll.size]
            valid = coll.valid[: coll.size]
            k_eff = min(k, len(coll.row_of))
            if q.shape[0] == 0 or k_eff == 0:
                return SearchResult(
                    ids=tuple(() for _ in range(q.shape[0])), scores=tuple(() for _ in range(q.shape[0]))
                )
            rows, scores = exact_top_k(q, vectors, k_eff, coll.schema.distance, valid=valid)
            ids = tuple(tuple(coll.ids[r] for r in row) for row in rows.tolist())
        return SearchResult(ids=ids, scores=tuple(tuple(s) for s in scores.tolist()))

    def hybrid_search(
        self,
        queries: np.ndarray,
        sparse: SparseColumn,
        k: int,
        *,
        sparse_name: str | None = None,
        params: SearchParams | None = None,
    ) -> SearchResult:
        """Exact dense top-``prefetch`` and exact sparse (dot) top-``prefetch`` per query, fused by RRF
        (``1 / (rank + RRF_K)`` summed, rank from 0) or DBSF (each ranking's scores scaled by its mean ±
        3 standard deviations, summed); ties by id. See ``HybridSearch``."""
        coll = self._collection()
        name = sparse_vector_name(coll.schema, sparse_name, self.uri)
        q = validate_hybrid(queries, sparse, coll.schema.dimension, k)
        fusion, limit = fusion_of(params), prefetch_limit(k, params)
        out_ids: list[tuple[PointId, ...]] = []
        out_scores: list[tuple[float, ...]] = []
        with coll.lock:
            live = coll.valid[: coll.size]
            n_live = int(live.sum())
            for i in range(len(q)):
                dense_rows, dense_scores = (
                    exact_top_k(
                        q[i : i + 1], coll.vectors[: coll.size], min(limit, n_live), coll.schema.distance, valid=live
                    )
                    if n_live
                    else (np.zeros((1, 0), dtype=np.int64), np.zeros((1, 0), dtype=np.float32))
                )
                sparse_all = coll.sparse_scores(name, sparse.row(i))
                # Qdrant's sparse search returns only points sharing an index with the query.
                candidates = np.flatnonzero((sparse_all != 0) & live)
                best = candidates[np.lexsort((candidates, -sparse_all[candidates]))][:limit]
                sign = 1.0 if coll.schema.distance.higher_is_better else -1.0  # DBSF: higher is better
                rankings = [
                    (dense_rows[0].tolist(), (sign * dense_scores[0].astype(np.float64)).tolist()),
                    (best.tolist(), sparse_all[best].tolist()),
                ]
                fused = _fuse(rankings, fusion)
                order = sorted(fused, key=lambda row: (-fused[row], _sort_key(coll.ids[row])))[:k]  # type: ignore[arg-type]
                out_ids.append(tuple(coll.ids[row] for row in order))  # type: ignore[misc]
                out_scores.append(tuple(fused[row] for row in order))
        return SearchResult(ids=tuple(out_ids), scores=tuple(out_scores))

    def search_filtered(
        self,
        queries: np.ndarray,
        k: int,
        where: Filter | None,
        *,
        namespace: str | None = None,
        params: SearchParams | None = None,
    ) -> SearchResult:
        """Exact top-k among the records ``where`` admits (Qdrant's semantics) in ``namespace`` (records
        upserted without one are in "")."""
        coll = self._collection()
        q = validate_queries(queries, coll.schema.dimension, k)
        with coll.lock:
            admitted = coll.admitted(where, namespace)
            k_eff = min(k, int(admitted.sum()))
            if q.shape[0] == 0 or k_eff == 0:
                empty = tuple(() for _ in range(q.shape[0]))
                return SearchResult(ids=empty, scores=empty)
            rows, scores = exact_top_k(q, coll.vectors[: coll.size], k_eff, coll.schema.distance, valid=admitted)
            ids = tuple(tuple(coll.ids[r] for r in row) for row in rows.tolist())
        return SearchResult(ids=ids, scores=tuple(tuple(s) for s in scores.tolist()))

    def count_filtered(self, where: Filter | None, *, namespace: str | None = None) -> int:
        """Exact number of records ``where`` admits (Qdrant's semantics) in ``namespace``."""
        return int(self._collection().admitted(where, namespace).sum())

    # -- writes ----------------------------------------------------------------------------------------
    def upsert(self, batch: RecordBatch) -> None:
        """Insert or replace; cosine vectors are stored normalised."""
        self._collection().upsert(batch)

    def delete(self, ids: Sequence[PointId]) -> None:
        """Delete these ids; unknown ids are ignored."""
        self._collection().delete(ids)

    def optimize(self) -> None:
        """No-op: exact search has no index to build."""


def _sparse_column(rows: Sequence[_SparseRow | None]) -> SparseColumn:
    return SparseColumn.from_rows(
        (entry[0].tolist(), entry[1].tolist()) if entry is not None else None for entry in rows
    )


def _fuse(rankings: Sequence[tuple[list[int], list[float]]], fusion: str) -> dict[int, float]:
    """Fused score of every row ranked by any of ``rankings`` (each: rows best first, their scores)."""
    fused: dict[int, float] = {}
    for rows, scores in rankings:
        if fusion == "rrf":
            for rank, row in enumerate(rows):
                fused[row] = fused.get(row, 0.0) + 1.0 / (rank + RRF_K)
            continue
        if not rows:
            continue
        values = np.asarray(scores, dtype=np.float64)
        mean, std = float(values.mean()), float(values.std())
        low, high = mean - 3 * std, mean + 3 * std
        for row, score in zip(rows, values.tolist(), strict=True):
            scaled = 0.5 if high == low else (score - low) / (high - low)
            fused[row] = fused.get(row, 0.0) + scaled
    return fused


def from_uri(uri: StoreURI) -> ExactStore:
    """Factory for ``exact://NAME[?distance=...]``."""
    return ExactStore(uri.collection, uri.options)
