"""Store errors the cache hides (issue 15): from the canary's first step on, the target's store fails 3 %
of its searches — three times the 1 % gate — behind a result cache that answers about 9 in 10 queries,
so users see about 0.3 %.

Steady state: users are served by the source within the gates. Method: the migration under load (steps
25 → 50 → 100 %: the 0.3 % users see needs a step's evidence of about 1,700 requests, which the first
step of 25 % gathers within its bake) with a 128-entry result cache and the target failing 3 % of its
searches. Expected: the users' error rate passes its gate — users are fine for now — but the store
calls behind the cache are judged too, and a warning goes out that the target's store fails above the
gate, with both figures; by default (``backend_errors = "warn"``) the migration goes on. Protection
removed: store calls not judged (``backend_errors = "off"``) — the migration completes and nothing
reports the failing store, and the check fails.
"""

from __future__ import annotations

from typing import Any

import pytest

from harness.faults import FaultPlan
from harness.migration.orchestrator import Phase
from harness.model import Check
from scenarios.gameday.stack import GameDayStack, MigrationRun, gameday_check

SCENARIO = "cache_hidden_errors"
STORE_ERRORS = FaultPlan(search_error_rate=0.03)
CACHE_SIZE = 128  # of the 200 keys users ask, Zipf-popular: about 9 in 10 queries are cache hits
WARNING = "target store calls failing behind the cache"


def run_cache_hidden_errors(stack: GameDayStack, protection: bool = True) -> Check:
    """Store errors hidden by the cache; with ``protection`` they must be reported."""
    source, source_uri = stack.exact_source()
    run = stack.run_to_edge(
        "store fails 3 % behind a 90 % cache",
        source,
        source_uri,
        config={
            "canary": {"steps": [25.0, 50.0, 100.0]},
            "thresholds": {"backend_errors": "warn" if protection else "off"},
        },
        cache_size=CACHE_SIZE,
    )
    started: list[object] = []

    def store_errors(r: MigrationRun, now: float) -> None:
        if r.flags.read_percent() > 0 and not started:
            r.target.set_faults(STORE_ERRORS)
            started.append(r.mark("target store fails 3 % of searches"))

    run.tick_hooks.append(store_errors)
    steady = run.steady_state()
    phase = run.migrate()
    since = run.marks[0].start if started else 0.0
    seen = run.metrics.window("target", since, run.clock.now() + 1.0)
    warnings = [a for a in run.alerts.alerts if a.title == WARNING and not a.resolved]
    problems: list[str] = []
    if not steady["holds"]:
        problems.append("steady state did not hold before the migration")
    if not seen.backend_errors:
        problems.append("the target's store failed no call: nothing hidden")
    if not warnings:
        problems.append(
            f"the failing store went unreported: its calls failed {100 * (seen.backend_error_rate or 0):.1f} % "
            f"while users saw {100 * (seen.error_rate or 0):.2f} %; the migration ended {phase}"
        )
    elif phase is not Phase.COMPLETED:
        problems.append(f"a warning is not a gate: the migration ended {phase} ({run.summary()['reason']})")
    message = (
        f"reported: the target's store calls failed {100 * (seen.backend_error_rate or 0):.1f} % "
        f"({seen.backend_errors} of {seen.backend_calls:,}) while users saw {100 * (seen.error_rate or 0):.2f} % "
        f"behind the cache — a warning ({warnings[0].message.split(':')[0]}), and the migration went on"
        if not problems
        else "; ".join(problems)
    )
    return gameday_check(
        SCENARIO,
        not problems,
        observed={
            "store_call_error_rate": seen.backend_error_rate,
            "user_error_rate": seen.error_rate,
            "warned": bool(warnings),
            "phase": str(phase),
        },
        expected={"warned": True, "phase": "completed"},
        message=message,
        runs=[run],
    )


@pytest.mark.ragmig_gameday
def test_cache_hidden_errors(stack: GameDayStack, harness_checks: Any) -> None:
    check = harness_checks.add(run_cache_hidden_errors(stack))
    assert check.status == "pass", check.message
