"""``qdrant://HOST:PORT/COLLECTION`` and ``qdrant-local://…``: Qdrant through ``qdrant-client``.

Server (``qdrant://``): REST by default, gRPC with ``?grpc=1`` (gRPC port ``?grpc_port=``, default 6334);
``?https=1`` for TLS; the API key comes from ``QDRANT_API_KEY``, never from the URI. Creation options
``distance``, ``m``, ``ef_construct``, ``full_scan_threshold`` (KB), ``quantization`` override the
schema's index config in ``create(schema)``; ``hnsw_ef`` is the default query-time ef.

Local mode (``qdrant-local:///DIR/COLLECTION``, ``qdrant-local://:memory:/COLLECTION``): qdrant-client's
in-process brute-force engine. It drops HNSW and quantization config silently and reports fake
defaults, so ``describe()`` says the index config is not reported instead of passing them off as real.
One client per directory (it holds a file lock) or per ``:memory:`` is shared by every handle in the
process, so two handles see the same data; like ``exact://``, a ``:memory:`` collection lives as long
as the process.

Named dense vectors and named sparse vectors travel through ``RecordBatch.named`` / ``.sparse``; a
collection without the unnamed vector describes itself with dimension 0. A Qdrant collection holds one
unnamed dense vector or named ones, not both (vector names must not be empty), so ``create`` refuses a
schema with both. ``scroll_ids`` scrolls without
vectors and payloads; ``hybrid_search`` is ``query_points`` with a dense and a sparse prefetch fused by
RRF or DBSF.
"""

from __future__ import annotations

import atexit
import os
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import partial
from typing import Any, TypeVar

import numpy as np
from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from harness.errors import (
    CollectionNotFoundError,
    DimensionMismatchError,
    HarnessError,
    InvalidInputError,
    InvalidURIError,
    StoreError,
    StoreUnreachableError,
    TransientStoreError,
    UsageError,
)
from harness.model import (
    CollectionSchema,
    DenseVectorParams,
    Distance,
    HnswConfig,
    PointId,
    RecordBatch,
    SearchResult,
    SparseColumn,
    SparseVectorParams,
)
from harness.records.filters import Filter, to_qdrant
from harness.stores.base import (
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
from harness.stores.qdrant_common import (
    DEFAULT_EF_CONSTRUCT,
    DEFAULT_FULL_SCAN_THRESHOLD_KB,
    DEFAULT_M,
    check_options,
    decode_cursor,
    encode_cursor,
    from_qdrant_id,
    id_key,
    option_bool,
    option_distance,
    option_int,
    option_quantization,
    point_vectors,
    qdrant_point_id,
    vector_columns,
)
from harness.stores.uri import StoreURI

T = TypeVar("T")

SERVER_OPTIONS = (
    "grpc",
    "grpc_port",
    "https",
    "timeout",
    "distance",
    "m",
    "ef_construct",
    "full_scan_threshold",
    "quantization",
    "hnsw_ef",
)
LOCAL_OPTIONS = ("distance",)
# Upserts are split so that one request stays far below Qdrant's 32 MB request limit (JSON floats).
MAX_FLOATS_PER_REQUEST = 262_144
GREEN_WAIT_S = 600.0

_DISTANCES = {
    Distance.COSINE: models.Distance.COSINE,
    Distance.DOT: models.Distance.DOT,
    Distance.EUCLID: models.Distance.EUCLID,
    Distance.MANHATTAN: models.Distance.MANHATTAN,
}
_DATATYPES = {"float32": models.Datatype.FLOAT32, "float16": models.Datatype.FLOAT16, "uint8": models.Datatype.UINT8}
_LARGE_LOCAL_WARNING = r"Local mode is not recommended for collections with more than"


@contextmanager
def _quiet_large_local_collection() -> Iterator[None]:
    # Local mode warns past 20,000 points; the harness knows (it is why local mode is "not comparable").
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_LARGE_LOCAL_WARNING, category=UserWarning)
        yield


