"""The queries certification asks: sampled from the source, or read from the user's query file.

A query file is what RAG users actually ask (``ragmig certify --query-vectors FILE``, the plugin's
``--ragmig-query-vectors FILE``), in one of two forms:

- ``.npy``: a 2-D array, one query vector a row;
- ``.jsonl`` (or ``.ndjson``): one JSON object a line (blank lines skipped) with ``"vector"`` (a list of
  numbers) and optionally ``"id"`` (a label for reports: string or integer), ``"namespace"`` (the Pinecone
  namespace the query is asked in), ``"filter"`` (a Pinecone metadata filter, ``records.filters``) and
  ``"sparse"`` (``{"indices": [...], "values": [...]}``, the sparse half of a hybrid query). Any other key
  is a mistake (a misspelt ``"filter"`` must not be ignored silently).

``load_query_file`` reads either (``UsageError``, one line naming the file and line, for anything
malformed); ``check_against_source`` then refuses what the source cannot answer: another dimension,
a sparse query against a source without sparse vectors, a namespace on a store that has none or that
its URI excludes. Both ``ragmig certify`` and the pytest plugin use these two functions.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from harness.errors import DimensionMismatchError, InvalidInputError, UsageError
from harness.model import CollectionSchema, PointId
from harness.records.filters import Filter, parse_pinecone
from harness.stores.base import VectorStore

F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]
U64 = npt.NDArray[np.uint64]

MAX_FILE_QUERIES = 100_000
"""More queries than this in a file is a mistake (ground truth holds queries × k results in memory)."""
LINE_KEYS = frozenset({"vector", "id", "namespace", "filter", "sparse"})
PARTITIONED_BACKENDS = frozenset({"pinecone", "exact"})
"""Backends whose records live in namespaces (the exact store keeps a Pinecone batch's namespaces)."""


@dataclass(frozen=True, slots=True)
class SparseQuery:
    """The sparse half of a hybrid query: ``values[i]`` at dimension ``indices[i]``."""

    indices: npt.NDArray[np.uint32]
    values: F32


@dataclass(frozen=True, slots=True)
class QuerySet:
    """Query vectors and what goes with each.

    ``labels``: what a report calls each query (the sampled record's id, the file's ``id`` or row).
    ``namespaces[q]``: the namespace query ``q`` is asked in (None: across every namespace).
    ``filters[q]``: query ``q``'s metadata filter (``quality.filtered`` runs it). ``sparse[q]``: its sparse
    half. Sampled queries carry ``own_positions`` (the scan position of the record each was taken from):
    they are scored leave-one-out, their own record excluded from ground truth and from every result.
    """

    vectors: F32
    labels: tuple[PointId, ...]
    sampled: bool
    namespaces: tuple[str | None, ...] | None = None
    filters: tuple[Filter | None, ...] | None = None
    sparse: tuple[SparseQuery | None, ...] | None = None
    own_positions: I64 | None = None
    origin: str = ""
    raw_filters: tuple[dict[str, Any] | None, ...] | None = field(default=None, compare=False)

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def scoped(self) -> bool:
        """True when some query is asked in one namespace."""
        return self.namespaces is not None and any(ns is not None for ns in self.namespaces)

    @property
    def leave_one_out(self) -> bool:
        """True when each query's own record is left out of its ground truth and results."""
        return self.own_positions is not None


def user_queries(vectors: npt.ArrayLike, origin: str = "the given query vectors") -> QuerySet:
    """A query set from the user's own vectors (labelled by row number)."""
    q = np.ascontiguousarray(np.asarray(vectors, dtype=np.float32))
    if q.ndim != 2 or not np.isfinite(q).all():
        raise InvalidInputError(f"query vectors must be a finite 2-D array (rows are queries), got shape {q.shape}")
    return QuerySet(vectors=q, labels=tuple(range(q.shape[0])), sampled=False, origin=origin)


def load_query_file(path: str | Path) -> QuerySet:
    """The queries of a ``.npy`` or ``.jsonl`` query file (module docstring); ``UsageError`` otherwise."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"query file {path} not found")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        return _load_npy(path)
    if suffix in (".jsonl", ".ndjson"):
        return _load_jsonl(path)
    raise UsageError(
        f"query file {path}: use a .npy array (one query vector a row) or a .jsonl file (one JSON object a line "
        'with "vector" and optionally "id", "namespace", "filter", "sparse")'
    )


def _load_npy(path: Path) -> QuerySet:
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise UsageError(f"query file {path} is not a .npy array ({' '.join(str(exc).split())})") from None
    numeric = np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)
    if array.ndim != 2 or not numeric or array.shape[0] == 0 or array.shape[1] == 0:
        raise UsageError(
            f"query file {path} must hold a non-empty 2-D numeric array (one query vector a row), "
            f"got {array.dtype} {array.shape}"
        )
    if array.shape[0] > MAX_FILE_QUERIES:
        raise UsageError(f"query file {path} holds {array.shape[0]:,} queries; at most {MAX_FILE_QUERIES:,}")
    vectors = np.ascontiguousarray(array, dtype=np.float32)
    bad = np.flatnonzero(~np.isfinite(vectors).all(axis=1))
    if len(bad):
        raise UsageError(f"query file {path}: row {int(bad[0])} holds NaN or infinity")
    return QuerySet(vectors=vectors, labels=tuple(range(len(vectors))), sampled=False, origin=f"query file {path.name}")


def _load_jsonl(path: Path) -> QuerySet:
    vectors: list[list[float]] = []
    labels: list[PointId] = []
    namespaces: list[str | None] = []
    filters: list[Filter | None] = []
    raw_filters: list[dict[str, Any] | None] = []
    sparse: list[SparseQuery | None] = []
    dimension: int | None = None
    try:
        with path.open(encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                at = f"{path}:{lineno}"
                if len(vectors) >= MAX_FILE_QUERIES:
                    raise UsageError(f"{at}: more than {MAX_FILE_QUERIES:,} queries in one file")
                item = _json_object(line, at)
                vector = _vector(item.get("vector"), at)
                if dimension is None:
                    dimension = len(vector)
                elif len(vector) != dimension:
                    raise UsageError(f"{at}: vector has dimension {len(vector)}, the lines before have {dimension}")
                vectors.append(vector)
                labels.append(_label(item.get("id", len(labels)), at))
                namespaces.append(_namespace(item.get("namespace"), at))
                raw = item.get("filter")
                filters.append(None if raw is None else parse_pinecone(raw, f"{at}: filter"))
                raw_filters.append(raw)
                sparse.append(None if item.get("sparse") is None else _sparse(item["sparse"], at))
    except UnicodeDecodeError as exc:
        raise UsageError(f"query file {path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    if not vectors:
        raise UsageError(f"query file {path} holds no queries")
    if len(set(labels)) != len(labels):
        raise UsageError(f'query file {path}: two lines have the same "id"; ids label queries in reports')
    return QuerySet(
        vectors=np.asarray(vectors, dtype=np.float32),
        labels=tuple(labels),
        sampled=False,
        namespaces=tuple(namespaces) if any(ns is not None for ns in namespaces) else None,
        filters=tuple(filters) if any(f is not None for f in filters) else None,
        sparse=tuple(sparse) if any(s is not None for s in sparse) else None,
        origin=f"query file {path.name}",
        raw_filters=tuple(raw_filters) if any(f is not None for f in raw_filters) else None,
    )


def _json_object(line: str, at: str) -> dict[str, Any]:
    try:
        item = json.loads(line)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{at}: not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(item, dict):
        raise UsageError(f'{at}: each line must be a JSON object with "vector", got {type(item).__name__}')
    unknown = sorted(set(item) - LINE_KEYS)
    if unknown:
        raise UsageError(f"{at}: unknown key(s) {unknown}; a line may hold {', '.join(sorted(LINE_KEYS))}")
    return item


def _finite_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and np.isfinite(value)


def _vector(value: Any, at: str) -> list[float]:
    if value is None:
        raise UsageError(f'{at}: "vector" is missing (a list of numbers)')
    if not isinstance(value, list) or not value or not all(_finite_number(v) for v in value):
        raise UsageError(f'{at}: "vector" must be a non-empty list of finite numbers')
    return [float(v) for v in value]


def _label(value: Any, at: str) -> PointId:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise UsageError(f'{at}: "id" must be a string or an integer, got {value!r}')
    return value


def _namespace(value: Any, at: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise UsageError(f'{at}: "namespace" must be a string, got {value!r}')


def _sparse(value: Any, at: str) -> SparseQuery:
    if not isinstance(value, dict) or set(value) != {"indices", "values"}:
        raise UsageError(f'{at}: "sparse" must be {{"indices": [...], "values": [...]}}')
    indices, values = value["indices"], value["values"]
    if not isinstance(indices, list) or not isinstance(values, list) or len(indices) != len(values) or not indices:
        raise UsageError(f'{at}: "sparse" needs non-empty "indices" and "values" lists of the same length')
    if not all(isinstance(i, int) and not isinstance(i, bool) and 0 <= i < 2**32 for i in indices):
        raise UsageError(f'{at}: "sparse" indices must be integers from 0 to 2^32 - 1')
    if len(set(indices)) != len(indices):
        raise UsageError(f'{at}: "sparse" repeats an index')
    if not all(_finite_number(v) for v in values):
        raise UsageError(f'{at}: "sparse" values must be finite numbers')
    return SparseQuery(np.asarray(indices, dtype=np.uint32), np.asarray(values, dtype=np.float32))


def has_sparse_vectors(schema: CollectionSchema) -> bool:
    """True when the collection holds sparse vectors (``CollectionSchema.sparse_vectors``, where the
    schema carries them)."""
    return bool(getattr(schema, "sparse_vectors", None))


def check_against_source(
    queries: QuerySet, schema: CollectionSchema, source_uri: str, *, confined_to: str | None = None
) -> None:
    """``UsageError`` (one line) when the source cannot answer ``queries``: another dimension, sparse
    queries without sparse vectors on the source, namespaces on a source without them, or outside the
    namespace its URI is confined to (``confined_to``)."""
    dimension = queries.vectors.shape[1]
    if dimension != schema.dimension:
        raise DimensionMismatchError(
            f"the query vectors ({queries.origin}) have dimension {dimension} but the source has dimension "
            f"{schema.dimension}"
        )
    if queries.sparse is not None and not has_sparse_vectors(schema):
        first = next(i for i, s in enumerate(queries.sparse) if s is not None)
        raise UsageError(
            f"query {queries.labels[first]!r} ({queries.origin}) has a sparse vector but the source {source_uri} holds "
            'no sparse vectors; drop the "sparse" keys or certify against the hybrid index'
        )
    if queries.scoped:
        assert queries.namespaces is not None
        named = sorted({ns for ns in queries.namespaces if ns is not None})
        if schema.backend not in PARTITIONED_BACKENDS:
            raise UsageError(
                f"the queries ({queries.origin}) name namespaces ({', '.join(map(repr, named[:3]))}) but the source "
                f'{source_uri} ({schema.backend}) has none; drop the "namespace" keys'
            )
        outside = [ns for ns in named if confined_to is not None and ns != confined_to]
        if outside:
            raise UsageError(
                f"the queries ({queries.origin}) ask namespace {outside[0]!r} but the source URI {source_uri} is "
                f"confined to namespace {confined_to!r}"
            )


def subset(queries: QuerySet, rows: I64) -> QuerySet:
    """The queries at ``rows`` (in that order), with everything that goes with them."""
    idx = np.asarray(rows, dtype=np.int64)
    pick = idx.tolist()

    def take(values: tuple[Any, ...] | None) -> tuple[Any, ...] | None:
        return None if values is None else tuple(values[i] for i in pick)

    return QuerySet(
        vectors=np.ascontiguousarray(queries.vectors[idx]),
        labels=tuple(queries.labels[i] for i in pick),
        sampled=queries.sampled,
        namespaces=take(queries.namespaces),
        filters=take(queries.filters),
        sparse=take(queries.sparse),
        own_positions=None if queries.own_positions is None else queries.own_positions[idx],
        origin=queries.origin,
        raw_filters=take(queries.raw_filters),
    )


def check_namespaces_hold_records(queries: QuerySet, store: VectorStore) -> None:
    """``UsageError`` when a query asks a namespace in which ``store`` (the source) holds no record."""
    if not queries.scoped or queries.namespaces is None:
        return
    for namespace in sorted({ns for ns in queries.namespaces if ns is not None}):
        if store.count_filtered(None, namespace=namespace) == 0:
            raise UsageError(
                f"the queries ({queries.origin}) ask namespace {namespace!r}, which holds no records on the source "
                f"{store.uri}"
            )
