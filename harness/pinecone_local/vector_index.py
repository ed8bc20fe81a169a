"""One dense index: its settings, its namespaces, and the queue of writes not yet visible.

Thread-safe through one lock per index. Writes may be held back by a read-after-write lag (a
game-day fault): a write is queued with the time it becomes visible and applied, in order, by the
first read or write that comes after that time on the injected clock. Readers therefore see a
consistent prefix of the writes, as with an eventually consistent service.
"""

from __future__ import annotations

import re
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from harness.clock import Clock
from harness.pinecone_local.api_errors import AlreadyExists, InvalidArgument, NotFound
from harness.pinecone_local.filters import Predicate
from harness.pinecone_local.namespace import F32, METRICS, Metadata, NamespaceStore, SparseValues
from harness.pinecone_local.persistence import IndexSnapshot, NamespaceSnapshot

DEFAULT_NAMESPACE_LABEL = "__default__"  # how stats and namespace listings name the "" namespace
MAX_DIMENSION = 20_000
_INDEX_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,43}[a-z0-9])?$")


# ---- index settings -----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class IndexSpec:
    """A dense vector index's settings, as the control plane describes them."""

    name: str
    dimension: int
    metric: str
    deployment: Mapping[str, Any] = field(
        default_factory=lambda: {"deployment_type": "managed", "cloud": "aws", "region": "us-east-1"}
    )
    deletion_protection: str = "disabled"
    tags: Mapping[str, str] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _INDEX_NAME.match(self.name):
            raise InvalidArgument(
                f"Invalid index name {self.name!r}: use 1-45 lowercase letters, digits and '-', "
                "starting and ending with a letter or digit"
            )
        if isinstance(self.dimension, bool) or not isinstance(self.dimension, int):
            raise InvalidArgument(f"dimension must be an integer, got {self.dimension!r}")
        if not 1 <= self.dimension <= MAX_DIMENSION:
            raise InvalidArgument(f"dimension must be between 1 and {MAX_DIMENSION}, got {self.dimension}")
        if self.metric not in METRICS:
            raise InvalidArgument(f"metric must be one of {list(METRICS)}, got {self.metric!r}")
        if self.deletion_protection not in ("enabled", "disabled"):
            raise InvalidArgument(
                f"deletion_protection must be 'enabled' or 'disabled', got {self.deletion_protection!r}"
            )

    def to_settings(self) -> dict[str, Any]:
        """JSON-safe form for snapshots."""
        return {
            "name": self.name,
            "dimension": self.dimension,
            "metric": self.metric,
            "deployment": dict(self.deployment),
            "deletion_protection": self.deletion_protection,
            "tags": dict(self.tags) if self.tags is not None else None,
        }

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> IndexSpec:
        """Inverse of :meth:`to_settings`."""
        return cls(**settings)


# ---- what reads return ----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class RecordView:
    """A record as read: values copied out of storage; ``score`` set for query matches."""

    id: str
    values: F32 | None
    sparse: SparseValues | None
    metadata: Metadata | None
    score: float | None = None


@dataclass(frozen=True, slots=True)
class IndexStats:
    """Visible record counts per namespace (label → count); empty namespaces are left out."""

    namespaces: dict[str, int]
    dimension: int
    metric: str

    @property
    def total(self) -> int:
        """Records in every namespace."""
        return sum(self.namespaces.values())


@dataclass(frozen=True, slots=True)
class NamespaceInfo:
    """A namespace as ``describe_namespace`` reports it."""

    label: str
    record_count: int
    schema: Mapping[str, Any] | None


def namespace_label(name: str) -> str:
    """The name reported for a namespace (``""`` is reported as ``__default__``)."""
    return name or DEFAULT_NAMESPACE_LABEL


@dataclass(slots=True)
class _PendingWrite:
    visible_at: float
    apply: Callable[[], None]


