"""Value types shared by every layer: batches of records, collection schemas, search results, checks.

This module imports neither pytest nor any vendor SDK (a layering test keeps it so).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from itertools import pairwise
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt

PointId: TypeAlias = str | int
"""A record id: a non-negative int or a string (Qdrant accepts only UUID strings; Pinecone any ASCII)."""

Payload: TypeAlias = dict[str, Any]
Vectors: TypeAlias = npt.NDArray[np.float32]
_UINT32_MAX = 2**32 - 1


class Distance(StrEnum):
    """Canonical distance names (Qdrant's semantics: euclid score is the plain distance)."""

    COSINE = "cosine"
    DOT = "dot"
    EUCLID = "euclid"
    MANHATTAN = "manhattan"

    @classmethod
    def parse(cls, name: str) -> Distance:
        """Map a vendor or user spelling (Cosine, dotproduct, euclidean, l2, ...) to the canonical name."""
        key = name.strip().lower()
        aliases = {
            "cosine": cls.COSINE,
            "cos": cls.COSINE,
            "dot": cls.DOT,
            "dotproduct": cls.DOT,
            "ip": cls.DOT,
            "euclid": cls.EUCLID,
            "euclidean": cls.EUCLID,
            "l2": cls.EUCLID,
            "manhattan": cls.MANHATTAN,
            "l1": cls.MANHATTAN,
        }
        if key not in aliases:
            raise ValueError(f"unknown distance {name!r}; use one of cosine, dot, euclid, manhattan")
        return aliases[key]

    @property
    def higher_is_better(self) -> bool:
        """True when a larger score means a closer match."""
        return self in (Distance.COSINE, Distance.DOT)


def as_vectors(values: Any, dimension: int | None = None) -> Vectors:
    """Return ``values`` as a C-contiguous 2-D float32 array (rows are vectors)."""
    arr = np.ascontiguousarray(np.asarray(values, dtype=np.float32))
    if arr.ndim == 1:
        arr = arr.reshape(1, -1) if arr.size else arr.reshape(0, dimension or 0)
    if arr.ndim != 2:
        raise ValueError(f"vectors must be a 2-D array, got shape {arr.shape}")
    return arr


Bools: TypeAlias = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class SparseColumn:
    """One sparse vector per record of a batch, in compressed sparse rows (CSR).

    Row ``i`` has the entries ``indices[indptr[i]:indptr[i + 1]]`` with ``values`` at the same positions
    (indices are uint32, as Pinecone and Qdrant hold them; values float32). A row without entries is a
    record without this sparse vector: absent and empty are one value. The order of indices within a
    row carries no meaning (``canonical()`` sorts them).
    """

    indptr: npt.NDArray[np.int64]
    indices: npt.NDArray[np.uint32]
    values: npt.NDArray[np.float32]

    def __post_init__(self) -> None:
        if self.indptr.ndim != 1 or len(self.indptr) < 1 or self.indptr[0] != 0:
            raise ValueError("a sparse column's indptr starts at 0 and has one entry per row plus one")
        if len(self.indices) != len(self.values) or int(self.indptr[-1]) != len(self.indices):
            raise ValueError(
                f"a sparse column has {len(self.indices)} indices, {len(self.values)} values and "
                f"indptr ending at {int(self.indptr[-1])}"
            )

    @classmethod
    def empty(cls, rows: int = 0) -> SparseColumn:
        """``rows`` records without entries."""
        return cls(np.zeros(rows + 1, dtype=np.int64), np.zeros(0, dtype=np.uint32), np.zeros(0, dtype=np.float32))

    @classmethod
    def from_rows(cls, rows: Iterable[tuple[Sequence[int], Sequence[float]] | None]) -> SparseColumn:
        """A column from per-record ``(indices, values)`` pairs (``None`` for a record without one).

        ``ValueError`` for indices outside uint32, indices and values of different lengths, or an index
        repeated within a row.
        """
        idx_parts: list[Any] = []
        val_parts: list[Any] = []
        lengths: list[int] = []
        for row in rows:
            if row is None:
                lengths.append(0)
                continue
            idx = np.asarray(row[0], dtype=np.int64).reshape(-1)
            val = np.asarray(row[1], dtype=np.float32).reshape(-1)
            if len(idx) != len(val):
                raise ValueError(f"a sparse vector has {len(idx)} indices but {len(val)} values")
            if len(idx) and (idx.min() < 0 or idx.max() > _UINT32_MAX):
                raise ValueError("sparse vector indices must be between 0 and 2^32 - 1")
            if len(np.unique(idx)) != len(idx):
                raise ValueError("a sparse vector repeats an index")
            idx_parts.append(idx.astype(np.uint32))
            val_parts.append(val)
            lengths.append(len(idx))
        indptr = np.zeros(len(lengths) + 1, dtype=np.int64)
        np.cumsum(lengths, out=indptr[1:])
        indices = np.concatenate(idx_parts) if idx_parts else np.zeros(0, dtype=np.uint32)
        values = np.concatenate(val_parts) if val_parts else np.zeros(0, dtype=np.float32)
        return cls(indptr, indices.astype(np.uint32, copy=False), values.astype(np.float32, copy=False))

    def __len__(self) -> int:
        return len(self.indptr) - 1

    @property
    def nnz(self) -> int:
        """Entries in every row together."""
        return len(self.indices)

    def row_lengths(self) -> npt.NDArray[np.int64]:
        """Entries per row (0: the record has no such sparse vector)."""
        return np.diff(self.indptr)

    def row(self, i: int) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.float32]]:
        """(indices, values) of row ``i``."""
        start, stop = int(self.indptr[i]), int(self.indptr[i + 1])
        return self.indices[start:stop], self.values[start:stop]

    def rows(self) -> list[tuple[list[int], list[float]] | None]:
        """Each row as Python lists (None for a row without entries): what vendor SDKs take."""
        indices, values = self.indices.tolist(), self.values.tolist()
        ends = self.indptr.tolist()
        return [(indices[a:b], values[a:b]) if b > a else None for a, b in pairwise(ends)]

    def take(self, rows: Sequence[int] | npt.NDArray[np.intp]) -> SparseColumn:
        """The rows at ``rows`` (in that order)."""
        picked = np.asarray(rows, dtype=np.int64).reshape(-1)
        starts, stops = self.indptr[picked], self.indptr[picked + 1]
        lengths = stops - starts
        indptr = np.zeros(len(picked) + 1, dtype=np.int64)
        np.cumsum(lengths, out=indptr[1:])
        if not len(picked) or not indptr[-1]:
            return SparseColumn.empty(len(picked))
        # Positions of every kept entry: each row's start plus 0..length-1.
        offsets = np.arange(int(indptr[-1]), dtype=np.int64) - np.repeat(indptr[:-1], lengths)
        positions = np.repeat(starts, lengths) + offsets
        return SparseColumn(indptr, self.indices[positions], self.values[positions])

    def slice(self, start: int, stop: int) -> SparseColumn:
        """Rows ``start`` to ``stop`` (exclusive)."""
        stop = min(stop, len(self))
        start = min(start, stop)
        a, b = int(self.indptr[start]), int(self.indptr[stop])
        return SparseColumn(self.indptr[start : stop + 1] - a, self.indices[a:b], self.values[a:b])

    @staticmethod
    def concat(columns: Sequence[SparseColumn]) -> SparseColumn:
        """One column holding the rows of ``columns`` in order."""
        if not columns:
            return SparseColumn.empty()
        if len(columns) == 1:
            return columns[0]
        lengths = np.concatenate([c.row_lengths() for c in columns])
        indptr = np.zeros(len(lengths) + 1, dtype=np.int64)
        np.cumsum(lengths, out=indptr[1:])
        return SparseColumn(
            indptr, np.concatenate([c.indices for c in columns]), np.concatenate([c.values for c in columns])
        )

    def canonical(self) -> SparseColumn:
        """The same rows with each row's indices in ascending order (values following)."""
        if self.nnz == 0:
            return self
        row_of = np.repeat(np.arange(len(self), dtype=np.int64), self.row_lengths())
        order = np.lexsort((self.indices, row_of))
        return SparseColumn(self.indptr, self.indices[order], self.values[order])


