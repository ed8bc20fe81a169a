"""The ``VectorStore`` seam: every backend is driven through these methods, batches in, batches out."""

from __future__ import annotations

import gc
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Literal, NamedTuple, Protocol, TypeAlias, get_args, runtime_checkable

import numpy as np

from harness.errors import DimensionMismatchError, InvalidInputError, UsageError
from harness.model import CollectionSchema, PointId, RecordBatch, SearchResult, SparseColumn
from harness.records.filters import Filter

Cursor: TypeAlias = str
"""An opaque, JSON-safe pagination cursor (a store's own token, serialised). ``None`` starts a scan."""

PayloadIndexType: TypeAlias = Literal["keyword", "integer", "float", "bool", "geo", "text", "datetime", "uuid"]
"""A payload index type, as Qdrant's ``PayloadSchemaType`` names it (``CollectionSchema.payload_indexes``)."""
PAYLOAD_INDEX_TYPES: tuple[str, ...] = get_args(PayloadIndexType)

SearchParams: TypeAlias = Mapping[str, Any]
"""Backend search options, e.g. ``{"hnsw_ef": 128}`` or ``{"exact": True}``; unknown keys are ignored."""


PAGING_GC_CONTAINERS_PER_RECORD = 50
"""While pages are read, Python's cyclic garbage collector runs its youngest generation only once this many
containers per record of a page (net: made and not yet freed) have piled up, not every 700."""


@contextmanager
def paging_gc(batch_size: int) -> Iterator[None]:
    """Python's cyclic garbage collector runs less often while pages of ``batch_size`` records are read.

    A page makes thousands of containers at once (a dict per payload, a list per vector and per list of tags),
    freed by reference counting once the page is consumed; at the default threshold (700) the collector ran
    about twice a page and walked them. Scanning one 1M × 128 Qdrant Edge shard for parity took 24.1 s with it,
    20.9 s with the collector off (26.7 / 21.9 s in a Dask worker), 22–23 s with it relaxed like this (all
    2026-12-02). Cycles are still collected, later. The threshold in force before is put back, unless
    something else changed it meanwhile."""
    first, *older = gc.get_threshold()
    raised = max(first, PAGING_GC_CONTAINERS_PER_RECORD * max(batch_size, 1))
    gc.set_threshold(raised, *older)
    try:
        yield
    finally:
        if gc.get_threshold()[0] == raised:
            gc.set_threshold(first, *older)


@runtime_checkable
class VectorStore(Protocol):
    """One collection (Qdrant), one index (Pinecone) or one shard directory (Qdrant Edge).

    Promises shared by every adapter (the contract suite in tests/contract holds them):
    - ``count()`` is exact.
    - ``scroll`` pages with the backend's own cursor (never numeric offsets); pages cover every record
      once, and a deleted record is not returned after its delete was acknowledged.
    - ``upsert`` is idempotent and acknowledged when it returns (``wait=true`` semantics).
    - ``search_filtered`` / ``count_filtered`` take one filter representation, ``records.filters.Filter``,
      and render it in the backend's own language (Qdrant: ``to_qdrant``; Pinecone: ``to_pinecone``; the
      exact store evaluates it with Qdrant's semantics), so each store answers as its own applications
      see it: a filter means the same *condition* everywhere, and the stores' semantic differences
      (``records.filters.KNOWN_DIFFERENCES``) stay visible. ``namespace`` scopes a store that partitions
      records (Pinecone; the exact store for records that carry one); elsewhere any namespace but None
      raises ``InvalidInputError`` (a migrated Pinecone namespace is a payload field there: filter on it).
    - Bad input (wrong dimension, NaN, an id the backend cannot hold) raises ``InvalidInputError``;
      a missing collection raises ``CollectionNotFoundError``; retryable failures raise
      ``TransientStoreError``.
    """

    uri: str
    """The store's URI with credentials redacted."""

    def describe(self) -> CollectionSchema:
        """The collection's schema as the backend reports it."""
        ...

    def exists(self) -> bool:
        """True when the collection exists (``create`` has been called or it was there already)."""
        ...

    def create(self, schema: CollectionSchema) -> None:
        """Create the collection. Creation options given in the URI override ``schema``'s index config."""
        ...

    def count(self) -> int:
        """Exact number of records."""
        ...

    def scroll(self, batch_size: int = 1000, cursor: Cursor | None = None) -> tuple[RecordBatch, Cursor | None]:
        """One page of at most ``batch_size`` records and the cursor of the next page (None at the end)."""
        ...

    def fetch(self, ids: Sequence[PointId]) -> RecordBatch:
        """The records with these ids that exist (absent ids are left out), vectors and payloads included."""
        ...

    def upsert(self, batch: RecordBatch) -> None:
        """Insert or replace the records of ``batch``."""
        ...

    def delete(self, ids: Sequence[PointId]) -> None:
        """Delete these ids; ids that do not exist are ignored."""
        ...

    def search(self, queries: np.ndarray, k: int, params: SearchParams | None = None) -> SearchResult:
        """The ``k`` nearest records to each row of ``queries`` (2-D), best first, native scores."""
        ...

    def search_filtered(
        self,
        queries: np.ndarray,
        k: int,
        where: Filter | None,
        *,
        namespace: str | None = None,
        params: SearchParams | None = None,
    ) -> SearchResult:
        """As ``search``, among only the records ``where`` admits (None: all) in ``namespace`` (None: all)."""
        ...

    def count_filtered(self, where: Filter | None, *, namespace: str | None = None) -> int:
        """Exact number of records ``where`` admits (None: all) in ``namespace`` (None: all)."""
        ...

    def optimize(self) -> None:
        """Build or refresh the search index after a bulk load (Qdrant Edge's HNSW); no-op elsewhere."""
        ...

    def close(self) -> None:
        """Release the store's handle; idempotent."""
        ...


