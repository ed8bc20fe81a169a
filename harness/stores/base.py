"""The ``VectorStore`` seam: every backend is driven through these methods, batches in, batches out."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Literal, Protocol, TypeAlias, get_args, runtime_checkable

import numpy as np

from harness.errors import DimensionMismatchError, InvalidInputError, UsageError
from harness.model import CollectionSchema, PointId, RecordBatch, SearchResult
from harness.records.filters import Filter

Cursor: TypeAlias = str
"""An opaque, JSON-safe pagination cursor (a store's own token, serialised). ``None`` starts a scan."""

PayloadIndexType: TypeAlias = Literal["keyword", "integer", "float", "bool", "geo", "text", "datetime", "uuid"]
"""A payload index type, as Qdrant's ``PayloadSchemaType`` names it (``CollectionSchema.payload_indexes``)."""
PAYLOAD_INDEX_TYPES: tuple[str, ...] = get_args(PayloadIndexType)

SearchParams: TypeAlias = Mapping[str, Any]
"""Backend search options, e.g. ``{"hnsw_ef": 128}`` or ``{"exact": True}``; unknown keys are ignored."""


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


def iter_batches(store: VectorStore, batch_size: int = 1000, cursor: Cursor | None = None) -> Iterator[RecordBatch]:
    """Every record of ``store`` in pages of at most ``batch_size`` (empty pages skipped)."""
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
