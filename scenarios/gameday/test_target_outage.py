"""Target outage mid-backfill: the target refuses every call for 12 harness seconds while the
backfill is copying (from its fourth batch on), and writes keep arriving.

Each target write takes 100 ms (so the copy takes harness time and the outage window falls inside
it). Steady state: users are served by the source within the gates. Method: the migration under
load; the application writes through dual-write during the outage. Expected: the backfill retries
with backoff, the orchestrator restarts it from its checkpoint (never from the first record), the
mirror writes the target refused wait in the outbox and are replayed, verification finds parity
exact, and the migration completes with every acknowledged write on the target. Protection removed:
no retries and no restart from the checkpoint — the outage aborts the migration; the check fails.
"""

from __future__ import annotations

from typing import Any

import pytest

from harness.errors import TransientStoreError
from harness.faults import FaultPlan, OpKind
from harness.migration.orchestrator import Phase
from harness.model import Check, Status
from scenarios.gameday.stack import GameDayStack, WritesDuringBackfill, gameday_check

SCENARIO = "target_outage"
WRITE_MS = 100.0
OUTAGE_FROM_S = 0.35  # after the backfill started: batches 1-3 land, batch 4 meets the outage
OUTAGE_S = 12.0
NO_RESUME = {"backfill": {"max_attempts": 1, "max_restarts": 0}}


def run_target_outage(stack: GameDayStack, protection: bool = True) -> Check:
    """An outage mid-backfill; with ``protection`` the copy must resume and end with parity exact."""
    source, source_uri = stack.exact_source()
    run = stack.run_to_edge(
        "target outage mid-backfill",
        source,
        source_uri,
        config={} if protection else NO_RESUME,
    )
    slow_writes = FaultPlan(latency_ms=WRITE_MS, latency_ops=frozenset({OpKind.WRITE}))
    hook = WritesDuringBackfill(run.source, after_page=5, write=run.write_some)
    hook.active = lambda: run.phase is Phase.BACKFILL
    run.backfill_source = hook

    def on_phase(phase: Phase) -> None:
        if phase is Phase.BACKFILL and not run.marks:
            start = run.clock.now() + OUTAGE_FROM_S
            run.target.set_faults(slow_writes, outages=((start, start + OUTAGE_S),))
            run.mark("target outage", start, start + OUTAGE_S)
        elif phase is Phase.VERIFY:
            run.target.clear()

    steady = run.steady_state()
    run.target.set_faults(slow_writes)
    problems: list[str] = []
    try:
        phase = run.migrate_phase_by_phase(on_phase)
    except TransientStoreError as exc:
        run.error = str(exc)
        phase = run.phase
        problems.append(f"the outage aborted the migration in phase {phase}: {exc}")
    restarts = [
        e.data for e in run.orchestrator.timeline("fault") if e.data.get("fault") == "backfill_retries_exhausted"
    ]
    result = run.orchestrator.last_backfill
    verdict = run.orchestrator.last_verdict
    parity = {c.id: str(c.status) for c in verdict.checks if c.id.startswith("parity.")} if verdict else {}
    checkpoint = run.journal.checkpoint()
    if not steady["holds"]:
        problems.append("steady state did not hold before the migration")
    if not run.error:
        if not restarts or result is None or result.resumed_from <= 0:
            problems.append(
                f"the backfill did not resume from its checkpoint (resumed from {result and result.resumed_from})"
            )
        # parity.mapping is skipped for a pair without the Pinecone → Qdrant mapping: not a finding.
        if any(status not in (str(Status.PASS), str(Status.SKIP)) for status in parity.values()) or not parity:
            problems.append(f"parity not exact after the outage: {parity}")
        if phase is not Phase.COMPLETED:
            problems.append(f"the migration ended {phase}")
    lost = run.lost_writes(run.target, mapped=True) if phase is Phase.COMPLETED else []
    if lost:
        problems.append(f"{len(lost)} acknowledged writes not on the target")
    message = (
        f"the backfill resumed from its checkpoint ({result.resumed_from} of {result.total} records already copied) "
        f"after {len(restarts)} restart(s); {checkpoint.attempted - checkpoint.done} records re-sent; parity exact; completed"
        if not problems and result is not None
        else "; ".join(problems)
    )
    return gameday_check(
        SCENARIO,
        not problems,
        observed={"phase": str(phase), "parity": parity},
        expected={"phase": "completed", "parity": "all pass"},
        message=message,
        runs=[run],
        restarts=restarts,
        backfill=result.to_dict() if result is not None else None,
        checkpoint={"done": checkpoint.done, "attempted": checkpoint.attempted, "status": checkpoint.status},
        lost_writes=lost,
    )


@pytest.mark.ragmig_gameday
def test_target_outage(stack: GameDayStack, harness_checks: Any) -> None:
    check = harness_checks.add(run_target_outage(stack))
    assert check.status == "pass", check.message