class IdPage(NamedTuple):
    """One page of an ids-only scan: the ids, and their namespaces (stores that partition records)."""

    ids: tuple[PointId, ...]
    namespaces: tuple[str, ...] | None = None


@runtime_checkable
class IdScan(Protocol):
    """A store that can list its ids without reading vectors or payloads (every adapter in this package).

    ``scroll_ids`` pages like ``scroll`` — the backend's own cursor, every record once — but carries no
    vectors and no payloads: Qdrant's scroll with ``with_vector=False, with_payload=False``, Pinecone's
    ``list``. Sampled parity draws its uniform sample of ids from it (``harness.verify.sample``).
    """

    def scroll_ids(self, batch_size: int = 10_000, cursor: Cursor | None = None) -> tuple[IdPage, Cursor | None]:
        """One page of at most ``batch_size`` ids and the cursor of the next page (None at the end)."""
        ...


FUSIONS = ("rrf", "dbsf")
RRF_K = 2
"""Reciprocal rank fusion's constant: a point at 0-based rank r in one prefetch scores 1 / (r + RRF_K)
there (qdrant-client's default, ``hybrid/fusion.py``)."""


@runtime_checkable
class HybridSearch(Protocol):
    """A store that answers hybrid queries: a dense vector and a sparse vector in one query.

    Pinecone blends both into one score on a dotproduct index (dense dot + sparse dot); Qdrant runs one
    prefetch per vector and fuses the two rankings (``params["fusion"]``: ``rrf``, the default, or
    ``dbsf``; ``params["prefetch"]``: candidates per prefetch, default ``max(k, 100)``). The scores are
    not comparable across backends, so hybrid results are compared by the ids they return.
    """

    def hybrid_search(
        self,
        queries: np.ndarray,
        sparse: SparseColumn,
        k: int,
        *,
        sparse_name: str | None = None,
        params: SearchParams | None = None,
    ) -> SearchResult:
        """The ``k`` best records for each (``queries[i]``, ``sparse`` row i) pair, best first.

        ``sparse_name``: the store's sparse vector to search (default: its only one); ``InvalidInputError``
        when the store has none, or several and none is named.
        """
        ...


def sparse_vector_name(schema: CollectionSchema, name: str | None, store: str) -> str:
    """The sparse vector a hybrid query searches: ``name``, or the schema's only one."""
    names = sorted(schema.sparse_vectors)
    if name is None:
        if len(names) != 1:
            raise InvalidInputError(
                f"{store} has sparse vectors {names}; name the one to search"
                if names
                else f"{store} has no sparse vectors: hybrid search needs one"
            )
        return names[0]
    if name not in schema.sparse_vectors:
        raise InvalidInputError(f"{store} has no sparse vector {name!r} (it has {names})")
    return name


def prefetch_limit(k: int, params: SearchParams | None) -> int:
    """Candidates per prefetch of a fused hybrid query: ``params["prefetch"]`` or ``max(k, 100)``."""
    value = int((params or {}).get("prefetch", max(k, 100)))
    if value < k:
        raise InvalidInputError(f"prefetch ({value}) must be at least k ({k})")
    return value


def fusion_of(params: SearchParams | None) -> str:
    """``params["fusion"]`` (``rrf`` by default); ``InvalidInputError`` for another."""
    fusion = str((params or {}).get("fusion", "rrf")).lower()
    if fusion not in FUSIONS:
        raise InvalidInputError(f"unknown fusion {fusion!r}; use {' or '.join(FUSIONS)}")
    return fusion