@dataclass(frozen=True, slots=True)
class DenseColumn:
    """One named dense vector per record of a batch: ``vectors[i]``, where ``present[i]`` (None: every
    record has it). A record may lack a named vector in Qdrant; its row holds zeros then."""

    vectors: Vectors
    present: Bools | None = None

    def __post_init__(self) -> None:
        if self.vectors.ndim != 2:
            raise ValueError(f"named vectors must be a 2-D array, got shape {self.vectors.shape}")
        if self.present is not None and self.present.shape != (len(self.vectors),):
            raise ValueError(f"{len(self.vectors)} named vectors but a presence mask of shape {self.present.shape}")

    @classmethod
    def of(cls, values: Any, present: Any = None) -> DenseColumn:
        """A column from any array-like (rows are vectors); ``present`` all-true becomes None."""
        mask = None if present is None else np.asarray(present, dtype=bool).reshape(-1)
        return cls(as_vectors(values), None if mask is None or mask.all() else mask)

    def __len__(self) -> int:
        return len(self.vectors)

    @property
    def dimension(self) -> int:
        """Vector dimension."""
        return int(self.vectors.shape[1])

    def present_rows(self) -> Bools:
        """Per row: True when the record has this vector."""
        return np.ones(len(self.vectors), dtype=bool) if self.present is None else self.present

    def take(self, rows: Sequence[int] | npt.NDArray[np.intp]) -> DenseColumn:
        """The rows at ``rows`` (in that order)."""
        idx = np.asarray(rows, dtype=np.int64).reshape(-1)
        mask = None if self.present is None else self.present[idx]
        return DenseColumn(np.ascontiguousarray(self.vectors[idx]), mask)

    def slice(self, start: int, stop: int) -> DenseColumn:
        """Rows ``start`` to ``stop`` (exclusive)."""
        return DenseColumn(self.vectors[start:stop], None if self.present is None else self.present[start:stop])

    @staticmethod
    def concat(columns: Sequence[DenseColumn]) -> DenseColumn:
        """One column holding the rows of ``columns`` in order (they share a dimension)."""
        if len(columns) == 1:
            return columns[0]
        masks = None
        if any(c.present is not None for c in columns):
            masks = np.concatenate([c.present_rows() for c in columns])
        return DenseColumn(np.concatenate([c.vectors for c in columns]), masks)


