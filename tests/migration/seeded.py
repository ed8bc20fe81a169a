"""A small in-process migration for seeded runs of the canary's decisions (``test_canary_seeded``).

The real assembly (``harness.assembly.build_migration``: orchestrator, journal, flags, dual-write,
the parity gates' collection parity) over exact stores of a few hundred records, on a ``ManualClock``;
the users' traffic is drawn per tick in numpy (users on their sticky bucket, cache hits, store calls
and their failures, latencies) and recorded into the real ``InProcessMetrics``, so a full canary of
thousands of requests a step costs milliseconds. A ``Pattern`` says, per tick, how the target's and
the source's store calls behave; application writes go through the real ``DualWriteStore`` into a
``FaultyStore`` target (silent drops).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from harness.assembly import build_migration
from harness.clock import ManualClock
from harness.faults import FaultPlan, FaultyStore
from harness.migration.alerts import RecordingAlertSink
from harness.migration.config import MigrationConfig
from harness.migration.journal import Journal
from harness.migration.metrics import InProcessMetrics
from harness.migration.orchestrator import Phase
from harness.migration.router import bucket_of, threshold_for
from harness.model import Check, CollectionSchema, Distance, RecordBatch, Status, Verdict
from harness.stores.base import VectorStore
from harness.stores.exact import ExactStore

DIMENSION = 8
CORPUS = 200
USERS = 20_000
WRITE_ID_BASE = 1_000_000


@dataclass(frozen=True, slots=True)
class Behaviour:
    """How one cohort's store calls behave in a tick: failure probability, latency (ms, lognormal median)."""

    store_error_rate: float = 0.0
    latency_ms: float = 5.0


HEALTHY = Behaviour()


@dataclass
class Tick:
    """What a pattern sees: the run, the tick's time, the read percentage, the tick's index in its step."""

    now: float
    percent: float
    step_tick: int


Pattern = Callable[[Tick], tuple[Behaviour, Behaviour]]
"""(target, source) behaviour for a tick."""


def user_error_rate(rate: float, hit_rate: float) -> Behaviour:
    """The target behaviour whose users see ``rate`` errors behind a cache answering ``hit_rate``."""
    return Behaviour(store_error_rate=min(1.0, rate / (1.0 - hit_rate)))


def seeded_config(**changes: Any) -> MigrationConfig:
    """Production's shape at a 1 % gate and 99 % confidence, traffic enough to decide each step."""
    data: dict[str, Any] = {
        "source": "exact://seeded-source",
        "target": "exact://seeded-target",
        "batch_size": 500,
        "flag_propagation_s": 1.0,
        "thresholds": {"failure_limit": 3, "max_hold_s": 300.0, "min_samples": 50},
        "canary": {
            "steps": [5.0, 25.0, 50.0, 100.0],
            "bake_time_s": 60.0,
            "health_interval_s": 10.0,
            "window_s": 300.0,
            "live_bake_s": 30.0,
        },
        "shadow": {"queries": 10, "k": 5},
        "warm_up": {"enabled": False},
        "verification": {"recheck_rounds": 1},
        "parity_gate": {"probes_per_check": 10},
        "alerts": [],
    }
    for key, value in changes.items():
        data[key] = {**data.get(key, {}), **value} if isinstance(value, dict) else value
    return MigrationConfig.model_validate(data)


def _passing(source: VectorStore, target: VectorStore) -> Verdict:
    """The verifier seam: verification is not what these runs study (the parity gates are)."""
    return Verdict(checks=(Check("parity.ids", Status.PASS, 0, 0),))


