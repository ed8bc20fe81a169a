"""``pinecone://INDEX?host=...&namespace=...``: a Pinecone index through the real ``pinecone`` SDK (v10).

- Hosts: the data plane is the URI's ``host`` (loopback hosts without a scheme get ``http://``), or the
  host the control plane describes. The control plane (create, describe, exists, that host lookup) is
  ``PINECONE_CONTROLLER_HOST`` or the SDK's default — except with ``host=``: then nothing goes to a host
  the user did not name. ``describe`` and ``exists`` read the data plane's ``describe_index_stats``
  (dimension and metric), and ``create``/``drop`` need ``PINECONE_CONTROLLER_HOST`` set explicitly.
- The API key comes from ``PINECONE_API_KEY`` only. Loopback hosts get a placeholder key when it is
  unset (the project's local server accepts any key unless configured with one).
- Namespaces: with ``namespace=NS`` every operation stays inside NS. Without it the store spans every
  namespace: scroll walks them in sorted order, fetch/delete/search visit each, and each record keeps
  its namespace in ``RecordBatch.namespaces`` / ``SearchResult.namespaces``.
- Pinecone's limits are kept on the client: 1000 vectors and 2 MB of JSON per upsert, 1000 ids per
  fetch or delete, list pages of at most 100, top_k at most 10 000, ASCII ids of 1-512 characters,
  metadata of strings, numbers, booleans and lists of strings.
- Errors: 429 / 5xx / timeouts → ``TransientStoreError`` (429 carries ``retry_after_s``), no answer
  at all before the first success → ``StoreUnreachableError``, 404 → ``CollectionNotFoundError``, 401 →
  ``UsageError``, 400 → ``InvalidInputError`` (``DimensionMismatchError`` when it names the dimension).
- Pinecone is eventually consistent: ``count()`` reads ``describe_index_stats``, which may lag a write;
  ``wait_until_visible`` polls until it does not.
- Sparse values (a hybrid index) travel as the sparse vector ``records.PINECONE_SPARSE`` of
  ``RecordBatch.sparse``. Pinecone declares no sparse part in a dense index's description, so
  ``describe()`` declares it when any read of this store so far met sparse values, or — on a dotproduct
  index, where Pinecone keeps sparse values — when a probe (once per store: the first ``list`` page of up
  to ``PROBE_NAMESPACES`` namespaces, fetched) meets them.
- ``scroll`` fetches the ids it lists in requests of ``FETCH_CHUNK`` as the listing goes on, up to
  ``FETCH_THREADS`` in flight, so list calls, fetches and decoding overlap (the page is the same).
- ``scroll_ids`` is ``list`` alone (no fetch); ``hybrid_search`` sends the dense and the sparse query in
  one request per namespace: Pinecone's blended score (dotproduct indexes only).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import numpy as np
import orjson  # the SDK's own JSON encoder: request sizes are measured as the SDK sends them
from pinecone import Index, Pinecone, ServerlessSpec
from pinecone.errors.exceptions import (
    ApiError,
    ConflictError,
    NotFoundError,
    PineconeConnectionError,
    PineconeError,
    PineconeTimeoutError,
    PineconeTypeError,
    PineconeValueError,
    RateLimitError,
    ServiceError,
    UnauthorizedError,
)

from harness.clock import Clock, SystemClock
from harness.errors import (
    CollectionNotFoundError,
    DimensionMismatchError,
    InvalidInputError,
    InvalidURIError,
    StoreError,
    StoreUnreachableError,
    TransientStoreError,
    UsageError,
)
from harness.model import (
    CollectionSchema,
    Distance,
    PointId,
    RecordBatch,
    SearchResult,
    SparseColumn,
    SparseVectorParams,
)
from harness.netloc import is_loopback
from harness.records import PINECONE_SPARSE
from harness.records.filters import Filter, to_pinecone
from harness.redact import redact_text
from harness.stores.base import (
    Cursor,
    IdPage,
    SearchParams,
    validate_batch,
    validate_hybrid,
    validate_queries,
)
from harness.stores.uri import StoreURI

__all__ = ["PineconeStore", "from_uri"]

UPSERT_MAX_VECTORS = 1000
UPSERT_MAX_BYTES = 2_000_000  # Pinecone's 2 MB per request, read as the smaller decimal megabytes
FETCH_MAX_IDS = 1000
LIST_MAX_LIMIT = 100
TOP_K_MAX = 10_000
ID_MAX_LENGTH = 512
FETCH_BY_METADATA_PAGE = 1000  # records per page when counting a filter's matches
QUERY_THREADS = 4  # the API has no batch query; a few requests in flight hide the round trips
FETCH_CHUNK = FETCH_MAX_IDS  # a scroll fetches every 1000 listed ids while it lists on: list and fetch overlap
# (fetches of 1000 rather than 250 cost the client 9 % and the project's server 9 % less CPU per record)
FETCH_THREADS = 4  # fetches in flight during a scroll
UPSERT_IN_FLIGHT = 2  # one request is encoded while the server parses and syncs the previous one
PROBE_NAMESPACES = 10  # namespaces whose first list page describe() fetches to see sparse values
PLACEHOLDER_API_KEY = "pinecone-local-placeholder"
DEFAULT_NAMESPACE_ALIASES = frozenset({"", "__default__"})  # newer API versions name "" __default__
URI_OPTIONS = frozenset({"host", "namespace"})
_ENVELOPE_BYTES = 64  # '{"vectors":[...],"namespace":""}' around the records, with room to spare
# The longest JSON of a finite float32 value as a Python float: sign, "0.0000" and 17 significant digits
# ("-0.000013007421330257785"); orjson switches to exponent notation, which is shorter, below 1e-5.
FLOAT_JSON_MAX_BYTES = 24

_METRIC_OF = {Distance.COSINE: "cosine", Distance.DOT: "dotproduct", Distance.EUCLID: "euclidean"}


def from_uri(uri: StoreURI) -> PineconeStore:
    """Open ``pinecone://INDEX[?host=URL][&namespace=NS]`` (nothing is contacted yet).

    Raises ``UsageError`` when ``PINECONE_API_KEY`` is unset and the host is not loopback.
    """
    unknown = sorted(set(uri.options) - URI_OPTIONS)
    if unknown:
        # A misspelt "namespace" would silently widen the store to every namespace.
        raise InvalidURIError(
            f"unknown option(s) {unknown} in {uri.redacted!r}; pinecone:// accepts {', '.join(sorted(URI_OPTIONS))}"
        )
    host = _with_scheme(uri.options["host"]) if uri.options.get("host") else None
    namespace = uri.options.get("namespace")
    return PineconeStore(
        index_name=uri.collection,
        host=host,
        namespace=None if namespace is None else _namespace_name(namespace),
        redacted_uri=uri.redacted,
        api_key=os.environ.get("PINECONE_API_KEY") or None,
        control_host=os.environ.get("PINECONE_CONTROLLER_HOST") or None,
    )


class PineconeStore:
    """One Pinecone index (optionally one namespace of it) behind the ``VectorStore`` seam."""

    def __init__(
        self,
        index_name: str,
        *,
        host: str | None = None,
        namespace: str | None = None,
        redacted_uri: str = "",
        api_key: str | None = None,
        control_host: str | None = None,
    ) -> None:
        self.uri = redacted_uri or f"pinecone://{index_name}"
        self._name = index_name
        self._host = host
        self._namespace = namespace
        self._api_key = api_key
        self._control_host = control_host
        self._control_client: Pinecone | None = None
        self._index_client: Index | None = None
        self._layout_cache: tuple[int, Distance] | None = None
        self._reached = False  # a connection failure before any answer means "unreachable", not "transient"
        self._sparse_seen = False  # a read of this store met sparse values
        self._probed = False  # describe() looked for sparse values once
        self._pool: ThreadPoolExecutor | None = None
        # Fail at open, not at first use, when the key is missing for a remote host.
        self._key_for(host or control_host)

    def __repr__(self) -> str:
        return f"PineconeStore({self.uri!r})"

    # -- the VectorStore seam -------------------------------------------------------------------

    def describe(self) -> CollectionSchema:
        """Dimension and metric — from the data plane's stats when the URI names the ``host``, else from the
        control plane. Pinecone reports no index configuration."""
        if self._host is not None:
            stats = self._stats()
            dimension, metric = stats.dimension, stats.metric
            if getattr(stats, "vector_type", None) not in (None, "dense"):
                raise StoreError(
                    f"{self.uri}: index {self._name!r} is {stats.vector_type}; the harness needs dense vectors"
                )
            if not dimension or not metric:
                raise StoreError(
                    f"{self.uri}: the data plane at the URI's host did not report the index's dimension and metric; "
                    "set PINECONE_CONTROLLER_HOST to describe it through the control plane"
                    if self._control_host is None
                    else f"{self.uri}: the data plane did not report the index's dimension and metric"
                )
        else:
            with self._sdk_errors("describe"):
                model = self._control().describe_index(self._name)
            try:
                dimension, metric = model.dimension, model.metric
            except AttributeError:
                raise StoreError(f"{self.uri}: index {self._name!r} is not a single dense-vector index") from None
            if dimension is None:
                raise StoreError(f"{self.uri}: index {self._name!r} is sparse-only; the harness needs dense vectors")
        try:
            self._layout_cache = (int(dimension), Distance.parse(str(metric)))
        except ValueError as exc:
            raise StoreError(f"{self.uri}: {exc}") from None
        sparse = {PINECONE_SPARSE: SparseVectorParams()} if self._holds_sparse(self._layout_cache[1]) else {}
        return CollectionSchema(
            dimension=int(dimension),
            distance=self._layout_cache[1],
            datatype="float32",
            hnsw=None,
            index_config_reported=False,
            backend="pinecone",
            sparse_vectors=sparse,
        )

    def _holds_sparse(self, distance: Distance) -> bool:
        """Whether records of this index hold sparse values: seen by a read, or by the probe. Only a
        dotproduct index is probed: Pinecone keeps sparse values (hybrid search) in those alone."""
        if not self._sparse_seen and distance is Distance.DOT and not self._probed:
            self._probed = True
            index = self._index()
            for namespace in self._namespaces()[:PROBE_NAMESPACES]:
                with self._sdk_errors("list"):
                    page = index.list_paginated(namespace=namespace, limit=LIST_MAX_LIMIT)
                ids = [item.id for item in page.vectors if item.id]
                if ids and self._fetch_from(namespace, ids).sparse:
                    break
        return self._sparse_seen

    def exists(self) -> bool:
        """True when the index is there: its data plane answers (``host=``), or the control plane knows it."""
        if self._host is not None:
            try:
                self._stats()
            except CollectionNotFoundError:
                return False
            return True
        with self._sdk_errors("has_index"):
            return bool(self._control().has_index(self._name))

    def create(self, schema: CollectionSchema) -> None:
        """Create a serverless (aws/us-east-1) dense index of ``schema``'s dimension and metric (a hybrid
        one when the schema has the sparse vector ``PINECONE_SPARSE``: dotproduct only)."""
        metric = _METRIC_OF.get(schema.distance)
        if metric is None:
            raise UsageError(f"Pinecone has no {schema.distance} metric; use cosine, dot or euclid")
        other = sorted(set(schema.sparse_vectors) - {PINECONE_SPARSE})
        if schema.named_vectors or other:
            raise UsageError(
                f"a Pinecone index holds one dense vector and {PINECONE_SPARSE!r}, not named vectors "
                f"{sorted(schema.named_vectors)} or sparse vectors {other}"
            )
        if schema.sparse_vectors and metric != "dotproduct":
            raise UsageError(f"Pinecone keeps sparse values in dotproduct indexes only, not {metric}")
        try:
            with self._sdk_errors("create_index"):
                self._control().create_index(
                    name=self._name,
                    spec=ServerlessSpec(cloud="aws", region="us-east-1"),
                    dimension=schema.dimension,
                    metric=metric,
                    timeout=60,
                )
        except _Conflict:
            raise UsageError(f"Pinecone index {self._name!r} already exists ({self.uri})") from None
        self._layout_cache = (schema.dimension, schema.distance)

    def count(self) -> int:
        """Exact count from ``describe_index_stats``: the namespace's, or the total across namespaces."""
        stats = self._stats()
        if self._namespace is None:
            return int(stats.total_vector_count)
        return sum(
            int(summary.vector_count)
            for name, summary in stats.namespaces.items()
            if _namespace_name(name) == self._namespace
        )

    def scroll(self, batch_size: int = 1000, cursor: Cursor | None = None) -> tuple[RecordBatch, Cursor | None]:
        """``list`` pages (≤ 100 ids each) until ``batch_size`` ids, then ``fetch`` of those ids.

        The cursor is JSON of (namespace, pagination token); namespaces are walked in sorted order.
        """
        if batch_size < 1:
            raise InvalidInputError(f"batch_size must be at least 1, got {batch_size}")
        names = self._namespaces()
        namespace, token = self._parse_cursor(cursor, names)
        fetches: list[Future[RecordBatch]] = []
        pending: list[str] = []  # listed ids of ``namespace`` not sent to a fetch yet
        taken = 0
        index = self._index()
        pool = self._fetch_pool()
        while namespace is not None and taken < batch_size:
            with self._sdk_errors("list"):
                page = index.list_paginated(
                    namespace=namespace,
                    limit=min(LIST_MAX_LIMIT, batch_size - taken),
                    pagination_token=token,
                )
            ids = [item.id for item in page.vectors if item.id]
            pending += ids
            taken += len(ids)
            token = page.pagination.next if page.pagination is not None else None
            if len(pending) >= FETCH_CHUNK or not token:
                # Fetched while the listing goes on, a few requests in flight (in listing order).
                if pending:
                    fetches.append(pool.submit(self._fetch_from, namespace, pending))
                pending = []
            if not token:
                token = None
                # Names are sorted, so this also works when the namespace vanished meanwhile.
                namespace = next((n for n in names if n > namespace), None)
        if pending:
            assert namespace is not None
            fetches.append(pool.submit(self._fetch_from, namespace, pending))
        next_cursor = None if namespace is None else json.dumps({"namespace": namespace, "token": token})
        batch = RecordBatch.concat([fetch.result() for fetch in fetches])
        return (batch if len(batch) else self._empty()), next_cursor

    def _fetch_pool(self) -> ThreadPoolExecutor:
        """The threads that fetch listed ids while ``scroll`` lists on (closed by ``close``)."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=FETCH_THREADS, thread_name_prefix="ragmig-pinecone-fetch")
        return self._pool

    def scroll_ids(self, batch_size: int = 10_000, cursor: Cursor | None = None) -> tuple[IdPage, Cursor | None]:
        """Ids only: ``list`` pages (≤ 100 ids each, no fetch) until ``batch_size`` ids, with ``scroll``'s
        cursors; namespaces are walked in sorted order and each id keeps its namespace."""
        if batch_size < 1:
            raise InvalidInputError(f"batch_size must be at least 1, got {batch_size}")
        names = self._namespaces()
        namespace, token = self._parse_cursor(cursor, names)
        ids: list[str] = []
        spaces: list[str] = []
        index = self._index()
        while namespace is not None and len(ids) < batch_size:
            with self._sdk_errors("list"):
                page = index.list_paginated(
                    namespace=namespace, limit=min(LIST_MAX_LIMIT, batch_size - len(ids)), pagination_token=token
                )
            listed = [item.id for item in page.vectors if item.id]
            ids += listed
            spaces += [namespace] * len(listed)
            token = page.pagination.next if page.pagination is not None else None
            if not token:
                token = None
                namespace = next((n for n in names if n > namespace), None)
        next_cursor = None if namespace is None else json.dumps({"namespace": namespace, "token": token})
        return IdPage(tuple(ids), tuple(spaces)), next_cursor

    def fetch(self, ids: Sequence[PointId]) -> RecordBatch:
        """The records with these ids, from the URI's namespace or from every namespace."""
        wanted = list(dict.fromkeys(_pinecone_id(i) for i in ids))
        if not wanted:
            return self._empty()
        batch = RecordBatch.concat([self._fetch_from(ns, wanted) for ns in self._namespaces()])
        return batch if len(batch) else self._empty()

    def upsert(self, batch: RecordBatch) -> None:
        """Write ``batch`` in requests of at most 1000 vectors and 2 MB of JSON, each to its namespace.

        The namespace is the URI's when given, else ``batch.namespaces[i]``, else "" (the default).
        """
        if not len(batch):
            return
        dimension, _ = self._layout()
        validate_batch(batch, dimension)
        other = sorted(set(batch.sparse) - {PINECONE_SPARSE})
        if batch.named or other:
            raise InvalidInputError(
                f"{self.uri}: a Pinecone record holds dense values and {PINECONE_SPARSE!r} only, not named vectors "
                f"{sorted(batch.named)} or sparse vectors {other}; nothing was written"
            )
        sparse_rows = batch.sparse[PINECONE_SPARSE].rows() if PINECONE_SPARSE in batch.sparse else None
        if sparse_rows is not None and not np.isfinite(batch.sparse[PINECONE_SPARSE].values).all():
            raise InvalidInputError(f"{self.uri}: sparse values contain NaN or infinity; nothing was written")
        ids = [_pinecone_id(i) for i in batch.ids]
        if self._namespace is not None:
            namespaces: Sequence[str] = (self._namespace,) * len(batch)
        else:
            namespaces = batch.namespaces or ("",) * len(batch)
        values = batch.vectors.tolist()
        # Every record is checked before the first request, so bad input writes nothing.
        records: dict[str, list[dict[str, Any]]] = {}
        for row, ns in enumerate(namespaces):
            record: dict[str, Any] = {"id": ids[row], "values": values[row]}
            metadata = _metadata(batch.payloads[row], ids[row])
            if metadata:
                record["metadata"] = metadata
            if sparse_rows is not None and sparse_rows[row] is not None:
                indices, sparse_values = sparse_rows[row]  # type: ignore[misc]
                record["sparse_values"] = {"indices": indices, "values": sparse_values}
            records.setdefault(ns, []).append(record)
        requests = [(ns, chunk) for ns, members in records.items() for chunk in _upsert_requests(members, ns)]
        index = self._index()

        def send(request: tuple[str, list[dict[str, Any]]]) -> None:
            with self._sdk_errors("upsert"):
                index.upsert(vectors=request[1], namespace=request[0])

        # Requests in flight together only when no id repeats within a namespace: then their order
        # cannot change what the index ends up holding (a repeated id's last write must win).
        distinct = all(len({r["id"] for r in members}) == len(members) for members in records.values())
        if len(requests) > 1 and distinct:
            with ThreadPoolExecutor(max_workers=UPSERT_IN_FLIGHT) as pool:
                list(pool.map(send, requests))
        else:
            for request in requests:
                send(request)

    def delete(self, ids: Sequence[PointId]) -> None:
        """Delete these ids from the URI's namespace, or from every namespace."""
        wanted = list(dict.fromkeys(_pinecone_id(i) for i in ids))
        if not wanted:
            return
        index = self._index()
        for ns in self._namespaces():
            for start in range(0, len(wanted), FETCH_MAX_IDS):
                with self._sdk_errors("delete"):
                    index.delete(ids=wanted[start : start + FETCH_MAX_IDS], namespace=ns)

    def search(self, queries: np.ndarray, k: int, params: SearchParams | None = None) -> SearchResult:
        """One ``query`` per row and namespace (``QUERY_THREADS`` in flight), merged best first.

        Scores are Pinecone's (euclidean: squared distance). ``params["filter"]`` is passed on as a
        Pinecone metadata filter; other keys are ignored.
        """
        dimension, distance = self._layout()
        rows = validate_queries(queries, dimension, k)
        if k > TOP_K_MAX:
            raise InvalidInputError(f"k must be at most {TOP_K_MAX} for Pinecone, got {k}")
        metadata_filter = (params or {}).get("filter")
        names = self._namespaces()
        index = self._index()
        sign = -1.0 if distance.higher_is_better else 1.0

        def nearest(row: list[float]) -> list[tuple[float, str, str]]:
            hits: list[tuple[float, str, str]] = []
            for ns in names:
                response = index.query(top_k=k, vector=row, namespace=ns, filter=metadata_filter)
                hits.extend((float(m.score), m.id, ns) for m in response.matches)
            hits.sort(key=lambda hit: (sign * hit[0], hit[2], hit[1]))
            return hits[:k]

        with self._sdk_errors("query"), ThreadPoolExecutor(max_workers=QUERY_THREADS) as pool:
            per_query = list(pool.map(nearest, rows.tolist()))
        return SearchResult(
            ids=tuple(tuple(hit[1] for hit in hits) for hits in per_query),
            scores=tuple(tuple(hit[0] for hit in hits) for hits in per_query),
            namespaces=tuple(tuple(hit[2] for hit in hits) for hits in per_query),
        )

    def hybrid_search(
        self,
        queries: np.ndarray,
        sparse: SparseColumn,
        k: int,
        *,
        sparse_name: str | None = None,
        params: SearchParams | None = None,
    ) -> SearchResult:
        """One ``query`` per row and namespace with both ``vector`` and ``sparse_vector``: Pinecone's
        single blended score (dense dot + sparse dot; dotproduct indexes only), merged best first.
        ``params["filter"]`` is passed on; fusion options do not apply. See ``HybridSearch``."""
        dimension, _ = self._layout()
        if sparse_name not in (None, PINECONE_SPARSE):
            raise InvalidInputError(f"{self.uri} has one sparse vector, {PINECONE_SPARSE!r}, not {sparse_name!r}")
        rows = validate_hybrid(queries, sparse, dimension, k)
        if k > TOP_K_MAX:
            raise InvalidInputError(f"k must be at most {TOP_K_MAX} for Pinecone, got {k}")
        metadata_filter = (params or {}).get("filter")
        names = self._namespaces()
        index = self._index()

        def blended(item: tuple[list[float], tuple[list[int], list[float]] | None]) -> list[tuple[float, str, str]]:
            row, entry = item
            sparse_vector = {"indices": entry[0], "values": entry[1]} if entry is not None else None
            hits: list[tuple[float, str, str]] = []
            for ns in names:
                response = index.query(
                    top_k=k, vector=row, sparse_vector=sparse_vector, namespace=ns, filter=metadata_filter
                )
                hits.extend((float(m.score), m.id, ns) for m in response.matches)
            hits.sort(key=lambda hit: (-hit[0], hit[2], hit[1]))
            return hits[:k]

        with self._sdk_errors("query"), ThreadPoolExecutor(max_workers=QUERY_THREADS) as pool:
            per_query = list(pool.map(blended, zip(rows.tolist(), sparse.rows(), strict=True)))
        return SearchResult(
            ids=tuple(tuple(hit[1] for hit in hits) for hits in per_query),
            scores=tuple(tuple(hit[0] for hit in hits) for hits in per_query),
            namespaces=tuple(tuple(hit[2] for hit in hits) for hits in per_query),
        )

    def search_filtered(
        self,
        queries: np.ndarray,
        k: int,
        where: Filter | None,
        *,
        namespace: str | None = None,
        params: SearchParams | None = None,
    ) -> SearchResult:
        """One ``query`` per row with ``where`` as a Pinecone metadata filter, in ``namespace`` (None: each
        namespace this store covers, merged best first). Scores are Pinecone's."""
        dimension, distance = self._layout()
        rows = validate_queries(queries, dimension, k)
        if k > TOP_K_MAX:
            raise InvalidInputError(f"k must be at most {TOP_K_MAX} for Pinecone, got {k}")
        metadata_filter = to_pinecone(where) or None
        names = self._scoped(namespace)
        index = self._index()
        sign = -1.0 if distance.higher_is_better else 1.0

        def nearest(row: list[float]) -> list[tuple[float, str, str]]:
            hits: list[tuple[float, str, str]] = []
            for ns in names:
                response = index.query(top_k=k, vector=row, namespace=ns, filter=metadata_filter)
                hits.extend((float(m.score), m.id, ns) for m in response.matches)
            hits.sort(key=lambda hit: (sign * hit[0], hit[2], hit[1]))
            return hits[:k]

        with self._sdk_errors("query"), ThreadPoolExecutor(max_workers=QUERY_THREADS) as pool:
            per_query = list(pool.map(nearest, rows.tolist()))
        return SearchResult(
            ids=tuple(tuple(hit[1] for hit in hits) for hits in per_query),
            scores=tuple(tuple(hit[0] for hit in hits) for hits in per_query),
            namespaces=tuple(tuple(hit[2] for hit in hits) for hits in per_query),
        )

    def count_filtered(self, where: Filter | None, *, namespace: str | None = None) -> int:
        """Records ``where`` admits in ``namespace`` (None: every namespace this store covers).

        Pinecone has no filtered count (``describe_index_stats`` refuses a filter on serverless indexes),
        so the matches are paged through ``fetch_by_metadata`` — read-only, but it reads every matching
        record; no filter: the namespaces' counts from ``describe_index_stats``.
        """
        names = self._scoped(namespace)
        if where is None:
            stats = self._stats()
            counts = {_namespace_name(name): int(summary.vector_count) for name, summary in stats.namespaces.items()}
            return sum(counts.get(ns, 0) for ns in names)
        metadata_filter = to_pinecone(where)
        index = self._index()
        total = 0
        for ns in names:
            token: str | None = None
            while True:
                with self._sdk_errors("fetch_by_metadata"):
                    page = index.fetch_by_metadata(
                        filter=metadata_filter, namespace=ns, limit=FETCH_BY_METADATA_PAGE, pagination_token=token
                    )
                total += len(page.vectors)
                token = page.pagination.next if page.pagination is not None else None
                if not token:
                    break
        return total

    def _scoped(self, namespace: str | None) -> list[str]:
        """The namespaces a filtered call visits: ``namespace`` when given (it must be this store's when the
        URI names one), else every namespace this store covers."""
        if namespace is None:
            return self._namespaces()
        name = _namespace_name(namespace)
        if self._namespace is not None and name != self._namespace:
            raise InvalidInputError(
                f"{self.uri} is confined to namespace {self._namespace!r}; it cannot search namespace {name!r}"
            )
        return [name]

    def optimize(self) -> None:
        """Nothing to build: Pinecone indexes as it goes."""

    def drop(self) -> None:
        """Delete the index through the control plane (synchronous); nothing happens when it is gone."""
        try:
            with self._sdk_errors("delete_index"):
                self._control().delete_index(self._name, timeout=60)
        except CollectionNotFoundError:
            pass
        self._layout_cache = None
        if self._index_client is not None:
            self._index_client.close()
            self._index_client = None

    def close(self) -> None:
        """Close the SDK's HTTP clients and the fetch threads; idempotent."""
        index, control, pool = self._index_client, self._control_client, self._pool
        self._index_client = self._control_client = None
        self._pool = None
        if pool is not None:
            pool.shutdown(wait=True)
        if index is not None:
            index.close()
        if control is not None:
            control.close()

    # -- Pinecone specifics ---------------------------------------------------------------------

    def wait_until_visible(self, count: int, timeout_s: float = 30.0, clock: Clock | None = None) -> bool:
        """Poll ``count()`` until it reaches ``count`` records (Pinecone's read-after-write lag).

        Sleeps on ``clock`` between polls (50 ms, doubling up to 1 s). True once visible, False when
        ``timeout_s`` seconds passed first.
        """
        clock = clock or SystemClock()
        deadline = clock.now() + timeout_s
        pause = 0.05
        while True:
            if self.count() >= count:
                return True
            remaining = deadline - clock.now()
            if remaining <= 0:
                return False
            clock.sleep(min(pause, remaining))
            pause = min(pause * 2, 1.0)

    @property
    def index_name(self) -> str:
        """The Pinecone index this store addresses."""
        return self._name

    @property
    def host(self) -> str | None:
        """The data-plane host given in the URI (None: resolved through the control plane)."""
        return self._host

    @property
    def namespace(self) -> str | None:
        """The namespace this store is confined to, or None when it spans every namespace."""
        return self._namespace

    # -- internals ------------------------------------------------------------------------------

    def _key_for(self, host: str | None) -> str:
        if self._api_key:
            return self._api_key
        if host is not None and is_loopback(host):
            return PLACEHOLDER_API_KEY
        raise UsageError(f"set PINECONE_API_KEY to reach {host or 'the Pinecone control plane'} for {self.uri}")

    def _control(self) -> Pinecone:
        if self._host is not None and self._control_host is None:
            # The user named the data plane only: the SDK's default control plane (with the API key)
            # is a host they did not name.
            raise UsageError(
                f"{self.uri} names the index's host, so the control plane is not contacted: create or delete "
                "the index through the control plane you mean by setting PINECONE_CONTROLLER_HOST"
            )
        if self._control_client is None:
            with self._sdk_errors("connect", contacts_server=False):
                self._control_client = Pinecone(
                    api_key=self._key_for(self._control_host), host=self._control_host or None
                )
        return self._control_client

    def _index(self) -> Index:
        if self._index_client is None:
            host = self._host
            if host is None:
                with self._sdk_errors("describe_index"):
                    described = self._control().describe_index(self._name).host
                if not described:
                    raise StoreError(f"{self.uri}: the control plane reported no host for {self._name!r}")
                host = described
            with self._sdk_errors("connect", contacts_server=False):
                self._index_client = Index(host=host, api_key=self._key_for(host))
        return self._index_client

    def _stats(self) -> Any:
        index = self._index()
        with self._sdk_errors("describe_index_stats"):
            return index.describe_index_stats()

    def _namespaces(self) -> list[str]:
        """The namespaces this store covers, sorted ("" is the default namespace)."""
        if self._namespace is not None:
            return [self._namespace]
        return sorted({_namespace_name(name) for name in self._stats().namespaces})

    def _layout(self) -> tuple[int, Distance]:
        """(dimension, distance), from the data plane's stats when they say, else from describe."""
        if self._layout_cache is None:
            stats = self._stats()
            if stats.dimension and stats.metric:
                self._layout_cache = (int(stats.dimension), Distance.parse(str(stats.metric)))
            else:
                self.describe()
        assert self._layout_cache is not None
        return self._layout_cache

    def _empty(self) -> RecordBatch:
        dimension = self._layout_cache[0] if self._layout_cache is not None else 0
        return RecordBatch.empty(dimension)

    def _parse_cursor(self, cursor: Cursor | None, names: list[str]) -> tuple[str | None, str | None]:
        if cursor is None:
            return (names[0] if names else None), None
        try:
            state = json.loads(cursor)
            namespace, token = state["namespace"], state["token"]
        except (ValueError, TypeError, KeyError):
            raise InvalidInputError(f"not a scroll cursor of {self.uri}: {cursor[:80]!r}") from None
        if not isinstance(namespace, str) or not (token is None or isinstance(token, str)):
            raise InvalidInputError(f"not a scroll cursor of {self.uri}: {cursor[:80]!r}")
        return namespace, token

    def _fetch_from(self, namespace: str, ids: list[str]) -> RecordBatch:
        """The records of ``ids`` found in ``namespace``, in the order asked, in fetches of ≤ 1000."""
        index = self._index()
        found: dict[str, Any] = {}
        for start in range(0, len(ids), FETCH_MAX_IDS):
            with self._sdk_errors("fetch"):
                response = index.fetch(ids=ids[start : start + FETCH_MAX_IDS], namespace=namespace)
            found.update(response.vectors)
        present = [i for i in ids if i in found and found[i].values]
        if not present:
            return self._empty()
        sparse_of = [getattr(found[i], "sparse_values", None) for i in present]
        sparse = {}
        if any(sv is not None for sv in sparse_of):
            self._sparse_seen = True
            sparse = {
                PINECONE_SPARSE: SparseColumn.from_rows(
                    (list(sv.indices), list(sv.values)) if sv is not None else None for sv in sparse_of
                )
            }
        return RecordBatch(
            ids=tuple(present),
            vectors=np.asarray([found[i].values for i in present], dtype=np.float32).reshape(len(present), -1),
            payloads=tuple(dict(found[i].metadata or {}) for i in present),
            namespaces=(namespace,) * len(present),
            sparse=sparse,
        )

    @contextmanager
    def _sdk_errors(self, action: str, contacts_server: bool = True) -> Iterator[None]:
        """Translate the SDK's exceptions into the harness's, with credentials redacted."""
        try:
            yield
            self._reached = self._reached or contacts_server
        except RateLimitError as exc:
            raise TransientStoreError(self._say(action, exc), retry_after_s=exc.retry_after) from exc
        except PineconeConnectionError as exc:
            if not self._reached:  # never got through: a wrong host or a server that is not running
                raise StoreUnreachableError(
                    f"{self._say(action, exc)}; check the host and that the server runs"
                ) from exc
            raise TransientStoreError(self._say(action, exc)) from exc
        except (ServiceError, PineconeTimeoutError) as exc:
            raise TransientStoreError(self._say(action, exc)) from exc
        except NotFoundError:
            raise CollectionNotFoundError(
                f"Pinecone index {self._name!r} not found ({self.uri}); create it or check the name"
            ) from None
        except UnauthorizedError:
            raise UsageError(f"the Pinecone API key was rejected by {self.uri}; check PINECONE_API_KEY") from None
        except ConflictError as exc:
            raise _Conflict(self._say(action, exc)) from exc
        except ApiError as exc:
            if exc.status_code in (400, 413, 422):
                message = self._say(action, exc)
                if "dimension" in message.lower():
                    raise DimensionMismatchError(message) from exc
                raise InvalidInputError(message) from exc
            raise StoreError(self._say(action, exc)) from exc
        except (PineconeValueError, PineconeTypeError) as exc:
            raise InvalidInputError(self._say(action, exc)) from exc
        except PineconeError as exc:
            raise StoreError(self._say(action, exc)) from exc

    def _say(self, action: str, exc: BaseException) -> str:
        detail = " ".join(str(exc).split())
        return f"Pinecone {action} failed on {self.uri}: {redact_text(detail, (self._api_key or '',))}"


