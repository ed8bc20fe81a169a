"""The orchestrator on a ManualClock: promotion step by step, rollbacks, the verification gate, resume."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from harness.clock import ManualClock
from harness.errors import UsageError
from harness.faults.store import FaultyStore
from harness.migration.alerts import Alert, RecordingAlertSink
from harness.migration.config import MigrationConfig
from harness.migration.dualwrite import DualWriteStore
from harness.migration.flags import FlagStore, WriteMode
from harness.migration.flags_openfeature import InMemoryFlags
from harness.migration.journal import Journal
from harness.migration.metrics import InProcessMetrics, WindowStats
from harness.migration.orchestrator import Orchestrator, Phase
from harness.migration.router import bucket_of, threshold_for
from harness.stores.exact import ExactStore
from tests.migration.conftest import fast_config, records, verdict


class Crash(Exception):
    """Stands for the orchestrator's process dying."""


class Traffic:
    """Deterministic in-process traffic: each tick, every user queries once (routed by their sticky bucket
    at the flags' read percentage) and a few records are written through dual-write. ``target`` holds the
    target's behaviour, switchable at run time; a cache miss is a store call of the request's latency."""

    def __init__(
        self,
        metrics: InProcessMetrics,
        flags: FlagStore,
        writer: DualWriteStore | None = None,
        users: int = 2000,
        seed: int = 0,
    ) -> None:
        self.metrics, self.flags, self.writer = metrics, flags, writer
        self.buckets = np.array([bucket_of(f"user-{i}") for i in range(users)])
        self.rng = np.random.default_rng(seed)
        self.target: dict[str, float] = {"latency_ms": 20.0, "error_rate": 0.0, "hit_rate": 0.9}
        self.when: Callable[[float, float], dict[str, float] | None] = lambda now, percent: None
        self.max_percent = 0.0
        self.acknowledged: list[int] = []
        self.next_id = 100_000
        self.crash_at: float | None = None

    def _record(self, cohort: str, at: np.ndarray, latency_ms: float, error_rate: float, hit_rate: float) -> None:
        n = len(at)
        latency = latency_ms * (1 + 0.2 * self.rng.random(n))
        hits = self.rng.random(n) < hit_rate
        errors = (self.rng.random(n) < error_rate) & ~hits
        self.metrics.record_many(
            cohort,
            at,
            latency,
            errors,
            hits,
            backend_ms=np.where(hits, np.nan, latency),
            backend_errors=errors,
        )

    def __call__(self, now: float) -> None:
        if self.crash_at is not None and now >= self.crash_at:
            raise Crash(f"killed at t={now}")
        percent = self.flags.read_percent()
        self.max_percent = max(self.max_percent, percent)
        target = {**self.target, **(self.when(now, percent) or {})}
        at = now + np.arange(len(self.buckets)) * 0.001
        on_target = self.buckets < threshold_for(percent)
        # Errors are store failures, so a target error rate is drawn over store calls (cache misses).
        miss = 1.0 - target["hit_rate"]
        store_error = min(1.0, target["error_rate"] / miss) if miss > 0 else 0.0
        self._record("target", at[on_target], target["latency_ms"], store_error, target["hit_rate"])
        self._record("source", at[~on_target], 20.0, 0.0, 0.9)
        if self.writer is not None:
            ids = list(range(self.next_id, self.next_id + 3))
            self.next_id += 3
            self.writer.upsert(records(ids))
            self.acknowledged.extend(ids)


