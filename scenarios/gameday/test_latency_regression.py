"""Latency regression: the target answers every search about three times slower than the source
(8 ± 3 ms against 2 ± 1 ms) — well inside the p99 gate, so only a statistical comparison sees it.

The service runs without a result cache here (every query reaches a store), as a service whose
queries rarely repeat would. Steady state: users are served by the source within the gates. Method:
the migration under load. Expected: the canary's Mann-Whitney comparison with the baseline (98 %
confidence, beyond the effect-size tolerance) fails three consecutive checks and the orchestrator
rolls back, with the p99 gate never tripped. Protection removed: the comparison switched off (an
effect size no slowdown can reach) — the slower target goes live and the check fails.
"""

from __future__ import annotations

from typing import Any

import pytest

from harness.faults import FaultPlan, OpKind
from harness.migration.orchestrator import Phase
from harness.model import Check
from scenarios.gameday.stack import GameDayStack, gameday_check

SCENARIO = "latency_regression"
SLOWER = FaultPlan(latency_ms=6.0, jitter_ms=2.0, latency_ops=frozenset({OpKind.SEARCH}))
COMPARISON_OFF = 1e9  # latency_tolerance: no median ratio is ever this large


def run_latency_regression(stack: GameDayStack, protection: bool = True) -> Check:
    """A 3× slower target; with ``protection`` Mann-Whitney must roll it back."""
    source, source_uri = stack.exact_source()
    thresholds: dict[str, Any] = {"cache_hit_rate_min": 0.0}
    if not protection:
        thresholds["latency_tolerance"] = COMPARISON_OFF
    run = stack.run_to_edge(
        "3× slower target",
        source,
        source_uri,
        cache_size=0,
        config={"thresholds": thresholds},
    )
    steady = run.steady_state()
    run.target.set_faults(SLOWER)
    run.mark("target 3× slower (+6 ± 2 ms)")
    phase = run.migrate()
    health = [e.data for e in run.orchestrator.timeline("health") if e.data.get("check") != "warm_up"]
    regressed = [h for h in health if "latency_regression" in h.get("failed", [])]
    p99_tripped = [h for h in health if "p99" in h.get("failed", [])]
    lost = run.lost_writes(run.source)
    problems: list[str] = []
    if not steady["holds"]:
        problems.append("steady state did not hold before the migration")
    if phase is not Phase.ROLLED_BACK:
        problems.append(f"no rollback: the 3× slower target ended {phase}")
    elif not regressed:
        problems.append(f"rolled back, but not on the latency comparison ({run.journal.state().reason})")
    if p99_tripped:
        problems.append("the p99 gate tripped: the regression was not subtle enough to need the comparison")
    if lost:
        problems.append(f"{len(lost)} acknowledged writes lost")
    decisive = regressed[-1] if regressed else {}
    message = (
        f"rolled back on the Mann-Whitney comparison: canary median {decisive.get('canary_median_ms', 0):.2f} ms vs "
        f"baseline {decisive.get('baseline_median_ms', 0):.2f} ms, p={decisive.get('mann_whitney_p')}, "
        f"p99 {decisive.get('p99_ms', 0):.1f} ms within its gate"
        if not problems
        else "; ".join(problems)
    )
    return gameday_check(
        SCENARIO,
        not problems,
        observed={"phase": str(phase), "regressed_checks": len(regressed)},
        expected={"phase": "rolled_back", "regressed_checks": f">= {run.config.thresholds.failure_limit}"},
        message=message,
        runs=[run],
        decisive_check={
            k: decisive.get(k)
            for k in ("canary_median_ms", "baseline_median_ms", "median_ratio", "mann_whitney_p", "p99_ms")
        },
        lost_writes=lost,
    )


@pytest.mark.ragmig_gameday
def test_latency_regression(stack: GameDayStack, harness_checks: Any) -> None:
    check = harness_checks.add(run_latency_regression(stack))
    assert check.status == "pass", check.message
