"""Issue 4's "Done when": an exact source against Qdrant Edge targets built independently, each target
differing from the source in one planted way, and the checks finding exactly that."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from harness.datasets import synthetic_corpus
from harness.model import Check, CollectionSchema, Distance, RecordBatch, Status
from harness.stores import open_store
from harness.stores.base import VectorStore
from harness.stores.exact import ExactStore
from harness.verify import CHECK_IDS, VerificationRun, run_verification
from tests.verify.conftest import DIM, N, build_edge

EdgeCopy = Callable[[str], VectorStore]


def statuses(checks: Iterable[Check]) -> dict[str, Status]:
    return {c.id: c.status for c in checks}


def test_identical_copies_pass_every_check(exact_cosine: ExactStore, edge_copy: EdgeCopy) -> None:
    target = edge_copy("identical")
    verdict = run_verification(exact_cosine, target, queries=40, k=10, seed=3)
    assert [c.id for c in verdict.checks] == list(CHECK_IDS)
    # parity.mapping: no id mapping between two Qdrant-like stores; parity.sparse: no sparse vectors
    assert {c.id: str(c.status) for c in verdict.checks} == {
        **dict.fromkeys(CHECK_IDS, "pass"),
        "parity.mapping": "skip",
        "parity.sparse": "skip",
        "quality.namespaces": "skip",  # an exact source has no namespaces
    }
    assert verdict.passed
    assert verdict.check("parity.vectors").details["compared"] == N
    assert verdict.source["count"] == verdict.target["count"] == N
    assert verdict.target["schema"]["backend"] == "qdrant-edge"
    assert verdict.check("quality.recall_target").observed == 1.0
    assert verdict.check("latency.p99").details["target"]["n"] == 40


def test_missing_points_are_counted_and_listed_exactly(exact_cosine: ExactStore, edge_copy: EdgeCopy) -> None:
    target = edge_copy("missing")
    missing = sorted(np.random.default_rng(1).choice(N, size=37, replace=False).tolist())
    target.delete(missing)
    with VerificationRun(exact_cosine, target) as run:
        checks = {c.id: c for c in run.parity_checks()}
    assert checks["parity.count"].status is Status.FAIL
    assert (checks["parity.count"].observed, checks["parity.count"].expected) == (N - 37, N)
    ids = checks["parity.ids"]
    assert ids.status is Status.FAIL
    assert ids.details["missing_count"] == 37 and ids.details["extra_count"] == 0
    assert ids.details["missing"] == missing  # the full list (≤ sample size), in source scan order
    assert checks["parity.vectors"].status is Status.PASS
    assert checks["parity.payloads"].status is Status.PASS


def test_foreign_points_are_listed_as_extra(exact_cosine: ExactStore, edge_copy: EdgeCopy) -> None:
    target = edge_copy("extra")
    foreign = list(range(N + 500, N + 512))
    vectors = np.random.default_rng(2).standard_normal((12, DIM)).astype(np.float32)
    target.upsert(RecordBatch.build(foreign, vectors, [{"doc_id": "stray"}] * 12))
    with VerificationRun(exact_cosine, target) as run:
        checks = {c.id: c for c in run.parity_checks()}
    assert checks["parity.count"].status is Status.FAIL
    assert checks["parity.ids"].details["extra_count"] == 12
    assert checks["parity.ids"].details["missing_count"] == 0
    assert sorted(checks["parity.ids"].details["extra"]) == foreign


def test_perturbed_vectors_are_counted(
    exact_cosine: ExactStore, edge_copy: EdgeCopy, corpus: list[RecordBatch]
) -> None:
    target = edge_copy("perturbed")
    rows = sorted(np.random.default_rng(3).choice(N, size=25, replace=False).tolist())
    batch = RecordBatch.concat(corpus).take(rows)
    nudged = batch.vectors.copy()
    nudged[:, 0] += 0.05 * np.linalg.norm(nudged, axis=1)
    target.upsert(RecordBatch(ids=batch.ids, vectors=nudged, payloads=batch.payloads))
    with VerificationRun(exact_cosine, target) as run:
        checks = {c.id: c for c in run.parity_checks()}
    vectors = checks["parity.vectors"]
    assert vectors.status is Status.FAIL
    assert vectors.details["mismatch_count"] == 25
    assert sorted(vectors.details["mismatched"]) == rows
    assert all(s["max_abs_diff"] > 1e-3 for s in vectors.details["sample"])
    assert statuses(checks.values())["parity.payloads"] is Status.PASS


def test_cosine_target_holding_normalised_vectors_passes(exact_dot: ExactStore, edge_copy: EdgeCopy) -> None:
    # The source keeps raw vectors; the Edge cosine target stores them normalised, as Qdrant does.
    target = edge_copy("normalised")
    raw, _ = exact_dot.scroll(5)
    stored = target.fetch(list(raw.ids))
    assert not np.allclose(raw.vectors, stored.vectors)  # really different forms on the two sides
    with VerificationRun(exact_dot, target) as run:
        checks = {c.id: c for c in run.parity_checks()}
        schema = statuses(run.schema_checks())
    assert checks["parity.vectors"].status is Status.PASS
    assert checks["parity.vectors"].details["normalised"] is True
    assert checks["parity.vectors"].details["compared"] == N
    assert schema["schema.distance"] is Status.FAIL  # dot → cosine still ranks differently


def test_int_payload_field_turned_into_string(
    exact_cosine: ExactStore, edge_copy: EdgeCopy, corpus: list[RecordBatch]
) -> None:
    target = edge_copy("payloads")
    rows = sorted(np.random.default_rng(4).choice(N, size=10, replace=False).tolist())
    batch = RecordBatch.concat(corpus).take(rows)
    retyped = tuple({**p, "chunk": str(p["chunk"])} for p in batch.payloads)
    target.upsert(RecordBatch(ids=batch.ids, vectors=batch.vectors, payloads=retyped))
    with VerificationRun(exact_cosine, target) as run:
        checks = {c.id: c for c in run.parity_checks()}
    payloads = checks["parity.payloads"]
    assert payloads.status is Status.FAIL
    assert payloads.details["mismatch_count"] == 10
    assert sorted(payloads.details["mismatched"]) == rows
    first = payloads.details["sample"][0]
    assert first["field"] == "chunk" and first["change"] == "changed"
    assert isinstance(first["source"], int) and first["target"] == str(first["source"])
    assert checks["parity.vectors"].status is Status.PASS


def test_weak_hnsw_target_warns_on_schema_and_fails_quality(exact_cosine: ExactStore, weak_edge: VectorStore) -> None:
    with VerificationRun(exact_cosine, weak_edge, queries=100, k=10, measure_latency=False) as run:
        schema = {c.id: c for c in run.schema_checks()}
        quality = {c.id: c for c in run.quality_checks()}
        parity = statuses(run.parity_checks())
    hnsw = schema["schema.hnsw"]
    assert hnsw.status is Status.WARN
    assert hnsw.observed == {"m": 4, "ef_construct": 8, "full_scan_threshold": 1}
    assert quality["quality.recall_source"].observed == 1.0
    assert quality["quality.recall_target"].status is Status.FAIL
    assert quality["quality.recall_target"].observed < 0.9
    assert quality["quality.overlap"].status is Status.FAIL
    assert quality["quality.noise_floor"].observed == 1.0  # the exact source agrees with itself
    worst = quality["quality.recall_target"].details["worst_queries"]
    assert worst and worst[0]["recall_target"] <= quality["quality.recall_target"].observed
    assert set(parity.values()) == {Status.PASS, Status.SKIP}  # the data itself is intact (no id mapping)


def test_euclid_target_for_cosine_source_fails_distance(tmp_path: Path) -> None:
    batches = list(synthetic_corpus(2000, DIM, seed=5, batch_size=1000))
    source = ExactStore("verify-small-cosine")
    source.create(CollectionSchema(DIM, Distance.COSINE))
    for batch in batches:
        source.upsert(batch)
    target = open_store(f"qdrant-edge://{build_edge(tmp_path / 'euclid', batches, '?distance=euclid')}")
    try:
        verdict = run_verification(source, target, queries=20, measure_latency=False)
    finally:
        target.close()
        source.drop()
    distance = verdict.check("schema.distance")
    assert distance.status is Status.FAIL
    assert (distance.observed, distance.expected) == ("euclid", "cosine")
    assert not verdict.passed
