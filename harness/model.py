"""Value types shared by every layer: batches of records, collection schemas, search results, checks.

This module imports neither pytest nor any vendor SDK (a layering test keeps it so).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt

PointId: TypeAlias = str | int
"""A record id: a non-negative int or a string (Qdrant accepts only UUID strings; Pinecone any ASCII)."""

Payload: TypeAlias = dict[str, Any]
Vectors: TypeAlias = npt.NDArray[np.float32]


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


@dataclass(frozen=True, slots=True)
class RecordBatch:
    """A batch of records: ``ids[i]`` has vector ``vectors[i]`` and payload ``payloads[i]``.

    ``namespaces`` is set only by stores that partition records (Pinecone); ``namespaces[i]`` is the
    namespace of record ``i`` ("" is Pinecone's default namespace).
    """

    ids: tuple[PointId, ...]
    vectors: Vectors
    payloads: tuple[Payload, ...]
    namespaces: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        n = len(self.ids)
        if self.vectors.ndim != 2 or self.vectors.shape[0] != n:
            raise ValueError(f"batch has {n} ids but vectors of shape {self.vectors.shape}")
        if len(self.payloads) != n:
            raise ValueError(f"batch has {n} ids but {len(self.payloads)} payloads")
        if self.namespaces is not None and len(self.namespaces) != n:
            raise ValueError(f"batch has {n} ids but {len(self.namespaces)} namespaces")

    @classmethod
    def build(
        cls,
        ids: Iterable[PointId],
        vectors: Any,
        payloads: Iterable[Payload | None] | None = None,
        namespaces: Iterable[str] | None = None,
    ) -> RecordBatch:
        """Build a batch from loose inputs: any array-like vectors, ``None`` payloads become ``{}``."""
        id_tuple = tuple(ids)
        vecs = as_vectors(vectors)
        pl = tuple({} if p is None else p for p in payloads) if payloads is not None else ({},) * len(id_tuple)
        ns = tuple(namespaces) if namespaces is not None else None
        return cls(ids=id_tuple, vectors=vecs, payloads=pl, namespaces=ns)

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

    def take(self, indices: Sequence[int] | npt.NDArray[np.intp]) -> RecordBatch:
        """The sub-batch at ``indices`` (in that order)."""
        idx = [int(i) for i in indices]
        return RecordBatch(
            ids=tuple(self.ids[i] for i in idx),
            vectors=np.ascontiguousarray(self.vectors[idx]),
            payloads=tuple(self.payloads[i] for i in idx),
            namespaces=tuple(self.namespaces[i] for i in idx) if self.namespaces is not None else None,
        )

    def slice(self, start: int, stop: int) -> RecordBatch:
        """Records ``start`` to ``stop`` (exclusive)."""
        return RecordBatch(
            ids=self.ids[start:stop],
            vectors=self.vectors[start:stop],
            payloads=self.payloads[start:stop],
            namespaces=self.namespaces[start:stop] if self.namespaces is not None else None,
        )

    @staticmethod
    def concat(batches: Sequence[RecordBatch]) -> RecordBatch:
        """One batch holding every record of ``batches`` in order."""
        batches = [b for b in batches if len(b)]
        if not batches:
            return RecordBatch.empty()
        has_ns = any(b.namespaces is not None for b in batches)
        return RecordBatch(
            ids=tuple(i for b in batches for i in b.ids),
            vectors=np.concatenate([b.vectors for b in batches]),
            payloads=tuple(p for b in batches for p in b.payloads),
            namespaces=tuple(n for b in batches for n in (b.namespaces or ("",) * len(b))) if has_ns else None,
        )


@dataclass(frozen=True, slots=True)
class HnswConfig:
    """HNSW graph parameters. ``full_scan_threshold`` is in KB, as Qdrant counts it."""

    m: int
    ef_construct: int
    full_scan_threshold: int | None = None


@dataclass(frozen=True, slots=True)
class CollectionSchema:
    """What a collection is: the parts that change search results, and the index that serves them.

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

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (used in verdicts and runbooks)."""
        return {
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
