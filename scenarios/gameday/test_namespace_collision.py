"""The same id in two Pinecone namespaces: ``docs`` and ``faq`` each hold records ``doc-…#k`` with the
same ids and different vectors and payloads — a Pinecone → Qdrant migration must not collapse them.

Steady state: users are served by the source within the gates. Method: the migration under load.
Expected: the harness's mapping keeps namespaces apart (point id = uuid5 of namespace and id, the
originals in the payload), so the target holds two points per shared id, each with its own
namespace's vector; parity passes and the migration completes. Protection removed: the official
migration tool's behaviour, namespace ignored in the id — the second namespace silently overwrites
the first; verification reports the overwrite, and the check fails.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from harness.clock import ManualClock
from harness.migration.orchestrator import Orchestrator, Phase
from harness.model import Check, PointId, RecordBatch, Status
from harness.records import RecordMapping, map_pinecone_batch, qdrant_point_id
from scenarios.gameday.stack import GameDayStack, gameday_check

SCENARIO = "namespace_collision"
INDEX = "rag-shared-ids"
NAMESPACES = ("docs", "faq")
SHARED = 1000  # ids per namespace, the same ids in both


@dataclass(frozen=True, slots=True)
class NamespaceBlindMapping(RecordMapping):
    """The official tool's mapping: uuid5 of the id alone, whatever its namespace (the protection removed)."""

    def records(self, batch: RecordBatch) -> RecordBatch:
        """``batch`` mapped as if every record lived in the default namespace."""
        return map_pinecone_batch(RecordBatch(batch.ids, batch.vectors, batch.payloads, None), "")

    def target_ids(self, ids: Sequence[PointId], namespaces: Sequence[str] | None = None) -> list[PointId]:
        """Target ids that ignore ``namespaces``."""
        return [qdrant_point_id(pid, "") for pid in ids]


class NamespaceBlindOrchestrator(Orchestrator):
    """The orchestrator with the official tool's namespace-blind mapping."""

    @property
    def mapping(self) -> RecordMapping:
        """Always namespace-blind."""
        return NamespaceBlindMapping(pinecone_to_qdrant=True)


def shared_id_corpus(stack: GameDayStack) -> list[RecordBatch]:
    """``SHARED`` string ids in each namespace: same ids, vectors and payloads from different seeds."""
    batches = []
    for seed, namespace in enumerate(NAMESPACES):
        for b in stack.corpus(SHARED, id_kind="str", seed=seed + 40):
            payloads = tuple({**p, "kb": namespace} for p in b.payloads)
            batches.append(RecordBatch(b.ids, b.vectors, payloads, (namespace,) * len(b)))
    return batches


def run_namespace_collision(stack: GameDayStack, protection: bool = True) -> Check:
    """Two namespaces sharing ids; with ``protection`` the target keeps two points per shared id."""
    clock = ManualClock()
    server = stack.pinecone_server(clock)
    corpus = shared_id_corpus(stack)
    source, source_uri = stack.pinecone_source(server, INDEX, corpus)
    target_uri = stack.edge_uri("target")
    target = stack.edge_store(target_uri)
    run = stack.run(
        "same ids in two namespaces",
        source,
        target,
        source_uri=source_uri,
        target_uri=target_uri,
        clock=clock,
        write_namespace="docs",
        orchestrator_class=Orchestrator if protection else NamespaceBlindOrchestrator,
    )
    steady = run.steady_state(ticks=2)
    phase = run.migrate()
    summary = run.summary()
    verdict = run.orchestrator.last_verdict
    failed_checks = [c.id for c in verdict.checks if c.status is Status.FAIL] if verdict else []
    # Every shared id must be two points, each holding its own namespace's vector.
    sample = [pid for b in corpus[:1] for pid in b.ids[:50]]
    collapsed: list[PointId] = []
    for namespace in NAMESPACES:
        source_vectors = {
            pid: v
            for b in corpus
            for pid, v in zip(b.ids, b.vectors, strict=True)
            if b.namespaces and b.namespaces[0] == namespace
        }
        points = target.fetch([qdrant_point_id(pid, namespace) for pid in sample])
        got = dict(zip(points.ids, points.vectors, strict=True))
        for pid in sample:
            vector = got.get(qdrant_point_id(pid, namespace))
            if vector is None or not _close(vector, source_vectors[pid]):
                collapsed.append(pid)
    target_count = target.count()
    expected_count = len(NAMESPACES) * SHARED
    problems: list[str] = []
    if not steady["holds"]:
        problems.append("steady state did not hold before the migration")
    if target_count < expected_count:
        problems.append(
            f"silent overwrite: the target holds {target_count} points for {expected_count} records "
            f"({expected_count - target_count} collapsed onto another namespace's id)"
        )
    if collapsed:
        problems.append(f"{len(set(collapsed))} of {len(sample)} sampled shared ids are not two separate points")
    if failed_checks:
        problems.append(f"verification failed {failed_checks}")
    if phase is not Phase.COMPLETED:
        problems.append(f"the migration ended {phase}")
    lost = run.lost_writes(run.target, mapped=True) if phase is Phase.COMPLETED else []
    if lost:
        problems.append(f"{len(lost)} acknowledged writes not on the target")
    message = (
        f"every shared id is two points ({target_count} points for {SHARED} ids × {len(NAMESPACES)} namespaces "
        "plus the run's writes), each with its own namespace's vector; parity passed; completed"
        if not problems
        else "; ".join(problems)
    )
    return gameday_check(
        SCENARIO,
        not problems,
        observed={"target_points": target_count, "collapsed_sample": len(set(collapsed))},
        expected={"target_points": f">= {expected_count}", "collapsed_sample": 0},
        message=message,
        runs=[run],
        shared_ids=SHARED,
        namespaces=list(NAMESPACES),
        failed_checks=failed_checks,
        collapsed_ids=sorted(set(collapsed))[:20],
        reason=summary["reason"],
        lost_writes=lost,
    )


def _close(a: Any, b: Any) -> bool:
    import numpy as np

    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return bool(np.max(np.abs(x / np.linalg.norm(x) - y / np.linalg.norm(y))) <= 1e-3)


@pytest.mark.ragmig_gameday
def test_namespace_collision(stack: GameDayStack, harness_checks: Any) -> None:
    check = harness_checks.add(run_namespace_collision(stack))
    assert check.status == "pass", check.message