class Setup:
    """Stores, journal, seams and an orchestrator factory (a new orchestrator = a restarted process)."""

    def __init__(
        self,
        exact_pair: Any,
        tmp_path: Path,
        n: int = 1200,
        faulty_target: bool = False,
        verifier_passes: bool = True,
        **config: Any,
    ) -> None:
        self.source, inner = exact_pair(n)
        self.inner_target = inner
        self.clock = ManualClock()
        self.target: Any = FaultyStore(inner, clock=self.clock) if faulty_target else inner
        self.config: MigrationConfig = fast_config(self.source.uri, self.target.uri, **config)
        self.journal = Journal(tmp_path / "journal.sqlite")
        self.flags = InMemoryFlags()
        self.metrics = InProcessMetrics()
        self.sink = RecordingAlertSink()
        self.verifier_passes = verifier_passes
        self.writer = DualWriteStore(self.source, self.target, self.journal, self.flags, self.clock)
        self.traffic = Traffic(self.metrics, self.flags, self.writer)
        self.percent_at_alert: list[float] = []

    def orchestrator(self, **overrides: Any) -> Orchestrator:
        setup = self

        class SnoopingSink(RecordingAlertSink):
            def send(self, alert: Alert) -> None:
                setup.percent_at_alert.append(setup.flags.read_percent())
                setup.sink.send(alert)

        kwargs: dict[str, Any] = {
            "clock": self.clock,
            "flags": self.flags,
            "metrics": self.metrics,
            "alerts": [SnoopingSink()],
            "verifier": lambda s, t: verdict(self.verifier_passes),
            "traffic": self.traffic,
            # A warm target on the harness clock: the default warm-up times real searches (wall clock).
            "warm_up": lambda n: WindowStats("target", 0.0, 1.0, n, 0, int(0.9 * n), np.full(n, 20.0)),
        }
        kwargs.update(overrides)
        return Orchestrator(self.config, self.source, self.target, self.journal, **kwargs)

    def percents(self) -> list[float]:
        return [float(e.data["read_percent"]) for e in self.journal.events("transition")]

    def close(self) -> None:
        self.journal.close()


@pytest.fixture
def setup(exact_pair: Any, tmp_path: Path) -> Any:
    made: list[Setup] = []

    def make(**kwargs: Any) -> Setup:
        s = Setup(exact_pair, tmp_path / f"s{len(made)}", **kwargs)
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()


def test_healthy_migration_is_promoted_step_by_step_to_completed(setup: Any) -> None:
    s = setup()
    orchestrator = s.orchestrator()
    assert orchestrator.run() is Phase.COMPLETED
    phases = [e.data["to"] for e in s.journal.events("transition")]
    assert phases[:6] == ["dual_write", "backfill", "verify", "shadow", "warm_up", "canary"]
    assert phases[-2:] == ["live", "completed"]
    shifts = [(e.at, e.data["read_percent"]) for e in s.journal.events("decision") if e.data["decision"] == "shift"]
    assert [p for _, p in shifts] == [5, 25, 50, 100]
    assert all(b[0] - a[0] >= 300 for a, b in itertools.pairwise(shifts))  # each step baked
    assert s.flags.read_percent() == 100 and s.flags.write_mode() is WriteMode.TARGET_ONLY
    modes = [e.data["write_mode"] for e in s.journal.events("transition")]
    assert modes.index("dual_source_first") < modes.index("dual_target_first") < modes.index("target_only")
    health = [h for h in s.journal.events("health") if "outcome" in h.data]
    assert health and all(h.data["outcome"] in ("pass", "undecided") for h in health)
    # Each step was promoted on a passing check whose evidence held at least what the error gate needs.
    events = s.journal.events()
    promotions = [i for i, e in enumerate(events) if e.kind == "decision" and e.data["decision"] == "promote"]
    deciding = [next(e for e in reversed(events[:i]) if e.kind == "health") for i in promotions]
    assert len(deciding) == 4
    assert all(h.data["counted_as"] == "pass" for h in deciding)
    assert all(h.data["requests"] >= s.config.thresholds.error_min_requests for h in deciding), [
        (h.at, h.data["check"], h.data["requests"], h.data["window"], h.data["reasons"]) for h in deciding
    ]
    assert s.sink.alerts == []
    assert s.inner_target.count() == s.source.count()  # every dual-written record is on both sides


