"""``QueryService``: the RAG query service game days put under load.

Each query is routed by the ``Router`` (a sticky bucket from the user id) at the ``FlagStore``'s read
percentage to the source or the target — or, with ``routing``, by the application's own flag
evaluation per user (``FlagdFileReader.backend_for``: the flagd file's ``fractional`` split). Each backend has its own LRU result cache, so a target that
has never served starts truly cold. Every query is recorded into the metrics recorder (the
orchestrator's ``MetricsSource``) under the cohort ``"source"`` or ``"target"``, at its completion time
on the injected clock, with its latency measured on the same clock, and counted in a Prometheus
registry owned by this instance.

Two views of every query are measured: at the user (the request, cache hits included: outcome and
latency as the user saw them) and at the store call behind the cache (a cache miss calls the store:
``ragmig_backend_calls_total{backend, outcome}`` and ``ragmig_backend_latency_seconds{backend}``, and
``backend_ms``/``backend_error`` in the recorder), so a store failing behind a warm cache still shows.

Latency is the clock's elapsed time: with ``SystemClock`` it is real; with a ``ManualClock`` it is
exactly the latency injected through the clock (e.g. a ``FaultyStore``'s), which keeps sequential
in-process runs deterministic. Under concurrent HTTP load use ``SystemClock``: a manual clock is
shared by every thread, so one request's injected wait would show in the others' latencies.

Text keys: a query may name a ``text_key`` instead of a vector. With a ``query_vectors`` table
(a mapping, or a 2-D array whose row ``i`` is key ``"q{i}"`` — the demo passes the dataset's
queries) the key must be in the table; without one, ``vector_for_text_key`` derives a unit vector
from a seeded hash of the key, so the same key is the same vector in every process.

Writes (``upsert``/``delete``) go to the ``writer`` store as given; the service does not know whether
it is a single store or a ``DualWriteStore``.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from harness.clock import Clock, SystemClock
from harness.errors import ConfigError, InvalidInputError
from harness.migration.flags import FlagStore
from harness.migration.router import Backend, Router
from harness.model import PointId, RecordBatch
from harness.stores.base import SearchParams, VectorStore

__all__ = [
    "MetricsRecorder",
    "QueryResult",
    "QueryService",
    "QuerySpec",
    "text_key_table",
    "vector_for_text_key",
]

LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class MetricsRecorder(Protocol):
    """Where the service records each query (``InProcessMetrics`` is one)."""

    def record(
        self,
        cohort: str,
        at: float,
        latency_ms: float,
        error: bool = False,
        cache_hit: bool = False,
        *,
        backend_ms: float | None = None,
        backend_error: bool = False,
    ) -> None:
        """Record one request of ``cohort`` completed at ``at`` (seconds) that took ``latency_ms``; when it
        called the store (a cache miss), ``backend_ms`` is that call's latency and ``backend_error``
        whether it failed."""
        ...


@dataclass(frozen=True, slots=True)
class QueryResult:
    """One answered query: which backend served it, its hits best first, and how (latency in ms)."""

    backend: Backend
    ids: tuple[PointId, ...]
    scores: tuple[float, ...]
    cache_hit: bool
    latency_ms: float
    error: str | None = None

    @property
    def ok(self) -> bool:
        """False when the backend's store failed (HTTP 503)."""
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        """The HTTP response body."""
        return {
            "backend": str(self.backend),
            "ids": list(self.ids),
            "scores": list(self.scores),
            "cache_hit": self.cache_hit,
        }


@dataclass(frozen=True, slots=True)
class QuerySpec:
    """A query as users sent it (one of ``text_key`` / ``vector``), for warm-up replay."""

    k: int
    text_key: str | None = None
    vector: np.ndarray | None = None


