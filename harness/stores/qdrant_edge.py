"""``qdrant-edge:///ABS/DIR``: the real Qdrant engine in-process (``qdrant-edge-py``), one shard per directory.

Creation options (query string, applied by ``create(schema)`` over the schema's index config):
``distance``, ``m``, ``ef_construct``, ``full_scan_threshold`` (KB), ``indexing_threshold`` (KB),
``quantization`` (``scalar``, ``binary``, ``product`` or ``none``), ``on_disk``. Search option:
``hnsw_ef`` (the query-time ef when a call passes none; per call ``{"hnsw_ef": N}`` or ``{"exact": True}``).

An existing directory (also one written by the upstream ``qdrant_edge`` API) opens with the config
persisted in it; creation options are not applied to it, and ``describe()`` reports what it really has.

Edge facts this module is built around (shared/reference/qdrant-notes.md §1):
- A directory can be held by one ``EdgeShard`` only (a second ``load`` fails with WouldBlock), so handles
  opened in this process share one shard through a refcounted registry; the last ``close`` closes it.
- There is no background optimizer: ``optimize()`` builds the HNSW graph. Until then search is brute force.
- Edge does not release the GIL and serialises calls anyway; one lock per shard keeps them orderly.
- Cosine vectors are stored normalised, as on the Qdrant server.
- Named dense vectors and named sparse vectors (``EdgeConfig(vectors={name: ...}, sparse_vectors=...)``)
  are read and written through ``RecordBatch.named`` / ``RecordBatch.sparse``; a shard without the
  unnamed default vector describes itself with dimension 0. A point that lacks the default vector of a
  shard that has one reads as a NaN row (parity reports it; a copy refuses it).
- ``scroll_ids`` scrolls without vectors and payloads; ``hybrid_search`` is one prefetch per vector
  (dense, sparse) fused by RRF or DBSF.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain
from operator import attrgetter
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import qdrant_edge as qe

from harness.errors import (
    CollectionNotFoundError,
    DimensionMismatchError,
    HarnessError,
    InvalidInputError,
    StoreError,
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
from harness.stores.qdrant_common import (
    DEFAULT_EF_CONSTRUCT,
    DEFAULT_FULL_SCAN_THRESHOLD_KB,
    DEFAULT_M,
    QUANTIZATIONS,
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
_VECTOR = attrgetter("vector")

# Qdrant's default indexing_threshold is 10 000 KB: a segment smaller than that is never indexed, so a
# test-sized shard would stay brute force forever and HNSW settings would have no effect. 1 KB makes
# optimize() really build the graph at any size (0 would *disable* indexing in Qdrant).
DEFAULT_INDEXING_THRESHOLD_KB = 1
CONFIG_FILE = "edge_config.json"

_DISTANCES = {
    Distance.COSINE: qe.Distance.Cosine,
    Distance.DOT: qe.Distance.Dot,
    Distance.EUCLID: qe.Distance.Euclid,
    Distance.MANHATTAN: qe.Distance.Manhattan,
}
_DATATYPES = {
    "float32": qe.VectorStorageDatatype.Float32,
    "float16": qe.VectorStorageDatatype.Float16,
    "uint8": qe.VectorStorageDatatype.Uint8,
}
_PAYLOAD_TYPES = {
    "keyword": qe.PayloadSchemaType.Keyword,
    "integer": qe.PayloadSchemaType.Integer,
    "float": qe.PayloadSchemaType.Float,
    "bool": qe.PayloadSchemaType.Bool,
    "geo": qe.PayloadSchemaType.Geo,
    "text": qe.PayloadSchemaType.Text,
    "datetime": qe.PayloadSchemaType.Datetime,
    "uuid": qe.PayloadSchemaType.Uuid,
}
OPTION_NAMES = (
    "distance",
    "m",
    "ef_construct",
    "full_scan_threshold",
    "indexing_threshold",
    "quantization",
    "on_disk",
    "hnsw_ef",
)


@dataclass(frozen=True, slots=True)
class EdgeOptions:
    """The URI's options, parsed. ``None`` means "take it from the schema (or Qdrant's default)"."""

    distance: Distance | None = None
    m: int | None = None
    ef_construct: int | None = None
    full_scan_threshold: int | None = None
    indexing_threshold: int = DEFAULT_INDEXING_THRESHOLD_KB
    quantization: str | None = None
    on_disk: bool | None = None
    hnsw_ef: int | None = None

    @classmethod
    def parse(cls, uri: StoreURI) -> EdgeOptions:
        """Validate the query string of a ``qdrant-edge://`` URI; ``InvalidURIError`` names the bad option."""
        check_options(uri, OPTION_NAMES)
        indexing_threshold = option_int(uri, "indexing_threshold", 0)
        return cls(
            distance=option_distance(uri),
            m=option_int(uri, "m", 0),
            ef_construct=option_int(uri, "ef_construct", 4),
            full_scan_threshold=option_int(uri, "full_scan_threshold", 0),
            indexing_threshold=DEFAULT_INDEXING_THRESHOLD_KB if indexing_threshold is None else indexing_threshold,
            quantization=option_quantization(uri),
            on_disk=option_bool(uri, "on_disk"),
            hnsw_ef=option_int(uri, "hnsw_ef", 1),
        )