def test_canary_error_spike_rolls_back_at_once_with_no_write_lost(setup: Any) -> None:
    s = setup(faulty_target=True)
    limit = s.config.thresholds.failure_limit

    def spike(now: float, percent: float) -> dict[str, float] | None:
        if percent >= 25:
            s.target.set_faults(write_error_rate=1.0)  # the target also drops writes meanwhile
            return {"error_rate": 0.2}
        return None

    s.traffic.when = spike
    assert s.orchestrator().run() is Phase.ROLLED_BACK
    failed_at_25 = [
        h for h in s.journal.events("health") if h.data.get("read_percent") == 25 and h.data["outcome"] == "fail"
    ]
    assert 1 <= len(failed_at_25) <= limit
    assert "error_rate" in failed_at_25[-1].data["failed"]
    assert s.flags.read_percent() == 0.0 and s.percent_at_alert == [0.0]  # reads were back before the alert went
    assert s.flags.write_mode() is WriteMode.DUAL_SOURCE_FIRST  # dual-write kept
    (alert,) = s.sink.alerts
    assert alert.severity == "critical" and "error rate" in alert.message
    assert f"{limit} failed health checks in this step (failure_limit {limit})" in (s.journal.state().reason or "")
    assert "at 99 % confidence over" in (s.journal.state().reason or "")
    assert max(s.percents()) == 25
    # Recovery: the target comes back, the outbox replays, and every acknowledged write is on both sides.
    s.target.clear()
    s.writer.replay_outbox()
    assert s.journal.outbox.size() == 0
    for store in (s.source, s.inner_target):
        assert len(store.fetch(s.traffic.acknowledged)) == len(s.traffic.acknowledged)


def test_latency_regression_rolls_back_by_mann_whitney(setup: Any) -> None:
    s = setup()
    s.traffic.when = lambda now, percent: {"latency_ms": 40.0} if percent >= 5 else None  # 2x, p99 well < 500 ms
    assert s.orchestrator().run() is Phase.ROLLED_BACK
    last = [h for h in s.journal.events("health") if h.data.get("outcome") == "fail"][-1]
    assert last.data["failed"] == ["latency_regression"]
    assert last.data["mann_whitney_p"] < 0.02 and last.data["median_ratio"] > 1.1
    assert last.data["p99_ms"] < s.config.thresholds.p99_ms_max
    rollback = [e for e in s.journal.events("decision") if e.data["decision"] == "rollback"]
    assert rollback and rollback[0].data["mann_whitney_p"] == last.data["mann_whitney_p"]


@pytest.mark.parametrize(
    ("policy", "expected"), [("fail", Phase.ROLLED_BACK), ("pass", Phase.COMPLETED), ("hold", Phase.ROLLED_BACK)]
)
def test_idle_windows_are_judged_by_the_no_data_policy(setup: Any, policy: str, expected: Phase) -> None:
    s = setup(thresholds={"no_data_policy": policy, "max_hold_s": 600.0})
    assert s.orchestrator(traffic=None).run() is expected
    checks = [h for h in s.journal.events("health") if "outcome" in h.data]
    assert checks and all(h.data["outcome"] == "no_data" and h.data["error_rate"] is None for h in checks)
    if policy == "hold":
        assert all(h.data["counted_as"] == "no_data" for h in checks)
        step_start = checks[0].data["interval"][0]
        assert checks[-2].at - step_start < 600.0 <= checks[-1].at - step_start
        assert "no data for 600 s (max_hold 600 s)" in (s.journal.state().reason or "")


def test_verification_failure_blocks_every_traffic_shift(setup: Any) -> None:
    s = setup(verifier_passes=False)
    orchestrator = s.orchestrator()
    assert orchestrator.run() is Phase.BLOCKED
    assert max(s.percents()) == 0.0 and s.traffic.max_percent == 0.0 and s.flags.read_percent() == 0.0
    assert [a.title for a in s.sink.alerts] == ["traffic shift blocked"]
    assert "verification failed" in (s.journal.state().reason or "")
    assert orchestrator.run() is Phase.BLOCKED  # a rerun does not slip past the gate
    # After the cause is fixed, a retry goes back through verification and on to completion.
    s.verifier_passes = True
    orchestrator.retry()
    assert orchestrator.run() is Phase.COMPLETED