class _LocalClient:
    """A local-mode client shared by every handle on its location (a directory or ``:memory:``)."""

    def __init__(self, location: str) -> None:
        with _quiet_large_local_collection():
            self.client = QdrantClient(location=location) if location == ":memory:" else QdrantClient(path=location)
        self.lock = threading.RLock()
        self.refs = 0


_LOCAL_CLIENTS: dict[str, _LocalClient] = {}
_LOCAL_CLIENTS_LOCK = threading.Lock()


@atexit.register
def _close_local_clients() -> None:
    # Close while the interpreter is intact: qdrant-client's own __del__ fails during shutdown.
    with _LOCAL_CLIENTS_LOCK:
        for shared in _LOCAL_CLIENTS.values():
            shared.client.close()
        _LOCAL_CLIENTS.clear()


def _acquire_local(location: str) -> _LocalClient:
    key = location if location == ":memory:" else os.path.realpath(location)
    with _LOCAL_CLIENTS_LOCK:
        shared = _LOCAL_CLIENTS.get(key)
        if shared is None:
            try:
                shared = _LocalClient(key)
            except RuntimeError as exc:  # portalocker: the directory is locked by another process
                raise UsageError(
                    f"qdrant-local directory {location} is in use by another process (local mode locks it); "
                    "close that process or use a qdrant:// server"
                ) from exc
            _LOCAL_CLIENTS[key] = shared
        shared.refs += 1
        return shared


def _release_local(location: str) -> None:
    key = location if location == ":memory:" else os.path.realpath(location)
    with _LOCAL_CLIENTS_LOCK:
        shared = _LOCAL_CLIENTS.get(key)
        if shared is None:
            return
        shared.refs -= 1
        # A :memory: client is kept for the life of the process: closing it would lose the data.
        if shared.refs <= 0 and key != ":memory:":
            del _LOCAL_CLIENTS[key]
            with shared.lock:
                shared.client.close()


def quantization_kind(config: Any) -> str | None:
    """``scalar`` / ``product`` / ``binary`` for a qdrant-client quantization config, None for none."""
    if config is None:
        return None
    for kind, cls in (
        ("scalar", models.ScalarQuantization),
        ("product", models.ProductQuantization),
        ("binary", models.BinaryQuantization),
    ):
        if isinstance(config, cls):
            return kind
    return type(config).__name__.removesuffix("Quantization").lower() or None


def _quantization_config(kind: str | None) -> Any:
    if kind is None or kind == "none":
        return None
    if kind == "scalar":
        return models.ScalarQuantization(
            scalar=models.ScalarQuantizationConfig(type=models.ScalarType.INT8, always_ram=True)
        )
    if kind == "binary":
        return models.BinaryQuantization(binary=models.BinaryQuantizationConfig(always_ram=True))
    if kind == "product":
        return models.ProductQuantization(
            product=models.ProductQuantizationConfig(compression=models.CompressionRatio.X16, always_ram=True)
        )
    raise InvalidInputError(f"unknown quantization {kind!r}; use scalar, binary, product or none")


def _retry_after(headers: Mapping[str, str] | None) -> float | None:
    try:
        return float(headers["retry-after"]) if headers and "retry-after" in headers else None
    except ValueError:
        return None


