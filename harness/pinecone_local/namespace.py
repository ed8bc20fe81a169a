"""One namespace's records, packed densely in growable numpy rows, and exact search over them.

Scores follow Pinecone: cosine and dotproduct are higher-is-better, euclidean is the SQUARED
distance (lower is better). Stored values are kept exactly as upserted (cosine normalises at
query time, never in storage), so fetch returns what was written.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from harness.pinecone_local.filters import MetadataColumns, Predicate

F32 = npt.NDArray[np.float32]
Mask = npt.NDArray[np.bool_]
Metadata = dict[str, Any]

METRICS = ("cosine", "euclidean", "dotproduct")
# Rows scored per block, so a query's temporary memory stays bounded whatever the namespace size.
_BLOCK_ROWS = 65_536


@dataclass(frozen=True, slots=True)
class SparseValues:
    """A sparse vector: strictly positive-length parallel ``indices`` (uint32 range) and ``values``."""

    indices: tuple[int, ...]
    values: tuple[float, ...]

    def to_wire(self) -> dict[str, list[int] | list[float]]:
        """The camelCase JSON shape the SDK decodes."""
        return {"indices": list(self.indices), "values": list(self.values)}

    def dot(self, other: SparseValues) -> float:
        """Inner product with ``other`` (indices not shared contribute nothing)."""
        mine = dict(zip(self.indices, self.values, strict=True))
        return float(sum(mine.get(i, 0.0) * v for i, v in zip(other.indices, other.values, strict=True)))


@dataclass(frozen=True, slots=True)
class Match:
    """One query result: the row it came from and its score in Pinecone's semantics."""

    id: str
    score: float
    row: int


