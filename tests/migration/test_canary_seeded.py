"""The canary decides right, over many seeds: the patterns of issue 15 on a small in-process migration.

Each test runs one fault pattern over ``SEEDS`` seeded migrations (``tests.migration.seeded``: the real
assembly and orchestrator on a ManualClock, 2,000 user requests per 10 s tick, steps 5 → 25 → 50 →
100 %, error gate 1 % at 99 % confidence, ``failure_limit`` 3) and asserts how often the decision is
right. Error rates are what users see; the target's store calls fail behind a cache answering 60 % of
requests.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from harness.faults import FaultPlan
from harness.migration.orchestrator import Phase
from tests.migration.seeded import HEALTHY, Behaviour, SeededRun, Tick, seeded_config, user_error_rate

SEEDS = 50
HIT_RATE = 0.6
GATE = 0.01


@dataclass
class Outcome:
    """What one seeded run decided."""

    phase: Phase
    max_percent: float
    reason: str
    alerts: list[str]
    failed_checks: list[dict[str, Any]]
    details: dict[str, Any]


def run_seeds(
    pattern: Callable[[Tick], tuple[Behaviour, Behaviour]],
    seeds: int = SEEDS,
    inspect: Callable[[SeededRun], dict[str, Any]] | None = None,
    **options: Any,
) -> list[Outcome]:
    out = []
    for seed in range(seeds):
        run = SeededRun(seed, pattern, **options)
        try:
            phase = run.run()
            out.append(
                Outcome(
                    phase,
                    run.max_percent,
                    run.migration.journal.state().reason or "",
                    [a.title for a in run.alerts.alerts],
                    [h for h in run.health() if h["counted_as"] == "fail"],
                    inspect(run) if inspect else {},
                )
            )
        finally:
            run.close()
    return out


def phases(outcomes: list[Outcome]) -> Counter[str]:
    return Counter(str(o.phase) for o in outcomes)


def healthy(tick: Tick) -> tuple[Behaviour, Behaviour]:
    """The target at 0.3 × the gate (users see 0.3 % errors), the baseline healthy."""
    return user_error_rate(0.3 * GATE, HIT_RATE), HEALTHY


def test_a_target_at_three_times_the_gate_is_rolled_back_in_every_run_before_the_50_percent_step() -> None:
    outcomes = run_seeds(lambda tick: (user_error_rate(3 * GATE, HIT_RATE), HEALTHY))
    assert phases(outcomes) == {"rolled_back": SEEDS}
    assert max(o.max_percent for o in outcomes) < 50.0
    assert all("error rate" in o.reason and "at 99 % confidence over" in o.reason for o in outcomes)


def test_a_target_at_a_third_of_the_gate_is_promoted_in_at_least_49_of_50_runs() -> None:
    outcomes = run_seeds(healthy)
    assert phases(outcomes)["completed"] >= SEEDS - 1, phases(outcomes)
    # Promoted on evidence: no failed check at all in almost every run, never a severe one.
    assert sum(1 for o in outcomes if o.failed_checks) <= 1
    assert not any(f["severe"] for o in outcomes for f in o.failed_checks)


def test_a_single_burst_one_interval_long_is_absorbed_with_failure_limit_3() -> None:
    def burst(tick: Tick) -> tuple[Behaviour, Behaviour]:
        if tick.percent == 25.0 and tick.step_tick == 1:  # the store fails half its calls for one interval
            return Behaviour(store_error_rate=0.5), HEALTHY
        return healthy(tick)

    outcomes = run_seeds(burst)
    assert phases(outcomes)["completed"] >= SEEDS - 1, phases(outcomes)
    # The burst is one failed check of its step in every run: counted once, not once per overlapping window.
    burst_failures = [[f for f in o.failed_checks if f["read_percent"] == 25.0] for o in outcomes]
    assert all(len(f) == 1 and f[0]["failed"] == ["error_rate"] for f in burst_failures)


def test_a_single_burst_with_failure_limit_1_rolls_back_counterfactual() -> None:
    def burst(tick: Tick) -> tuple[Behaviour, Behaviour]:
        if tick.percent == 25.0 and tick.step_tick == 1:
            return Behaviour(store_error_rate=0.5), HEALTHY
        return healthy(tick)

    outcomes = run_seeds(burst, seeds=10, config=seeded_config(thresholds={"failure_limit": 1}))
    assert phases(outcomes) == {"rolled_back": 10}


def test_flapping_errors_above_the_gate_roll_back() -> None:
    def flapping(tick: Tick) -> tuple[Behaviour, Behaviour]:
        bad = int(tick.now // 10) % 2 == 1  # every other interval users see 10 % errors: 5 % on average
        return user_error_rate(0.10 if bad else 0.0, HIT_RATE), HEALTHY

    outcomes = run_seeds(flapping)
    assert phases(outcomes) == {"rolled_back": SEEDS}
    assert all("3 failed health checks in this step (failure_limit 3)" in o.reason for o in outcomes)


def test_a_target_silently_dropping_5_percent_of_writes_never_completes_and_the_block_lists_exactly_the_dropped_ids() -> (
    None
):
    def drops(tick: Tick) -> FaultPlan | None:
        return FaultPlan(drop_write_rate=0.05) if tick.percent > 0 else None

    def inspect(run: SeededRun) -> dict[str, Any]:
        assert run.faulty is not None
        blocked = run.decisions("blocked")
        listed = blocked[-1]["ids"] if blocked else []
        held = run.faulty.inner.fetch(listed)
        return {
            "listed": sorted(listed),
            "dropped": sorted(set(run.faulty.dropped_ids)),
            "still_differ": blocked[-1]["still_differ"] if blocked else None,
            "on_target_after_replay": sorted(held.ids),
        }

    outcomes = run_seeds(healthy, inspect=inspect, target_faults=drops)
    assert phases(outcomes) == {"blocked": SEEDS}
    for o in outcomes:
        assert o.details["listed"] and o.details["listed"] == o.details["dropped"]
        assert o.details["still_differ"] == [] and o.details["on_target_after_replay"] == o.details["listed"]
        assert "acknowledged writes missing on the target" in o.alerts


def test_a_degrading_baseline_alerts_without_rolling_back_a_healthy_canary() -> None:
    def baseline_degrades(tick: Tick) -> tuple[Behaviour, Behaviour]:
        source = Behaviour(store_error_rate=0.05, latency_ms=45.0) if tick.percent >= 25.0 else HEALTHY
        return healthy(tick)[0], source

    outcomes = run_seeds(baseline_degrades)
    assert phases(outcomes)["completed"] >= SEEDS - 1, phases(outcomes)
    assert all("baseline degraded" in o.alerts for o in outcomes)


def test_a_degraded_target_is_caught_while_the_baseline_degrades() -> None:
    def both_degrade(tick: Tick) -> tuple[Behaviour, Behaviour]:
        if tick.percent >= 25.0:  # source +40 ms; target +20 ms (5x its own normal): faster than the baseline
            return Behaviour(healthy(tick)[0].store_error_rate, latency_ms=25.0), Behaviour(latency_ms=45.0)
        return healthy(tick)

    outcomes = run_seeds(both_degrade)
    assert phases(outcomes) == {"rolled_back": SEEDS}
    assert all(o.max_percent == 25.0 for o in outcomes)
    assert all(
        "latency_reference" in f["failed"] and "latency_regression" not in f["failed"]
        for o in outcomes
        for f in o.failed_checks
    )


def test_store_errors_the_cache_hides_are_reported_and_gate_when_configured() -> None:
    def hidden(tick: Tick) -> tuple[Behaviour, Behaviour]:
        return Behaviour(store_error_rate=0.03), HEALTHY  # users see ~0.3 % behind a 90 % cache

    warned = run_seeds(hidden, seeds=10, hit_rate=0.9)
    assert phases(warned) == {"completed": 10}
    assert all("target store calls failing behind the cache" in o.alerts for o in warned)
    gated = run_seeds(hidden, seeds=10, hit_rate=0.9, config=seeded_config(thresholds={"backend_errors": "gate"}))
    assert phases(gated) == {"rolled_back": 10}
    assert all("store-call error rate" in o.reason for o in gated)