class QdrantStore:
    """A ``VectorStore`` over one Qdrant collection through qdrant-client; see the module docstring."""

    def __init__(
        self,
        *,
        uri: str,
        collection: str,
        client: QdrantClient,
        local_location: str | None = None,
        lock: threading.RLock | None = None,
        where: str = "",
        distance: Distance | None = None,
        hnsw: Mapping[str, int | None] | None = None,
        quantization: str | None = None,
        hnsw_ef: int | None = None,
    ) -> None:
        self.uri = uri
        self.collection = collection
        self.local = local_location is not None
        self._client: QdrantClient | None = client
        self._local_location = local_location
        self._lock = lock or threading.RLock()
        self._where = where
        self._distance = distance
        self._hnsw = dict(hnsw or {})
        self._quantization = quantization
        self._hnsw_ef = hnsw_ef
        self._dimension: int | None = None
        self._schema: CollectionSchema | None = None
        self._reached = False  # a server answered once: later connection failures are transient

    # -- error translation -----------------------------------------------------------------------------
    def _call(self, what: str, fn: Callable[[QdrantClient], T]) -> T:
        if self._client is None:
            raise UsageError(f"store {self.uri} is closed; open it again with open_store")
        with self._lock:
            try:
                result = fn(self._client)
            except HarnessError:
                raise
            except Exception as exc:
                raise self._translate(exc, what) from None
        self._reached = True
        return result

    def _translate(self, exc: Exception, what: str) -> HarnessError:
        name = f"collection {self.collection!r} at {self._where}"
        missing = CollectionNotFoundError(f"{name} does not exist; create it first or check the name")
        if isinstance(exc, UnexpectedResponse):
            code = exc.status_code or 0
            detail = exc.content.decode("utf-8", "replace")[:200].replace("\n", " ")
            if code == 404:
                return missing
            if code == 429 or code >= 500:
                return TransientStoreError(f"{what} on {name}: HTTP {code} {detail}", _retry_after(exc.headers))
            if code in (401, 403):
                return UsageError(f"{what} on {name}: HTTP {code}; set QDRANT_API_KEY to a key this server accepts")
            if "dimension" in detail.lower():
                return DimensionMismatchError(f"{what} on {name}: {detail}")
            return InvalidInputError(f"{what} on {name}: HTTP {code} {detail}")
        if isinstance(exc, ResponseHandlingException) or type(exc).__module__.startswith("httpx"):
            cause = exc.source if isinstance(exc, ResponseHandlingException) else exc
            return self._connection_failure(what, f"{type(cause).__name__}: {cause}")
        code_fn = getattr(exc, "code", None)
        if type(exc).__module__.startswith("grpc") and callable(code_fn):
            status = getattr(code_fn(), "name", str(code_fn()))
            details = getattr(exc, "details", lambda: "")() or ""
            if status == "NOT_FOUND":
                return missing
            if status in ("UNAVAILABLE", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED", "INTERNAL", "ABORTED"):
                return self._connection_failure(what, f"gRPC {status}: {details}")
            if status in ("UNAUTHENTICATED", "PERMISSION_DENIED"):
                return UsageError(f"{what} on {name}: gRPC {status}; set QDRANT_API_KEY to a key this server accepts")
            return InvalidInputError(f"{what} on {name}: gRPC {status}: {details}")
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if isinstance(exc, ValueError) and "not found" in text.lower():
            return missing  # local mode: "Collection x not found"
        if isinstance(exc, ValueError | TypeError):
            if "dimension" in text.lower():
                return DimensionMismatchError(f"{what} on {name}: {text}")
            return InvalidInputError(f"{what} on {name}: {text}")
        if isinstance(exc, TimeoutError | ConnectionError):
            return self._connection_failure(what, text)
        return StoreError(f"{what} on {name}: {type(exc).__name__}: {text}")

    def _connection_failure(self, what: str, why: str) -> HarnessError:
        why = why.splitlines()[0]
        if not self._reached:
            return StoreUnreachableError(
                f"cannot reach Qdrant at {self._where} ({why}); check the host and port and that the server runs"
            )
        return TransientStoreError(f"{what} on collection {self.collection!r} at {self._where}: {why}")

    # -- lifecycle -------------------------------------------------------------------------------------
    def exists(self) -> bool:
        """True when the collection exists."""
        return self._call("collection_exists", lambda c: c.collection_exists(self.collection))

    def create(self, schema: CollectionSchema) -> None:
        """Create the collection; URI options override the schema's distance and (server) index config.

        ``UsageError`` when it already exists. Local mode creates no payload indexes (they do nothing there).
        """
        if self.exists():
            raise UsageError(
                f"collection {self.collection!r} at {self._where} already exists; open it without create()"
            )
        default = (
            _vector_params(schema.dimension, self._distance or schema.distance, schema.datatype)
            if schema.dimension
            else None
        )
        vectors: Any = default
        if schema.named_vectors:
            if default is not None:
                # Qdrant's REST and gRPC APIs take one unnamed vector or a map of named ones, whose names
                # must not be empty; Qdrant Edge alone holds both.
                raise UsageError(
                    f"collection {self.collection!r} at {self._where} cannot hold both an unnamed vector and named "
                    f"vectors {sorted(schema.named_vectors)}: a Qdrant collection has one or the other"
                )
            vectors = {}
            for name, params in schema.named_vectors.items():
                vectors[name] = _vector_params(params.dimension, params.distance, params.datatype)
        sparse = {
            name: models.SparseVectorParams(modifier=models.Modifier.IDF if p.modifier == "idf" else None)
            for name, p in schema.sparse_vectors.items()
        } or None
        if vectors is None and sparse is None:
            raise InvalidInputError("a collection needs a dense vector (dimension > 0), a named or a sparse vector")
        if self.local:
            self._call(
                "create_collection",
                lambda c: c.create_collection(
                    self.collection, vectors_config=vectors or {}, sparse_vectors_config=sparse
                ),
            )
            return
        hnsw = schema.hnsw

        def pick(key: str, from_schema: int | None, default: int) -> int:
            override = self._hnsw.get(key)
            return override if override is not None else (from_schema if from_schema is not None else default)

        hnsw_config = models.HnswConfigDiff(
            m=pick("m", hnsw.m if hnsw else None, DEFAULT_M),
            ef_construct=pick("ef_construct", hnsw.ef_construct if hnsw else None, DEFAULT_EF_CONSTRUCT),
            full_scan_threshold=pick(
                "full_scan_threshold", hnsw.full_scan_threshold if hnsw else None, DEFAULT_FULL_SCAN_THRESHOLD_KB
            ),
        )
        self._call(
            "create_collection",
            lambda c: c.create_collection(
                self.collection,
                vectors_config=vectors or {},
                sparse_vectors_config=sparse,
                hnsw_config=hnsw_config,
                quantization_config=_quantization_config(self._quantization or schema.quantization),
            ),
        )
        for field_name, kind in schema.payload_indexes.items():
            self._call("create_payload_index", partial(_create_payload_index, self.collection, field_name, kind))

    def drop(self) -> None:
        """Delete the collection and its points (no error when it does not exist)."""
        self._call("delete_collection", lambda c: c.delete_collection(self.collection))
        self._dimension = None

    def close(self) -> None:
        """Release the client (a shared local client is closed by its last handle); idempotent."""
        client, self._client = self._client, None
        if client is None:
            return
        if self._local_location is not None:
            _release_local(self._local_location)
        else:
            client.close()

    # -- reads -----------------------------------------------------------------------------------------
    def describe(self) -> CollectionSchema:
        """The collection's schema; in local mode ``index_config_reported=False`` and no HNSW config."""
        info = self._call("get_collection", lambda c: c.get_collection(self.collection))
        params: Any = info.config.params.vectors
        named: dict[str, DenseVectorParams] = {}
        if isinstance(params, Mapping):
            named = {
                name: DenseVectorParams(
                    dimension=int(p.size),
                    distance=Distance.parse(str(p.distance.value)),
                    datatype=str(p.datatype.value) if p.datatype is not None else "float32",
                )
                for name, p in sorted(params.items())
                if name != ""
            }
            params = params.get("")
        sparse = {
            name: SparseVectorParams(modifier="idf" if p.modifier == models.Modifier.IDF else "none")
            for name, p in sorted((info.config.params.sparse_vectors or {}).items())
        }
        if params is None:
            first = next(iter(named.values()), None)
            if first is None and not sparse:
                raise UsageError(f"collection {self.collection!r} has no vectors")
            self._dimension = 0
            distance, datatype = (first.distance if first else Distance.DOT), "float32"
        else:
            self._dimension = int(params.size)
            distance = Distance.parse(str(params.distance.value))
            datatype = str(params.datatype.value) if params.datatype is not None else "float32"
        if self.local:
            schema = CollectionSchema(
                dimension=self._dimension,
                distance=distance,
                datatype=datatype,
                hnsw=None,
                quantization=None,
                payload_indexes={},
                index_config_reported=False,
                backend="qdrant-local",
                named_vectors=named,
                sparse_vectors=sparse,
            )
            self._schema = schema
            return schema
        global_hnsw = info.config.hnsw_config
        vector_hnsw = params.hnsw_config if params is not None else None  # a diff over the collection's config

        def hnsw_value(key: str) -> Any:
            value = getattr(vector_hnsw, key, None) if vector_hnsw is not None else None
            return value if value is not None else getattr(global_hnsw, key)

        payload_indexes = {
            name: str(getattr(index.data_type, "value", index.data_type))
            for name, index in (info.payload_schema or {}).items()
        }
        schema = CollectionSchema(
            dimension=self._dimension,
            distance=distance,
            datatype=datatype,
            hnsw=HnswConfig(
                m=int(hnsw_value("m")),
                ef_construct=int(hnsw_value("ef_construct")),
                full_scan_threshold=int(hnsw_value("full_scan_threshold")),
            ),
            quantization=quantization_kind(
                (params.quantization_config if params is not None else None) or info.config.quantization_config
            ),
            payload_indexes=payload_indexes,
            index_config_reported=True,
            backend="qdrant",
            named_vectors=named,
            sparse_vectors=sparse,
        )
        self._schema = schema
        return schema

    def _dim(self) -> int:
        if self._dimension is None:
            self.describe()
        assert self._dimension is not None
        return self._dimension

    def _layout(self) -> CollectionSchema:
        """The schema as last described (described now if never)."""
        if self._schema is None:
            return self.describe()
        return self._schema

    def count(self) -> int:
        """Exact number of points."""
        return int(self._call("count", lambda c: c.count(self.collection, exact=True)).count)

    def scroll(self, batch_size: int = 1000, cursor: Cursor | None = None) -> tuple[RecordBatch, Cursor | None]:
        """Pages in Qdrant's id order; the cursor is Qdrant's ``next_page_offset`` as JSON."""
        if batch_size < 1:
            raise InvalidInputError(f"batch_size must be at least 1, got {batch_size}")
        offset = decode_cursor(cursor, self.uri.split(":", 1)[0])
        schema = self._layout()
        records, next_offset = self._call(
            "scroll",
            lambda c: c.scroll(self.collection, limit=batch_size, offset=offset, with_payload=True, with_vectors=True),
        )
        return _records_to_batch(records, schema), encode_cursor(next_offset)

    def scroll_ids(self, batch_size: int = 10_000, cursor: Cursor | None = None) -> tuple[IdPage, Cursor | None]:
        """Ids only (a scroll without vectors and payloads), in ``scroll``'s order and with its cursors."""
        if batch_size < 1:
            raise InvalidInputError(f"batch_size must be at least 1, got {batch_size}")
        offset = decode_cursor(cursor, self.uri.split(":", 1)[0])
        records, next_offset = self._call(
            "scroll",
            lambda c: c.scroll(
                self.collection, limit=batch_size, offset=offset, with_payload=False, with_vectors=False
            ),
        )
        return IdPage(tuple(from_qdrant_id(r.id) for r in records)), encode_cursor(next_offset)

    def fetch(self, ids: Sequence[PointId]) -> RecordBatch:
        """The records with these ids, in the order asked (each once); absent ids are left out."""
        wanted: list[Any] = list(dict.fromkeys(qdrant_point_id(i) for i in ids))
        schema = self._layout()
        if not wanted:
            return RecordBatch.empty(schema.dimension)
        records = self._call(
            "retrieve", lambda c: c.retrieve(self.collection, wanted, with_payload=True, with_vectors=True)
        )
        by_key = {id_key(r.id): r for r in records}
        return _records_to_batch([by_key[k] for k in map(id_key, wanted) if k in by_key], schema)

    def search(self, queries: np.ndarray, k: int, params: SearchParams | None = None) -> SearchResult:
        """Top ``k`` per query in one ``query_batch_points`` call, native scores.

        Server: ``params`` ``{"hnsw_ef": N}`` / ``{"exact": True}`` (default ef: the URI's ``hnsw_ef``).
        Local mode is exact whatever ``params`` say, so none are sent (it would warn).
        """
        return self._query(queries, k, None, params)

    def _query(self, queries: np.ndarray, k: int, where: Filter | None, params: SearchParams | None) -> SearchResult:
        """Top ``k`` per query among the points ``where`` admits (None: all), one ``query_batch_points``."""
        q = validate_queries(queries, self._dim(), k)
        if q.shape[0] == 0:
            return SearchResult(ids=(), scores=())
        params = params or {}
        search_params = None
        if not self.local:
            hnsw_ef = params.get("hnsw_ef", self._hnsw_ef)
            exact = bool(params.get("exact", False))
            if hnsw_ef is not None or exact:
                search_params = models.SearchParams(hnsw_ef=None if hnsw_ef is None else int(hnsw_ef), exact=exact)
        query_filter = None if where is None else models.Filter.model_validate(to_qdrant(where))
        requests = [
            models.QueryRequest(
                query=row, limit=k, filter=query_filter, params=search_params, with_payload=False, with_vector=False
            )
            for row in q.tolist()
        ]
        responses = self._call("query", lambda c: c.query_batch_points(self.collection, requests))
        return SearchResult(
            ids=tuple(tuple(from_qdrant_id(p.id) for p in r.points) for r in responses),
            scores=tuple(tuple(float(p.score) for p in r.points) for r in responses),
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
        """One ``query_batch_points``: per query a dense and a sparse prefetch (``prefetch`` candidates each)
        fused by RRF (Qdrant's default constant, ``RRF_K``) or DBSF. See ``HybridSearch``."""
        schema = self._layout()
        name = sparse_vector_name(schema, sparse_name, self.uri)
        q = validate_hybrid(queries, sparse, schema.dimension, k)
        if q.shape[0] == 0:
            return SearchResult(ids=(), scores=())
        # FusionQuery(RRF) is the form every server version takes; its constant is Qdrant's default, RRF_K.
        fusion = models.FusionQuery(fusion=models.Fusion.RRF if fusion_of(params) == "rrf" else models.Fusion.DBSF)
        limit = prefetch_limit(k, params)
        requests = []
        for row, entry in zip(q.tolist(), sparse.rows(), strict=True):
            indices, values = entry if entry is not None else ([], [])
            requests.append(
                models.QueryRequest(
                    prefetch=[
                        models.Prefetch(query=row, limit=limit),
                        models.Prefetch(
                            query=models.SparseVector(indices=indices, values=values), using=name, limit=limit
                        ),
                    ],
                    query=fusion,
                    limit=k,
                    with_payload=False,
                    with_vector=False,
                )
            )
        responses = self._call("query", lambda c: c.query_batch_points(self.collection, requests))
        return SearchResult(
            ids=tuple(tuple(from_qdrant_id(p.id) for p in r.points) for r in responses),
            scores=tuple(tuple(float(p.score) for p in r.points) for r in responses),
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
        """Top ``k`` per query among the points ``where`` admits (Qdrant's filter, read literally), one
        ``query_batch_points`` call; ``params`` as for ``search``."""
        self._no_namespaces(namespace)
        return self._query(queries, k, where, params)

    def _no_namespaces(self, namespace: str | None) -> None:
        if namespace is not None:
            raise InvalidInputError(
                f"{self.uri.split(':', 1)[0]} has no namespaces (asked for {namespace!r}); a migrated Pinecone "
                "namespace is the payload field __namespace__: filter on it"
            )

    def count_filtered(self, where: Filter | None, *, namespace: str | None = None) -> int:
        """Exact number of points ``where`` admits (``count(exact=True, count_filter=...)``)."""
        self._no_namespaces(namespace)
        query_filter = None if where is None else models.Filter.model_validate(to_qdrant(where))
        result = self._call("count", lambda c: c.count(self.collection, count_filter=query_filter, exact=True))
        return int(result.count)

    # -- writes ----------------------------------------------------------------------------------------
    def upsert(self, batch: RecordBatch) -> None:
        """Insert or replace, acknowledged when applied (``wait=True``); large batches go in several requests."""
        if len(batch) == 0:
            return
        ids: list[Any] = [qdrant_point_id(i) for i in batch.ids]
        validate_batch(batch, self._dim())
        validate_vectors(batch, self._layout())
        width = batch.dimension + sum(c.dimension for c in batch.named.values())
        width += max((2 * c.nnz // max(1, len(c)) for c in batch.sparse.values()), default=0)
        step = max(1, MAX_FLOATS_PER_REQUEST // max(1, width))
        for start in range(0, len(batch), step):
            part = batch.slice(start, start + step)
            points: Any
            if part.named or part.sparse:  # vectors by name per point: point structs, not a column batch
                points = [
                    models.PointStruct(id=pid, vector=vector, payload=dict(payload))
                    for pid, vector, payload in zip(
                        ids[start : start + step], point_vectors(part, _sparse_vector), part.payloads, strict=True
                    )
                ]
            else:
                points = models.Batch(
                    ids=ids[start : start + step],
                    vectors=part.vectors.tolist(),
                    payloads=[dict(p) for p in part.payloads],
                )
            with _quiet_large_local_collection():
                self._call("upsert", partial(_upsert, self.collection, points))

    def delete(self, ids: Sequence[PointId]) -> None:
        """Delete these ids (acknowledged when applied); ids that do not exist are ignored."""
        point_ids: list[Any] = [qdrant_point_id(i) for i in ids]
        if point_ids:
            self._call(
                "delete",
                lambda c: c.delete(self.collection, models.PointIdsList(points=point_ids), wait=True),
            )

    def optimize(self) -> None:
        """Server: trigger the optimizers, then wait (≤ 600 s) until the collection is green (or grey).

        The trigger is Qdrant's own: ``PATCH /collections/NAME`` with an empty ``optimizers_config``
        (a collection left grey, e.g. after a restart, is optimized only when triggered; a server
        without background optimization, such as ``ragmig serve-qdrant``, builds its graph then).
        A red collection (its optimizer failed) is a ``StoreError``. Local mode: nothing to build.
        """
        if self.local:
            return
        self._call(
            "update_collection",
            lambda c: c.update_collection(self.collection, optimizers_config=models.OptimizersConfigDiff()),
        )
        deadline = time.monotonic() + GREEN_WAIT_S
        while True:
            info = self._call("get_collection", lambda c: c.get_collection(self.collection))
            # Grey after the trigger: optimizations possible but not running; nothing to wait for.
            if info.status in (models.CollectionStatus.GREEN, models.CollectionStatus.GREY):
                return
            if info.status == models.CollectionStatus.RED:
                raise StoreError(
                    f"collection {self.collection!r} at {self._where} is red: its optimizer failed "
                    f"({info.optimizer_status})"
                )
            if time.monotonic() > deadline:
                raise TransientStoreError(
                    f"collection {self.collection!r} at {self._where} not green after {GREEN_WAIT_S:.0f} s "
                    f"(status {info.status})"
                )
            time.sleep(0.2)  # real I/O wait on the server's background optimizer


def _create_payload_index(collection: str, field_name: str, kind: str, client: QdrantClient) -> Any:
    return client.create_payload_index(collection, field_name, field_schema=models.PayloadSchemaType(kind), wait=True)


def _upsert(collection: str, points: models.Batch | list[models.PointStruct], client: QdrantClient) -> Any:
    return client.upsert(collection, points=points, wait=True)


def _records_to_batch(records: Sequence[Any], schema: CollectionSchema) -> RecordBatch:
    dimension = schema.dimension
    if not records:
        return RecordBatch.empty(dimension)
    ids = tuple(from_qdrant_id(r.id) for r in records)
    payloads = tuple(r.payload or {} for r in records)
    if not schema.named_vectors and not schema.sparse_vectors:
        try:  # the common case: one unnamed dense vector, read as lists
            vectors = np.array([r.vector for r in records], dtype=np.float32).reshape(len(records), dimension)
            return RecordBatch(ids=ids, vectors=vectors, payloads=payloads)
        except (TypeError, ValueError):
            pass  # a point without its vector: the general path below
    return RecordBatch(ids=ids, payloads=payloads, **vector_columns([r.vector for r in records], schema))


def _sparse_vector(indices: list[int], values: list[float]) -> models.SparseVector:
    return models.SparseVector(indices=indices, values=values)


def _vector_params(dimension: int, distance: Distance, datatype_name: str) -> models.VectorParams:
    datatype = _DATATYPES.get(datatype_name.lower())
    if datatype is None:
        raise InvalidInputError(f"datatype {datatype_name!r} is not one of {', '.join(_DATATYPES)}")
    return models.VectorParams(size=dimension, distance=_DISTANCES[distance], datatype=datatype)


def _server_store(uri: StoreURI) -> QdrantStore:
    check_options(uri, SERVER_OPTIONS)
    grpc = bool(option_bool(uri, "grpc"))
    https = option_bool(uri, "https")
    timeout = option_int(uri, "timeout", 1)
    api_key = os.environ.get("QDRANT_API_KEY") or None
    with warnings.catch_warnings():
        # An API key over plain http is the user's explicit choice (?https=0), typically on loopback.
        warnings.filterwarnings("ignore", message="Api key is used with an insecure connection", category=UserWarning)
        client = QdrantClient(
            host=uri.host,
            port=uri.port or 6333,
            grpc_port=option_int(uri, "grpc_port", 1) or 6334,
            prefer_grpc=grpc,
            https=https,
            api_key=api_key,
            timeout=timeout,
            check_compatibility=False,  # a version probe on construction; it would warn from a thread
        )
    return QdrantStore(
        uri=uri.redacted,
        collection=uri.collection,
        client=client,
        where=f"{uri.host}:{uri.port}",
        distance=option_distance(uri),
        hnsw={key: option_int(uri, key, 0) for key in ("m", "ef_construct", "full_scan_threshold")},
        quantization=option_quantization(uri),
        hnsw_ef=option_int(uri, "hnsw_ef", 1),
    )


def _local_store(uri: StoreURI) -> QdrantStore:
    check_options(
        uri,
        LOCAL_OPTIONS,
        " (local mode searches by brute force: HNSW, quantization and hnsw_ef would be ignored; "
        "use qdrant-edge:// for a real index)",
    )
    if uri.path != ":memory:" and not os.path.isabs(uri.path):
        raise InvalidURIError(f"bad store URI {uri.redacted!r}: the directory must be absolute")
    shared = _acquire_local(uri.path)
    return QdrantStore(
        uri=uri.redacted,
        collection=uri.collection,
        client=shared.client,
        local_location=uri.path,
        lock=shared.lock,
        where=f"qdrant-local {uri.path}",
        distance=option_distance(uri),
    )


def from_uri(uri: StoreURI) -> QdrantStore:
    """Factory for ``qdrant://HOST:PORT/COLLECTION[?grpc=1…]`` and ``qdrant-local://…`` (see module docstring)."""
    return _local_store(uri) if uri.scheme == "qdrant-local" else _server_store(uri)