class NamespaceStore:
    """Records of one namespace. Not thread-safe by itself: the owning index holds the lock."""

    def __init__(self, name: str, dimension: int) -> None:
        self.name = name
        self.dimension = dimension
        self.ids: list[str] = []
        self.row_of: dict[str, int] = {}
        self.metadata: list[Metadata | None] = []
        self.sparse: list[SparseValues | None] = []
        self.declared = False  # created through POST /namespaces rather than by a first upsert
        self.schema: Mapping[str, Any] | None = None
        self._values: F32 = np.zeros((0, dimension), dtype=np.float32)
        self._sq_norms: F32 = np.zeros(0, dtype=np.float32)
        self._columns: MetadataColumns | None = None
        self._sorted_ids: list[str] | None = None

    # ---- reading -------------------------------------------------------------------------
    @property
    def count(self) -> int:
        """Number of records."""
        return len(self.ids)

    @property
    def values(self) -> F32:
        """The (count × dimension) float32 view of the stored dense values."""
        return self._values[: self.count]

    def columns(self) -> MetadataColumns:
        """Metadata columns for filter evaluation, cached until the next write."""
        if self._columns is None:
            self._columns = MetadataColumns(self.metadata)
        return self._columns

    def filter_mask(self, predicate: Predicate | None) -> Mask | None:
        """Rows admitted by ``predicate`` (None when there is no filter)."""
        return None if predicate is None else predicate.mask(self.columns())

    def sorted_ids(self) -> list[str]:
        """Every id in ascending order, cached until the next insert or delete."""
        if self._sorted_ids is None:
            self._sorted_ids = sorted(self.ids)
        return self._sorted_ids

    def ids_page(self, prefix: str, after: str | None, limit: int) -> tuple[list[str], bool]:
        """Up to ``limit`` ids starting with ``prefix`` that sort after ``after``; and whether more remain."""
        ordered = self.sorted_ids()
        start = bisect.bisect_left(ordered, prefix)
        if after is not None:
            start = max(start, bisect.bisect_right(ordered, after))
        page: list[str] = []
        i = start
        while i < len(ordered) and len(page) < limit and ordered[i].startswith(prefix):
            page.append(ordered[i])
            i += 1
        more = i < len(ordered) and ordered[i].startswith(prefix)
        return page, more

    # ---- writing -------------------------------------------------------------------------
    def _changed(self, membership: bool) -> None:
        self._columns = None
        if membership:
            self._sorted_ids = None

    def _grow(self, needed: int) -> None:
        capacity = self._values.shape[0]
        if needed <= capacity:
            return
        new_capacity = max(needed, 2 * capacity, 64)
        values = np.zeros((new_capacity, self.dimension), dtype=np.float32)
        values[:capacity] = self._values
        norms = np.zeros(new_capacity, dtype=np.float32)
        norms[:capacity] = self._sq_norms
        self._values, self._sq_norms = values, norms

    def upsert(
        self,
        ids: Sequence[str],
        values: F32,
        metadata: Sequence[Metadata | None],
        sparse: Sequence[SparseValues | None],
    ) -> None:
        """Insert or overwrite whole records (a later duplicate id in the batch wins)."""
        rows = np.empty(len(ids), dtype=np.int64)
        new = False
        for i, record_id in enumerate(ids):
            row = self.row_of.get(record_id)
            if row is None:
                row = len(self.ids)
                self.row_of[record_id] = row
                self.ids.append(record_id)
                self.metadata.append(metadata[i])
                self.sparse.append(sparse[i])
                new = True
            else:
                self.metadata[row] = metadata[i]
                self.sparse[row] = sparse[i]
            rows[i] = row
        self._grow(len(self.ids))
        self._values[rows] = values
        self._sq_norms[rows] = np.einsum("ij,ij->i", values, values)
        self._changed(membership=new)

    def set_values(self, row: int, values: F32) -> None:
        """Replace one record's dense values."""
        self._values[row] = values
        self._sq_norms[row] = float(np.dot(values, values))

    def set_sparse(self, row: int, sparse: SparseValues) -> None:
        """Replace one record's sparse values."""
        self.sparse[row] = sparse

    def merge_metadata(self, rows: Sequence[int], patch: Mapping[str, Any]) -> None:
        """Set or overwrite the keys of ``patch`` on each row, keeping every other key."""
        for row in rows:
            merged = dict(self.metadata[row] or {})
            merged.update(patch)
            self.metadata[row] = merged
        self._changed(membership=False)

    def delete_rows(self, rows: npt.NDArray[np.int64]) -> int:
        """Remove these rows, keeping the rest in order; returns how many were removed."""
        if rows.size == 0:
            return 0
        keep = np.ones(self.count, dtype=np.bool_)
        keep[rows] = False
        kept = np.flatnonzero(keep)
        self.ids = [self.ids[i] for i in kept]
        self.metadata = [self.metadata[i] for i in kept]
        self.sparse = [self.sparse[i] for i in kept]
        self.row_of = {record_id: row for row, record_id in enumerate(self.ids)}
        n = kept.size
        self._values[:n] = self._values[kept]
        self._sq_norms[:n] = self._sq_norms[kept]
        self._changed(membership=True)
        return int(rows.size)

    def delete_ids(self, ids: Sequence[str]) -> int:
        """Remove the records with these ids (absent ids are ignored)."""
        rows = sorted({self.row_of[i] for i in ids if i in self.row_of})
        return self.delete_rows(np.asarray(rows, dtype=np.int64))

    def clear(self) -> None:
        """Remove every record (the namespace itself stays)."""
        self.delete_rows(np.arange(self.count, dtype=np.int64))

    # ---- search --------------------------------------------------------------------------
    def scores(self, query: F32, metric: str, rows: npt.NDArray[np.int64] | None) -> npt.NDArray[np.float32]:
        """Scores of ``query`` against the given rows (all rows when None), in Pinecone's semantics."""
        stored = self.values if rows is None else self.values[rows]
        norms = self._sq_norms[: self.count] if rows is None else self._sq_norms[rows]
        out = np.empty(stored.shape[0], dtype=np.float32)
        for start in range(0, stored.shape[0], _BLOCK_ROWS):
            block = stored[start : start + _BLOCK_ROWS]
            if metric == "euclidean":
                diff = block - query
                out[start : start + block.shape[0]] = np.einsum("ij,ij->i", diff, diff)
            else:
                out[start : start + block.shape[0]] = block @ query
        if metric == "cosine":
            denominator = np.sqrt(norms) * np.float32(np.linalg.norm(query))
            with np.errstate(divide="ignore", invalid="ignore"):
                out = np.where(denominator > 0, out / denominator, np.float32(0.0)).astype(np.float32)
        return out

    def top_k(
        self,
        query: F32,
        metric: str,
        k: int,
        mask: Mask | None,
        sparse_query: SparseValues | None = None,
    ) -> list[Match]:
        """The best ``k`` records, best first; equal scores are ordered by id (deterministic)."""
        rows = None if mask is None else np.flatnonzero(mask).astype(np.int64)
        scores = self.scores(query, metric, rows)
        candidates = np.arange(self.count, dtype=np.int64) if rows is None else rows
        if sparse_query is not None:
            # Hybrid dotproduct: the sparse inner product adds to the dense one.
            for j, row in enumerate(candidates):
                stored = self.sparse[int(row)]
                if stored is not None:
                    scores[j] += np.float32(stored.dot(sparse_query))
        if candidates.size == 0:
            return []
        keys = scores if metric == "euclidean" else -scores  # smaller key = better
        if candidates.size > k:
            kth = np.partition(keys, k - 1)[k - 1]
            near = np.flatnonzero(keys <= kth)  # every tie at the cut-off, so the id order decides
        else:
            near = np.arange(candidates.size)
        ordered = sorted(near.tolist(), key=lambda j: (float(keys[j]), self.ids[int(candidates[j])]))[:k]
        return [Match(self.ids[int(candidates[j])], float(scores[j]), int(candidates[j])) for j in ordered]
