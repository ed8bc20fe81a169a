"""Missed writes (the chapter's "incomplete migration"): records written while the backfill copies.

Steady state: users are served by the source within the gates. Method: while the backfill pages
through the source, right after its second page, the application inserts records behind the cursor
(ids inside pages already read) and updates records already read. Expected: without dual-write
(the application writes only to the source), verification's parity lists EXACTLY those ids —
the inserts as missing, the updates as differing vectors — and blocks the shift; with dual-write the
same writes reach the target and parity lists none, and the migration completes. Protection removed:
dual-write off in the protected run too, so the check fails with the missed ids listed.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from harness.migration.orchestrator import Phase
from harness.model import Check, PointId, RecordBatch, Status
from scenarios.gameday.stack import GameDayStack, MigrationRun, WritesDuringBackfill, gameday_check

SCENARIO = "missed_writes"
AFTER_PAGE = 2  # the application writes right after the backfill read its second page (ids < 1000)
INSERTED: tuple[PointId, ...] = tuple(range(1, 21, 2))  # odd ids: gaps between the corpus' even ids
UPDATED: tuple[PointId, ...] = (2, 4, 6, 8, 10)


def _even_corpus(stack: GameDayStack) -> list[RecordBatch]:
    """The corpus re-keyed to even ids, so odd ids fall behind the backfill's cursor."""
    return [
        RecordBatch(tuple(2 * int(pid) for pid in b.ids), b.vectors, b.payloads, b.namespaces) for b in stack.corpus()
    ]


def _migrate(stack: GameDayStack, label: str, dual_write: bool) -> tuple[MigrationRun, Phase, dict[str, Any]]:
    source, source_uri = stack.exact_source(_even_corpus(stack))
    run = stack.run_to_edge(label, source, source_uri, dual_write=dual_write)
    rng = np.random.default_rng(7)
    dim = stack.sizes.dimension

    def application_writes() -> None:
        ids = [*INSERTED, *UPDATED]
        batch = RecordBatch.build(
            ids, rng.normal(size=(len(ids), dim)).astype(np.float32), [{"origin": "mid-backfill"}] * len(ids)
        )
        run.write(batch)  # through the service's writer: DualWriteStore, or the source alone

    hook = WritesDuringBackfill(run.source, AFTER_PAGE, application_writes)
    hook.active = lambda: run.phase is Phase.BACKFILL
    run.backfill_source = hook
    steady = run.steady_state()
    # No other writes until verification: the ones above are the only ones that can be missed.
    phase = run.migrate()
    verdict = run.orchestrator.last_verdict
    listed: dict[str, Any] = {"missing": [], "extra": [], "vectors_differ": [], "fired": hook.fired}
    if verdict is not None:
        ids = verdict.check("parity.ids").details
        listed["missing"] = sorted(ids.get("missing", []))
        listed["missing_count"] = ids.get("missing_count", 0)
        listed["extra"] = sorted(ids.get("extra", []))
        listed["vectors_differ"] = sorted(verdict.check("parity.vectors").details.get("mismatched", []))
        listed["failed_checks"] = [c.id for c in verdict.checks if c.status is Status.FAIL]
    listed["steady_state_holds"] = steady["holds"]
    return run, phase, listed


def run_missed_writes(stack: GameDayStack, protection: bool = True) -> Check:
    """Without dual-write parity must list exactly the missed ids; with it (``protection``), none."""
    runs: list[MigrationRun] = []
    problems: list[str] = []
    found: dict[str, Any] = {}
    if protection:
        control, control_phase, control_listed = _migrate(stack, "dual-write off (control)", dual_write=False)
        runs.append(control)
        found["without_dual_write"] = control_listed
        exact = control_listed["missing"] == sorted(INSERTED) and control_listed["vectors_differ"] == sorted(UPDATED)
        if not exact or control_listed["extra"]:
            problems.append(
                f"without dual-write parity listed missing {control_listed['missing']}, differing "
                f"{control_listed['vectors_differ']}, extra {control_listed['extra']}; expected exactly "
                f"{sorted(INSERTED)} missing and {sorted(UPDATED)} differing"
            )
        if control_phase is not Phase.BLOCKED:
            problems.append(f"without dual-write the migration was not blocked ({control_phase})")
    run, phase, listed = _migrate(stack, "dual-write on" if protection else "dual-write off", dual_write=protection)
    runs.append(run)
    found["protected_run"] = listed
    missed = listed["missing"] + listed["vectors_differ"] + listed["extra"]
    if missed:
        problems.append(
            f"{len(listed['missing'])} writes missed (missing on the target: {listed['missing']}), "
            f"{len(listed['vectors_differ'])} stale (vectors differ: {listed['vectors_differ']})"
        )
    if phase is not Phase.COMPLETED:
        problems.append(f"the migration ended {phase}")
    if not all(r.steady.get("holds") for r in runs):
        problems.append("steady state did not hold before the migration")
    lost = run.lost_writes(run.target, mapped=True) if phase is Phase.COMPLETED else []
    if lost:
        problems.append(f"{len(lost)} acknowledged writes not on the target")
    message = (
        f"without dual-write parity listed exactly the {len(INSERTED)} inserted and {len(UPDATED)} updated ids "
        "and blocked; with dual-write it listed none and the migration completed"
        if not problems
        else "; ".join(problems)
    )
    return gameday_check(
        SCENARIO,
        not problems,
        observed={"missed": missed},
        expected={"missed": []},
        message=message,
        runs=runs,
        written_mid_backfill={"inserted": list(INSERTED), "updated": list(UPDATED)},
        missed_ids=missed,
        parity=found,
        lost_writes=lost,
    )


@pytest.mark.ragmig_gameday
def test_missed_writes(stack: GameDayStack, harness_checks: Any) -> None:
    check = harness_checks.add(run_missed_writes(stack))
    assert check.status == "pass", check.message
