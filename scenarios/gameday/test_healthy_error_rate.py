"""A healthy error rate (issue 15's false rollbacks): the target's users see errors at 0.3 × the error
gate for the whole migration — an error here and there, never a rate above the gate.

Sized for a game day's traffic: a 5 % gate with users seeing about 1.5 % errors (the target fails 3 % of
its searches behind a result cache answering about half the queries); the seeded suite
(``tests/migration/test_canary_seeded.py``) runs the 1 % gate at 0.3 % over 50 seeds. Steady state:
users are served by the source within the gates. Method: the migration under load with the target
failing 3 % of its searches. Expected: each step is judged on its evidence — every request since the
step began — with an exact binomial test at 99 % confidence, and promoted once that evidence shows the
rate below the gate; the migration completes step by step. Protection removed: evidence accumulated
across intervals — each check judges its own interval alone (``window_s`` = the health interval), whose
50 requests at 5 % can never show a rate below 5 % with 99 % confidence (90 clean requests can): the
healthy target is rolled back, and the check fails.
"""

from __future__ import annotations

from typing import Any

import pytest

from harness.faults import FaultPlan
from harness.migration.orchestrator import Phase
from harness.model import Check
from scenarios.gameday.stack import GameDayStack, MigrationRun, gameday_check

SCENARIO = "healthy_error_rate"
HEALTHY = FaultPlan(search_error_rate=0.03)
CACHE_SIZE = 16  # about half the queries reach the store: users see about 1.5 % errors
GATE: dict[str, Any] = {
    "thresholds": {"error_rate_max": 0.05, "cache_hit_rate_min": 0.0},
    "warm_up": {"enabled": False},
}
"""The error gate alone decides (a 16-entry cache is not what this scenario judges)."""
ONE_INTERVAL: dict[str, Any] = {**GATE, "canary": {"window_s": 10.0}}


def run_healthy_error_rate(stack: GameDayStack, protection: bool = True) -> Check:
    """A target at 0.3 × the gate; with ``protection`` it must be promoted to completion."""
    source, source_uri = stack.exact_source()
    run = stack.run_to_edge(
        "target at 0.3 x the gate (1.5 % of 5 %)",
        source,
        source_uri,
        config=GATE if protection else ONE_INTERVAL,
        cache_size=CACHE_SIZE,
    )
    started: list[object] = []

    def errors_from_the_canary_on(r: MigrationRun, now: float) -> None:
        if r.flags.read_percent() > 0 and not started:
            r.target.set_faults(HEALTHY)
            started.append(r.mark("target fails 3 % of searches (users: about 1.5 %)"))

    run.tick_hooks.append(errors_from_the_canary_on)
    steady = run.steady_state()
    phase = run.migrate()
    summary = run.summary()
    seen = run.metrics.window("target", 0.0, run.clock.now())
    events = run.orchestrator.timeline()
    promoted = [
        next(e for e in reversed(events[:i]) if e.kind == "health").data
        for i, e in enumerate(events)
        if e.kind == "decision" and e.data.get("decision") == "promote"
    ]
    problems: list[str] = []
    if not steady["holds"]:
        problems.append("steady state did not hold before the migration")
    if not seen.errors:
        problems.append("the target failed no request: nothing to judge")
    if phase is not Phase.COMPLETED or summary["read_percent_steps"] != [5.0, 25.0, 50.0, 100.0]:
        problems.append(
            f"a healthy target was not promoted step by step: ended {phase} after "
            f"{summary['read_percent_steps']} ({(summary['reason'] or '')[:300]})"
        )
    evidence = ", ".join(f"{p['requests']:,}" for p in promoted)
    message = (
        f"promoted step by step to completion: users saw {100 * (seen.error_rate or 0):.2f} % errors "
        f"({seen.errors} of {seen.requests:,}); each step passed on evidence of {evidence} requests"
        if not problems
        else "; ".join(problems)
    )
    return gameday_check(
        SCENARIO,
        not problems,
        observed={"phase": str(phase), "steps": summary["read_percent_steps"], "user_error_rate": seen.error_rate},
        expected={"phase": "completed", "steps": [5.0, 25.0, 50.0, 100.0]},
        message=message,
        runs=[run],
        evidence_at_promotion=[p["requests"] for p in promoted],
    )


@pytest.mark.ragmig_gameday
def test_healthy_error_rate(stack: GameDayStack, harness_checks: Any) -> None:
    check = harness_checks.add(run_healthy_error_rate(stack))
    assert check.status == "pass", check.message
