"""One dense index: its settings, its namespaces, and the queue of writes not yet visible.

Thread-safe through one lock per index. Writes may be held back by a read-after-write lag (a
game-day fault): a write is queued with the time it becomes visible and applied, in order, by the
first read or write that comes after that time on the injected clock. Readers therefore see a
consistent prefix of the writes, as with an eventually consistent service.

Durability: with a ``WriteLog`` (the server's mutation log), every write is logged before it is applied
or queued — under the index lock, so the log's order is the apply order — and the caller waits, outside
the lock, until the log made it durable. A write is one op with plain JSON fields (``_applier`` turns it
into the change it makes), so the live path and the replay after a crash apply exactly the same thing.
``applied_seq`` is the log position up to which every write of this index is applied (queued writes
are not), which is what a snapshot records and what replay starts after.
"""

from __future__ import annotations

import re
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import numpy as np

from harness.clock import Clock
from harness.pinecone_local.api_errors import AlreadyExists, InvalidArgument, NotFound, Unprocessable
from harness.pinecone_local.filters import Predicate, compile_filter
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
        if not isinstance(self.name, str):
            raise Unprocessable(f"missing or invalid field 'name': an index name is a string, got {self.name!r}"[:200])
        if not _INDEX_NAME.match(self.name):
            raise InvalidArgument(
                f"Invalid index name {self.name!r}: use 1-45 lowercase letters, digits and '-', "
                "starting and ending with a letter or digit"
            )
        if isinstance(self.dimension, bool) or not isinstance(self.dimension, int):
            raise Unprocessable(f"dimension must be an integer, got {self.dimension!r}"[:200])
        if not 1 <= self.dimension <= MAX_DIMENSION:
            raise InvalidArgument(f"dimension must be between 1 and {MAX_DIMENSION}, got {self.dimension}")
        if not isinstance(self.metric, str):
            raise Unprocessable(f"metric must be a string, got {self.metric!r}"[:200])
        if self.metric not in METRICS:
            raise InvalidArgument(f"metric must be one of {list(METRICS)}, got {self.metric!r}")
        if not isinstance(self.deletion_protection, str):
            raise Unprocessable(f"deletion_protection must be a string, got {self.deletion_protection!r}"[:200])
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


class WriteLog(Protocol):
    """Where writes go before they are applied (``mutation_log.MutationLog``)."""

    def append(self, header: dict[str, Any], blob: bytes = b"") -> int:
        """Buffer one write; returns its sequence number."""
        ...

    def wait(self, seq: int) -> None:
        """Return once write ``seq`` is durable."""
        ...


@dataclass(slots=True)
class _PendingWrite:
    visible_at: float
    apply: Callable[[], None]
    seq: int


# Ops applied through the (possibly lagged) write queue, and ops applied at once.
QUEUED_OPS = frozenset(
    {"upsert", "delete_ids", "delete_all", "delete_filter", "update_id", "update_filter", "delete_namespace"}
)
IMMEDIATE_OPS = frozenset({"create_namespace", "configure"})