class _Conflict(StoreError):
    """A 409 from the SDK (the index already exists); ``create`` turns it into a UsageError."""


def _with_scheme(host: str) -> str:
    """``host`` with ``http://`` added for loopback hosts that lack a scheme (the SDK would use https)."""
    if "://" in host:
        return host
    return f"http://{host}" if is_loopback(f"http://{host}") else f"https://{host}"


def _namespace_name(name: str) -> str:
    return "" if name in DEFAULT_NAMESPACE_ALIASES else name


def _pinecone_id(point_id: PointId) -> str:
    """``point_id`` as a Pinecone id: ASCII, 1-512 characters, no NUL; ints become their digits."""
    if isinstance(point_id, int) and not isinstance(point_id, bool) and point_id >= 0:
        return str(point_id)
    if not isinstance(point_id, str):
        raise InvalidInputError(f"invalid Pinecone id {point_id!r}: ids are ASCII strings of 1-{ID_MAX_LENGTH}")
    if not point_id or len(point_id) > ID_MAX_LENGTH or not point_id.isascii() or "\x00" in point_id:
        raise InvalidInputError(
            f"invalid Pinecone id {point_id[:40]!r}: ids are ASCII strings of 1-{ID_MAX_LENGTH} characters, no NUL"
        )
    return point_id


