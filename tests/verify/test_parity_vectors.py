"""Parity over named dense vectors and sparse vectors: ``parity.sparse`` and the named part of
``parity.vectors``, adversarially — the target that must fail, the one that must pass, the values that
only look equal, and the run that has no sparse vectors at all."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from harness.clock import ManualClock
from harness.model import (
    CollectionSchema,
    DenseColumn,
    DenseVectorParams,
    Distance,
    RecordBatch,
    SparseColumn,
    SparseVectorParams,
    Status,
    Verdict,
)
from harness.stores import open_store
from harness.stores.base import VectorStore
from harness.stores.qdrant_edge import copy_shard
from harness.verify import check_parity
from harness.verify.parity import PARITY_CHECK_IDS, parity_outcome
from harness.verify.recheck import recheck_parity
from harness.verify.thresholds import Thresholds

N, DIM = 300, 8
SCHEMA = CollectionSchema(
    DIM,
    Distance.DOT,
    named_vectors={"image": DenseVectorParams(4, Distance.COSINE)},
    sparse_vectors={"sparse_vector": SparseVectorParams("idf")},
)


def _batch(n: int = N, seed: int = 1) -> RecordBatch:
    rng = np.random.default_rng(seed)
    sparse: list[tuple[list[int], list[float]] | None] = []
    for i in range(n):
        size = int(rng.integers(1, 8))
        sparse.append(
            None
            if i % 5 == 4
            else (rng.choice(30_000, size, replace=False).tolist(), rng.uniform(0.1, 3, size).tolist())
        )
    return RecordBatch.build(
        list(range(n)),
        rng.normal(size=(n, DIM)),
        [{"i": i} for i in range(n)],
        named={"image": DenseColumn.of(rng.normal(size=(n, 4)), [i % 7 != 3 for i in range(n)])},
        sparse={"sparse_vector": sparse},
    )


def _exact(batch: RecordBatch, schema: CollectionSchema = SCHEMA) -> VectorStore:
    store = open_store(f"exact://parity-vectors-{uuid.uuid4().hex[:8]}")
    store.create(schema)
    store.upsert(batch)
    return store


@pytest.fixture
def pair() -> Iterator[tuple[VectorStore, VectorStore, RecordBatch]]:
    batch = _batch()
    source, target = _exact(batch), _exact(batch)
    yield source, target, batch
    for store in (source, target):
        store.drop()  # type: ignore[attr-defined]


def _statuses(checks: list) -> dict[str, str]:  # type: ignore[type-arg]
    return {c.id: str(c.status) for c in checks}


def test_a_faithful_copy_passes_and_parity_sparse_compares_every_record(pair) -> None:  # type: ignore[no-untyped-def]
    source, target, _ = pair
    checks = check_parity(source, target)
    assert [c.id for c in checks] == list(PARITY_CHECK_IDS)
    assert _statuses(checks) == {**dict.fromkeys(PARITY_CHECK_IDS, "pass"), "parity.mapping": "skip"}
    sparse = next(c for c in checks if c.id == "parity.sparse")
    assert sparse.details["compared"] == N and sparse.details["sparse_vectors"] == ["sparse_vector"]


def test_removing_the_sparse_part_of_ten_points_fails_parity_sparse_naming_them(pair) -> None:  # type: ignore[no-untyped-def]
    source, target, batch = pair
    stripped = [i for i in range(0, 200, 20)]  # ten records, each with sparse values (i % 5 != 4)
    target.upsert(batch.take(stripped).with_columns(sparse={}))

    checks = {c.id: c for c in check_parity(source, target)}

    sparse = checks["parity.sparse"]
    assert sparse.status is Status.FAIL
    assert sparse.observed == 10 and sorted(sparse.details["mismatched"]) == stripped
    assert all(entry["target_entries"] == 0 and entry["source_entries"] > 0 for entry in sparse.details["sample"])
    assert "10 of 300" in sparse.message and "0, 20, 40, 60, 80" in sparse.message
    # Nothing else changed: the other checks stay green.
    assert all(checks[cid].status in (Status.PASS, Status.SKIP) for cid in PARITY_CHECK_IDS if cid != "parity.sparse")


@pytest.mark.parametrize(
    ("change", "equal"),
    [
        ("reversed_order", True),  # the same entries listed in another order
        ("within_tolerance", True),  # +0.5 × tolerance on every value
        ("beyond_tolerance", False),  # +2 × tolerance on one value
        ("extra_index", False),
        ("missing_index", False),
        ("other_index", False),  # same values, one index moved
        ("explicit_zero", False),  # an index with value 0 is still an index
    ],
)
def test_sparse_equality_case_by_case(change: str, equal: bool) -> None:
    tolerance = Thresholds().vector_tolerance
    indices, values = [5, 17, 900], [0.25, 1.5, 2.0]
    changed = {
        "reversed_order": (indices[::-1], values[::-1]),
        "within_tolerance": (indices, [v + 0.5 * tolerance for v in values]),
        "beyond_tolerance": (indices, [values[0] + 2.5 * tolerance, *values[1:]]),
        "extra_index": ([*indices, 1000], [*values, 0.5]),
        "missing_index": (indices[:2], values[:2]),
        "other_index": ([5, 17, 901], values),
        "explicit_zero": ([*indices, 3], [*values, 0.0]),
    }[change]
    schema = CollectionSchema(2, Distance.DOT, sparse_vectors={"s": SparseVectorParams()})
    source = _exact(RecordBatch.build([1], np.ones((1, 2)), sparse={"s": [(indices, values)]}), schema)
    target = _exact(RecordBatch.build([1], np.ones((1, 2)), sparse={"s": [changed]}), schema)
    try:
        check = {c.id: c for c in check_parity(source, target)}["parity.sparse"]
        assert check.status is (Status.PASS if equal else Status.FAIL), check.message
    finally:
        source.drop()  # type: ignore[attr-defined]
        target.drop()  # type: ignore[attr-defined]


def test_a_target_without_the_sparse_vector_fails_for_every_record_that_had_one(pair) -> None:  # type: ignore[no-untyped-def]
    source, _, batch = pair
    dense_schema = CollectionSchema(DIM, Distance.DOT, named_vectors=dict(SCHEMA.named_vectors))
    target = _exact(batch.with_columns(sparse={}), dense_schema)
    try:
        check = {c.id: c for c in check_parity(source, target)}["parity.sparse"]
        with_sparse = int((batch.sparse["sparse_vector"].row_lengths() > 0).sum())
        assert check.status is Status.FAIL and check.observed == with_sparse
    finally:
        target.drop()  # type: ignore[attr-defined]


def test_a_changed_or_missing_named_vector_fails_parity_vectors_naming_the_vector(pair) -> None:  # type: ignore[no-untyped-def]
    source, target, batch = pair
    changed = batch.take([1, 2])
    image = changed.named["image"].vectors.copy()
    image[0] += 0.5  # record 1: another image vector
    present = np.array([True, False])  # record 2: its image vector removed
    target.upsert(changed.with_columns(named={"image": DenseColumn(image, present)}))

    checks = {c.id: c for c in check_parity(source, target)}

    vectors = checks["parity.vectors"]
    assert vectors.status is Status.FAIL and vectors.observed == 2
    assert sorted(vectors.details["mismatched"]) == [1, 2]
    assert all(entry["named_vectors"] == ["image"] for entry in vectors.details["sample"])
    assert checks["parity.sparse"].status is Status.PASS


def test_named_vectors_compare_after_their_own_canonical_form(pair) -> None:  # type: ignore[no-untyped-def]
    # "image" is cosine: a target holding the same direction at another length is the same vector.
    source, target, batch = pair
    scaled = batch.take([0]).named["image"]
    target.upsert(batch.take([0]).with_columns(named={"image": DenseColumn(scaled.vectors * 3.0, scaled.present)}))
    assert {c.id: c for c in check_parity(source, target)}["parity.vectors"].status is Status.PASS


def test_a_dense_only_pair_skips_parity_sparse_with_its_reason() -> None:
    batch = RecordBatch.build([1, 2], np.eye(2))
    schema = CollectionSchema(2, Distance.DOT)
    source, target = _exact(batch, schema), _exact(batch, schema)
    try:
        check = {c.id: c for c in check_parity(source, target)}["parity.sparse"]
        assert check.status is Status.SKIP and "neither store has sparse vectors" in check.message
    finally:
        source.drop()  # type: ignore[attr-defined]
        target.drop()  # type: ignore[attr-defined]


def test_the_recheck_keeps_a_sparse_finding_that_still_differs_and_settles_a_repaired_one(pair) -> None:  # type: ignore[no-untyped-def]
    source, target, batch = pair
    target.upsert(batch.take([0, 1]).with_columns(sparse={}))
    outcome = parity_outcome(source, target)
    verdict = Verdict(checks=tuple(outcome.checks))
    assert verdict.check("parity.sparse").status is Status.FAIL

    target.upsert(batch.take([0]))  # record 0 repaired, record 1 still without its sparse values
    rechecked, report = recheck_parity(verdict, outcome.findings, source, target, clock=ManualClock(), rounds=1)

    check = rechecked.check("parity.sparse")
    assert check.status is Status.FAIL and check.details["mismatched"] == [1]
    assert report.settled["parity.sparse"] == [0]


def test_edge_to_edge_with_named_and_sparse_vectors_passes_and_catches_a_stripped_point(tmp_path: Path) -> None:
    batch = _batch(n=120, seed=4)
    store = open_store(f"qdrant-edge://{tmp_path / 'source'}")
    store.create(SCHEMA)
    store.upsert(batch)
    store.close()
    copy_shard(tmp_path / "source", tmp_path / "target")
    source = open_store(f"qdrant-edge://{tmp_path / 'source'}")
    target = open_store(f"qdrant-edge://{tmp_path / 'target'}")
    try:
        assert _statuses(check_parity(source, target)) == {
            **dict.fromkeys(PARITY_CHECK_IDS, "pass"),
            "parity.mapping": "skip",
        }
        target.upsert(batch.take([3]).with_columns(sparse={"sparse_vector": SparseColumn.from_rows([([1], [1.0])])}))
        check = {c.id: c for c in check_parity(source, target)}["parity.sparse"]
        assert check.status is Status.FAIL and check.details["mismatched"] == [3]
    finally:
        source.close()
        target.close()
