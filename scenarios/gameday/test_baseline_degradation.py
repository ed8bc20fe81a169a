"""A degrading baseline (issue 15): the source gets worse on its own while the canary runs — and once,
the target gets worse at the same time, but less.

Steady state: users are served by the source within the gates. Method: two migrations under load with a
64-entry result cache (about one query in five reaches the store). From the 25 % step on, the source's
searches ramp from 2 to 42 ms over 30 s (``FaultSchedule.ramp``) and 5 % of them fail. In the second
run the target's searches also slow by 20 ms — ten times its normal 2 ms, yet still faster than the
degraded baseline. Expected: the first run raises a ``baseline degraded`` warning with the source's
figures and completes (a worse baseline never blames the canary); the second rolls back at 25 %
because the target's store calls are slower than its own reference window (the first store calls of
the canary), which a comparison with the baseline alone cannot see. Protection removed: no reference
(``latency_reference = false``) — the second run completes onto a target ten times slower than it was,
and the check fails.
"""

from __future__ import annotations

from typing import Any

import pytest

from harness.faults import FaultPlan, FaultSchedule, OpKind
from harness.migration.orchestrator import Phase
from harness.model import Check
from scenarios.gameday.stack import GameDayStack, MigrationRun, gameday_check

SCENARIO = "baseline_degradation"
SEARCHES = frozenset({OpKind.SEARCH})
SOURCE_DEGRADES = FaultSchedule.ramp(
    "latency_ms", 0.0, 40.0, duration=30.0, steps=3, base=FaultPlan(search_error_rate=0.05, latency_ops=SEARCHES)
)
TARGET_SLOWER = FaultPlan(latency_ms=20.0, latency_ops=SEARCHES)
FROM_PERCENT = 25.0
CACHE_SIZE = 64  # about one query in five reaches the store


def _migrate(stack: GameDayStack, label: str, *, target_degrades: bool, reference: bool) -> tuple[MigrationRun, Phase]:
    source, source_uri = stack.exact_source()
    run = stack.run_to_edge(
        label, source, source_uri, config={"thresholds": {"latency_reference": reference}}, cache_size=CACHE_SIZE
    )
    started: list[float] = []

    def degrade(r: MigrationRun, now: float) -> None:
        if r.flags.read_percent() >= FROM_PERCENT and not started:
            started.append(now)
            r.source.follow(SOURCE_DEGRADES)
            r.mark("source: searches +0 → 40 ms, 5 % fail")
            if target_degrades:
                r.target.set_faults(TARGET_SLOWER)
                r.mark("target: searches +20 ms (10× its normal)")

    run.tick_hooks.append(degrade)
    run.steady_state()
    phase = run.migrate()
    run.source.clear()
    run.target.clear()
    return run, phase


def run_baseline_degradation(stack: GameDayStack, protection: bool = True) -> Check:
    """A degrading baseline alerts without blaming a healthy canary; a degrading target is still caught."""
    healthy, healthy_phase = _migrate(stack, "baseline degrades, target healthy", target_degrades=False, reference=True)
    both, both_phase = _migrate(
        stack, "baseline degrades, target slows too", target_degrades=True, reference=protection
    )
    problems: list[str] = []
    for run in (healthy, both):
        if not run.steady.get("holds"):
            problems.append(f"{run.label}: steady state did not hold before the migration")
    warned = [a for a in healthy.alerts.alerts if a.title == "baseline degraded" and not a.resolved]
    if not warned:
        problems.append(f"the degrading baseline raised no alert (alerts: {[a.title for a in healthy.alerts.alerts]})")
    if healthy_phase is not Phase.COMPLETED:
        problems.append(
            f"a healthy canary was blamed for the baseline: ended {healthy_phase} ({healthy.summary()['reason']})"
        )
    summary = both.summary()
    if both_phase is not Phase.ROLLED_BACK or "latency_reference" not in summary["failed_reasons"]:
        problems.append(
            f"the slower target went unnoticed behind the slower baseline: ended {both_phase} "
            f"(failed on {summary['failed_reasons']})"
        )
    message = (
        f"the degrading baseline raised a warning ({warned[0].message.split('. ')[0]}) and the healthy canary "
        f"completed; the target slowing by 20 ms was rolled back at {summary['max_read_percent']:g} % against "
        "its own reference while the baseline was slower still"
        if not problems
        else "; ".join(problems)
    )
    return gameday_check(
        SCENARIO,
        not problems,
        observed={"healthy_canary": str(healthy_phase), "degraded_target": str(both_phase), "warned": bool(warned)},
        expected={"healthy_canary": "completed", "degraded_target": "rolled_back", "warned": True},
        message=message,
        runs=[healthy, both],
    )


@pytest.mark.ragmig_gameday
def test_baseline_degradation(stack: GameDayStack, harness_checks: Any) -> None:
    check = harness_checks.add(run_baseline_degradation(stack))
    assert check.status == "pass", check.message