class _OpenShard:
    """One open ``EdgeShard`` shared by every handle on its directory in this process."""

    def __init__(self, shard: qe.EdgeShard, schema: CollectionSchema) -> None:
        self.shard = shard
        self.schema = schema
        self.dimension = schema.dimension
        self.distance = schema.distance
        self.lock = threading.RLock()
        self.refs = 0


_OPEN_SHARDS: dict[str, _OpenShard] = {}
_OPEN_SHARDS_LOCK = threading.Lock()


def has_shard(path: Path) -> bool:
    """True when ``path`` holds an Edge shard (its persisted config, or segments from a snapshot)."""
    return (path / CONFIG_FILE).is_file() or (path / "segments").is_dir()


def _edge_error(exc: Exception, path: Path) -> HarnessError:
    """Translate an Edge exception (a plain ``Exception`` carrying Qdrant's message) to ours."""
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if "WouldBlock" in text:
        return UsageError(
            f"qdrant-edge shard {path} is open in another process (Edge allows one handle per directory); "
            "close that process or work on a copy of the directory"
        )
    if "dimension" in text.lower():
        return DimensionMismatchError(text)
    if isinstance(exc, TypeError | ValueError):
        return InvalidInputError(text)
    return StoreError(f"qdrant-edge {path}: {text}")


def _read_config(path: Path) -> dict[str, Any]:
    try:
        with (path / CONFIG_FILE).open() as fh:
            config: dict[str, Any] = json.load(fh)
    except FileNotFoundError:
        raise StoreError(f"qdrant-edge shard {path} has no {CONFIG_FILE}; open it once with Qdrant Edge") from None
    return config


def schema_from_config(config: Mapping[str, Any], payload_indexes: Mapping[str, str]) -> CollectionSchema:
    """The ``CollectionSchema`` of a shard from its persisted ``edge_config.json``.

    The unnamed vector ("") is the default dense vector, every other one a named vector; a shard without
    an unnamed vector has dimension 0 (its distance is then the first named vector's, or dot for a shard
    of sparse vectors only). Per-vector HNSW / quantization settings of the default vector take precedence
    over the shard-wide ones, as in Qdrant; HNSW settings nobody set are Qdrant's defaults.
    """
    vectors = config.get("vectors") or {}
    named = {
        name: DenseVectorParams(
            dimension=int(p["size"]),
            distance=Distance.parse(str(p["distance"])),
            datatype=str(p.get("datatype") or "float32").lower(),
        )
        for name, p in sorted(vectors.items())
        if name != ""
    }
    sparse = {
        name: SparseVectorParams(modifier=str((p or {}).get("modifier") or "none").lower())
        for name, p in sorted((config.get("sparse_vectors") or {}).items())
    }
    params = vectors.get("") or {}
    hnsw = params.get("hnsw_config") or config.get("hnsw_config") or {}
    quantization = params.get("quantization_config") or config.get("quantization_config")
    if params:
        dimension, distance = int(params["size"]), Distance.parse(str(params["distance"]))
        datatype = str(params.get("datatype") or "float32").lower()
    else:
        first = next(iter(named.values()), None)
        dimension, distance, datatype = 0, first.distance if first else Distance.DOT, "float32"
    return CollectionSchema(
        dimension=dimension,
        distance=distance,
        datatype=datatype,
        hnsw=HnswConfig(
            m=int(hnsw.get("m", DEFAULT_M)),
            ef_construct=int(hnsw.get("ef_construct", DEFAULT_EF_CONSTRUCT)),
            full_scan_threshold=int(hnsw.get("full_scan_threshold", DEFAULT_FULL_SCAN_THRESHOLD_KB)),
        ),
        quantization=next(iter(quantization)) if isinstance(quantization, Mapping) and quantization else None,
        payload_indexes=dict(payload_indexes),
        index_config_reported=True,
        backend="qdrant-edge",
        named_vectors=named,
        sparse_vectors=sparse,
    )


