"""Pinecone rate limits and read-after-write lag, on a Pinecone → Qdrant migration.

The source is the project's Pinecone-compatible server, read and written through the real ``pinecone``
SDK. During the copy it answers 10 % of data-plane requests ``429 Too Many Requests`` (Retry-After 0;
the SDK retries those itself), and 30 % of the backfill's reads fail with a 429 that outlasted the
SDK's retries (Retry-After 1 s, injected below the SDK on the harness clock); during the canary the
server answers 5 % of requests 429 (the baseline cohort sees them). Throughout, every write becomes
visible to reads only 10 harness seconds after it was acknowledged (Pinecone is eventually
consistent). The application keeps writing through dual-write, also while the backfill pages
through the source — the last writes right after it read its last page.

Steady state: users are served by the source within the gates. Expected: the SDK's and the backfill's
retries absorb the 429s, the lag neither loses a record nor raises a false alarm — verification
passes, no health check fails, no alert — and the migration completes with every acknowledged write
on the target (ids mapped to uuid5 per namespace). Protection removed: no retries in the backfill —
the first 429 that outlasts the SDK's own retries aborts the copy, and the check fails.
"""

from __future__ import annotations

from typing import Any

import pytest

from harness.clock import ManualClock
from harness.errors import TransientStoreError
from harness.faults import FaultPlan
from harness.migration.orchestrator import Phase
from harness.model import Check, RecordBatch
from scenarios.gameday.stack import GameDayStack, WritesDuringBackfill, gameday_check

SCENARIO = "pinecone_rate_limits"
INDEX = "rag-docs"
NAMESPACES = ("docs", "faq")
LAG_MS = 10_000.0
COPY_429_RATE = 0.10
CANARY_429_RATE = 0.05
SURFACED_429_RATE = 0.30
SURFACED_429 = FaultPlan(
    read_error_rate=SURFACED_429_RATE,
    error_type=lambda message: TransientStoreError(f"429 Too Many Requests (SDK retries exhausted): {message}", 1.0),
)
NO_RETRIES = {"backfill": {"max_attempts": 1, "max_restarts": 0}}


def pinecone_corpus(stack: GameDayStack) -> list[RecordBatch]:
    """The corpus with Pinecone-style string ids, alternating between the two namespaces."""
    return [
        RecordBatch(b.ids, b.vectors, b.payloads, tuple(NAMESPACES[i % 2] for i in range(len(b))))
        for b in stack.corpus(id_kind="str")
    ]


def run_pinecone_rate_limits(stack: GameDayStack, protection: bool = True) -> Check:
    """429s and lag on the Pinecone source; with ``protection`` nothing is lost and nothing alarms."""
    clock = ManualClock()
    server = stack.pinecone_server(clock)
    source, source_uri = stack.pinecone_source(server, INDEX, pinecone_corpus(stack))
    run = stack.run_to_edge(
        "429s and read-after-write lag",
        source,
        source_uri,
        clock=clock,
        write_namespace="docs",
        config={} if protection else NO_RETRIES,
    )
    hook = WritesDuringBackfill(run.source, after_page=-1, write=run.write_some)
    hook.active = lambda: run.phase is Phase.BACKFILL
    run.backfill_source = hook
    marks: dict[str, Any] = {}

    def faults(rate: float, label: str) -> None:
        server.set_faults(INDEX, error_rate=rate, error_status=429, retry_after_s=0.0, visibility_lag_ms=LAG_MS, seed=3)
        current = marks.get("429")
        if current is not None:
            current.end = run.clock.now()
            marks.pop("429")
        if rate:
            marks["429"] = run.mark(label)

    def on_phase(phase: Phase) -> None:
        if phase is Phase.DUAL_WRITE:
            faults(COPY_429_RATE, f"429 on {COPY_429_RATE:.0%} of requests")
        elif phase is Phase.BACKFILL:
            run.source.set_faults(SURFACED_429)
            marks["surfaced"] = run.mark(f"429 past the SDK's retries on {SURFACED_429_RATE:.0%} of backfill reads")
        elif phase in (Phase.VERIFY, Phase.LIVE, Phase.COMPLETED, Phase.BLOCKED, Phase.ROLLED_BACK):
            if "surfaced" in marks:
                run.source.clear()
                marks.pop("surfaced").end = run.clock.now()
            faults(0.0, "")
        elif phase is Phase.WARM_UP:
            faults(CANARY_429_RATE, f"429 on {CANARY_429_RATE:.0%} of requests")

    steady = run.steady_state(ticks=2)
    lag = run.mark(f"read-after-write lag {LAG_MS / 1000:g} s")
    problems: list[str] = []
    try:
        phase = run.migrate_phase_by_phase(on_phase)
    except TransientStoreError as exc:
        run.error = str(exc)
        phase = run.phase
        problems.append(f"a 429 aborted the migration in phase {phase}: {exc}")
    finally:
        server.clear_faults(INDEX)
        run.source.clear()
        lag.end = run.clock.now()
    summary = run.summary()
    result = run.orchestrator.last_backfill
    verdict = run.orchestrator.last_verdict
    failed_checks = [c.id for c in verdict.checks if str(c.status) == "fail"] if verdict else []
    injected = server.engine.faults(INDEX) if server.engine is not None else None
    if not steady["holds"]:
        problems.append("steady state did not hold before the migration")
    if not run.error:
        if phase is not Phase.COMPLETED:
            problems.append(f"false alarm: the migration ended {phase} ({summary['reason']})")
        if failed_checks:
            problems.append(f"verification failed {failed_checks}")
        if summary["failed_health_checks"]:
            problems.append(f"{summary['failed_health_checks']} failed health checks ({summary['failed_reasons']})")
        if summary["alerts"]:
            problems.append(f"alerts: {summary['alerts']}")
    lost = run.lost_writes(run.target, mapped=True) if phase is Phase.COMPLETED else []
    if lost:
        problems.append(f"{len(lost)} acknowledged writes lost on the target: {lost[:10]}")
    message = (
        f"the 429s were retried ({result.retries if result else 0} backfill retries on top of the SDK's), the lag "
        f"raised no alarm, and all {len(run.acknowledged)} acknowledged writes reached the target; completed"
        if not problems
        else "; ".join(problems)
    )
    return gameday_check(
        SCENARIO,
        not problems,
        observed={"phase": str(phase), "lost": len(lost), "alerts": summary["alerts"]},
        expected={"phase": "completed", "lost": 0, "alerts": []},
        message=message,
        runs=[run],
        backfill=result.to_dict() if result is not None else None,
        failed_checks=failed_checks,
        lost_writes=lost,
        server_faults=injected.to_dict() if injected is not None and hasattr(injected, "to_dict") else None,
    )


@pytest.mark.ragmig_gameday
def test_pinecone_rate_limits(stack: GameDayStack, harness_checks: Any) -> None:
    check = harness_checks.add(run_pinecone_rate_limits(stack))
    assert check.status == "pass", check.message