def vector_for_text_key(text_key: str, dimension: int, seed: int = 0) -> np.ndarray:
    """A unit float32 vector of ``dimension`` determined by ``text_key`` and ``seed`` alone.

    blake2b of ``"seed:text_key"`` seeds a numpy generator that draws a standard normal vector, which
    is then normalised: stable across processes and platforms.
    """
    digest = hashlib.blake2b(f"{seed}:{text_key}".encode(), digest_size=8).digest()
    rng = np.random.default_rng(int.from_bytes(digest, "big"))
    vec = rng.standard_normal(dimension).astype(np.float32)
    norm = float(np.linalg.norm(vec))
    return vec / norm if norm else vec


def text_key_table(queries: np.ndarray) -> dict[str, np.ndarray]:
    """``{"q0": queries[0], "q1": queries[1], ...}``: the keys the load generator sends."""
    arr = np.asarray(queries, dtype=np.float32)
    return {f"q{i}": arr[i] for i in range(arr.shape[0])}


class _ResultCache:
    """A thread-safe LRU of search results, one per backend."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple[Any, ...], tuple[tuple[PointId, ...], tuple[float, ...]]] = OrderedDict()

    def get(self, key: tuple[Any, ...]) -> tuple[tuple[PointId, ...], tuple[float, ...]] | None:
        with self._lock:
            hit = self._entries.get(key)
            if hit is not None:
                self._entries.move_to_end(key)
            return hit

    def put(self, key: tuple[Any, ...], value: tuple[tuple[PointId, ...], tuple[float, ...]]) -> None:
        if self.size <= 0:
            return
        with self._lock:
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)


class QueryService:
    """The RAG query service (see the module docstring). Thread-safe."""

    def __init__(
        self,
        source: VectorStore,
        target: VectorStore,
        *,
        flags: FlagStore,
        metrics: MetricsRecorder,
        writer: VectorStore,
        clock: Clock = SystemClock(),
        cache_size: int = 1024,
        router: Router = Router(),
        query_vectors: Mapping[str, Any] | np.ndarray | None = None,
        text_key_seed: int = 0,
        search_params: Mapping[Backend, SearchParams] | None = None,
        query_log_size: int = 10_000,
        routing: Callable[[str], Backend] | None = None,
    ) -> None:
        if cache_size < 0:
            raise ConfigError(f"cache_size must be >= 0, got {cache_size}")
        self.stores: dict[Backend, VectorStore] = {Backend.SOURCE: source, Backend.TARGET: target}
        self.flags = flags
        self.metrics = metrics
        self.writer = writer
        self.clock = clock
        self.router = router
        self.routing = routing
        self.text_key_seed = text_key_seed
        self.search_params = dict(search_params or {})
        self._caches = {backend: _ResultCache(cache_size) for backend in Backend}
        if isinstance(query_vectors, np.ndarray):
            query_vectors = text_key_table(query_vectors)
        self._table = (
            {key: np.asarray(vec, dtype=np.float32).reshape(-1) for key, vec in query_vectors.items()}
            if query_vectors is not None
            else None
        )
        self._dimension: int | None = None
        self._generated: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self._query_log: OrderedDict[tuple[Any, ...], tuple[QuerySpec, int]] = OrderedDict()
        self._query_log_size = query_log_size

        self.registry = CollectorRegistry(auto_describe=True)
        self._requests = Counter(
            "ragmig_requests",
            "Queries answered, by backend and outcome.",
            ["backend", "outcome"],
            registry=self.registry,
        )
        self._cache_hits = Counter(
            "ragmig_cache_hits", "Queries answered from the result cache.", ["backend"], registry=self.registry
        )
        self._latency = Histogram(
            "ragmig_query_latency_seconds",
            "Query latency on the service's clock.",
            ["backend"],
            buckets=LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        self._backend_calls = Counter(
            "ragmig_backend_calls",
            "Store calls behind the result cache, by backend and outcome.",
            ["backend", "outcome"],
            registry=self.registry,
        )
        self._backend_latency = Histogram(
            "ragmig_backend_latency_seconds",
            "Store-call latency behind the result cache, on the service's clock.",
            ["backend"],
            buckets=LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        self._writes = Counter(
            "ragmig_writes", "Write requests, by operation and outcome.", ["op", "outcome"], registry=self.registry
        )
        # Each backend's labelled series, looked up once (every query updates a few of them).
        self._series: dict[Backend, dict[str, Any]] = {}
        for backend in Backend:
            label = str(backend)
            self._series[backend] = {
                "requests_ok": self._requests.labels(backend=label, outcome="ok"),
                "requests_error": self._requests.labels(backend=label, outcome="error"),
                "cache_hits": self._cache_hits.labels(backend=label),
                "latency": self._latency.labels(backend=label),
                "calls_ok": self._backend_calls.labels(backend=label, outcome="ok"),
                "calls_error": self._backend_calls.labels(backend=label, outcome="error"),
                "call_latency": self._backend_latency.labels(backend=label),
            }
        for op in ("upsert", "delete"):
            for outcome in ("ok", "error"):
                self._writes.labels(op=op, outcome=outcome)

    # -- queries ---------------------------------------------------------------------------------------
    def query(
        self,
        user_id: str,
        vector: Sequence[float] | np.ndarray | None = None,
        *,
        text_key: str | None = None,
        k: int = 10,
        backend: Backend | None = None,
    ) -> QueryResult:
        """Answer one query for ``user_id`` with the ``k`` nearest records.

        ``backend`` overrides routing (warm-up and shadow reads; such queries are not added to the
        query log). A store failure is returned as a result with ``error`` set, recorded as an error
        of that cohort; a malformed query (neither or both of ``vector``/``text_key``, ``k < 1``, an
        unknown text key, a non-finite vector) raises ``InvalidInputError`` and is not recorded.
        """
        key, query_vector = self._resolve(vector, text_key, k)
        routed = backend is None
        if backend is not None:
            chosen = Backend(backend)
        elif self.routing is not None:
            chosen = self.routing(user_id)
        else:
            chosen = self.router.route(user_id, self.flags.read_percent())
        cache = self._caches[chosen]
        started = self.clock.now()
        ids: tuple[PointId, ...] = ()
        scores: tuple[float, ...] = ()
        error: str | None = None
        cached = cache.get(key)
        backend_ms: float | None = None
        if cached is not None:
            ids, scores = cached
        else:
            called = self.clock.now()
            try:
                result = self.stores[chosen].search(query_vector.reshape(1, -1), k, self.search_params.get(chosen))
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"
            else:
                ids = tuple(result.ids[0]) if len(result) else ()
                scores = tuple(float(s) for s in result.scores[0]) if len(result) else ()
                cache.put(key, (ids, scores))
            backend_ms = max(0.0, (self.clock.now() - called) * 1000.0)
        finished = self.clock.now()
        latency_ms = max(0.0, (finished - started) * 1000.0)
        cache_hit = cached is not None
        self.metrics.record(
            str(chosen),
            finished,
            latency_ms,
            error=error is not None,
            cache_hit=cache_hit,
            backend_ms=backend_ms,
            backend_error=error is not None,
        )
        series = self._series[chosen]
        outcome = "error" if error else "ok"
        if backend_ms is not None:
            series[f"calls_{outcome}"].inc()
            series["call_latency"].observe(backend_ms / 1000.0)
        series[f"requests_{outcome}"].inc()
        if cache_hit:
            series["cache_hits"].inc()
        series["latency"].observe(latency_ms / 1000.0)
        if routed:
            self._log_query(
                key, QuerySpec(k=k, text_key=text_key, vector=None if text_key is not None else query_vector)
            )
        return QueryResult(chosen, ids, scores, cache_hit, latency_ms, error)

    def _resolve(
        self, vector: Sequence[float] | np.ndarray | None, text_key: str | None, k: int
    ) -> tuple[tuple[Any, ...], np.ndarray]:
        """The cache key and the query vector; ``InvalidInputError`` for a malformed query."""
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise InvalidInputError(f"k must be a positive integer, got {k!r}")
        if (vector is None) == (text_key is None):
            raise InvalidInputError("a query needs exactly one of 'vector' or 'text_key'")
        if text_key is not None:
            return ("text", text_key, k), self.vector_of(text_key)
        arr = np.asarray(vector, dtype=np.float32).reshape(-1)
        if arr.size == 0 or not np.isfinite(arr).all():
            raise InvalidInputError("the query vector must be non-empty and finite")
        return ("vector", arr.tobytes(), k), arr

    def vector_of(self, text_key: str) -> np.ndarray:
        """The query vector a ``text_key`` stands for (see the module docstring)."""
        if self._table is not None:
            try:
                return self._table[text_key]
            except KeyError:
                raise InvalidInputError(
                    f"unknown text_key {text_key!r}: it is not in the service's query table"
                ) from None
        with self._lock:
            vec = self._generated.get(text_key)
            if vec is not None:
                return vec
        vec = vector_for_text_key(text_key, self.dimension, self.text_key_seed)
        with self._lock:
            self._generated[text_key] = vec
            if len(self._generated) > 65_536:
                self._generated.popitem(last=False)
        return vec

    @property
    def dimension(self) -> int:
        """The vector dimension of generated text-key vectors (the source's, read once)."""
        if self._dimension is None:
            self._dimension = self.stores[Backend.SOURCE].describe().dimension
        return self._dimension

    def _log_query(self, key: tuple[Any, ...], spec: QuerySpec) -> None:
        with self._lock:
            entry = self._query_log.pop(key, None)
            if entry is None and len(self._query_log) >= self._query_log_size:
                self._query_log.popitem(last=False)  # forget the least recently asked query
            self._query_log[key] = (spec, (entry[1] if entry else 0) + 1)

    def top_queries(self, n: int) -> list[QuerySpec]:
        """The ``n`` most often asked routed queries (most recent first among equals), for warm-up."""
        with self._lock:
            entries = list(self._query_log.values())[::-1]
        entries.sort(key=lambda entry: -entry[1])  # stable: recency order kept among equal counts
        return [spec for spec, _ in entries[:n]]

    def cache_len(self, backend: Backend) -> int:
        """Entries now in ``backend``'s result cache."""
        return len(self._caches[Backend(backend)])

    def clear_cache(self, backend: Backend | None = None) -> None:
        """Empty one backend's result cache, or both."""
        for b in [Backend(backend)] if backend is not None else list(Backend):
            self._caches[b].clear()

    # -- writes ----------------------------------------------------------------------------------------
    def upsert(self, batch: RecordBatch) -> int:
        """Upsert ``batch`` through the writer; returns the number of records. Errors propagate."""
        self._count_write("upsert", lambda: self.writer.upsert(batch))
        return len(batch)

    def delete(self, ids: Sequence[PointId]) -> int:
        """Delete ``ids`` through the writer; returns how many ids were asked. Errors propagate."""
        self._count_write("delete", lambda: self.writer.delete(ids))
        return len(ids)

    def _count_write(self, op: str, write: Any) -> None:
        try:
            write()
        except Exception:
            self._writes.labels(op=op, outcome="error").inc()
            raise
        self._writes.labels(op=op, outcome="ok").inc()

    # -- metrics ---------------------------------------------------------------------------------------
    def metrics_text(self) -> bytes:
        """This instance's Prometheus exposition (text format 0.0.4)."""
        return generate_latest(self.registry)

    def request_totals(self) -> dict[tuple[str, str], int]:
        """Queries counted in Prometheus so far, by (backend, outcome)."""
        totals: dict[tuple[str, str], int] = {}
        for family in self.registry.collect():
            if family.name == "ragmig_requests":
                for sample in family.samples:
                    if sample.name == "ragmig_requests_total":
                        totals[(sample.labels["backend"], sample.labels["outcome"])] = int(sample.value)
        return totals