# ---- one index ------------------------------------------------------------------------------------
class VectorIndex:
    """One dense index: its namespaces, the queue of writes not yet visible, and its lock."""

    def __init__(self, spec: IndexSpec, clock: Clock, lag_s: Callable[[], float]) -> None:
        self.spec = spec
        self._clock = clock
        self._lag_s = lag_s
        self._lock = threading.RLock()
        self._namespaces: dict[str, NamespaceStore] = {}
        self._pending: deque[_PendingWrite] = deque()
        self.version = 0  # bumped on every applied change; snapshots compare it
        self.deleted = False

    @property
    def name(self) -> str:
        """The index name."""
        return self.spec.name

    # -- consistency -------------------------------------------------------------------------
    def _settle(self) -> None:
        """Apply, in order, every queued write whose visibility time has come."""
        if not self._pending:
            return
        now = self._clock.now()
        while self._pending and self._pending[0].visible_at <= now:
            self._pending.popleft().apply()
            self.version += 1

    def _write(self, apply: Callable[[], None]) -> None:
        """Apply a validated write now, or queue it behind the lag (and behind earlier queued writes)."""
        self._settle()
        lag = self._lag_s()
        if lag <= 0 and not self._pending:
            apply()
            self.version += 1
        else:
            self._pending.append(_PendingWrite(self._clock.now() + max(lag, 0.0), apply))

    def flush_pending(self) -> int:
        """Apply every queued write now, whatever its visibility time; returns how many."""
        with self._lock:
            n = len(self._pending)
            while self._pending:
                self._pending.popleft().apply()
                self.version += 1
            return n

    @property
    def pending_writes(self) -> int:
        """Writes accepted but not yet visible."""
        with self._lock:
            return len(self._pending)

    def _store(self, namespace: str, create: bool = False) -> NamespaceStore | None:
        store = self._namespaces.get(namespace)
        if store is None and create:
            store = NamespaceStore(namespace, self.spec.dimension)
            self._namespaces[namespace] = store
        return store

    def _check_dimension(self, values: F32) -> None:
        if values.ndim != 2 or values.shape[1] != self.spec.dimension:
            got = values.shape[-1] if values.ndim else 0
            raise InvalidArgument(
                f"Vector dimension {got} does not match the dimension of the index {self.spec.dimension}"
            )

    # -- writes ------------------------------------------------------------------------------
    def upsert(
        self,
        namespace: str,
        ids: Sequence[str],
        values: F32,
        metadata: Sequence[Metadata | None],
        sparse: Sequence[SparseValues | None],
    ) -> int:
        """Insert or overwrite records; returns how many were sent (Pinecone's ``upsertedCount``)."""
        self._check_dimension(values)
        ids, metadata, sparse = list(ids), list(metadata), list(sparse)
        values = np.array(values, dtype=np.float32, copy=True)

        def apply() -> None:
            store = self._store(namespace, create=True)
            assert store is not None
            store.upsert(ids, values, metadata, sparse)

        with self._lock:
            self._write(apply)
        return len(ids)

    def delete_ids(self, namespace: str, ids: Sequence[str]) -> None:
        """Delete these ids (absent ones are ignored)."""
        ids = list(ids)

        def apply() -> None:
            store = self._store(namespace)
            if store is not None:
                store.delete_ids(ids)

        with self._lock:
            self._write(apply)

    def delete_all(self, namespace: str) -> None:
        """Delete every record of the namespace (the namespace stays)."""

        def apply() -> None:
            store = self._store(namespace)
            if store is not None:
                store.clear()

        with self._lock:
            self._write(apply)

    def delete_by_filter(self, namespace: str, predicate: Predicate) -> None:
        """Delete every record the filter admits (evaluated when the delete becomes visible)."""

        def apply() -> None:
            store = self._store(namespace)
            if store is not None and store.count:
                mask = store.filter_mask(predicate)
                assert mask is not None
                store.delete_rows(np.flatnonzero(mask).astype(np.int64))

        with self._lock:
            self._write(apply)

    def update_by_id(
        self,
        namespace: str,
        record_id: str,
        values: F32 | None,
        sparse: SparseValues | None,
        set_metadata: Metadata | None,
    ) -> None:
        """Patch one record; an id that does not exist is a no-op, as in Pinecone."""
        if values is not None:
            self._check_dimension(values.reshape(1, -1))
            values = np.array(values, dtype=np.float32, copy=True)

        def apply() -> None:
            store = self._store(namespace)
            row = store.row_of.get(record_id) if store is not None else None
            if store is None or row is None:
                return
            if values is not None:
                store.set_values(row, values)
            if sparse is not None:
                store.set_sparse(row, sparse)
            if set_metadata:
                store.merge_metadata([row], set_metadata)

        with self._lock:
            self._write(apply)

    def update_by_filter(self, namespace: str, predicate: Predicate, set_metadata: Metadata, dry_run: bool) -> int:
        """Merge ``set_metadata`` into every record the filter admits; returns how many match now."""
        with self._lock:
            self._settle()
            store = self._store(namespace)
            matched = 0
            if store is not None and store.count:
                mask = store.filter_mask(predicate)
                assert mask is not None
                matched = int(mask.sum())
            if dry_run or not set_metadata:
                return matched

            def apply() -> None:
                target = self._store(namespace)
                if target is not None and target.count:
                    rows = target.filter_mask(predicate)
                    assert rows is not None
                    target.merge_metadata(np.flatnonzero(rows).tolist(), set_metadata)

            self._write(apply)
            return matched

    # -- reads -------------------------------------------------------------------------------
    def _view(self, store: NamespaceStore, row: int, with_values: bool, with_metadata: bool) -> RecordView:
        return RecordView(
            id=store.ids[row],
            values=store.values[row].copy() if with_values else None,
            sparse=store.sparse[row] if with_values else None,
            metadata=store.metadata[row] if with_metadata else None,
        )

    def query(
        self,
        namespace: str,
        top_k: int,
        vector: F32 | None,
        record_id: str | None,
        sparse: SparseValues | None,
        predicate: Predicate | None,
        include_values: bool,
        include_metadata: bool,
    ) -> list[RecordView]:
        """Exact top-``top_k`` matches, best first (ties by id). Querying by an unknown id finds nothing."""
        if vector is not None:
            self._check_dimension(vector.reshape(1, -1))
        if sparse is not None and self.spec.metric != "dotproduct":
            raise InvalidArgument(
                f"Sparse query vectors need an index with metric 'dotproduct'; this index uses '{self.spec.metric}'"
            )
        with self._lock:
            self._settle()
            store = self._store(namespace)
            if store is None or store.count == 0:
                return []
            if record_id is not None:
                row = store.row_of.get(record_id)
                if row is None:
                    return []
                vector = store.values[row].copy()
            if vector is None:
                raise InvalidArgument("A query on a dense index needs a 'vector' or an 'id'")
            mask = store.filter_mask(predicate)
            matches = store.top_k(vector.astype(np.float32, copy=False), self.spec.metric, top_k, mask, sparse)
            return [replace(self._view(store, m.row, include_values, include_metadata), score=m.score) for m in matches]

    def fetch(self, namespace: str, ids: Sequence[str]) -> list[RecordView]:
        """The visible records with these ids, in request order (absent ids are left out)."""
        with self._lock:
            self._settle()
            store = self._store(namespace)
            if store is None:
                return []
            seen: set[str] = set()
            out = []
            for record_id in ids:
                row = store.row_of.get(record_id)
                if row is not None and record_id not in seen:
                    seen.add(record_id)
                    out.append(self._view(store, row, True, True))
            return out

    def fetch_by_metadata(
        self, namespace: str, predicate: Predicate, limit: int, after: str | None
    ) -> tuple[list[RecordView], str | None]:
        """Up to ``limit`` admitted records in id order after ``after``; and the last id when more remain."""
        with self._lock:
            self._settle()
            store = self._store(namespace)
            if store is None or store.count == 0:
                return [], None
            mask = store.filter_mask(predicate)
            assert mask is not None
            rows = np.flatnonzero(mask)
            ordered = sorted(((store.ids[r], int(r)) for r in rows), key=lambda pair: pair[0])
            if after is not None:
                ordered = [pair for pair in ordered if pair[0] > after]
            page = ordered[:limit]
            views = [self._view(store, row, True, True) for _, row in page]
            more = len(ordered) > limit
            return views, (page[-1][0] if more and page else None)

    def list_ids(self, namespace: str, prefix: str, limit: int, after: str | None) -> tuple[list[str], str | None]:
        """One page of ids in ascending order; and the last id of the page when more remain."""
        with self._lock:
            self._settle()
            store = self._store(namespace)
            if store is None:
                return [], None
            page, more = store.ids_page(prefix, after, limit)
            return page, (page[-1] if more and page else None)

    def stats(self) -> IndexStats:
        """Visible record counts per non-empty namespace."""
        with self._lock:
            self._settle()
            counts = {namespace_label(name): s.count for name, s in sorted(self._namespaces.items()) if s.count}
            return IndexStats(counts, self.spec.dimension, self.spec.metric)

    # -- namespaces ----------------------------------------------------------------------------
    def create_namespace(self, name: str, schema: Mapping[str, Any] | None) -> NamespaceInfo:
        """Declare an empty namespace; 409 when it exists."""
        with self._lock:
            self._settle()
            if name in self._namespaces:
                raise AlreadyExists(f"Namespace {namespace_label(name)!r} already exists")
            store = self._store(name, create=True)
            assert store is not None
            store.declared = True
            store.schema = schema
            self.version += 1
            return NamespaceInfo(namespace_label(name), 0, schema)

    def describe_namespace(self, name: str) -> NamespaceInfo:
        """One namespace; the default namespace always exists, others 404 until written or created."""
        with self._lock:
            self._settle()
            store = self._store(name)
            if store is None:
                if name == "":
                    return NamespaceInfo(DEFAULT_NAMESPACE_LABEL, 0, None)
                raise NotFound(f"Namespace {name!r} not found")
            return NamespaceInfo(namespace_label(name), store.count, store.schema)

    def list_namespaces(
        self, prefix: str, limit: int, after: str | None
    ) -> tuple[list[NamespaceInfo], str | None, int]:
        """A page of namespaces in label order after ``after``; the next token's label; the total."""
        with self._lock:
            self._settle()
            infos = sorted(
                (NamespaceInfo(namespace_label(n), s.count, s.schema) for n, s in self._namespaces.items()),
                key=lambda info: info.label,
            )
            infos = [i for i in infos if i.label.startswith(prefix)]
            total = len(infos)
            if after is not None:
                infos = [i for i in infos if i.label > after]
            page = infos[:limit]
            return page, (page[-1].label if len(infos) > limit and page else None), total

    def delete_namespace(self, name: str) -> None:
        """Delete a namespace and its records; 404 when it does not exist (visibly)."""
        with self._lock:
            self._settle()
            if name not in self._namespaces and name != "":
                raise NotFound(f"Namespace {name!r} not found")

            def apply() -> None:
                self._namespaces.pop(name, None)

            self._write(apply)

    # -- persistence ----------------------------------------------------------------------------
    def snapshot(self) -> tuple[IndexSnapshot, int]:
        """A copy of the visible state for saving, and the version it reflects."""
        with self._lock:
            self._settle()
            namespaces = [
                NamespaceSnapshot(
                    name=s.name,
                    ids=list(s.ids),
                    values=s.values.copy(),
                    metadata=list(s.metadata),
                    sparse=[sp.to_wire() if sp is not None else None for sp in s.sparse],
                    declared=s.declared,
                    schema=dict(s.schema) if s.schema is not None else None,
                )
                for s in self._namespaces.values()
            ]
            return IndexSnapshot(self.spec.to_settings(), namespaces), self.version

    def restore(self, snapshot: IndexSnapshot) -> None:
        """Load saved namespaces into this (empty) index."""
        with self._lock:
            for ns in snapshot.namespaces:
                store = self._store(ns.name, create=True)
                assert store is not None
                sparse = [
                    SparseValues(tuple(sp["indices"]), tuple(sp["values"])) if sp is not None else None
                    for sp in ns.sparse
                ]
                if ns.ids:
                    store.upsert(ns.ids, ns.values.reshape(len(ns.ids), -1), ns.metadata, sparse)
                store.declared = ns.declared
                store.schema = ns.schema
