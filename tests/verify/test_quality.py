"""Ground truth, sampling, recall with ties, overlap and the noise-floor gate."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from harness.model import CollectionSchema, Distance, RecordBatch, Status
from harness.stores.exact import ExactStore
from harness.vectormath import exact_top_k, prepare
from harness.verify import Thresholds, VerificationRun
from harness.verify.policy import QualityData, quality_checks
from harness.verify.quality import GroundTruth, QueryReservoir

DIM = 12


@pytest.mark.parametrize("distance", list(Distance))
def test_blocked_ground_truth_matches_the_one_shot_exact_top_k(distance: Distance) -> None:
    rng = np.random.default_rng(int(distance.value.encode()[0]))
    data = prepare(rng.standard_normal((3000, DIM)).astype(np.float32), distance)
    queries = rng.standard_normal((25, DIM)).astype(np.float32)
    truth = GroundTruth(queries, 10, distance)
    for start in range(0, len(data), 256):  # many small blocks: the sparse merge path does the work
        truth.push(data[start : start + 256], start)
    rows, scores = truth.result()
    want_rows, want_scores = exact_top_k(queries, data, 10, distance)
    assert (rows == want_rows).mean() > 0.99  # only exact float ties may order differently
    np.testing.assert_allclose(scores, want_scores, rtol=1e-4, atol=1e-4)


def test_ground_truth_with_fewer_rows_than_k() -> None:
    data = np.eye(3, DIM, dtype=np.float32)
    truth = GroundTruth(data[:1], 10, Distance.DOT)
    truth.push(data, 0)
    rows, scores = truth.result()
    assert rows.tolist() == [[0, 1, 2]] and scores[0, 0] == 1.0


def test_reservoir_is_seeded_uniform_and_independent_of_batching() -> None:
    ids = list(range(10_000))
    vecs = np.arange(10_000, dtype=np.float32).reshape(-1, 1)

    def sample(batch: int, seed: int) -> tuple[int, ...]:
        reservoir = QueryReservoir(200, seed)
        for start in range(0, len(ids), batch):
            reservoir.add(vecs[start : start + batch], ids[start : start + batch])
        result = reservoir.result()
        assert [int(v) for v in result.vectors[:, 0]] == list(result.labels)
        return tuple(int(label) for label in result.labels)

    first = sample(1000, seed=1)
    assert sample(1000, seed=1) == first
    assert sample(1000, seed=2) != first
    assert len(set(first)) == 200
    assert 3500 < np.mean(first) < 6500  # not just the head of the scan
    assert sum(label >= 5000 for label in first) > 60


def test_a_tiny_scan_gives_every_record_as_a_query() -> None:
    reservoir = QueryReservoir(50, seed=0)
    reservoir.add(np.ones((7, DIM), dtype=np.float32), list("abcdefg"))
    assert reservoir.result().labels == tuple("abcdefg")


@pytest.fixture
def tied_pair() -> Iterator[tuple[ExactStore, ExactStore]]:
    """Every vector twice (ids i and i + 400): exact ties. The exact store breaks ties by insertion order,
    so the target, filled second twins first, answers with the other twin wherever a tie decides."""
    rng = np.random.default_rng(5)
    base = rng.standard_normal((400, DIM)).astype(np.float32)
    vectors = np.concatenate([base, base])
    source, target = ExactStore("quality-ties-src"), ExactStore("quality-ties-tgt")
    for store in (source, target):
        store.create(CollectionSchema(DIM, Distance.EUCLID))
    source.upsert(RecordBatch.build(range(800), vectors))
    target.upsert(RecordBatch.build([*range(400, 800), *range(400)], np.concatenate([base, base])))
    yield source, target
    source.drop()
    target.drop()


def test_ties_at_the_kth_distance_do_not_cost_recall(tied_pair: tuple[ExactStore, ExactStore]) -> None:
    source, target = tied_pair
    with VerificationRun(source, target, queries=30, k=4, measure_latency=False, seed=4) as run:
        quality = {c.id: c for c in run.quality_checks()}
    # Leave-one-out drops the query's own record, so its twin is first and k=4 cuts through the pair at
    # ranks 4 and 5: the target returns other ids than the ground truth, all tied.
    assert quality["quality.overlap"].observed < 1.0
    assert quality["quality.recall_source"].observed == 1.0
    assert quality["quality.recall_target"].observed == 1.0


def test_user_query_vectors_are_used_as_given(tied_pair: tuple[ExactStore, ExactStore]) -> None:
    source, target = tied_pair
    queries = np.random.default_rng(8).standard_normal((7, DIM)).astype(np.float32)
    with VerificationRun(source, target, k=3, query_vectors=queries, measure_latency=False) as run:
        checks = {c.id: c for c in run.quality_checks()}
    assert checks["quality.recall_target"].details["queries"] == 7
    assert checks["quality.recall_target"].details["queries_sampled_from_source"] is False


def data(recall_source: float, recall_target: float, overlap: float, noise: float) -> QualityData:
    n = 4
    return QualityData(
        recall_source=np.full(n, recall_source),
        recall_target=np.full(n, recall_target),
        overlap=np.full(n, overlap),
        noise=np.full(n, noise),
        labels=tuple(range(n)),
    )


@pytest.mark.parametrize(
    ("values", "recall_ok", "overlap_ok"),
    [
        ((1.0, 0.99, 0.95, 1.0), True, True),
        ((1.0, 0.97, 0.95, 1.0), False, True),  # more than 0.02 below the source
        ((0.9, 0.9, 0.95, 1.0), False, True),  # below the absolute 0.95
        ((1.0, 1.0, 0.89, 1.0), True, False),
        ((1.0, 1.0, 0.82, 0.83), True, True),  # a noisy source relaxes the overlap gate to 0.83 − 0.02
        ((1.0, 1.0, 0.82, 0.85), True, False),
    ],
)
def test_gates(values: tuple[float, float, float, float], recall_ok: bool, overlap_ok: bool) -> None:
    checks = {c.id: c for c in quality_checks(data(*values), Thresholds(), 10, {})}
    assert (checks["quality.recall_target"].status is Status.PASS) is recall_ok
    assert (checks["quality.overlap"].status is Status.PASS) is overlap_ok
    noise = checks["quality.noise_floor"]
    assert noise.status is (Status.PASS if values[3] >= 0.9 else Status.WARN)


def test_a_target_of_another_dimension_fails_instead_of_crashing() -> None:
    rng = np.random.default_rng(6)
    source, target = ExactStore("quality-dim-src"), ExactStore("quality-dim-tgt")
    source.create(CollectionSchema(DIM, Distance.COSINE))
    target.create(CollectionSchema(DIM // 2, Distance.COSINE))
    source.upsert(RecordBatch.build(range(100), rng.standard_normal((100, DIM))))
    target.upsert(RecordBatch.build(range(100), rng.standard_normal((100, DIM // 2))))
    try:
        with VerificationRun(source, target, queries=10, measure_latency=False) as run:
            checks = {c.id: c for c in run.checks()}
    finally:
        source.drop()
        target.drop()
    assert checks["schema.dimension"].status is Status.FAIL
    assert checks["parity.vectors"].details["mismatch_count"] == 100
    assert checks["quality.recall_target"].status is Status.FAIL
    assert "cannot be queried" in checks["quality.overlap"].message
    assert checks["quality.recall_source"].status is Status.PASS