def test_shadow_reads_that_disagree_block_the_shift(setup: Any) -> None:
    s = setup()
    orchestrator = s.orchestrator()
    assert orchestrator.run(stop_at=Phase.SHADOW) is Phase.SHADOW
    s.inner_target.upsert(records(range(1200), seed=99))  # same ids, different vectors: answers diverge
    assert orchestrator.run() is Phase.BLOCKED
    decision = [e for e in s.journal.events("decision") if e.data["decision"] == "blocked"][-1]
    assert decision.data["mean_overlap"] < s.config.shadow.overlap_min
    assert max(s.percents()) == 0.0


def test_a_crash_mid_canary_resumes_at_the_journaled_step(setup: Any) -> None:
    s = setup()
    s.traffic.crash_at = 700.0  # during step 3 (50 %)
    with pytest.raises(Crash):
        s.orchestrator().run()
    state = s.journal.state()
    assert (state.phase, state.canary_step) == ("canary", 2)
    s.flags = InMemoryFlags()  # the new process starts with fresh flags
    s.traffic.flags = s.flags
    s.traffic.crash_at = None
    s.traffic.max_percent = 0.0
    assert s.orchestrator(flags=s.flags).run() is Phase.COMPLETED
    resumed = [e for e in s.journal.events("decision") if e.data["decision"] == "shift"]
    assert [e.data["read_percent"] for e in resumed] == [5, 25, 50, 50, 100]  # step 3 baked again, none skipped