def _metadata(payload: Mapping[str, Any], record_id: str) -> dict[str, Any]:
    """``payload`` as Pinecone metadata; ``InvalidInputError`` naming the field Pinecone cannot hold."""
    metadata: dict[str, Any] = {}
    for key, value in payload.items():
        if isinstance(value, np.generic):
            value = value.item()
        if isinstance(value, bool | str):
            metadata[key] = value
        elif isinstance(value, int | float):
            if isinstance(value, float) and not math.isfinite(value):
                raise InvalidInputError(
                    f"record {record_id!r}: metadata field {key!r} is {value}; Pinecone needs finite numbers"
                )
            metadata[key] = value
        elif isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
            metadata[key] = list(value)
        else:
            kind = "null" if value is None else type(value).__name__
            raise InvalidInputError(
                f"record {record_id!r}: metadata field {key!r} is {kind}; Pinecone metadata holds strings, "
                "numbers, booleans and lists of strings only"
            )
    return metadata


def _record_size_bound(record: dict[str, Any]) -> int:
    """An upper bound of ``record``'s JSON size as the SDK sends it: the id and metadata exactly, the values
    at ``FLOAT_JSON_MAX_BYTES`` + a separator each (formatting every float just to measure it cost as much
    as the SDK's own encoding of the request)."""
    values = record["values"]
    rest = orjson.dumps({key: value for key, value in record.items() if key != "values"})
    return len(rest) + len(',"values":[]') + (FLOAT_JSON_MAX_BYTES + 1) * len(values) + 1  # + the comma between records


def _upsert_requests(records: Sequence[dict[str, Any]], namespace: str) -> Iterator[list[dict[str, Any]]]:
    """``records`` split into upsert request bodies of at most 1000 vectors and 2 MB of JSON each (sized by
    ``_record_size_bound``, so a request is never over the limit)."""
    budget = UPSERT_MAX_BYTES - _ENVELOPE_BYTES - len(namespace.encode())
    sizes = [_record_size_bound(record) for record in records]
    too_big = next((i for i, size in enumerate(sizes) if size > budget), None)
    if too_big is not None:
        raise InvalidInputError(
            f"record {records[too_big]['id']!r} takes up to {sizes[too_big]} bytes as JSON; a Pinecone upsert "
            f"request holds at most {UPSERT_MAX_BYTES} bytes"
        )
    chunk: list[dict[str, Any]] = []
    used = 0
    for record, size in zip(records, sizes, strict=True):
        if chunk and (len(chunk) == UPSERT_MAX_VECTORS or used + size > budget):
            yield chunk
            chunk, used = [], 0
        chunk.append(record)
        used += size
    if chunk:
        yield chunk