def _quantization_config(kind: str | None) -> Any:
    if kind is None or kind == "none":
        return None
    if kind == "scalar":
        return qe.ScalarQuantizationConfig(type=qe.ScalarType.Int8, always_ram=True)
    if kind == "binary":
        return qe.BinaryQuantizationConfig(always_ram=True)
    if kind == "product":
        return qe.ProductQuantizationConfig(compression=qe.CompressionRatio.X16, always_ram=True)
    raise InvalidInputError(f"unknown quantization {kind!r}; use one of {', '.join(QUANTIZATIONS)} or none")


def _first(*values: int | None) -> int:
    """The first value that is set (URI option, then schema, then default)."""
    return next(v for v in values if v is not None)


def _records_to_batch(records: Sequence[Any], schema: CollectionSchema) -> RecordBatch:
    dimension = schema.dimension
    if not records:
        return RecordBatch.empty(dimension)
    ids = tuple(from_qdrant_id(r.id) for r in records)
    payloads = tuple(r.payload or {} for r in records)
    if not schema.named_vectors and not schema.sparse_vectors:
        try:  # the common case: one unnamed dense vector: its floats stream into one buffer (no list of lists)
            flat = np.fromiter(
                chain.from_iterable(map(_VECTOR, records)), dtype=np.float32, count=len(records) * dimension
            )
            return RecordBatch(ids=ids, vectors=flat.reshape(len(records), dimension), payloads=payloads)
        except (TypeError, ValueError):
            pass  # a point without its vector, or of another length: the general path below
    return RecordBatch(ids=ids, payloads=payloads, **vector_columns([r.vector for r in records], schema))


def _sparse_config(params: SparseVectorParams) -> qe.EdgeSparseVectorParams:
    return qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf if params.modifier == "idf" else None)


def _dense_config(dimension: int, distance: Distance, datatype_name: str, memory: Any) -> qe.EdgeVectorParams:
    datatype = _DATATYPES.get(datatype_name.lower())
    if datatype is None:
        raise InvalidInputError(f"datatype {datatype_name!r} is not one of {', '.join(_DATATYPES)}")
    return qe.EdgeVectorParams(size=dimension, distance=_DISTANCES[distance], datatype=datatype, memory=memory)


def edge_filter(rest: Mapping[str, Any]) -> Any:
    """A Qdrant filter in REST JSON (``records.filters.to_qdrant``) as Edge's ``Filter`` object.

    ``InvalidInputError`` for an equality on a boolean: qdrant-edge 0.9's ``MatchValue(True)`` is read as
    the integer 1 (its binding tries Integer before Bool), so it would match ``1`` and miss ``true``.
    """

    def condition(node: Mapping[str, Any]) -> Any:
        if set(node) <= {"must", "should", "must_not"}:
            return edge_filter(node)
        key = node["key"] if "key" in node else node["is_empty"]["key"]
        if "is_empty" in node:
            return qe.FieldCondition(key, is_empty=True)
        if "range" in node:
            return qe.FieldCondition(key, range=qe.RangeFloat(**node["range"]))
        match = node["match"]
        if "any" in match:
            return qe.FieldCondition(key, match=qe.MatchAny(list(match["any"])))
        if isinstance(match["value"], bool):
            raise InvalidInputError(
                f"qdrant-edge cannot filter {key!r} on a boolean: its MatchValue(True) matches the integer 1 "
                "instead (qdrant-edge 0.9 binding)"
            )
        return qe.FieldCondition(key, match=qe.MatchValue(match["value"]))

    return qe.Filter(
        must=[condition(c) for c in rest.get("must", ())] or None,
        should=[condition(c) for c in rest.get("should", ())] or None,
        must_not=[condition(c) for c in rest.get("must_not", ())] or None,
    )


