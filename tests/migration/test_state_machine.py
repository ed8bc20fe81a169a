"""A stateful machine over random interleavings of writes, target faults, crashes, verdicts and health.

Invariants: reads never go to the target before verification passed; a rollback always returns reads to
0 %; and after recovery (faults cleared, outbox replayed) every acknowledged write is in both stores.
"""

from __future__ import annotations

import shutil
import tempfile
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from harness.clock import ManualClock
from harness.errors import TransientStoreError
from harness.faults.store import FaultyStore
from harness.migration.alerts import RecordingAlertSink
from harness.migration.dualwrite import DualWriteStore
from harness.migration.flags import WriteMode
from harness.migration.flags_openfeature import InMemoryFlags
from harness.migration.journal import Journal
from harness.migration.metrics import InProcessMetrics
from harness.migration.orchestrator import Orchestrator, Phase
from harness.model import CollectionSchema, Distance, RecordBatch
from harness.stores.exact import ExactStore
from tests.migration.conftest import fast_config, records, verdict

INITIAL = 300
NEXT: dict[Phase, Phase] = {
    Phase.IDLE: Phase.DUAL_WRITE,
    Phase.DUAL_WRITE: Phase.BACKFILL,
    Phase.BACKFILL: Phase.VERIFY,
    Phase.VERIFY: Phase.SHADOW,
    Phase.SHADOW: Phase.WARM_UP,
    Phase.WARM_UP: Phase.CANARY,
    Phase.CANARY: Phase.LIVE,
    Phase.LIVE: Phase.COMPLETED,
}
_machines = iter(range(10**9))


class Crash(Exception):
    """The orchestrator's process dies."""


class CrashableTarget:
    """The target as the machine sees it: faults from a FaultyStore, plus a crash armed for the next upsert."""

    def __init__(self, inner: FaultyStore) -> None:
        self.inner = inner
        self.armed = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def upsert(self, batch: RecordBatch) -> None:
        if self.armed:
            self.armed = False
            raise Crash("killed during a target write")
        self.inner.upsert(batch)


class MigrationMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        n = next(_machines)
        self.dir = Path(tempfile.mkdtemp(prefix="ragmig-sm-"))
        self.source = ExactStore(f"sm-src-{n}")
        self.source.create(CollectionSchema(dimension=8, distance=Distance.COSINE))
        self.source.upsert(records(range(INITIAL)))
        self.inner_target = ExactStore(f"sm-tgt-{n}")
        self.clock = ManualClock()
        self.faulty = FaultyStore(self.inner_target, clock=self.clock)
        self.target = CrashableTarget(self.faulty)
        self.journal = Journal(self.dir / "journal.sqlite")
        self.flags = InMemoryFlags()
        self.metrics = InProcessMetrics()
        self.sink = RecordingAlertSink()
        self.config = fast_config(self.source.uri, self.target.uri, thresholds={"min_samples": 20, "failure_limit": 2})
        self.writer = DualWriteStore(self.source, self.target, self.journal, self.flags, self.clock)  # type: ignore[arg-type]
        self.verifier_passes = True
        self.health: deque[bool] = deque()
        self.crash_in_ticks: int | None = None
        self.expected_source = {i: 0 for i in range(INITIAL)}
        self.expected_target = dict(self.expected_source)
        self.next_id = 10_000
        self.version = 1
        self.orchestrator = self._new_orchestrator()

    # -- the seams ---------------------------------------------------------------------------------------
    def _new_orchestrator(self) -> Orchestrator:
        return Orchestrator(
            self.config,
            self.source,
            self.target,
            self.journal,  # type: ignore[arg-type]
            clock=self.clock,
            flags=self.flags,
            metrics=self.metrics,
            alerts=[self.sink],
            verifier=lambda s, t: verdict(self.verifier_passes),
            traffic=self._tick,
        )

    def _tick(self, now: float) -> None:
        """Each canary/live tick: maybe crash, feed one health window, write one record through dual-write."""
        self._check_gate()
        if self.crash_in_ticks is not None:
            self.crash_in_ticks -= 1
            if self.crash_in_ticks <= 0:
                self.crash_in_ticks = None
                raise Crash(f"killed at t={now}")
        good = self.health.popleft() if self.health else True
        for i in range(30):
            self.metrics.record("source", now + i * 0.1, 20.0, cache_hit=True)
            self.metrics.record("target", now + i * 0.1, 20.0, error=not good and i % 2 == 0, cache_hit=True)
        self._write([self._fresh_id()])

    def _fresh_id(self) -> int:
        self.next_id += 1
        return self.next_id

    def _write(self, ids: list[int]) -> None:
        mode = self.flags.write_mode()
        self.version += 1
        try:
            self.writer.upsert(records(ids, version=self.version))
        except (TransientStoreError, Crash):  # the authoritative side failed: not acknowledged, nothing promised
            return
        for pid in ids:  # acknowledged: the writer returned
            if mode is not WriteMode.TARGET_ONLY:
                self.expected_source[pid] = self.version
            self.expected_target[pid] = self.version

    def _last_verification(self) -> str | None:
        decisions = [e.data["decision"] for e in self.journal.events("decision") if "verdict" in e.data]
        return decisions[-1] if decisions else None

    def _check_gate(self) -> None:
        if self.flags.read_percent() > 0 or self.journal.state().read_percent > 0:
            assert self._last_verification() == "verified", "reads reached the target before verification passed"

    # -- rules -------------------------------------------------------------------------------------------
    @rule(count=st.integers(1, 3), existing=st.booleans())
    def write(self, count: int, existing: bool) -> None:
        ids = list(range(count)) if existing else [self._fresh_id() for _ in range(count)]
        self._write(ids)

    @rule(pid=st.integers(0, INITIAL - 1))
    def delete(self, pid: int) -> None:
        mode = self.flags.write_mode()
        try:
            self.writer.delete([pid])
        except (TransientStoreError, Crash):  # not acknowledged
            return
        if mode is not WriteMode.TARGET_ONLY:
            self.expected_source.pop(pid, None)
        self.expected_target.pop(pid, None)

    @rule(error_rate=st.sampled_from([0.0, 0.0, 0.3, 1.0]))
    def target_fault(self, error_rate: float) -> None:
        self.faulty.set_faults(write_error_rate=error_rate)  # 1.0: an outage; 0.3: a flaky target

    @rule(pid=st.integers(0, 4))
    def target_flaps_between_two_writes_of_a_record(self, pid: int) -> None:
        """The per-record order hazard: the first write's mirror is queued, the second must not overtake it."""
        before = self.faulty.set_faults(write_error_rate=1.0)
        self._write([pid])
        self.faulty.set_faults(write_error_rate=0.0)
        self._write([pid])
        self.faulty.set_faults(before)

    @rule()
    def arm_crash_on_next_target_write(self) -> None:
        self.target.armed = True

    @rule(ticks=st.integers(1, 12))
    def crash_during_canary(self, ticks: int) -> None:
        self.crash_in_ticks = ticks

    @rule(passes=st.booleans())
    def set_verdict(self, passes: bool) -> None:
        self.verifier_passes = passes

    @rule(windows=st.lists(st.booleans(), min_size=1, max_size=6))
    def feed_health(self, windows: list[bool]) -> None:
        self.health.extend(windows)

    @initialize(phases=st.integers(0, 7), passes=st.booleans())
    def start_somewhere(self, phases: int, passes: bool) -> None:
        """Begin each run a random number of phases in, so canary and live interleavings are common."""
        self.verifier_passes = passes
        self.advance(phases)

    @rule(phases=st.integers(1, 8))
    def advance(self, phases: int) -> None:
        for _ in range(phases):
            phase = self.orchestrator.phase
            if phase not in NEXT:
                return
            try:
                reached = self.orchestrator.run(stop_at=NEXT[phase])
            except (Crash, TransientStoreError):  # killed, or the target stayed down past every retry
                self.orchestrator = self._new_orchestrator()  # a new process resumes from the journal
                return
            if reached is Phase.ROLLED_BACK:
                assert self.flags.read_percent() == 0.0 and self.journal.state().read_percent == 0.0

    @rule()
    def restart(self) -> None:
        self.orchestrator = self._new_orchestrator()

    @precondition(lambda self: self.orchestrator.phase in (Phase.BLOCKED, Phase.ROLLED_BACK))
    @rule()
    def retry(self) -> None:
        self.orchestrator.retry()

    # -- invariants --------------------------------------------------------------------------------------
    @invariant()
    def reads_stay_on_the_source_until_verified(self) -> None:
        self._check_gate()

    @invariant()
    def rollback_and_block_mean_zero_reads(self) -> None:
        if self.journal.state().phase in (Phase.ROLLED_BACK, Phase.BLOCKED):
            assert self.journal.state().read_percent == 0.0
            assert self.flags.read_percent() == 0.0

    def teardown(self) -> None:
        try:
            # Recovery: the target is healthy again, no more crashes, the copy has finished, the outbox drains.
            self.faulty.clear()
            self.target.armed = False
            self.crash_in_ticks = None
            orchestrator = self._new_orchestrator()
            if orchestrator.phase in (Phase.IDLE, Phase.DUAL_WRITE, Phase.BACKFILL):
                orchestrator.run(stop_at=Phase.VERIFY)
            self.writer.replay_outbox()
            assert self.journal.outbox.size() == 0
            for store, expected in ((self.source, self.expected_source), (self.inner_target, self.expected_target)):
                ids = sorted(set(self.expected_source) | set(self.expected_target))
                got = store.fetch(ids)
                held = {pid: payload["v"] for pid, payload in zip(got.ids, got.payloads, strict=True)}
                assert held == expected, f"{store.uri} lost or resurrected acknowledged writes"
        finally:
            self.journal.close()
            self.source.drop()
            self.inner_target.drop()
            shutil.rmtree(self.dir, ignore_errors=True)


MigrationMachine.TestCase.settings = settings(
    max_examples=50, stateful_step_count=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
TestMigrationMachine = MigrationMachine.TestCase


def test_vectors_of_records_are_seeded() -> None:  # the helper the machine relies on is deterministic
    np.testing.assert_array_equal(records([1]).vectors, records([1]).vectors)
