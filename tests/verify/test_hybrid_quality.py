"""``quality.hybrid``: hybrid queries on both sides, compared by overlap; absent for dense sources."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from harness.model import CollectionSchema, Distance, RecordBatch, SearchResult, SparseVectorParams, Status
from harness.stores import open_store
from harness.stores.base import VectorStore
from harness.verify import run_verification

N, DIM = 600, 16
SCHEMA = CollectionSchema(DIM, Distance.DOT, sparse_vectors={"bm25": SparseVectorParams()})


def _batch() -> RecordBatch:
    rng = np.random.default_rng(31)
    vectors = rng.normal(size=(N, DIM))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    sparse = [(rng.choice(2000, 6, replace=False).tolist(), rng.uniform(0.1, 1, 6).tolist()) for _ in range(N)]
    return RecordBatch.build(list(range(N)), vectors, [{"i": i} for i in range(N)], sparse={"bm25": sparse})


@pytest.fixture
def source() -> Iterator[VectorStore]:
    store = open_store(f"exact://hybrid-source-{uuid.uuid4().hex[:8]}")
    store.create(SCHEMA)
    store.upsert(_batch())
    yield store
    store.drop()  # type: ignore[attr-defined]


def _edge(path: Path, schema: CollectionSchema, batch: RecordBatch) -> VectorStore:
    store = open_store(f"qdrant-edge://{path}")
    store.create(schema)
    store.upsert(batch)
    return store


def test_a_qdrant_like_copy_answers_hybrid_queries_like_its_source(source: VectorStore, tmp_path: Path) -> None:
    target = _edge(tmp_path / "copy", SCHEMA, _batch())
    try:
        verdict = run_verification(source, target, queries=50, k=10, measure_latency=False)
    finally:
        target.close()
    hybrid = verdict.check("quality.hybrid")
    # RRF scores tie often (equal ranks in the two prefetches) and stores break ties their own way.
    assert hybrid.status is Status.PASS and hybrid.observed >= 0.95, hybrid.message
    assert set(hybrid.details["overlap_by_fusion"]) == {"rrf"} and hybrid.details["queries_with_sparse"] == 50
    assert verdict.passed


def test_a_target_whose_sparse_values_were_shuffled_warns_on_hybrid_overlap(
    source: VectorStore, tmp_path: Path
) -> None:
    batch = _batch()
    column = batch.sparse["bm25"]
    shuffled = column.take(np.random.default_rng(0).permutation(N))  # every record gets another's sparse part
    target = _edge(tmp_path / "shuffled", SCHEMA, batch.with_columns(sparse={"bm25": shuffled}))
    try:
        verdict = run_verification(source, target, queries=50, k=10, measure_latency=False)
    finally:
        target.close()
    assert verdict.check("quality.hybrid").status is Status.WARN
    assert verdict.check("parity.sparse").status is Status.FAIL  # parity names the records


def test_a_target_without_the_sparse_vector_fails_quality_hybrid(source: VectorStore, tmp_path: Path) -> None:
    target = _edge(tmp_path / "dense", CollectionSchema(DIM, Distance.DOT), _batch().with_columns(sparse={}))
    try:
        verdict = run_verification(source, target, queries=20, k=10, measure_latency=False)
    finally:
        target.close()
    assert verdict.check("quality.hybrid").status is Status.FAIL
    assert "no sparse vector 'bm25'" in verdict.check("quality.hybrid").message


def test_a_dense_source_has_no_hybrid_check(tmp_path: Path) -> None:
    batch = _batch().with_columns(sparse={})
    dense = CollectionSchema(DIM, Distance.DOT)
    source, target = _edge(tmp_path / "s", dense, batch), _edge(tmp_path / "t", dense, batch)
    try:
        verdict = run_verification(source, target, queries=10, k=5, measure_latency=False)
    finally:
        source.close()
        target.close()
    assert all(c.id != "quality.hybrid" for c in verdict.checks)


def test_a_collection_without_the_default_vector_gets_parity_and_quality_skips_with_its_reason(tmp_path: Path) -> None:
    from harness.model import DenseColumn, DenseVectorParams

    schema = CollectionSchema(
        0,
        Distance.DOT,
        named_vectors={"text": DenseVectorParams(4, Distance.COSINE)},
        sparse_vectors=dict(SCHEMA.sparse_vectors),
    )
    rng = np.random.default_rng(2)
    batch = RecordBatch.build(
        list(range(100)),
        np.zeros((100, 0)),
        named={"text": rng.normal(size=(100, 4))},
        sparse={"bm25": [([i % 30], [1.0]) for i in range(100)]},
    )
    source, target = _edge(tmp_path / "s", schema, batch), _edge(tmp_path / "t", schema, batch)
    target.upsert(batch.take([5]).with_columns(named={"text": DenseColumn.of(np.ones((1, 4)))}))
    try:
        verdict = run_verification(source, target, queries=10, k=5)
    finally:
        source.close()
        target.close()
    assert verdict.check("parity.vectors").details["mismatched"] == [5]
    assert verdict.check("parity.sparse").status is Status.PASS
    skipped = [c for c in verdict.checks if c.id.startswith(("quality.", "latency."))]
    assert skipped and all(c.status is Status.SKIP for c in skipped)
    assert "no default dense vector" in verdict.check("quality.overlap").message


def test_a_target_that_refuses_hybrid_queries_errors_that_check_only(source: VectorStore) -> None:
    from harness.errors import StoreError
    from harness.stores.exact import ExactStore

    class NoFusion(ExactStore):
        def hybrid_search(self, *args: object, **kwargs: object) -> SearchResult:
            raise StoreError("unsupported: prefetch")

    target = NoFusion(f"hybrid-nofusion-{uuid.uuid4().hex[:8]}")
    target.create(SCHEMA)
    target.upsert(_batch())
    try:
        verdict = run_verification(source, target, queries=20, k=10, measure_latency=False)
    finally:
        target.drop()
    hybrid = verdict.check("quality.hybrid")
    assert hybrid.status is Status.ERROR and "prefetch" in hybrid.message
    assert verdict.check("quality.overlap").status is Status.PASS
    assert str(verdict.verdict) == "error"  # a check that could not run is never a pass
