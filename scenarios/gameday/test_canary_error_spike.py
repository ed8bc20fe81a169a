"""Canary error spike: when the canary reaches 25 %, the target starts failing a quarter of its
searches and every write mirrored to it, for 80 harness seconds.

Steady state: users are served by the source within the gates. Method: the migration under load with
the spike (the service's result cache holds 16 entries, so users see it). Expected: the health checks
see the error rate, and after ``failure_limit`` (3) failed checks of the step — within 3 health
intervals of the spike's start — reads roll back to 0 %
with an alert; dual-write stays on; once the incident is over the outbox replays and every
acknowledged write is on both stores. Protection removed: ``failure_limit`` out of reach — no
rollback, users keep getting errors until the spike ends, and the check fails.
"""

from __future__ import annotations

from typing import Any

import pytest

from harness.faults import FaultPlan
from harness.migration.orchestrator import Phase
from harness.model import Check
from scenarios.gameday.stack import FaultMark, GameDayStack, MigrationRun, gameday_check

SCENARIO = "canary_error_spike"
SPIKE = FaultPlan(search_error_rate=0.25, write_error_rate=1.0)
SPIKE_AT_PERCENT = 25.0
SPIKE_S = 80.0
NO_LIMIT = 1_000_000
CACHE_SIZE = 16
"""A small result cache (16 of the 200 keys users ask): about half the queries reach the store, so users
see the spike (a cache answering nearly everything would hide it: see the cache_hidden_errors scenario)."""


def run_canary_error_spike(stack: GameDayStack, protection: bool = True) -> Check:
    """An error spike on the canary; with ``protection`` it must roll back within the failure limit."""
    source, source_uri = stack.exact_source()
    run = stack.run_to_edge(
        "error spike at 25 %",
        source,
        source_uri,
        config={} if protection else {"thresholds": {"failure_limit": NO_LIMIT}},
        cache_size=CACHE_SIZE,
    )
    spike: list[FaultMark] = []

    def spike_hook(r: MigrationRun, now: float) -> None:
        if not spike and r.flags.read_percent() >= SPIKE_AT_PERCENT:
            r.target.set_faults(SPIKE)
            spike.append(r.mark("target errors: 25 % of searches, every write"))
        elif spike and spike[0].end is None and now >= spike[0].start + SPIKE_S:
            r.target.clear()
            spike[0].end = now

    run.tick_hooks.append(spike_hook)
    steady = run.steady_state()
    phase = run.migrate()
    # The incident is over: the target recovers and the outbox drains.
    run.target.clear()
    if spike and spike[0].end is None:
        spike[0].end = run.clock.now()
    replay = run.orchestrator.replay_outbox()
    failure_limit = run.config.thresholds.failure_limit
    interval = run.config.canary.health_interval_s
    health = [e for e in run.orchestrator.timeline("health") if e.data.get("check") != "warm_up"]
    spiked = [e for e in health if spike and e.at >= spike[0].start]
    errored_checks = [e for e in spiked if "error_rate" in e.data.get("failed", [])]
    rollbacks = [e for e in run.orchestrator.timeline("decision") if e.data.get("decision") == "rollback"]
    lost_source = run.lost_writes(run.source)
    lost_target = run.lost_writes(run.target, mapped=True)
    problems: list[str] = []
    if not steady["holds"]:
        problems.append("steady state did not hold before the migration")
    if not spike:
        problems.append("the canary never reached 25 %: no spike injected")
    elif phase is not Phase.ROLLED_BACK:
        problems.append(
            f"no rollback: the migration ended {phase} after {len(errored_checks)} health checks saw the error rate"
        )
    else:
        took = rollbacks[0].at - spike[0].start
        if len(errored_checks) > failure_limit or took > (failure_limit + 1) * interval:
            problems.append(
                f"rolled back {took:.0f} s after the spike began, after {len(errored_checks)} failed checks "
                f"(failure_limit {failure_limit}, interval {interval:g} s)"
            )
        if run.flags.read_percent() != 0.0:
            problems.append(f"reads not back on the source ({run.flags.read_percent():g} %)")
        if "migration rolled back" not in [a.title for a in run.alerts.alerts]:
            problems.append("no alert")
    if lost_source or lost_target:
        problems.append(f"acknowledged writes lost: {len(lost_source)} on the source, {len(lost_target)} on the target")
    took_s = rollbacks[0].at - spike[0].start if rollbacks and spike else None
    message = (
        f"rolled back to 0 % after {len(errored_checks)} failed checks ({took_s:.0f} s after the spike began, "
        f"failure_limit {failure_limit}); after the incident the outbox replayed {replay.acknowledged} writes and "
        f"all {len(run.acknowledged)} acknowledged writes are on both stores"
        if not problems
        else "; ".join(problems)
    )
    return gameday_check(
        SCENARIO,
        not problems,
        observed={
            "phase": str(phase),
            "failed_checks_before_decision": len(errored_checks),
            "seconds_to_rollback": took_s,
        },
        expected={"phase": "rolled_back", "failed_checks_before_decision": f"<= {failure_limit}"},
        message=message,
        runs=[run],
        outbox_replayed=replay.to_dict(),
        lost_writes={"source": lost_source, "target": lost_target},
    )


@pytest.mark.ragmig_gameday
def test_canary_error_spike(stack: GameDayStack, harness_checks: Any) -> None:
    check = harness_checks.add(run_canary_error_spike(stack))
    assert check.status == "pass", check.message
