"""Stores held open inside a worker process between tasks, and ``WorkerStore``: a store used from afar.

A Qdrant Edge shard admits one handle per directory, so an exclusive store (``plan.access_of``) is opened
by exactly one worker — the one every task on it is pinned to — and stays open there until ``release``:
the scan, the re-fetch of suspects, the searches all run where the shard already is, and the client
process never loads it. ``WorkerStore`` is the client's ``VectorStore`` for such a store: each call is a
task on that worker (``call_held``), so code written against ``VectorStore`` needs no change.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from harness.model import CollectionSchema, PointId, RecordBatch, SearchResult, SparseColumn

if TYPE_CHECKING:
    from harness.records.filters import Filter
    from harness.stores.base import Cursor, IdPage, SearchParams, VectorStore

__all__ = ["Runner", "WorkerStore", "call_held", "held_store", "release_held"]

_HELD: dict[str, VectorStore] = {}  # this process's open stores, by URI
_LOCK = threading.Lock()


def held_store(uri: str) -> VectorStore:
    """The store at ``uri``, opened once in this process and kept open until ``release_held``."""
    from harness.stores import open_store

    with _LOCK:
        store = _HELD.get(uri)
        if store is None:
            store = _HELD[uri] = open_store(uri)
        return store


def release_held(uri: str | None = None) -> int:
    """Close the held store at ``uri`` (every held store when None); returns how many were closed."""
    with _LOCK:
        uris = [uri] if uri is not None else list(_HELD)
        stores = [_HELD.pop(u) for u in uris if u in _HELD]
    for store in stores:
        store.close()
    return len(stores)


def call_held(uri: str, fn: Callable[..., Any] | str, *args: Any, **kwargs: Any) -> Any:
    """Run a method of the held store (``fn`` its name) or ``fn(store, *args, **kwargs)``."""
    store = held_store(uri)
    if isinstance(fn, str):
        return getattr(store, fn)(*args, **kwargs)
    return fn(store, *args, **kwargs)


class Runner(Protocol):
    """What ``WorkerStore`` needs of its engine (``harness.parallel.engine.Engine`` is one)."""

    def run(self, fn: Callable[..., Any], *args: Any, worker: str | None = None, **kwargs: Any) -> Any:
        """Run ``fn(*args, **kwargs)`` on ``worker`` and return its result."""
        ...


class WorkerStore:
    """A ``VectorStore`` whose every call runs in one worker of ``engine``, on the store held open there."""

    def __init__(self, engine: Runner, uri: str, worker: str) -> None:
        self.engine = engine
        self.uri = uri
        self.worker = worker

    def __repr__(self) -> str:
        return f"WorkerStore({self.uri!r} on {self.worker})"

    def call(self, fn: Callable[..., Any] | str, *args: Any, **kwargs: Any) -> Any:
        """``fn(store, *args, **kwargs)`` (or the method named ``fn``) in the worker; its result here."""
        return self.engine.run(call_held, self.uri, fn, *args, worker=self.worker, **kwargs)

    def describe(self) -> CollectionSchema:
        """The store's schema."""
        schema: CollectionSchema = self.call("describe")
        return schema

    def exists(self) -> bool:
        """True when the collection exists."""
        return bool(self.call("exists"))

    def create(self, schema: CollectionSchema) -> None:
        """Create the collection in the worker."""
        self.call("create", schema)

    def count(self) -> int:
        """Exact number of records."""
        return int(self.call("count"))

    def scroll(self, batch_size: int = 1000, cursor: Cursor | None = None) -> tuple[RecordBatch, Cursor | None]:
        """One page (through the worker: for the occasional page, not for a scan)."""
        page: tuple[RecordBatch, Cursor | None] = self.call("scroll", batch_size=batch_size, cursor=cursor)
        return page

    def scroll_ids(self, batch_size: int = 10_000, cursor: Cursor | None = None) -> tuple[IdPage, Cursor | None]:
        """One page of ids."""
        page: tuple[IdPage, Cursor | None] = self.call("scroll_ids", batch_size=batch_size, cursor=cursor)
        return page

    def fetch(self, ids: Sequence[PointId]) -> RecordBatch:
        """The records with these ids."""
        batch: RecordBatch = self.call("fetch", list(ids))
        return batch

    def upsert(self, batch: RecordBatch) -> None:
        """Write a batch in the worker."""
        self.call("upsert", batch)

    def delete(self, ids: Sequence[PointId]) -> None:
        """Delete ids in the worker."""
        self.call("delete", list(ids))

    def search(self, queries: np.ndarray, k: int, params: SearchParams | None = None) -> SearchResult:
        """Top ``k`` per query."""
        result: SearchResult = self.call("search", queries, k, None if params is None else dict(params))
        return result

    def hybrid_search(
        self,
        queries: np.ndarray,
        sparse: SparseColumn,
        k: int,
        *,
        sparse_name: str | None = None,
        params: SearchParams | None = None,
    ) -> SearchResult:
        """Hybrid queries, when the store answers them."""
        result: SearchResult = self.call(
            "hybrid_search",
            queries,
            sparse,
            k,
            sparse_name=sparse_name,
            params=None if params is None else dict(params),
        )
        return result

    def search_filtered(
        self,
        queries: np.ndarray,
        k: int,
        where: Filter | None,
        *,
        namespace: str | None = None,
        params: SearchParams | None = None,
    ) -> SearchResult:
        """Top ``k`` per query among the records ``where`` admits in ``namespace``."""
        result: SearchResult = self.call(
            "search_filtered", queries, k, where, namespace=namespace, params=None if params is None else dict(params)
        )
        return result

    def count_filtered(self, where: Filter | None, *, namespace: str | None = None) -> int:
        """Exact number of records ``where`` admits in ``namespace``."""
        return int(self.call("count_filtered", where, namespace=namespace))

    def optimize(self) -> None:
        """Build the index in the worker."""
        self.call("optimize")

    def close(self) -> None:
        """Close the store in the worker (it reopens on the next call); idempotent."""
        self.engine.run(release_held, self.uri, worker=self.worker)
