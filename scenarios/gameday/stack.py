"""The embedded stack a game day runs on, and one orchestrated migration under load on it.

``GameDayStack`` builds stores in a temporary directory (the exact store, Qdrant Edge shards, the
Pinecone-compatible server) and owns their clean-up. ``MigrationRun`` takes one migration from the
project's one assembly (``harness.assembly.build_migration``, as ``ragmig run`` and the demo do): the
real ``Orchestrator`` over a journal, OpenFeature flags, ``DualWriteStore`` for the application's
writes; it adds the ``QueryService`` (sticky buckets, per-backend LRU caches, metrics) and a recording
alert sink. Each store sits behind two ``FaultyStore`` layers (the assembly's ``wrap``): the inner one
models the backend's ordinary search latency (2 ± 1 ms), the outer one is where a scenario injects its
fault, so the outer layer's ``fault_log`` holds exactly the injected faults for the timeline.

Load: by default a ``ManualClock`` and the orchestrator's traffic hook — every health-check tick the
run sends ``queries_per_tick`` queries (users uniform over a population, text keys Zipf-popular, as
the locust users do) and ``writes_per_tick`` single-record upserts through the service, so a
30-minute canary bakes in milliseconds and every figure is reproducible. Latency on a ``ManualClock``
is exactly the latency the fault layers inject (a cache hit costs 0 ms). A per-second load shape
(``RunOptions.load``: queries per second as a function of harness time, e.g. ``ramp_load``) spreads
each tick's queries over the seconds of the health interval instead.

Game-day building blocks besides: timed fault schedules on either store (``run.target.follow(
FaultSchedule.burst(...))``, see ``harness.faults.schedule``), and a controller crash at a chosen
moment (``crash_when``): ``migrate()`` then resumes on a new orchestrator over the same journal, as a
restarted ``ragmig run --resume`` would.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness.assembly import Migration, ServiceWarmUp, build_migration
from harness.clock import Clock, ManualClock
from harness.datasets import synthetic_corpus, synthetic_queries
from harness.faults import FaultPlan, FaultyStore, OpKind
from harness.migration.alerts import RecordingAlertSink
from harness.migration.config import MigrationConfig
from harness.migration.health import evaluate_window
from harness.migration.journal import Journal
from harness.migration.metrics import InProcessMetrics
from harness.migration.orchestrator import PHASE_ORDER, TERMINAL, Orchestrator, Phase, Verifier
from harness.migration.router import Backend
from harness.model import Check, CollectionSchema, Distance, PointId, RecordBatch, Status
from harness.records import Comparison, RecordId, RecordMapping, batch_record_ids
from harness.reporting.timeline import migration_summary, migration_timeline
from harness.service import QueryService
from harness.stores import open_store
from harness.stores.base import Cursor, SearchParams, VectorStore

__all__ = [
    "BASE_SEARCH_LATENCY",
    "ControllerCrash",
    "FaultMark",
    "GameDayStack",
    "LoadShape",
    "MigrationRun",
    "RunOptions",
    "Sizes",
    "WritesDuringBackfill",
    "gameday_check",
    "ramp_load",
    "steady_load",
]

BASE_SEARCH_LATENCY = FaultPlan(latency_ms=2.0, jitter_ms=1.0, latency_ops=frozenset({OpKind.SEARCH}))
"""Every backend's ordinary search latency (ms) on the harness clock: the steady state, not a fault."""
WRITE_ID_BASE = 10_000_000  # ids of records the application writes during a run (int-id stores)
_ZIPF_S = 1.1

LoadShape = Callable[[float], float]
"""Queries per second the users send at a harness time (s)."""


def steady_load(qps: float) -> LoadShape:
    """The same ``qps`` queries per second at every moment."""
    return lambda now: qps


def ramp_load(begin_qps: float, end_qps: float, *, start: float, duration: float) -> LoadShape:
    """``begin_qps`` until ``start``, rising linearly to ``end_qps`` over ``duration`` seconds, then held."""

    def shape(now: float) -> float:
        progress = min(1.0, max(0.0, (now - start) / duration)) if duration > 0 else float(now >= start)
        return begin_qps + (end_qps - begin_qps) * progress

    return shape