def _no_namespaces(namespace: str | None, backend: str) -> None:
    if namespace is not None:
        raise InvalidInputError(
            f"{backend} has no namespaces (asked for {namespace!r}); a migrated Pinecone namespace is the payload "
            "field __namespace__: filter on it"
        )


class QdrantEdgeStore:
    """A ``VectorStore`` over one Qdrant Edge shard directory; see the module docstring."""

    def __init__(self, path: Path, options: EdgeOptions, uri: str) -> None:
        self.path = path
        self.options = options
        self.uri = uri
        self._key = str(path.resolve())
        self._handle: _OpenShard | None = None
        self._handle_lock = threading.Lock()

    # -- lifecycle -------------------------------------------------------------------------------------
    def _open(self) -> _OpenShard:
        """This handle's share of the directory's shard, loading it on first use."""
        with self._handle_lock:
            if self._handle is not None:
                return self._handle
            with _OPEN_SHARDS_LOCK:
                entry = _OPEN_SHARDS.get(self._key)
                if entry is None:
                    if not has_shard(self.path):
                        raise CollectionNotFoundError(
                            f"no qdrant-edge shard at {self.path}; create it first or check the path"
                        )
                    try:
                        # No config: Edge then uses the one persisted in the directory, unchanged.
                        shard = qe.EdgeShard.load(str(self.path))
                    except Exception as exc:
                        raise _edge_error(exc, self.path) from None
                    try:
                        schema = schema_from_config(_read_config(self.path), {})
                    except Exception:
                        shard.close()
                        raise
                    entry = _OpenShard(shard, schema)
                    _OPEN_SHARDS[self._key] = entry
                entry.refs += 1
                self._handle = entry
            return entry

    def exists(self) -> bool:
        """True when the directory holds a shard."""
        return self._handle is not None or self._key in _OPEN_SHARDS or has_shard(self.path)

    def create(self, schema: CollectionSchema) -> None:
        """Create the shard: the schema's vectors and index config, overridden by the URI's options.

        ``UsageError`` when the directory already holds a shard (open it without creating instead).
        """
        opts = self.options
        if self.exists():
            raise UsageError(f"qdrant-edge shard {self.path} already exists; open it without create() or remove it")
        hnsw, distance = schema.hnsw, opts.distance or schema.distance
        unknown_indexes = sorted(set(schema.payload_indexes.values()) - set(_PAYLOAD_TYPES))
        if unknown_indexes:
            raise InvalidInputError(f"payload index types {unknown_indexes} unknown; use {', '.join(_PAYLOAD_TYPES)}")
        memory = None if opts.on_disk is None else (qe.Memory.Cold if opts.on_disk else qe.Memory.Cached)
        default = _dense_config(schema.dimension, distance, schema.datatype, memory) if schema.dimension else None
        vectors: Any = default
        if schema.named_vectors:
            vectors = {"": default} if default is not None else {}
            for name, params in schema.named_vectors.items():
                vectors[name] = _dense_config(params.dimension, params.distance, params.datatype, memory)
        sparse = {name: _sparse_config(p) for name, p in schema.sparse_vectors.items()} or None
        if vectors is None and sparse is None:
            raise InvalidInputError("a collection needs a dense vector (dimension > 0), a named or a sparse vector")
        config = qe.EdgeConfig(
            vectors=vectors,
            sparse_vectors=sparse,
            hnsw_config=qe.HnswIndexConfig(
                m=_first(opts.m, hnsw.m if hnsw else None, DEFAULT_M),
                ef_construct=_first(opts.ef_construct, hnsw.ef_construct if hnsw else None, DEFAULT_EF_CONSTRUCT),
                full_scan_threshold=_first(
                    opts.full_scan_threshold, hnsw.full_scan_threshold if hnsw else None, DEFAULT_FULL_SCAN_THRESHOLD_KB
                ),
            ),
            quantization_config=_quantization_config(opts.quantization or schema.quantization),
            optimizers=qe.EdgeOptimizersConfig(indexing_threshold=opts.indexing_threshold),
        )
        self.path.mkdir(parents=True, exist_ok=True)
        with _OPEN_SHARDS_LOCK:
            try:
                shard = qe.EdgeShard.create(str(self.path), config)
            except Exception as exc:
                raise _edge_error(exc, self.path) from None
            try:
                for field_name, kind in schema.payload_indexes.items():
                    shard.update(qe.UpdateOperation.create_field_index(field_name, _PAYLOAD_TYPES[kind]))
            except Exception as exc:
                shard.close()
                raise _edge_error(exc, self.path) from None
            entry = _OpenShard(shard, schema_from_config(_read_config(self.path), {}))
            entry.refs = 1
            _OPEN_SHARDS[self._key] = entry
        with self._handle_lock:
            self._handle = entry

    def close(self) -> None:
        """Release this handle; the last handle on the directory closes (and flushes) the shard."""
        with self._handle_lock:
            entry, self._handle = self._handle, None
        if entry is None:
            return
        with _OPEN_SHARDS_LOCK:
            entry.refs -= 1
            if entry.refs > 0:
                return
            _OPEN_SHARDS.pop(self._key, None)
            # Closed under the registry lock, so a new handle cannot load the directory before it is free.
            with entry.lock:
                entry.shard.close()

    def _call(self, fn: Callable[[qe.EdgeShard], T]) -> T:
        entry = self._open()
        with entry.lock:
            try:
                return fn(entry.shard)
            except Exception as exc:
                raise _edge_error(exc, self.path) from None

    # -- reads -----------------------------------------------------------------------------------------
    def describe(self) -> CollectionSchema:
        """Dimension, distance, datatype, HNSW and quantization as persisted; payload indexes from the shard."""
        entry = self._open()
        with entry.lock:
            indexes = {
                name: str(info.data_type).rsplit(".", 1)[-1].lower()
                for name, info in entry.shard.info().payload_schema.items()
            }
            return schema_from_config(_read_config(self.path), indexes)

    def count(self) -> int:
        """Exact number of points (``CountRequest(exact=True)``; ``info().points_count`` is approximate)."""
        return int(self._call(lambda s: s.count(qe.CountRequest(exact=True))))

    def scroll(self, batch_size: int = 1000, cursor: Cursor | None = None) -> tuple[RecordBatch, Cursor | None]:
        """Pages in Qdrant's id order (ints before UUIDs); the cursor is Edge's ``next_offset`` as JSON."""
        if batch_size < 1:
            raise InvalidInputError(f"batch_size must be at least 1, got {batch_size}")
        request = qe.ScrollRequest(
            offset=decode_cursor(cursor, "qdrant-edge"), limit=batch_size, with_payload=True, with_vector=True
        )
        entry = self._open()
        records, next_offset = self._call(lambda s: s.scroll(request))
        return _records_to_batch(records, entry.schema), encode_cursor(next_offset)

    def scroll_ids(self, batch_size: int = 10_000, cursor: Cursor | None = None) -> tuple[IdPage, Cursor | None]:
        """Ids only (a scroll without vectors and payloads), in ``scroll``'s order and with its cursors."""
        if batch_size < 1:
            raise InvalidInputError(f"batch_size must be at least 1, got {batch_size}")
        request = qe.ScrollRequest(
            offset=decode_cursor(cursor, "qdrant-edge"), limit=batch_size, with_payload=False, with_vector=False
        )
        records, next_offset = self._call(lambda s: s.scroll(request))
        return IdPage(tuple(from_qdrant_id(r.id) for r in records)), encode_cursor(next_offset)

    def fetch(self, ids: Sequence[PointId]) -> RecordBatch:
        """The records with these ids, in the order asked (each once); absent ids are left out."""
        wanted: list[Any] = list(dict.fromkeys(qdrant_point_id(i) for i in ids))
        entry = self._open()
        if not wanted:
            return RecordBatch.empty(entry.dimension)
        records = self._call(lambda s: s.retrieve(wanted, True, True))
        # Edge returns its own order; match on the parsed id (a UUID may be spelled differently).
        by_key = {id_key(r.id): r for r in records}
        ordered = [by_key[key] for key in map(id_key, wanted) if key in by_key]
        return _records_to_batch(ordered, entry.schema)

    def search(self, queries: np.ndarray, k: int, params: SearchParams | None = None) -> SearchResult:
        """Top ``k`` per query through one ``query_batch``; HNSW after ``optimize()``, else brute force.

        ``params``: ``{"exact": True}`` for brute force, ``{"hnsw_ef": N}`` for the query-time ef
        (default: the URI's ``hnsw_ef``, else Edge uses the shard's ``ef_construct``).
        """
        entry = self._open()
        q = validate_queries(queries, entry.dimension, k)
        params = params or {}
        hnsw_ef = params.get("hnsw_ef", self.options.hnsw_ef)
        search_params = qe.SearchParams(
            hnsw_ef=None if hnsw_ef is None else int(hnsw_ef), exact=bool(params.get("exact", False))
        )
        requests = [
            qe.QueryRequest(
                limit=k, query=qe.Query.Nearest(row), params=search_params, with_payload=False, with_vector=False
            )
            for row in q.tolist()
        ]
        if not requests:
            return SearchResult(ids=(), scores=())
        hits = self._call(lambda s: s.query_batch(qe.QueryBatchRequest(requests)))
        return SearchResult(
            ids=tuple(tuple(from_qdrant_id(p.id) for p in row) for row in hits),
            scores=tuple(tuple(float(p.score) for p in row) for row in hits),
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
        """One ``query_batch``: per query a dense prefetch and a sparse prefetch (``prefetch`` candidates
        each, the dense one with the search's ``hnsw_ef``), fused by ``Fusion.Rrf(k=RRF_K)`` or
        ``Fusion.Dbsf()``. See ``HybridSearch``."""
        entry = self._open()
        name = sparse_vector_name(entry.schema, sparse_name, self.uri)
        q = validate_hybrid(queries, sparse, entry.dimension, k)
        fusion: Any = qe.Fusion.Rrf(k=RRF_K) if fusion_of(params) == "rrf" else qe.Fusion.Dbsf()
        limit = prefetch_limit(k, params)
        hnsw_ef = (params or {}).get("hnsw_ef", self.options.hnsw_ef)
        search_params = qe.SearchParams(
            hnsw_ef=None if hnsw_ef is None else int(hnsw_ef), exact=bool((params or {}).get("exact", False))
        )
        requests = []
        for row, entry_sparse in zip(q.tolist(), sparse.rows(), strict=True):
            indices, values = entry_sparse if entry_sparse is not None else ([], [])
            requests.append(
                qe.QueryRequest(
                    limit=k,
                    prefetches=[
                        qe.Prefetch(limit=limit, query=qe.Query.Nearest(row), params=search_params),
                        qe.Prefetch(limit=limit, query=qe.Query.Nearest(qe.SparseVector(indices, values), using=name)),
                    ],
                    query=fusion,
                    with_payload=False,
                    with_vector=False,
                )
            )
        if not requests:
            return SearchResult(ids=(), scores=())
        hits = self._call(lambda s: s.query_batch(qe.QueryBatchRequest(requests)))
        return SearchResult(
            ids=tuple(tuple(from_qdrant_id(p.id) for p in row) for row in hits),
            scores=tuple(tuple(float(p.score) for p in row) for row in hits),
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
        ``query_batch``; ``params`` as for ``search``."""
        _no_namespaces(namespace, "qdrant-edge")
        entry = self._open()
        q = validate_queries(queries, entry.dimension, k)
        params = params or {}
        hnsw_ef = params.get("hnsw_ef", self.options.hnsw_ef)
        search_params = qe.SearchParams(
            hnsw_ef=None if hnsw_ef is None else int(hnsw_ef), exact=bool(params.get("exact", False))
        )
        edge_where = None if where is None else edge_filter(to_qdrant(where))
        requests = [
            qe.QueryRequest(
                limit=k,
                query=qe.Query.Nearest(row),
                params=search_params,
                filter=edge_where,
                with_payload=False,
                with_vector=False,
            )
            for row in q.tolist()
        ]
        if not requests:
            return SearchResult(ids=(), scores=())
        hits = self._call(lambda s: s.query_batch(qe.QueryBatchRequest(requests)))
        return SearchResult(
            ids=tuple(tuple(from_qdrant_id(p.id) for p in row) for row in hits),
            scores=tuple(tuple(float(p.score) for p in row) for row in hits),
        )

    def count_filtered(self, where: Filter | None, *, namespace: str | None = None) -> int:
        """Exact number of points ``where`` admits (``CountRequest(exact=True, filter=...)``)."""
        _no_namespaces(namespace, "qdrant-edge")
        edge_where = None if where is None else edge_filter(to_qdrant(where))
        return int(self._call(lambda s: s.count(qe.CountRequest(exact=True, filter=edge_where))))

    # -- writes ----------------------------------------------------------------------------------------
    def upsert(self, batch: RecordBatch) -> None:
        """Insert or replace the batch's points (applied when this returns; the WAL makes it durable)."""
        if len(batch) == 0:
            return
        entry = self._open()
        ids = [qdrant_point_id(i) for i in batch.ids]
        validate_batch(batch, entry.dimension)
        validate_vectors(batch, entry.schema)
        points = [
            qe.Point(pid, vector, dict(payload))
            for pid, vector, payload in zip(ids, point_vectors(batch, qe.SparseVector), batch.payloads, strict=True)
        ]
        self._call(lambda s: s.update(qe.UpdateOperation.upsert_points(points)))

    def delete(self, ids: Sequence[PointId]) -> None:
        """Delete these ids; ids that do not exist are ignored."""
        edge_ids: list[Any] = [qdrant_point_id(i) for i in ids]
        if edge_ids:
            self._call(lambda s: s.update(qe.UpdateOperation.delete_points(edge_ids)))

    def optimize(self) -> None:
        """Build the HNSW graph (and merge segments); blocks until Edge has nothing left to optimise."""
        self._call(lambda s: s.optimize())


def copy_sparse_file(source: str, target: str) -> None:
    """Copy one file, leaving its holes as holes (Edge preallocates 32 MB WAL and storage files that hold
    a few KB of data; ``shutil.copyfile`` would write every zero)."""
    with open(source, "rb") as src, open(target, "wb") as dst:
        size = os.fstat(src.fileno()).st_size
        offset = 0
        while offset < size:
            try:
                start = os.lseek(src.fileno(), offset, os.SEEK_DATA)
            except OSError:  # ENXIO: nothing but a hole up to the end
                break
            end = os.lseek(src.fileno(), start, os.SEEK_HOLE)
            src.seek(start)
            dst.seek(start)
            remaining = end - start
            while remaining:
                chunk = src.read(min(remaining, 1 << 20))
                if not chunk:
                    break
                dst.write(chunk)
                remaining -= len(chunk)
            offset = end
        dst.truncate(size)
    shutil.copystat(source, target)


def copy_shard(source: Path, target: Path) -> None:
    """Copy the Edge shard directory ``source`` (closed, not open in any process) to ``target``,
    keeping sparse files sparse: a copy of a small shard costs kilobytes on disk, not 100+ MB."""
    shutil.copytree(source, target, copy_function=copy_sparse_file)


def from_uri(uri: StoreURI) -> QdrantEdgeStore:
    """Factory for ``qdrant-edge:///ABS/DIR[?options]`` (options in the module docstring)."""
    return QdrantEdgeStore(Path(uri.path), EdgeOptions.parse(uri), uri.redacted)