def _concat_columns(
    batches: Sequence[RecordBatch], attr: str, blank: Callable[[RecordBatch, str], Any], join: Callable[[Any], Any]
) -> dict[str, Any]:
    """Per name, the columns of ``attr`` (``named`` or ``sparse``) of every batch joined; a batch without
    a name contributes ``blank(batch, name)`` (absent rows)."""
    names = sorted({name for b in batches for name in getattr(b, attr)})
    return {name: join([getattr(b, attr).get(name) or blank(b, name) for b in batches]) for name in names}


@dataclass(frozen=True, slots=True)
class RecordBatch:
    """A batch of records: ``ids[i]`` has vector ``vectors[i]`` and payload ``payloads[i]``.

    ``namespaces`` is set only by stores that partition records (Pinecone); ``namespaces[i]`` is the
    namespace of record ``i`` ("" is Pinecone's default namespace).

    ``vectors`` is the default dense vector (Qdrant's unnamed vector, Pinecone's ``values``; zero columns
    when the collection has none). ``named`` holds the other dense vectors by name, ``sparse`` the sparse
    vectors by name (Pinecone's ``sparse_values`` under ``records.PINECONE_SPARSE``); both are empty in
    the common case, so a batch of one dense vector costs what it always did.
    """

    ids: tuple[PointId, ...]
    vectors: Vectors
    payloads: tuple[Payload, ...]
    namespaces: tuple[str, ...] | None = None
    named: Mapping[str, DenseColumn] = field(default_factory=dict)
    sparse: Mapping[str, SparseColumn] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.ids)
        if self.vectors.ndim != 2 or self.vectors.shape[0] != n:
            raise ValueError(f"batch has {n} ids but vectors of shape {self.vectors.shape}")
        if len(self.payloads) != n:
            raise ValueError(f"batch has {n} ids but {len(self.payloads)} payloads")
        if self.namespaces is not None and len(self.namespaces) != n:
            raise ValueError(f"batch has {n} ids but {len(self.namespaces)} namespaces")
        for name, column in self.named.items():
            if len(column) != n:
                raise ValueError(f"batch has {n} ids but {len(column)} rows of named vector {name!r}")
        for name, sparse in self.sparse.items():
            if len(sparse) != n:
                raise ValueError(f"batch has {n} ids but {len(sparse)} rows of sparse vector {name!r}")

    @classmethod
    def build(
        cls,
        ids: Iterable[PointId],
        vectors: Any,
        payloads: Iterable[Payload | None] | None = None,
        namespaces: Iterable[str] | None = None,
        *,
        named: Mapping[str, Any] | None = None,
        sparse: Mapping[str, SparseColumn | Iterable[tuple[Sequence[int], Sequence[float]] | None]] | None = None,
    ) -> RecordBatch:
        """Build a batch from loose inputs: any array-like vectors, ``None`` payloads become ``{}``;
        ``named`` values may be array-likes or ``DenseColumn``s, ``sparse`` values ``SparseColumn``s or
        per-record ``(indices, values)`` pairs (None for none)."""
        id_tuple = tuple(ids)
        vecs = as_vectors(vectors)
        if vecs.shape == (0, 0) and id_tuple:
            vecs = np.zeros((len(id_tuple), 0), dtype=np.float32)
        pl = tuple({} if p is None else p for p in payloads) if payloads is not None else ({},) * len(id_tuple)
        ns = tuple(namespaces) if namespaces is not None else None
        named_columns = {
            name: col if isinstance(col, DenseColumn) else DenseColumn.of(col) for name, col in (named or {}).items()
        }
        sparse_columns = {
            name: col if isinstance(col, SparseColumn) else SparseColumn.from_rows(col)
            for name, col in (sparse or {}).items()
        }
        return cls(ids=id_tuple, vectors=vecs, payloads=pl, namespaces=ns, named=named_columns, sparse=sparse_columns)

    @classmethod
    def empty(cls, dimension: int = 0) -> RecordBatch:
        """A batch with no records."""
        return cls(ids=(), vectors=np.zeros((0, dimension), dtype=np.float32), payloads=())

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def dimension(self) -> int:
        """Vector dimension of this batch."""
        return int(self.vectors.shape[1])

    def with_columns(
        self, named: Mapping[str, DenseColumn] | None = None, sparse: Mapping[str, SparseColumn] | None = None
    ) -> RecordBatch:
        """This batch with its named and sparse vectors replaced (None keeps them)."""
        return RecordBatch(
            self.ids,
            self.vectors,
            self.payloads,
            self.namespaces,
            self.named if named is None else named,
            self.sparse if sparse is None else sparse,
        )

    def take(self, indices: Sequence[int] | npt.NDArray[np.intp]) -> RecordBatch:
        """The sub-batch at ``indices`` (in that order)."""
        idx = [int(i) for i in indices]
        return RecordBatch(
            ids=tuple(self.ids[i] for i in idx),
            vectors=np.ascontiguousarray(self.vectors[idx]),
            payloads=tuple(self.payloads[i] for i in idx),
            namespaces=tuple(self.namespaces[i] for i in idx) if self.namespaces is not None else None,
            named={name: c.take(idx) for name, c in self.named.items()} if self.named else {},
            sparse={name: c.take(idx) for name, c in self.sparse.items()} if self.sparse else {},
        )

    def slice(self, start: int, stop: int) -> RecordBatch:
        """Records ``start`` to ``stop`` (exclusive)."""
        return RecordBatch(
            ids=self.ids[start:stop],
            vectors=self.vectors[start:stop],
            payloads=self.payloads[start:stop],
            namespaces=self.namespaces[start:stop] if self.namespaces is not None else None,
            named={name: c.slice(start, stop) for name, c in self.named.items()} if self.named else {},
            sparse={name: c.slice(start, stop) for name, c in self.sparse.items()} if self.sparse else {},
        )

    @staticmethod
    def concat(batches: Sequence[RecordBatch]) -> RecordBatch:
        """One batch holding every record of ``batches`` in order."""
        batches = [b for b in batches if len(b)]
        if not batches:
            return RecordBatch.empty()
        has_ns = any(b.namespaces is not None for b in batches)
        named: dict[str, Any] = {}
        sparse: dict[str, Any] = {}
        if any(b.named for b in batches):
            dims = {name: c.dimension for b in batches for name, c in b.named.items()}
            named = _concat_columns(
                batches,
                "named",
                lambda b, name: DenseColumn(
                    np.zeros((len(b), dims[name]), dtype=np.float32), np.zeros(len(b), dtype=bool)
                ),
                DenseColumn.concat,
            )
        if any(b.sparse for b in batches):
            sparse = _concat_columns(batches, "sparse", lambda b, _: SparseColumn.empty(len(b)), SparseColumn.concat)
        return RecordBatch(
            ids=tuple(i for b in batches for i in b.ids),
            vectors=np.concatenate([b.vectors for b in batches]),
            payloads=tuple(p for b in batches for p in b.payloads),
            namespaces=tuple(n for b in batches for n in (b.namespaces or ("",) * len(b))) if has_ns else None,
            named=named,
            sparse=sparse,
        )


