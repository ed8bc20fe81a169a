"""Cold cache (the chapter's "traffic flip without warm-up"): a target that has never served is slow
— its result cache is empty and its pages are cold — and a canary straight onto it hurts users.

The target carries the cold-start model (``FaultyStore``: an unseen query costs up to 1.8 s, decaying
as the store serves its first 150 searches); the service's result cache holds 64 entries per backend,
so about one query in five reaches the store. Steady state: users are served by the source within the
gates. Method: migrate under load twice, once without warm-up, once with it. Expected: without warm-up
the canary's health checks see the p99 spike at 5 % (more than 1 % of requests slower than the p99
gate, with 99 % confidence) — failed checks of the first step, a rollback if the spike outlasts
``failure_limit`` checks; with warm-up (top queries replayed on the target until its p99 and hit rate
settle) no check fails and the migration completes. Protection removed: no warm-up in the protected
run either — its checks flag the spike, and the check fails.
"""

from __future__ import annotations

from typing import Any

import pytest

from harness.faults import FaultPlan
from harness.migration.orchestrator import Phase
from harness.model import Check
from scenarios.gameday.stack import GameDayStack, MigrationRun, gameday_check

SCENARIO = "cold_cache"
COLD = FaultPlan(cold_latency_ms=1800.0, warm_after_searches=150)
CACHE_SIZE = 64
"""The service's result cache per backend: about one query in five reaches the store (a cache holding
every key users ask would hide a cold store after its first few seconds)."""


def _migrate(stack: GameDayStack, label: str, warm_up: bool) -> tuple[MigrationRun, Phase]:
    source, source_uri = stack.exact_source()
    run = stack.run_to_edge(
        label,
        source,
        source_uri,
        config={"warm_up": {"enabled": warm_up}},
        cache_size=CACHE_SIZE,
    )
    run.steady_state()
    run.target.set_faults(COLD)
    run.mark("cold target (never served)")
    phase = run.migrate()
    return run, phase


def _detected(run: MigrationRun) -> set[str]:
    return {
        f
        for h in run.orchestrator.timeline("health")
        for f in h.data.get("failed", [])
        if h.data.get("check") != "warm_up"
    }


def run_cold_cache(stack: GameDayStack, protection: bool = True) -> Check:
    """Without warm-up the spike is detected and rolled back; with it (``protection``) the canary is healthy."""
    runs: list[MigrationRun] = []
    problems: list[str] = []
    figures: dict[str, Any] = {}
    if protection:
        cold, cold_phase = _migrate(stack, "flip without warm-up", warm_up=False)
        runs.append(cold)
        seen = _detected(cold)
        failed = [h for h in cold.orchestrator.timeline("health") if h.data.get("counted_as") == "fail"]
        figures["without_warm_up"] = {"phase": str(cold_phase), "detected": sorted(seen), "failed_checks": len(failed)}
        if "p99" not in seen:
            problems.append(f"without warm-up: ended {cold_phase}, the p99 spike went unseen (flagged {sorted(seen)})")
    run, phase = _migrate(stack, "with warm-up" if protection else "without warm-up", warm_up=protection)
    runs.append(run)
    seen = _detected(run)
    summary = run.summary()
    figures["protected_run"] = {"phase": str(phase), "detected": sorted(seen), "reason": summary["reason"]}
    if phase is not Phase.COMPLETED or seen:
        problems.append(f"the canary onto the cold target ended {phase}, health checks flagged {sorted(seen)}")
    lost = [pid for r in runs for pid in r.lost_writes(r.source)]
    if lost:
        problems.append(f"{len(lost)} acknowledged writes lost")
    if not all(r.steady.get("holds") for r in runs):
        problems.append("steady state did not hold before the migration")
    message = (
        f"without warm-up the p99 spike was detected at 5 % ({figures['without_warm_up']['failed_checks']} failed "
        f"checks, ended {figures['without_warm_up']['phase']}); "
        "with warm-up the canary was healthy and completed"
        if not problems
        else "; ".join(problems)
    )
    return gameday_check(
        SCENARIO,
        not problems,
        observed=figures,
        expected={"without_warm_up": "p99 spike detected", "with_warm_up": "completed, no failed check"},
        message=message,
        runs=runs,
        lost_writes=lost,
    )


@pytest.mark.ragmig_gameday
def test_cold_cache(stack: GameDayStack, harness_checks: Any) -> None:
    check = harness_checks.add(run_cold_cache(stack))
    assert check.status == "pass", check.message
