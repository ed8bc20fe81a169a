"""Error flapping (issue 15's false promote): from the canary's first step on, the target fails 20 % of
its searches in every other health interval and none in between — behind a small cache users see about
5 % errors on average against the 1 % gate, and no two bad intervals are consecutive.

Steady state: users are served by the source within the gates. Method: the migration under load with
a 16-entry result cache (about half the queries reach the store) and a flapping fault schedule on the target (``FaultSchedule.flapping``: 10 s bad, 10 s good). Expected: the
bad intervals are failed checks of the step, counted whether consecutive or not, and ``failure_limit``
(3) of them roll the migration back within the first step (at most 6 intervals). Protection removed: the
failure budget out of reach — no rollback by the failed checks; the canary goes on serving 5 % errors
until the step runs out of time for lack of evidence, and the check fails.
"""

from __future__ import annotations

from typing import Any

import pytest

from harness.faults import FaultPlan, FaultSchedule
from harness.migration.orchestrator import Phase
from harness.model import Check
from scenarios.gameday.stack import GameDayStack, MigrationRun, gameday_check

SCENARIO = "error_flapping"
BAD = FaultPlan(search_error_rate=0.20)
NO_LIMIT = 1_000_000
CACHE_SIZE = 16
"""A small result cache: about half the queries reach the store, so users see about half its errors."""
NO_CACHE: dict[str, Any] = {"thresholds": {"cache_hit_rate_min": 0.0}, "warm_up": {"enabled": False}}
"""The cache is not what this scenario judges: no cache hit rate to gate on, no warm-up."""


def run_error_flapping(stack: GameDayStack, protection: bool = True) -> Check:
    """Flapping errors above the gate; with ``protection`` they must roll back within the first step."""
    source, source_uri = stack.exact_source()
    run = stack.run_to_edge(
        "errors in every other interval",
        source,
        source_uri,
        config=NO_CACHE
        if protection
        else {**NO_CACHE, "thresholds": {"cache_hit_rate_min": 0.0, "failure_limit": NO_LIMIT}},
        cache_size=CACHE_SIZE,
    )
    interval = run.config.canary.health_interval_s
    started: list[float] = []

    def flap(r: MigrationRun, now: float) -> None:
        if r.flags.read_percent() > 0 and not started:
            # From the next tick on: bad, good, bad, good, ... one health interval each.
            started.append(now + interval)
            r.target.follow(FaultSchedule.flapping(BAD, period=2 * interval, on=interval), start=started[0])
            r.mark("target: 20 % of searches fail every other interval", start=started[0])

    run.tick_hooks.append(flap)
    steady = run.steady_state()
    phase = run.migrate()
    run.target.clear()
    if run.marks:
        run.marks[-1].end = run.clock.now()
    summary = run.summary()
    reason = summary["reason"] or ""
    canary = [
        e for e in run.orchestrator.timeline("health") if e.data.get("check", "").startswith("canary") and started
    ]
    flapping = [e for e in canary if e.at > started[0]] if started else []
    failed = [e for e in flapping if e.data.get("counted_as") == "fail"]
    seen = run.metrics.window("target", started[0], run.clock.now()) if started else None
    user_rate = seen.error_rate if seen is not None and seen.requests else None
    problems: list[str] = []
    if not steady["holds"]:
        problems.append("steady state did not hold before the migration")
    if not started:
        problems.append("the canary never began: no flapping injected")
    elif phase is not Phase.ROLLED_BACK or "failed health checks in this step" not in reason:
        problems.append(
            f"no rollback by the failed checks: ended {phase} after {len(flapping)} checks under flapping "
            f"({len(failed)} failed; users saw {100 * (user_rate or 0):.1f} % errors): {reason[:200]}"
        )
    elif summary["max_read_percent"] > 5.0 or len(flapping) > 6:
        problems.append(
            f"rolled back late: at {summary['max_read_percent']:g} % after {len(flapping)} checks under flapping"
        )
    message = (
        f"rolled back at 5 % after {len(failed)} failed checks in {len(flapping)} (not consecutive: "
        f"bad and good intervals alternate; users saw {100 * (user_rate or 0):.1f} % errors)"
        if not problems
        else "; ".join(problems)
    )
    return gameday_check(
        SCENARIO,
        not problems,
        observed={"phase": str(phase), "checks_under_flapping": len(flapping), "failed": len(failed)},
        expected={"phase": "rolled_back by failure_limit", "checks_under_flapping": "<= 6"},
        message=message,
        runs=[run],
        user_error_rate=user_rate,
    )


@pytest.mark.ragmig_gameday
def test_error_flapping(stack: GameDayStack, harness_checks: Any) -> None:
    check = harness_checks.add(run_error_flapping(stack))
    assert check.status == "pass", check.message