@dataclass(frozen=True, slots=True)
class HnswConfig:
    """HNSW graph parameters. ``full_scan_threshold`` is in KB, as Qdrant counts it."""

    m: int
    ef_construct: int
    full_scan_threshold: int | None = None


@dataclass(frozen=True, slots=True)
class DenseVectorParams:
    """A named dense vector of a collection: its dimension, distance and stored datatype."""

    dimension: int
    distance: Distance
    datatype: str = "float32"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"dimension": self.dimension, "distance": str(self.distance), "datatype": self.datatype}


SPARSE_MODIFIERS = ("none", "idf")


@dataclass(frozen=True, slots=True)
class SparseVectorParams:
    """A named sparse vector of a collection. ``modifier``: ``none``, or ``idf`` (Qdrant weighs each
    index by its inverse document frequency at query time; the stored values are the same)."""

    modifier: str = "none"

    def __post_init__(self) -> None:
        if self.modifier not in SPARSE_MODIFIERS:
            raise ValueError(f"sparse modifier {self.modifier!r} is not one of {', '.join(SPARSE_MODIFIERS)}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"modifier": self.modifier}


@dataclass(frozen=True, slots=True)
class CollectionSchema:
    """What a collection is: the parts that change search results, and the index that serves them.

    ``dimension``/``distance``/``datatype`` are the default dense vector's (Qdrant's unnamed vector,
    Pinecone's ``values``); ``dimension`` 0 means the collection has no default dense vector (only named
    or sparse ones). ``named_vectors`` are the other dense vectors by name, ``sparse_vectors`` the sparse
    ones by name (Pinecone: ``records.PINECONE_SPARSE`` when the index holds sparse values).

    ``index_config_reported`` is False when the backend cannot report its index configuration
    (qdrant-client local mode reports fake defaults; Pinecone exposes none): schema checks must then
    say "not comparable", never "equal".
    """

    dimension: int
    distance: Distance
    datatype: str = "float32"
    hnsw: HnswConfig | None = None
    quantization: str | None = None
    payload_indexes: Mapping[str, str] = field(default_factory=dict)
    index_config_reported: bool = True
    backend: str = ""
    named_vectors: Mapping[str, DenseVectorParams] = field(default_factory=dict)
    sparse_vectors: Mapping[str, SparseVectorParams] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (used in verdicts and runbooks)."""
        out: dict[str, Any] = {
            "dimension": self.dimension,
            "distance": str(self.distance),
            "datatype": self.datatype,
            "hnsw": None
            if self.hnsw is None
            else {
                "m": self.hnsw.m,
                "ef_construct": self.hnsw.ef_construct,
                "full_scan_threshold": self.hnsw.full_scan_threshold,
            },
            "quantization": self.quantization,
            "payload_indexes": dict(self.payload_indexes),
            "index_config_reported": self.index_config_reported,
            "backend": self.backend,
        }
        if self.named_vectors:
            out["named_vectors"] = {name: p.to_dict() for name, p in sorted(self.named_vectors.items())}
        if self.sparse_vectors:
            out["sparse_vectors"] = {name: p.to_dict() for name, p in sorted(self.sparse_vectors.items())}
        return out


@dataclass(frozen=True, slots=True)
class SearchResult:
    """Results of a batch of queries: ``ids[q]`` best first, ``scores[q]`` aligned with it.

    Scores follow the store's native semantics (see ``Distance.higher_is_better``).
    ``namespaces[q]`` is set only by stores that partition records.
    """

    ids: tuple[tuple[PointId, ...], ...]
    scores: tuple[tuple[float, ...], ...]
    namespaces: tuple[tuple[str, ...], ...] | None = None

    def __len__(self) -> int:
        return len(self.ids)


class Status(StrEnum):
    """Outcome of one check, and of a verdict (a verdict is only ever pass, fail or error).

    ``ERROR`` means the check could not run (a store died mid-run, an exception inside the check):
    it is never read as a pass.
    """

    PASS = "pass"
    FAIL = "fail"
    WARN = "warn"
    SKIP = "skip"
    ERROR = "error"

    @property
    def exit_code(self) -> int:
        """The command-line exit code of a verdict with this status: 0 pass, 1 fail, 2 error."""
        return {Status.PASS: 0, Status.FAIL: 1}.get(self, 2)


def _jsonable(value: Any) -> Any:
    """Make numpy scalars/arrays, tuples and non-finite floats JSON-safe."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return [_jsonable(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        return _jsonable(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, StrEnum):
        return str(value)
    return value


@dataclass(frozen=True, slots=True)
class Check:
    """One verified fact with a stable id (e.g. ``parity.ids``), as it appears in a JSON verdict."""

    id: str
    status: Status
    observed: Any = None
    expected: Any = None
    message: str = ""
    details: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, keys in the order of design.md."""
        return {
            "id": self.id,
            "status": str(self.status),
            "observed": _jsonable(self.observed),
            "expected": _jsonable(self.expected),
            "message": self.message,
            "details": _jsonable(dict(self.details)),
        }


VERDICT_SCHEMA_VERSION = 2
"""Version of the JSON verdict's shape (design.md); bumped on any incompatible change."""


@dataclass(frozen=True, slots=True)
class Verdict:
    """The JSON verdict of certify, migrate, gameday and run (design.md, schema version 2).

    ``verdict`` is ``error`` when the run did not complete (no checks at all, ``incomplete`` set, or any
    check in ``error``), else ``fail`` when any check failed, else ``pass``: a pass is evidence, never
    the absence of it. ``accepted`` names the check ids a thresholds file accepted (their drift is a warn).
    """

    checks: tuple[Check, ...]
    source: Mapping[str, Any] = field(default_factory=dict)
    target: Mapping[str, Any] = field(default_factory=dict)
    duration_s: float = 0.0
    started_at: str | None = None
    finished_at: str | None = None
    thresholds: Mapping[str, Any] = field(default_factory=dict)
    accepted: tuple[str, ...] = ()
    incomplete: str | None = None
    """Why the run did not complete (e.g. "checks parity.* did not run"); forces ``error``."""

    @property
    def verdict(self) -> Status:
        """ERROR when the run is incomplete or has no checks, FAIL when a check failed, else PASS."""
        if self.incomplete or not self.checks or any(c.status is Status.ERROR for c in self.checks):
            return Status.ERROR
        return Status.FAIL if any(c.status is Status.FAIL for c in self.checks) else Status.PASS

    @property
    def passed(self) -> bool:
        """True only for a complete run in which no check failed."""
        return self.verdict is Status.PASS

    @property
    def exit_code(self) -> int:
        """0 pass, 1 fail, 2 error."""
        return self.verdict.exit_code

    def check(self, check_id: str) -> Check:
        """The check with id ``check_id``; KeyError when absent."""
        for c in self.checks:
            if c.id == check_id:
                return c
        raise KeyError(check_id)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form of design.md's verdict (schema version 2)."""
        from harness._version import __version__

        out: dict[str, Any] = {
            "schema_version": VERDICT_SCHEMA_VERSION,
            "tool": {"name": "ragmig", "version": __version__},
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "verdict": str(self.verdict),
            "source": _jsonable(dict(self.source)),
            "target": _jsonable(dict(self.target)),
            "thresholds": _jsonable(dict(self.thresholds)),
            "accepted": list(self.accepted),
            "checks": [c.to_dict() for c in self.checks],
            "duration_s": round(float(self.duration_s), 3),
        }
        if self.incomplete:
            out["incomplete"] = self.incomplete
        return out

    def to_json(self) -> str:
        """Serialised verdict (indent 2, stable key order)."""
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Verdict:
        """Rebuild a verdict from its JSON form."""
        checks = tuple(
            Check(
                id=c["id"],
                status=Status(c["status"]),
                observed=c.get("observed"),
                expected=c.get("expected"),
                message=c.get("message", ""),
                details=c.get("details") or {},
            )
            for c in data.get("checks", [])
        )
        return cls(
            checks=checks,
            source=data.get("source") or {},
            target=data.get("target") or {},
            duration_s=float(data.get("duration_s", 0.0)),
            started_at=data.get("started_at"),
            finished_at=data.get("finished_at"),
            thresholds=data.get("thresholds") or {},
            accepted=tuple(data.get("accepted") or ()),
            incomplete=data.get("incomplete"),
        )