class ControllerCrash(Exception):
    """The controller process died (a game day's simulated crash; see ``MigrationRun.crash_when``)."""


@dataclass(frozen=True, slots=True)
class Sizes:
    """How big a game day is: small enough for the whole suite to run in well under two minutes."""

    corpus: int = 2000
    dimension: int = 32
    keys: int = 200
    """Distinct text keys users ask (``q0`` … ``q{keys-1}``), Zipf-popular."""
    users: int = 500
    queries_per_tick: int = 1000
    """Enough for the 5 % step to gather the 459 canary requests a 1 % gate at 99 % confidence needs
    within its bake and ``max_hold_s`` (about 50 a tick at 5 %)."""
    writes_per_tick: int = 2


def deep_merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``changes`` applied, tables merged key by key."""
    merged = dict(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def gameday_config(source_uri: str, target_uri: str, changes: dict[str, Any] | None = None) -> MigrationConfig:
    """The game days' migration: production's shape (steps 5 → 25 → 50 → 100, failure_limit 3, Mann-Whitney
    at 98 %) with minutes scaled to tens of harness seconds and small samples."""
    data: dict[str, Any] = {
        "source": source_uri,
        "target": target_uri,
        "batch_size": 250,
        "flag_propagation_s": 1.0,
        "thresholds": {"min_samples": 20, "failure_limit": 3, "max_hold_s": 120.0},
        "canary": {
            "steps": [5.0, 25.0, 50.0, 100.0],
            "bake_time_s": 30.0,
            "health_interval_s": 10.0,
            "window_s": 300.0,
            "live_bake_s": 20.0,
        },
        "shadow": {"queries": 50},
        "warm_up": {"queries": 200, "max_rounds": 5},
        "backfill": {"max_attempts": 4, "backoff_base_s": 0.5, "backoff_max_s": 4.0, "max_restarts": 4},
        "verification": {"queries": 50},
        "alerts": [],
    }
    return MigrationConfig.model_validate(deep_merge(data, changes or {}))


class WritesDuringBackfill:
    """A source handle that lets the application write while the backfill pages through it.

    After the backfill's reader has scrolled page ``after_page`` (counting from 1; -1: the last page),
    ``write`` runs once
    — in the reader thread, as a write arriving mid-copy would. Pages scrolled outside the backfill
    (verification, the orphan watch) are passed through untouched. Everything else is forwarded.
    """

    def __init__(self, inner: VectorStore, after_page: int, write: Callable[[], None]) -> None:
        self.inner = inner
        self.uri = inner.uri
        self.after_page = after_page
        self._write = write
        self.pages = 0
        self.fired = False
        self.active: Callable[[], bool] = lambda: True

    def scroll(self, batch_size: int = 1000, cursor: Cursor | None = None) -> tuple[RecordBatch, Cursor | None]:
        """A page of the source; the application writes after the ``after_page``-th backfill page."""
        page = self.inner.scroll(batch_size=batch_size, cursor=cursor)
        if self.active():
            self.pages += 1
            last = self.after_page < 0 and page[1] is None
            if (self.pages == self.after_page or last) and not self.fired:
                self.fired = True
                self._write()
        return page

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    # The VectorStore protocol, forwarded explicitly (a Protocol check looks these up on the class).
    def describe(self) -> CollectionSchema:
        """Forwarded."""
        return self.inner.describe()

    def exists(self) -> bool:
        """Forwarded."""
        return self.inner.exists()

    def create(self, schema: CollectionSchema) -> None:
        """Forwarded."""
        self.inner.create(schema)

    def count(self) -> int:
        """Forwarded."""
        return self.inner.count()

    def fetch(self, ids: Sequence[PointId]) -> RecordBatch:
        """Forwarded."""
        return self.inner.fetch(ids)

    def upsert(self, batch: RecordBatch) -> None:
        """Forwarded."""
        self.inner.upsert(batch)

    def delete(self, ids: Sequence[PointId]) -> None:
        """Forwarded."""
        self.inner.delete(ids)

    def search(self, queries: np.ndarray, k: int, params: SearchParams | None = None) -> Any:
        """Forwarded."""
        return self.inner.search(queries, k, params)

    def optimize(self) -> None:
        """Forwarded."""
        self.inner.optimize()

    def close(self) -> None:
        """Forwarded."""
        self.inner.close()


@dataclass(slots=True)
class FaultMark:
    """A fault the scenario switched on itself (not drawn per call): a span on the timeline."""

    label: str
    start: float
    end: float | None = None


class GameDayStack:
    """Stores in ``root`` (a temporary directory) and their clean-up; see the module docstring."""

    def __init__(self, root: Path, sizes: Sizes | None = None, seed: int = 0) -> None:
        self.root = Path(root)
        self.sizes = sizes or Sizes()
        self.seed = seed
        self._cleanup = contextlib.ExitStack()
        self.queries = synthetic_queries(self.sizes.keys, self.sizes.dimension, seed=seed + 1)

    def close(self) -> None:
        """Stop servers, close and drop every store this stack made."""
        self._cleanup.close()

    def __enter__(self) -> GameDayStack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- corpora ---------------------------------------------------------------------------------------
    def corpus(self, n: int | None = None, *, id_kind: str = "int", seed: int | None = None) -> list[RecordBatch]:
        """The synthetic RAG corpus (``Sizes.corpus`` × ``Sizes.dimension`` unless told), in batches."""
        return list(
            synthetic_corpus(
                n if n is not None else self.sizes.corpus,
                self.sizes.dimension,
                seed=self.seed if seed is None else seed,
                id_kind=id_kind,  # type: ignore[arg-type]
            )
        )

    def _keep(self, store: VectorStore, drop: bool = False) -> VectorStore:
        def release() -> None:
            if drop and hasattr(store, "drop"):
                store.drop()
            store.close()

        self._cleanup.callback(release)
        return store

    # -- stores ----------------------------------------------------------------------------------------
    def exact_source(self, batches: Sequence[RecordBatch] | None = None) -> tuple[VectorStore, str]:
        """A fresh exact store (cosine) holding ``batches`` (default: the corpus), and its URI."""
        uri = f"exact://gameday-{uuid.uuid4().hex[:12]}"
        store = self._keep(open_store(uri), drop=True)
        store.create(CollectionSchema(dimension=self.sizes.dimension, distance=Distance.COSINE))
        for batch in batches if batches is not None else self.corpus():
            store.upsert(batch)
        return store, uri

    def edge_uri(self, name: str, options: str = "") -> str:
        """The URI of a Qdrant Edge shard ``name`` under the stack's directory (``options``: ``m=4&…``)."""
        directory = self.root / f"{name}-{uuid.uuid4().hex[:8]}"
        return f"qdrant-edge://{directory}" + (f"?{options}" if options else "")

    def edge_store(self, uri: str) -> VectorStore:
        """Open (not create) the Qdrant Edge shard at ``uri``."""
        return self._keep(open_store(uri))

    def edge_source(self, batches: Sequence[RecordBatch] | None = None, options: str = "") -> tuple[VectorStore, str]:
        """A loaded and optimized Qdrant Edge shard (default HNSW unless ``options``), and its URI."""
        uri = self.edge_uri("source", options)
        store = self.edge_store(uri)
        store.create(CollectionSchema(dimension=self.sizes.dimension, distance=Distance.COSINE))
        for batch in batches if batches is not None else self.corpus():
            store.upsert(batch)
        store.optimize()
        return store, uri

    def pinecone_server(self, clock: Clock) -> Any:
        """A Pinecone-compatible server on a free loopback port whose read-after-write lag runs on ``clock``."""
        from harness.pinecone_local.testing import PineconeServer

        server = PineconeServer(clock=clock)
        server.start()
        self._cleanup.callback(server.stop)
        return server

    def pinecone_source(self, server: Any, index: str, batches: Sequence[RecordBatch]) -> tuple[VectorStore, str]:
        """A cosine Pinecone index ``index`` on ``server`` holding ``batches`` (namespaces as the batches
        say), through the real ``pinecone`` SDK, and its URI."""
        from harness.stores.pinecone import PineconeStore

        host = server.index_host(index)
        uri = f"pinecone://{index}?host={host}"
        store = PineconeStore(index, host=host, control_host=server.url, redacted_uri=uri)
        self._keep(store)
        store.create(CollectionSchema(dimension=self.sizes.dimension, distance=Distance.COSINE))
        for batch in batches:
            store.upsert(batch)
        return store, uri

    def run(
        self, label: str, source: VectorStore, target: VectorStore, *, source_uri: str, target_uri: str, **options: Any
    ) -> MigrationRun:
        """A ``MigrationRun`` named ``label`` from ``source`` to ``target`` (options: ``RunOptions``' fields)."""
        run = MigrationRun(
            self, label, source, target, source_uri=source_uri, target_uri=target_uri, options=RunOptions(**options)
        )
        self._cleanup.callback(run.close)
        return run

    def run_to_edge(
        self, label: str, source: VectorStore, source_uri: str, target_options: str = "", **options: Any
    ) -> MigrationRun:
        """``run`` from ``source`` into a new Qdrant Edge target shard (``target_options``: ``m=4&…``)."""
        target_uri = self.edge_uri("target", target_options)
        return self.run(
            label, source, self.edge_store(target_uri), source_uri=source_uri, target_uri=target_uri, **options
        )