@dataclass
class SeededRun:
    """One seeded migration under ``pattern``; ``run()`` drives it to a terminal phase."""

    seed: int
    pattern: Pattern
    config: MigrationConfig = field(default_factory=seeded_config)
    requests_per_tick: int = 2000
    writes_per_tick: int = 4
    hit_rate: float = 0.6
    target_faults: Callable[[Tick], FaultPlan | None] = lambda tick: None

    def __post_init__(self) -> None:
        self.rng = np.random.default_rng(self.seed)
        self.clock = ManualClock()
        tag = uuid.uuid4().hex[:10]
        self._source, self._target = ExactStore(f"seeded-src-{tag}"), ExactStore(f"seeded-tgt-{tag}")
        self._source.create(CollectionSchema(dimension=DIMENSION, distance=Distance.COSINE))
        vectors = self.rng.normal(size=(CORPUS, DIMENSION)).astype(np.float32)
        self._source.upsert(RecordBatch.build(list(range(CORPUS)), vectors, [{"doc": i} for i in range(CORPUS)]))
        self.faulty: FaultyStore | None = None

        def wrap(side: str, store: VectorStore) -> VectorStore:
            if side == "source":
                return store
            self.faulty = FaultyStore(store, clock=self.clock, seed=self.seed)
            return self.faulty

        self.metrics = InProcessMetrics()
        self.alerts = RecordingAlertSink()
        self.migration = build_migration(
            self.config,
            clock=self.clock,
            source=self._source,
            target=self._target,
            wrap=wrap,
            journal=Journal(":memory:"),
            metrics=self.metrics,
            alerts=[self.alerts],
            verifier=_passing,
            traffic=self.traffic,
        )
        self.buckets = np.array([bucket_of(f"user-{i}") for i in range(USERS)]) if not _BUCKETS else _BUCKETS[0]
        if not _BUCKETS:
            _BUCKETS.append(self.buckets)
        self.max_percent = 0.0
        self.acknowledged: list[int] = []
        self._next_id = WRITE_ID_BASE
        self._step_started: tuple[float, float] = (0.0, -1.0)
        self._ticks_in_step = 0

    # -- load -----------------------------------------------------------------------------------------
    def _cohort(self, cohort: str, at: np.ndarray, behaviour: Behaviour) -> None:
        n = len(at)
        if n == 0:
            return
        hits = self.rng.random(n) < self.hit_rate
        store_ms = behaviour.latency_ms * self.rng.lognormal(0.0, 0.25, n)
        failed = (self.rng.random(n) < behaviour.store_error_rate) & ~hits
        user_ms = np.where(hits, 0.2, store_ms + 0.2)
        self.metrics.record_many(
            cohort, at, user_ms, failed, hits, backend_ms=np.where(hits, np.nan, store_ms), backend_errors=failed
        )

    def traffic(self, now: float) -> None:
        percent = self.migration.flags.read_percent()
        self.max_percent = max(self.max_percent, percent)
        step = (self.migration.journal.state().phase, percent)
        if step != self._step_started:
            self._step_started, self._ticks_in_step = step, 0
        tick = Tick(now, percent, self._ticks_in_step)
        self._ticks_in_step += 1
        target, source = self.pattern(tick)
        users = self.rng.integers(0, USERS, self.requests_per_tick)
        at = now + np.sort(self.rng.random(self.requests_per_tick)) * 0.5  # within the tick's first half second
        on_target = self.buckets[users] < threshold_for(percent)
        self._cohort("target", at[on_target], target)
        self._cohort("source", at[~on_target], source)
        if self.faulty is not None:
            plan = self.target_faults(tick)
            if plan is not None and plan != self.faulty.plan:
                self.faulty.set_faults(plan)
        writer = self.migration.writer
        for _ in range(self.writes_per_tick):
            self._next_id += 1
            vector = self.rng.normal(size=(1, DIMENSION)).astype(np.float32)
            writer.upsert(RecordBatch.build([self._next_id], vector, [{"doc": self._next_id}]))
            self.acknowledged.append(self._next_id)

    # -- the run --------------------------------------------------------------------------------------
    def run(self) -> Phase:
        """Drive the migration to a terminal phase."""
        return self.migration.orchestrator.run()

    def close(self) -> None:
        """Close the journal and drop the stores."""
        self.migration.journal.close()
        self._source.drop()
        self._target.drop()

    def decisions(self, kind: str = "") -> list[dict[str, Any]]:
        """The journaled decisions (of ``kind`` when given)."""
        return [e.data for e in self.migration.journal.events("decision") if not kind or e.data["decision"] == kind]

    def health(self) -> list[dict[str, Any]]:
        """The canary's and live's health checks."""
        return [e.data for e in self.migration.journal.events("health") if e.data.get("check") != "warm_up"]


_BUCKETS: list[np.ndarray] = []