def validate_hybrid(queries: np.ndarray, sparse: SparseColumn, dimension: int, k: int) -> np.ndarray:
    """Dense queries as ``validate_queries`` returns them, checked against one sparse row each."""
    if dimension == 0:
        raise InvalidInputError("the collection has no default dense vector: a hybrid query pairs it with a sparse one")
    q = validate_queries(queries, dimension, k)
    if len(sparse) != len(q):
        raise InvalidInputError(f"{len(q)} dense queries but {len(sparse)} sparse ones")
    if not np.isfinite(sparse.values).all():
        raise InvalidInputError("sparse queries contain NaN or infinity")
    return q


def iter_batches(store: VectorStore, batch_size: int = 1000, cursor: Cursor | None = None) -> Iterator[RecordBatch]:
    """Every record of ``store`` in pages of at most ``batch_size`` (empty pages skipped), read with the
    garbage collector relaxed (``paging_gc``)."""
    with paging_gc(batch_size):
        while True:
            batch, cursor = store.scroll(batch_size=batch_size, cursor=cursor)
            if len(batch):
                yield batch
            if cursor is None:
                return


def validate_batch(batch: RecordBatch, dimension: int) -> None:
    """Raise ``InvalidInputError`` for a wrong dimension or non-finite values (shared by adapters)."""
    if len(batch) == 0:
        return
    if batch.dimension != dimension:
        raise DimensionMismatchError(
            f"vectors have dimension {batch.dimension} but the collection has dimension {dimension}"
        )
    finite = np.isfinite(batch.vectors).all(axis=1)
    if not finite.all():
        bad = [batch.ids[i] for i in np.flatnonzero(~finite)[:5]]
        raise InvalidInputError(f"vectors contain NaN or infinity (ids {bad})")


def validate_vectors(batch: RecordBatch, schema: CollectionSchema) -> None:
    """Raise ``InvalidInputError`` for named or sparse vectors the collection does not have (writing the
    rest would drop them silently), a named vector of the wrong dimension, or non-finite values in any."""
    if not batch.named and not batch.sparse:
        return
    unknown = sorted(set(batch.named) - set(schema.named_vectors))
    unknown_sparse = sorted(set(batch.sparse) - set(schema.sparse_vectors))
    if unknown or unknown_sparse:
        what = [f"named vectors {unknown}"] if unknown else []
        what += [f"sparse vectors {unknown_sparse}"] if unknown_sparse else []
        raise InvalidInputError(
            f"the records carry {' and '.join(what)} that the collection does not have (it has named vectors "
            f"{sorted(schema.named_vectors)}, sparse vectors {sorted(schema.sparse_vectors)}); nothing was written"
        )
    for name, column in batch.named.items():
        expected = schema.named_vectors[name].dimension
        if column.dimension != expected:
            raise DimensionMismatchError(
                f"named vector {name!r} has dimension {column.dimension} but the collection has {expected}"
            )
        present = column.present_rows()
        finite = np.asarray(np.isfinite(column.vectors).all(axis=1))
        if not finite[present].all():
            bad = [batch.ids[i] for i in np.flatnonzero(present & ~finite)[:5]]
            raise InvalidInputError(f"named vector {name!r} contains NaN or infinity (ids {bad})")
    for name, sparse in batch.sparse.items():
        if not np.isfinite(sparse.values).all():
            rows = np.repeat(np.arange(len(sparse)), sparse.row_lengths())[~np.isfinite(sparse.values)]
            bad = [batch.ids[i] for i in np.unique(rows)[:5]]
            raise InvalidInputError(f"sparse vector {name!r} contains NaN or infinity (ids {bad})")


def validate_queries(queries: np.ndarray, dimension: int, k: int) -> np.ndarray:
    """Queries as a 2-D float32 array of the right dimension; ``InvalidInputError`` otherwise."""
    q = np.asarray(queries, dtype=np.float32)
    if q.ndim == 1:
        q = q.reshape(1, -1)
    if q.ndim != 2 or (q.shape[0] and q.shape[1] != dimension):
        raise DimensionMismatchError(f"queries have shape {q.shape} but the collection has dimension {dimension}")
    if k < 1:
        raise InvalidInputError(f"k must be at least 1, got {k}")
    if not np.isfinite(q).all():
        raise InvalidInputError("queries contain NaN or infinity")
    return np.ascontiguousarray(q)


def parse_payload_index(text: str) -> tuple[str, str]:
    """``FIELD=TYPE`` (``ragmig migrate --payload-index``) as (field, type); ``UsageError`` otherwise."""
    field, sep, kind = text.partition("=")
    field, kind = field.strip(), kind.strip().lower()
    if not sep or not field or kind not in PAYLOAD_INDEX_TYPES:
        raise UsageError(
            f"--payload-index {text!r}: write FIELD=TYPE with TYPE one of {', '.join(PAYLOAD_INDEX_TYPES)} "
            "(e.g. year=integer)"
        )
    return field, kind