# ---- one index ------------------------------------------------------------------------------------
class VectorIndex:
    """One dense index: its namespaces, the queue of writes not yet visible, and its lock."""

    def __init__(self, spec: IndexSpec, clock: Clock, lag_s: Callable[[], float], log: WriteLog | None = None) -> None:
        self.spec = spec
        self._clock = clock
        self._lag_s = lag_s
        self._log = log
        self._lock = threading.RLock()
        self._namespaces: dict[str, NamespaceStore] = {}
        self._pending: deque[_PendingWrite] = deque()
        self.version = 0  # bumped on every applied change; snapshots compare it
        self.applied_seq = 0  # every logged write of this index up to here is applied
        self.create_seq = 0  # the log frame that created this incarnation of the index
        self.deleted = False

    @property
    def name(self) -> str:
        """The index name."""
        return self.spec.name

    # -- consistency -------------------------------------------------------------------------
    def _apply(self, write: _PendingWrite) -> None:
        write.apply()
        self.version += 1
        self.applied_seq = max(self.applied_seq, write.seq)

    def _settle(self) -> None:
        """Apply, in order, every queued write whose visibility time has come."""
        if not self._pending:
            return
        now = self._clock.now()
        while self._pending and self._pending[0].visible_at <= now:
            self._apply(self._pending.popleft())

    def _write(self, apply: Callable[[], None], seq: int) -> None:
        """Apply a validated write now, or queue it behind the lag (and behind earlier queued writes)."""
        self._settle()
        lag = self._lag_s()
        write = _PendingWrite(self._clock.now() + max(lag, 0.0), apply, seq)
        if lag <= 0 and not self._pending:
            self._apply(write)
        else:
            self._pending.append(write)

    def flush_pending(self) -> int:
        """Apply every queued write now, whatever its visibility time; returns how many."""
        with self._lock:
            n = len(self._pending)
            while self._pending:
                self._apply(self._pending.popleft())
            return n

    @property
    def pending_writes(self) -> int:
        """Writes accepted but not yet visible."""
        with self._lock:
            return len(self._pending)

    @property
    def oldest_pending_seq(self) -> int | None:
        """The log position of the oldest write not yet visible (None when none waits)."""
        with self._lock:
            return self._pending[0].seq if self._pending else None

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

    # -- the log -----------------------------------------------------------------------------
    def _logged(self, op: str, fields: dict[str, Any], blob: bytes = b"") -> int:
        """Log one write (under the index lock); its seq, or 0 without a log."""
        if self._log is None:
            return 0
        return self._log.append({"op": op, "index": self.name, **fields}, blob)

    def _durable(self, seq: int) -> None:
        """Wait (outside the index lock) until write ``seq`` is durable."""
        if self._log is not None and seq:
            self._log.wait(seq)

    def _mutate(self, op: str, fields: dict[str, Any], blob: bytes = b"") -> None:
        """Log a queued write, apply or queue it, and return once it is durable."""
        apply = self._applier(op, fields, blob)
        with self._lock:
            seq = self._logged(op, fields, blob)
            self._write(apply, seq)
        self._durable(seq)

    def _applier(self, op: str, fields: Mapping[str, Any], blob: bytes) -> Callable[[], None]:
        """The change a queued write makes, from its logged fields (the live path and replay share it)."""
        namespace = str(fields["ns"])
        if op == "upsert":
            ids = list(fields["ids"])
            values = np.frombuffer(blob, dtype=np.float32).reshape(len(ids), self.spec.dimension)
            metadata = list(fields["metadata"])
            sparse = [_sparse(sp) for sp in fields["sparse"]]

            def upsert() -> None:
                store = self._store(namespace, create=True)
                assert store is not None
                store.upsert(ids, values, metadata, sparse)

            return upsert
        if op == "delete_ids":
            ids = list(fields["ids"])

            def delete_ids() -> None:
                store = self._store(namespace)
                if store is not None:
                    store.delete_ids(ids)

            return delete_ids
        if op == "delete_all":

            def delete_all() -> None:
                store = self._store(namespace)
                if store is not None:
                    store.clear()

            return delete_all
        if op == "delete_filter":
            predicate = compile_filter(fields["filter"])

            def delete_filter() -> None:
                store = self._store(namespace)
                if store is not None and store.count:
                    mask = store.filter_mask(predicate)
                    assert mask is not None
                    store.delete_rows(np.flatnonzero(mask).astype(np.int64))

            return delete_filter
        if op == "update_id":
            record_id = str(fields["id"])
            new_values = np.frombuffer(blob, dtype=np.float32) if fields.get("values") else None
            new_sparse = _sparse(fields.get("sparse"))
            set_metadata = fields.get("set_metadata")

            def update_id() -> None:
                store = self._store(namespace)
                row = store.row_of.get(record_id) if store is not None else None
                if store is None or row is None:
                    return
                if new_values is not None:
                    store.set_values(row, new_values)
                if new_sparse is not None:
                    store.set_sparse(row, new_sparse)
                if set_metadata:
                    store.merge_metadata([row], set_metadata)

            return update_id
        if op == "update_filter":
            predicate = compile_filter(fields["filter"])
            patch = dict(fields["set_metadata"])

            def update_filter() -> None:
                target = self._store(namespace)
                if target is not None and target.count:
                    rows = target.filter_mask(predicate)
                    assert rows is not None
                    target.merge_metadata(np.flatnonzero(rows).tolist(), patch)

            return update_filter
        if op == "delete_namespace":

            def delete_namespace() -> None:
                self._namespaces.pop(namespace, None)

            return delete_namespace
        raise ValueError(f"unknown queued write {op!r}")

    def replay(self, seq: int, header: Mapping[str, Any], blob: bytes) -> bool:
        """Apply one logged write while loading (no log, no lag); False when this index already has it."""
        if seq <= self.applied_seq:
            return False
        op = str(header["op"])
        with self._lock:
            if op == "create_namespace":
                store = self._store(str(header["ns"]), create=True)
                assert store is not None
                store.declared, store.schema = True, header.get("schema")
            elif op == "configure":
                self.spec = _configured(self.spec, header.get("deletion_protection"), header.get("tags"))
            else:
                self._applier(op, header, blob)()
            self.version += 1
            self.applied_seq = seq
        return True

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
        fields = {
            "ns": namespace,
            "ids": list(ids),
            "metadata": list(metadata),
            "sparse": [sp.to_wire() if sp is not None else None for sp in sparse],
        }
        self._mutate("upsert", fields, np.ascontiguousarray(values, dtype=np.float32).tobytes())
        return len(ids)

    def delete_ids(self, namespace: str, ids: Sequence[str]) -> None:
        """Delete these ids (absent ones are ignored)."""
        self._mutate("delete_ids", {"ns": namespace, "ids": list(ids)})

    def delete_all(self, namespace: str) -> None:
        """Delete every record of the namespace (the namespace stays)."""
        self._mutate("delete_all", {"ns": namespace})

    def delete_by_filter(self, namespace: str, filter_: Mapping[str, Any]) -> None:
        """Delete every record the (valid, non-empty) filter admits, evaluated when the delete becomes visible."""
        self._mutate("delete_filter", {"ns": namespace, "filter": filter_})

    def update_by_id(
        self,
        namespace: str,
        record_id: str,
        values: F32 | None,
        sparse: SparseValues | None,
        set_metadata: Metadata | None,
    ) -> None:
        """Patch one record; an id that does not exist is a no-op, as in Pinecone."""
        blob = b""
        if values is not None:
            self._check_dimension(values.reshape(1, -1))
            blob = np.ascontiguousarray(values, dtype=np.float32).tobytes()
        fields = {
            "ns": namespace,
            "id": record_id,
            "values": values is not None,
            "sparse": sparse.to_wire() if sparse is not None else None,
            "set_metadata": set_metadata,
        }
        self._mutate("update_id", fields, blob)

    def update_by_filter(
        self, namespace: str, filter_: Mapping[str, Any], set_metadata: Metadata, dry_run: bool
    ) -> int:
        """Merge ``set_metadata`` into every record the (valid, non-empty) filter admits; returns how many
        match now."""
        predicate = compile_filter(filter_)
        with self._lock:
            self._settle()
            store = self._store(namespace)
            matched = 0
            if store is not None and store.count:
                mask = store.filter_mask(predicate)
                assert mask is not None
                matched = int(mask.sum())
        if not dry_run and set_metadata:
            self._mutate("update_filter", {"ns": namespace, "filter": filter_, "set_metadata": set_metadata})
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
            seq = self._logged("create_namespace", {"ns": name, "schema": schema})
            store = self._store(name, create=True)
            assert store is not None
            store.declared = True
            store.schema = schema
            self._immediate_applied(seq)
        self._durable(seq)
        return NamespaceInfo(namespace_label(name), 0, schema)

    def configure(self, deletion_protection: str | None, tags: Mapping[str, str] | None) -> IndexSpec:
        """Change deletion protection and merge tags (a tag set to ``""`` is removed); returns the settings."""
        with self._lock:
            spec = _configured(self.spec, deletion_protection, tags)
            fields = {"deletion_protection": deletion_protection, "tags": dict(tags) if tags is not None else None}
            seq = self._logged("configure", fields)
            self.spec = spec
            self._immediate_applied(seq)
        self._durable(seq)
        return spec

    def _immediate_applied(self, seq: int) -> None:
        """A write applied at once: the log position moves with it unless queued writes wait before it."""
        self.version += 1
        if not self._pending:
            self.applied_seq = max(self.applied_seq, seq)

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
        self._mutate("delete_namespace", {"ns": name})

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
            snapshot = IndexSnapshot(self.spec.to_settings(), namespaces, self.applied_seq, self.create_seq)
            return snapshot, self.version

    def restore(self, snapshot: IndexSnapshot) -> None:
        """Load saved namespaces (and the snapshot's log positions) into this (empty) index."""
        with self._lock:
            self.applied_seq, self.create_seq = snapshot.applied_seq, snapshot.create_seq
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


def _sparse(wire_value: Any) -> SparseValues | None:
    if wire_value is None:
        return None
    return SparseValues(tuple(wire_value["indices"]), tuple(wire_value["values"]))


def _configured(spec: IndexSpec, deletion_protection: str | None, tags: Mapping[str, str] | None) -> IndexSpec:
    """``spec`` with deletion protection set and ``tags`` merged (a tag set to ``""`` is removed)."""
    if deletion_protection is not None:
        spec = replace(spec, deletion_protection=deletion_protection)
    if tags is not None:
        merged = dict(spec.tags or {})
        for key, value in tags.items():
            if value == "":
                merged.pop(key, None)
            else:
                merged[key] = value
        spec = replace(spec, tags=merged or None)
    return spec
