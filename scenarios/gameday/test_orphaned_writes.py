"""Orphaned writes: after cut-over an application still writes to the old system, bypassing the flag.

Steady state: users are served by the source within the gates. Method: a healthy migration to
completed under load; afterwards the service keeps writing (through dual-write, which the flag now
points at the target only) while a forgotten batch job with its own handle on the source inserts and
updates records there. Expected: the orphaned-write watch lists exactly the job's ids (added and
changed), alerts, and lists none of the service's writes. Protection removed: the watch is off — the
writes reach the source and nothing says so; the check fails.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from harness.migration.orchestrator import Phase
from harness.model import Check, PointId, RecordBatch
from scenarios.gameday.stack import GameDayStack, gameday_check

SCENARIO = "orphaned_writes"
ROGUE_INSERTS: tuple[PointId, ...] = (90_000_001, 90_000_002, 90_000_003, 90_000_004)
ROGUE_UPDATES: tuple[PointId, ...] = (11, 12, 13)
AFTER_CUTOVER_TICKS = 2


def run_orphaned_writes(stack: GameDayStack, protection: bool = True) -> Check:
    """A writer bypasses the flag after cut-over; with ``protection`` the watch must list its writes."""
    source, source_uri = stack.exact_source()
    run = stack.run_to_edge("writer bypassing the flag", source, source_uri)
    steady = run.steady_state()
    phase = run.migrate()
    problems: list[str] = []
    if not steady["holds"]:
        problems.append("steady state did not hold before the migration")
    if phase is not Phase.COMPLETED:
        problems.append(f"the migration ended {phase} before the scenario's fault")
        return gameday_check(
            SCENARIO, False, observed=str(phase), expected="completed", message="; ".join(problems), runs=[run]
        )
    before = len(run.acknowledged)
    for _ in range(AFTER_CUTOVER_TICKS):  # the service keeps writing: target only, per the flag
        run.traffic(run.clock.now())
        run.clock.sleep(run.config.canary.health_interval_s)
    service_ids = [pid for _, pid in list(run.acknowledged)[before:]]
    rogue = run.mark("batch job writing to the source")
    ids = [*ROGUE_INSERTS, *ROGUE_UPDATES]
    vectors = np.random.default_rng(5).normal(size=(len(ids), stack.sizes.dimension)).astype(np.float32)
    run.source.upsert(RecordBatch.build(ids, vectors, [{"origin": "nightly batch job"}] * len(ids)))
    rogue.end = run.clock.now()
    run.clock.sleep(run.config.canary.health_interval_s)
    listed: dict[str, list[PointId]] = {"added": [], "changed": [], "deleted": []}
    if protection:
        report = run.orchestrator.check_orphaned_writes()
        listed = {"added": sorted(report.added), "changed": sorted(report.changed), "deleted": sorted(report.deleted)}
    detected = [*listed["added"], *listed["changed"], *listed["deleted"]]
    if listed["added"] != sorted(ROGUE_INSERTS) or listed["changed"] != sorted(ROGUE_UPDATES) or listed["deleted"]:
        problems.append(
            f"{len(ids)} writes reached the source after cut-over; the harness listed {len(detected)} "
            f"(added {listed['added']}, changed {listed['changed']}, deleted {listed['deleted']})"
        )
    false_positives = sorted(set(detected) & set(service_ids))
    if false_positives:
        problems.append(f"the service's own target-only writes were listed as orphaned: {false_positives}")
    if detected and "orphaned writes" not in [a.title for a in run.alerts.alerts]:
        problems.append("no alert for the orphaned writes")
    lost = run.lost_writes(run.target, mapped=True)
    if lost:
        problems.append(f"{len(lost)} acknowledged writes not on the target")
    message = (
        f"the orphaned-write watch listed exactly the {len(ROGUE_INSERTS)} added and {len(ROGUE_UPDATES)} changed "
        "records and alerted; the service's writes went to the target only"
        if not problems
        else "; ".join(problems)
    )
    return gameday_check(
        SCENARIO,
        not problems,
        observed=listed,
        expected={"added": sorted(ROGUE_INSERTS), "changed": sorted(ROGUE_UPDATES), "deleted": []},
        message=message,
        runs=[run],
        orphaned_ids=detected,
        rogue_writes=ids,
        service_writes_after_cutover=len(service_ids),
        lost_writes=lost,
    )


@pytest.mark.ragmig_gameday
def test_orphaned_writes(stack: GameDayStack, harness_checks: Any) -> None:
    check = harness_checks.add(run_orphaned_writes(stack))
    assert check.status == "pass", check.message