@dataclass(frozen=True)
class RunOptions:
    """How a ``MigrationRun`` differs from the game days' default run.

    ``config`` changes are merged into ``gameday_config``; ``dual_write=False`` makes the application
    write straight to the source (no dual-write: the chapter's sketch); ``cache_size`` is the service's
    LRU per backend; ``write_namespace`` puts application writes in a Pinecone namespace and gives them
    string ids; ``clock`` defaults to a fresh ``ManualClock``; ``base_latency=False`` drops the ordinary
    2 ± 1 ms search latency; ``inprocess_load=False`` leaves the load to an outside driver.
    """

    config: dict[str, Any] = field(default_factory=dict)
    dual_write: bool = True
    cache_size: int = 1024
    queries_per_tick: int | None = None
    writes_per_tick: int | None = None
    write_namespace: str | None = None
    clock: Clock | None = None
    seed: int = 0
    base_latency: bool = True
    inprocess_load: bool = True
    verifier: Verifier | None = None
    orchestrator_class: type[Orchestrator] = Orchestrator
    load: LoadShape | None = None
    """Queries per second over harness time: each tick spreads its queries over the health interval,
    second by second (default: ``queries_per_tick`` at once at the start of each tick)."""


class MigrationRun:
    """One orchestrated migration under load (see the module docstring and ``RunOptions``)."""

    def __init__(
        self,
        stack: GameDayStack,
        label: str,
        source: VectorStore,
        target: VectorStore,
        *,
        source_uri: str,
        target_uri: str,
        options: RunOptions | None = None,
    ) -> None:
        options = options or RunOptions()
        self.stack = stack
        self.label = label
        self.clock: Clock = options.clock or ManualClock()
        sizes = stack.sizes
        self.queries_per_tick = sizes.queries_per_tick if options.queries_per_tick is None else options.queries_per_tick
        self.writes_per_tick = sizes.writes_per_tick if options.writes_per_tick is None else options.writes_per_tick
        self.write_namespace = options.write_namespace
        self.inprocess_load = options.inprocess_load
        self.config = gameday_config(source_uri, target_uri, options.config)
        base = BASE_SEARCH_LATENCY if options.base_latency else None
        seeds = {"source": options.seed + 11, "target": options.seed + 21}

        def wrap(side: str, store: VectorStore) -> VectorStore:
            # The outer layer is where scenarios inject faults; its fault_log is the timeline's.
            inner = FaultyStore(store, base, clock=self.clock, seed=seeds[side])
            return FaultyStore(inner, clock=self.clock, seed=seeds[side] + 1)

        directory = stack.root / f"run-{uuid.uuid4().hex[:8]}"
        directory.mkdir(parents=True)
        self.alerts = RecordingAlertSink()
        self.migration: Migration = build_migration(
            self.config,
            clock=self.clock,
            source=source,
            target=target,
            wrap=wrap,
            journal=Journal(directory / "journal.sqlite"),
            metrics=InProcessMetrics(),
            alerts=[self.alerts],
            verifier=options.verifier,
            shadow_queries=lambda n: self.stack.queries[:n],
            traffic=self.traffic if self.inprocess_load else None,
            orchestrator_class=options.orchestrator_class,
        )
        migration = self.migration
        self.source: FaultyStore = migration.source  # type: ignore[assignment]
        self.target: FaultyStore = migration.target  # type: ignore[assignment]
        self.journal: Journal = migration.journal
        self.flags = migration.flags
        self.metrics: InProcessMetrics = migration.metrics  # type: ignore[assignment]
        self.mapping: RecordMapping = migration.mapping
        self.writer: VectorStore = migration.writer if options.dual_write else self.source
        self.service = QueryService(
            self.source,
            self.target,
            flags=self.flags,
            metrics=self.metrics,
            writer=self.writer,
            clock=self.clock,
            cache_size=options.cache_size,
            query_vectors=stack.queries,
        )
        self._warm_up = ServiceWarmUp(self.service)
        migration.warm_up = self._warm_up
        self._rng = np.random.default_rng(options.seed + 31)
        weights = 1.0 / np.arange(1, sizes.keys + 1) ** _ZIPF_S
        self._key_weights = weights / weights.sum()
        self._key_cdf = np.cumsum(self._key_weights)
        self._next_write = 0
        self.acknowledged: dict[RecordId, np.ndarray] = {}
        self.write_failures = 0
        self.tick_hooks: list[Callable[[MigrationRun, float], None]] = []
        self.load = options.load
        self.crashes: list[float] = []
        """Harness times at which the controller crashed (``crash_when``) and was resumed."""
        self._crash_when: Callable[[MigrationRun, float], bool] | None = None
        self.marks: list[FaultMark] = []
        self.steady: dict[str, Any] = {}
        self.error: str | None = None

    @property
    def harness_queries(self) -> int:
        """Queries the harness itself sent through the service (warm-up), not users."""
        return self._warm_up.queries

    @property
    def backfill_source(self) -> VectorStore:
        """The source the orchestrator copies from (a scenario may wrap it before the first migrate)."""
        return self.migration.backfill_source

    @backfill_source.setter
    def backfill_source(self, store: VectorStore) -> None:
        self.migration.backfill_source = store

    def close(self) -> None:
        """Close the journal (the stores belong to the stack)."""
        self.journal.close()

    # -- the orchestrator ------------------------------------------------------------------------------
    @property
    def orchestrator(self) -> Orchestrator:
        """The orchestrator (built on first use, after any change to ``backfill_source``)."""
        return self.migration.orchestrator

    def crash_when(self, when: Callable[[MigrationRun, float], bool]) -> None:
        """Kill the controller at the first tick where ``when(run, now)`` holds (once): the orchestrator
        dies mid-phase, and ``migrate()`` resumes on a new orchestrator over the same journal."""
        self._crash_when = when

    def _run(self, stop_at: Phase | None) -> Phase:
        """The orchestrator to ``stop_at`` (or a terminal phase), resumed after every crash."""
        while True:
            try:
                return self.orchestrator.run(stop_at=stop_at)
            except ControllerCrash:
                self.crashes.append(self.clock.now())
                self.mark("controller crashed; resumed from the journal", self.clock.now(), self.clock.now())
                self.migration.restart()

    def migrate(self, stop_at: Phase | None = None) -> Phase:
        """Run the orchestrator until a terminal phase (or ``stop_at``), resuming after a crash."""
        return self._run(stop_at)

    def migrate_phase_by_phase(self, on_phase: Callable[[Phase], None]) -> Phase:
        """Run the orchestrator to a terminal phase, calling ``on_phase(p)`` as each phase ``p`` is
        entered and before it is worked (how a scenario confines a fault to some phases)."""
        phase = self.phase
        while phase not in TERMINAL:
            on_phase(phase)
            following = PHASE_ORDER[PHASE_ORDER.index(phase) + 1] if phase in PHASE_ORDER[:-1] else None
            phase = self._run(following)
        on_phase(phase)
        return phase

    def migrate_under_load(self) -> Phase:
        """Run to a terminal phase with a tick of load at every phase entry too (the bakes have their
        own), so phases without a bake — backfill, verify, shadow — also run under traffic."""

        def tick(phase: Phase) -> None:
            if phase not in TERMINAL and self.inprocess_load:
                self.traffic(self.clock.now())

        return self.migrate_phase_by_phase(tick)

    @property
    def phase(self) -> Phase:
        """The journaled phase."""
        return Phase(self.journal.state().phase)

    # -- load ------------------------------------------------------------------------------------------
    def query_once(self) -> None:
        """One user query: a user from the population, a Zipf-popular text key."""
        user, draw = self._rng.random(2)
        key = min(int(np.searchsorted(self._key_cdf, draw, "right")), self.stack.sizes.keys - 1)
        self.service.query(f"user-{int(user * self.stack.sizes.users)}", text_key=f"q{key}")

    def new_records(self, n: int) -> RecordBatch:
        """``n`` fresh records the application writes (ids never in the corpus)."""
        dim = self.stack.sizes.dimension
        vectors = self._rng.normal(size=(n, dim)).astype(np.float32)
        ids: list[PointId] = []
        for _ in range(n):
            self._next_write += 1
            ids.append(
                f"live-{self._next_write:06d}" if self.write_namespace is not None else WRITE_ID_BASE + self._next_write
            )
        payloads = [{"origin": "application", "seq": self._next_write - n + i + 1} for i in range(n)]
        namespaces = [self.write_namespace] * n if self.write_namespace is not None else None
        return RecordBatch.build(ids, vectors, payloads, namespaces)

    def write(self, batch: RecordBatch, through: VectorStore | None = None) -> bool:
        """Upsert ``batch`` (through the service's writer unless told); remember it when acknowledged."""
        try:
            if through is None:
                self.service.upsert(batch)
            else:
                through.upsert(batch)
        except Exception:  # a refused write was never acknowledged: nothing to keep
            self.write_failures += 1
            return False
        for record, vector in zip(batch_record_ids(batch), batch.vectors, strict=True):
            self.acknowledged[record] = vector
        return True

    def write_some(self, rounds: int = 3, per_round: int = 2) -> None:
        """The application writes a few new records (through dual-write: a failing target side goes to
        the outbox), ``rounds`` upserts of ``per_round`` records."""
        for _ in range(rounds):
            self.write(self.new_records(per_round))

    def traffic(self, now: float) -> None:
        """One health-check tick of load: queries (at once, or second by second along ``load``), then
        writes, then the scenario's tick hooks; a planned crash ends the tick first."""
        if self._crash_when is not None and self._crash_when(self, now):
            self._crash_when = None
            raise ControllerCrash(f"controller killed at {now:g} s")
        if self.load is None:
            for _ in range(self.queries_per_tick):
                self.query_once()
        else:
            # Each second of the interval but the last gets its share; the orchestrator sleeps the last.
            seconds = max(1, int(self.config.canary.health_interval_s))
            for second in range(seconds):
                for _ in range(round(self.load(self.clock.now()))):
                    self.query_once()
                if second < seconds - 1:
                    self.clock.sleep(1.0)
        for _ in range(self.writes_per_tick):
            self.write(self.new_records(1))
        for hook in list(self.tick_hooks):
            hook(self, now)

    def steady_state(self, ticks: int = 3) -> dict[str, Any]:
        """The steady-state hypothesis, checked before any fault: ``ticks`` health intervals of load on
        the source alone (driven in process, or only observed when an outside load runs), judged by the
        canary thresholds (error rate, p99, minimum samples). Kept in ``steady``."""
        interval = self.config.canary.health_interval_s
        start = self.clock.now()
        for _ in range(ticks):
            if self.inprocess_load:
                self.traffic(self.clock.now())
            self.clock.sleep(interval)
        end = self.clock.now()
        window = self.metrics.window(str(Backend.SOURCE), start, end)
        result = evaluate_window(window, None, self.config.thresholds, at=end)
        # The cache-hit gate judges a canary's cache; the baseline's is whatever production has.
        failed = [f for f in result.failed if f != "cache_hit_rate"]
        self.steady = {
            "holds": result.requests >= self.config.thresholds.min_samples and not failed,
            "window": [start, end],
            "requests": result.requests,
            "error_rate": result.error_rate,
            "p99_ms": result.p99_ms,
            "cache_hit_rate": result.cache_hit_rate,
            "failed": failed,
            "source_count": self.source.count(),
        }
        return self.steady

    def mark(self, label: str, start: float | None = None, end: float | None = None) -> FaultMark:
        """Put a fault the scenario switched on on the timeline (end it with ``mark.end = ...``)."""
        fault = FaultMark(label, self.clock.now() if start is None else start, end)
        self.marks.append(fault)
        return fault

    # -- post-checks -----------------------------------------------------------------------------------
    def lost_writes(self, store: VectorStore, *, mapped: bool = False) -> list[PointId]:
        """Acknowledged writes that ``store`` does not hold with the written vector (cosine-normalised,
        ±1e-3). ``mapped``: ``store`` is the target and ids go through the source → target mapping."""
        lost: list[PointId] = []
        records = list(self.acknowledged)
        for start in range(0, len(records), 256):
            chunk = [(r, self.mapping.target_record(r) if mapped else r) for r in records[start : start + 256]]
            fetched = store.fetch([held.id for _, held in chunk])
            found = dict(zip(batch_record_ids(fetched), fetched.vectors, strict=True))
            for record, held in chunk:
                got = found.get(held)
                if got is None or not _same_direction(got, self.acknowledged[record]):
                    lost.append(record.id)
        return lost

    # -- what happened ---------------------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        """The run in figures: phases, read-percentage steps, decisions, health checks, alerts, writes."""
        return migration_summary(
            self.orchestrator,
            self.metrics,
            self.alerts.alerts,
            label=self.label,
            harness_queries=self.harness_queries,
            extra={
                "acknowledged_writes": len(self.acknowledged),
                "write_failures": self.write_failures,
                "steady_state": self.steady,
                "harness_seconds": round(self.clock.now(), 3),
                "error": self.error,
            },
        )

    def timeline(self) -> dict[str, Any]:
        """What the report plots (see ``harness.reporting.timeline.migration_timeline``)."""
        marks = [(m.start, m.end, m.label) for m in self.marks]
        return migration_timeline(
            self.orchestrator,
            self.metrics,
            self.alerts.alerts,
            end=self.clock.now(),
            clock_label="harness seconds" if isinstance(self.clock, ManualClock) else "seconds",
            fault_logs={"source": self.source.fault_log, "target": self.target.fault_log},
            marks=marks,
            steady_window=self.steady.get("window"),
        )

    def report(self) -> dict[str, Any]:
        """``summary`` and ``timeline`` together: one entry of a check's ``details["runs"]``."""
        return {**self.summary(), "timeline": self.timeline()}


_ACKNOWLEDGED = Comparison(normalise=True, tolerance=1e-3)
"""An acknowledged write is on a (cosine) store when the store holds its vector by the one comparison."""


def _same_direction(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal after unit normalisation (cosine stores keep vectors normalised), ±1e-3 a component."""
    return bool(_ACKNOWLEDGED.vectors_equal(a, b)[0])


def gameday_check(
    scenario: str,
    passed: bool,
    *,
    observed: Any,
    expected: Any,
    message: str,
    runs: Sequence[MigrationRun] = (),
    **details: Any,
) -> Check:
    """The scenario's one check, ``gameday.<scenario>``, with each run's summary and timeline."""
    return Check(
        id=f"gameday.{scenario}",
        status=Status.PASS if passed else Status.FAIL,
        observed=observed,
        expected=expected,
        message=message,
        details={**details, "runs": [run.report() for run in runs]},
    )