def test_a_crash_mid_backfill_resumes_from_the_checkpoint(setup: Any) -> None:
    s = setup(n=3000)
    real_upsert = s.inner_target.upsert
    calls = {"n": 0}

    def dies_on_fourth(batch: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 4:
            raise Crash("killed mid-backfill")
        real_upsert(batch)

    s.inner_target.upsert = dies_on_fourth  # type: ignore[method-assign]
    with pytest.raises(Crash):
        s.orchestrator().run()
    assert s.journal.state().phase == "backfill" and s.journal.checkpoint().done == 1500
    s.inner_target.upsert = real_upsert  # type: ignore[method-assign]
    orchestrator = s.orchestrator()
    assert orchestrator.run() is Phase.COMPLETED
    assert orchestrator.last_backfill is not None and orchestrator.last_backfill.resumed_from == 1500
    assert s.journal.checkpoint().attempted <= 3000 + s.config.batch_size


def test_warm_up_replays_until_hit_rate_and_p99_settle(setup: Any) -> None:
    s = setup(warm_up={"max_rounds": 6})
    p99_per_round = [400.0, 60.0, 21.0, 20.0, 20.0, 20.0]  # a cold cache warming up
    hit_rate_per_round = [0.0, 0.5, 0.9, 0.9, 0.9, 0.9]
    rounds: list[int] = []

    def warm_up(n: int) -> WindowStats:
        r = len(rounds)
        rounds.append(n)
        return WindowStats("target", 0.0, 1.0, n, 0, int(n * hit_rate_per_round[r]), np.full(n, p99_per_round[r]))

    assert s.orchestrator(warm_up=warm_up).run(stop_at=Phase.CANARY) is Phase.CANARY
    settled = [e for e in s.journal.events("decision") if e.data["decision"] == "warm-up settled"]
    assert settled and settled[0].data["rounds"] == 4 and rounds == [20] * 4
    assert s.sink.alerts == []


def test_warm_up_that_never_settles_warns_and_leaves_the_decision_to_the_canary(setup: Any) -> None:
    s = setup()
    cold = WindowStats("target", 0.0, 1.0, 20, 0, 0, np.full(20, 30.0))  # hit rate 0: never warm
    assert s.orchestrator(warm_up=lambda n: cold).run(stop_at=Phase.CANARY) is Phase.CANARY
    assert [a.title for a in s.sink.alerts] == ["warm-up did not settle"]
    assert s.flags.read_percent() == 0.0


def test_orphaned_writes_after_completion_are_listed_and_alerted(setup: Any) -> None:
    s = setup()
    orchestrator = s.orchestrator()
    assert orchestrator.run() is Phase.COMPLETED
    s.writer.upsert(records([777_777]))  # through the flag: target only
    assert orchestrator.check_orphaned_writes().count == 0
    ExactStore(s.source.name).upsert(records([888_888]))  # a writer that bypasses the flag
    report = orchestrator.check_orphaned_writes()
    assert report.added == (888_888,) and report.count == 1
    assert s.sink.alerts[-1].title == "orphaned writes"


def test_a_broken_alert_sink_does_not_stop_a_rollback(setup: Any) -> None:
    class Broken:
        def send(self, alert: Alert) -> None:
            raise ConnectionError("webhook down")

    s = setup()
    orchestrator = s.orchestrator(alerts=[Broken()])
    orchestrator.run(stop_at=Phase.CANARY)
    assert orchestrator.rollback("manual: on-call decision") is Phase.ROLLED_BACK
    assert s.flags.read_percent() == 0.0
    assert any(e.data.get("fault") == "alert_sink_failed" for e in s.journal.events("fault"))


def test_a_journal_of_another_migration_is_refused(setup: Any, exact_pair: Any) -> None:
    s = setup()
    s.orchestrator().run(stop_at=Phase.BACKFILL)
    other, _ = exact_pair(1)
    with pytest.raises(UsageError, match="belongs to a migration"):
        Orchestrator(
            s.config,
            other,
            s.target,
            s.journal,
            clock=s.clock,
            flags=s.flags,
            alerts=[],
            verifier=lambda a, b: verdict(True),
        )


def test_default_flags_are_openfeature_mirrored_into_the_journal(setup: Any) -> None:
    s = setup()
    orchestrator = s.orchestrator(flags=None, traffic=None)
    assert orchestrator.run(stop_at=Phase.BACKFILL) is Phase.BACKFILL
    assert orchestrator.flags.write_mode() is WriteMode.DUAL_SOURCE_FIRST
    assert s.journal.get("flag.ragmig.write-mode") == "dual_source_first"


def test_an_outage_is_a_severe_breach_and_rolls_back_at_the_first_check(setup: Any) -> None:
    s = setup()
    s.traffic.when = lambda now, percent: {"error_rate": 1.0, "hit_rate": 0.0} if percent >= 25 else None
    assert s.orchestrator().run() is Phase.ROLLED_BACK
    failed = [h for h in s.journal.events("health") if h.data.get("outcome") == "fail"]
    assert len(failed) == 1 and failed[0].data["severe"] and failed[0].data["read_percent"] == 25
    reason = s.journal.state().reason or ""
    assert reason.startswith("canary step 2 (25 %): severe breach, rolled back at once: severe: error rate")
    assert "(severe from 50 %)" in reason


def test_too_little_traffic_for_the_gate_rolls_back_for_lack_of_evidence_never_promotes(setup: Any) -> None:
    s = setup(thresholds={"max_hold_s": 600.0})
    s.traffic.buckets = s.traffic.buckets[:100]  # 100 users: about 5 canary requests a tick at 5 %
    assert s.orchestrator().run() is Phase.ROLLED_BACK
    assert max(s.percents()) == 5.0
    reason = s.journal.state().reason or ""
    assert "not enough evidence to promote" in reason and "(bake 300 s + max_hold 600 s)" in reason
    assert "not enough evidence against 1 % at 99 % confidence" in reason


def test_a_steps_failed_checks_survive_a_crash(setup: Any) -> None:
    s = setup(thresholds={"failure_limit": 3})
    bad = {"on": True}
    s.traffic.when = lambda now, percent: {"error_rate": 0.2} if percent >= 25 and bad["on"] else None
    failures_seen: list[int] = []

    def crash_after_two_failures(now: float) -> None:
        failures = s.journal.state().consecutive_failures
        failures_seen.append(failures)
        if failures == 2:
            raise Crash("killed with two failed checks in the step")
        s.traffic(now)

    with pytest.raises(Crash):
        s.orchestrator(traffic=crash_after_two_failures).run()
    assert (s.journal.state().canary_step, s.journal.state().consecutive_failures) == (1, 2)
    # The resumed controller counts on from two: one more failed check rolls back.
    assert s.orchestrator().run() is Phase.ROLLED_BACK
    assert "3 failed health checks in this step (failure_limit 3)" in (s.journal.state().reason or "")
