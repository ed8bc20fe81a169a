"""One error burst (issue 15's false rollback): at the 25 % step, for one health interval (10 s), half
of the target's searches fail; before and after, none do.

Steady state: users are served by the source within the gates. Method: the migration under a per-second
load (100 queries a second, spread over each interval) with a 16-entry result cache (about half the
queries reach the store: users see about a quarter failing), and a burst fault schedule on the target (``FaultSchedule.burst``) over the second interval
of the 25 % step. Expected: the burst is one failed check of its step — counted once, however long the
evidence window — and with ``failure_limit`` 3 the migration absorbs it: the step's evidence starts afresh
after the failed check, and the migration completes. Protection removed: ``failure_limit`` 1 (every
failed check rolls back) — the burst rolls a healthy target back, and the check fails.
"""

from __future__ import annotations

from typing import Any

import pytest

from harness.faults import FaultPlan, FaultSchedule
from harness.migration.orchestrator import Phase
from harness.model import Check
from scenarios.gameday.stack import GameDayStack, MigrationRun, gameday_check, steady_load

SCENARIO = "error_burst"
BURST = FaultPlan(search_error_rate=0.5)
CACHE_SIZE = 16  # about half the queries reach the store: users see about half the burst
BURST_AT_PERCENT = 25.0
QPS = 100.0
NO_CACHE: dict[str, Any] = {"thresholds": {"cache_hit_rate_min": 0.0}, "warm_up": {"enabled": False}}


def run_error_burst(stack: GameDayStack, protection: bool = True) -> Check:
    """One 10 s burst at 25 %; with ``protection`` (failure_limit 3) it must be absorbed."""
    source, source_uri = stack.exact_source()
    thresholds = {"cache_hit_rate_min": 0.0, "failure_limit": 3 if protection else 1}
    run = stack.run_to_edge(
        "one 10 s error burst at 25 %",
        source,
        source_uri,
        config={**NO_CACHE, "thresholds": thresholds},
        cache_size=CACHE_SIZE,
        load=steady_load(QPS),
    )
    interval = run.config.canary.health_interval_s
    burst: list[float] = []

    def schedule_burst(r: MigrationRun, now: float) -> None:
        if r.flags.read_percent() >= BURST_AT_PERCENT and not burst:
            burst.append(now + interval)  # the step's second interval
            r.target.follow(FaultSchedule.burst(BURST, at=0.0, duration=interval), start=burst[0])
            r.mark("target: half the searches fail for 10 s", burst[0], burst[0] + interval)

    run.tick_hooks.append(schedule_burst)
    steady = run.steady_state()
    phase = run.migrate()
    summary = run.summary()
    health = [e.data for e in run.orchestrator.timeline("health") if e.data.get("check", "").startswith("canary")]
    failed = [h for h in health if h.get("counted_as") == "fail"]
    in_burst = run.metrics.window("target", burst[0], burst[0] + interval) if burst else None
    problems: list[str] = []
    if not steady["holds"]:
        problems.append("steady state did not hold before the migration")
    if not burst or in_burst is None or not in_burst.errors:
        problems.append("the burst never reached users")
    elif phase is not Phase.COMPLETED:
        problems.append(f"the burst was not absorbed: ended {phase} ({(summary['reason'] or '')[:300]})")
    elif len(failed) != 1 or failed[0]["read_percent"] != BURST_AT_PERCENT:
        problems.append(f"the burst counted as {len(failed)} failed checks (expected one, at 25 %)")
    rate = in_burst.error_rate if in_burst is not None else None
    message = (
        f"absorbed: the burst ({100 * (rate or 0):.0f} % errors for users during 10 s at 25 %) was one failed check "
        f"of its step (failure_limit 3), and the migration completed step by step"
        if not problems
        else "; ".join(problems)
    )
    return gameday_check(
        SCENARIO,
        not problems,
        observed={"phase": str(phase), "failed_checks": len(failed)},
        expected={"phase": "completed", "failed_checks": 1},
        message=message,
        runs=[run],
        burst_error_rate=rate,
    )


@pytest.mark.ragmig_gameday
def test_error_burst(stack: GameDayStack, harness_checks: Any) -> None:
    check = harness_checks.add(run_error_burst(stack))
    assert check.status == "pass", check.message
