"""Schema drift: the target's HNSW index is far weaker than the source's (m=4, ef_construct=8,
full_scan_threshold=1 KB, optimized), so it answers differently. Verification must block every
traffic shift: no user ever reads the target.

Steady state: users are served by the source within the gates. Method: a Qdrant → Qdrant migration
(Qdrant Edge, default HNSW → the weak index) under load. Expected: blocked at verify with failed
quality checks, read percentage never above 0, no user query on the target, an alert, and every
acknowledged write kept. Protection removed: the verification gate (and the shadow comparison)
switched off — the migration goes live on the degraded target and the check fails.
"""

from __future__ import annotations

from typing import Any

import pytest

from harness.migration.orchestrator import Phase
from harness.model import Check, Status, Verdict
from harness.stores.base import VectorStore
from scenarios.gameday.stack import GameDayStack, gameday_check

SCENARIO = "schema_drift"
WEAK_HNSW = "m=4&ef_construct=8&full_scan_threshold=1"


def _gate_disabled(source: VectorStore, target: VectorStore) -> Verdict:
    """A verification gate that passes everything (the protection removed)."""
    return Verdict(checks=(Check("verification.disabled", Status.PASS, message="gate switched off"),))


def run_schema_drift(stack: GameDayStack, protection: bool = True) -> Check:
    """Migrate to a weak-HNSW target; with ``protection`` the verification gate must block it."""
    source, source_uri = stack.edge_source()
    run = stack.run_to_edge(
        "weak HNSW target",
        source,
        source_uri,
        target_options=WEAK_HNSW,
        config={} if protection else {"shadow": {"enabled": False}},
        verifier=None if protection else _gate_disabled,
    )
    steady = run.steady_state()
    phase = run.migrate_under_load()
    summary = run.summary()
    verdict = run.orchestrator.last_verdict
    failed_checks = [c.id for c in verdict.checks if c.status is Status.FAIL] if verdict is not None else []
    quality = {c.id: c.observed for c in verdict.checks if c.id.startswith("quality.")} if verdict else {}
    hnsw = (
        verdict.check("schema.hnsw").to_dict() if verdict and any(c.id == "schema.hnsw" for c in verdict.checks) else {}
    )
    lost = run.lost_writes(run.source) + run.lost_writes(run.target, mapped=True)
    problems = []
    if not steady["holds"]:
        problems.append("steady state did not hold before the migration")
    if phase is not Phase.BLOCKED:
        problems.append(f"not blocked: the migration ended {phase}")
    if summary["max_read_percent"] > 0 or summary["user_queries_on_target"]:
        problems.append(
            f"users read the degraded target (read % up to {summary['max_read_percent']:g}, "
            f"{summary['user_queries_on_target']} user queries)"
        )
    if protection and not any(c.startswith("quality.") for c in failed_checks):
        problems.append(f"no quality check failed ({failed_checks})")
    if phase is Phase.BLOCKED and "traffic shift blocked" not in summary["alerts"]:
        problems.append("no alert")
    if lost:
        problems.append(f"{len(lost)} acknowledged writes lost")
    message = (
        f"verification blocked every shift ({', '.join(failed_checks)} failed); no user read the target"
        if not problems
        else "; ".join(problems)
    )
    return gameday_check(
        SCENARIO,
        not problems,
        observed={"phase": str(phase), "max_read_percent": summary["max_read_percent"]},
        expected={"phase": "blocked", "max_read_percent": 0},
        message=message,
        runs=[run],
        failed_checks=failed_checks,
        quality=quality,
        schema_hnsw=hnsw,
        lost_writes=lost,
    )


@pytest.mark.ragmig_gameday
def test_schema_drift(stack: GameDayStack, harness_checks: Any) -> None:
    check = harness_checks.add(run_schema_drift(stack))
    assert check.status == "pass", check.message
