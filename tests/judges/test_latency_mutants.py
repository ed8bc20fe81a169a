"""Certification's latency checks (``verify/latency.py``) pinned to exact checks, so a one-line bug fails a
test (``make mutation``): each request timed on its own with the given timer and search parameters, the
merged results, the percentiles to the microsecond, and each gate exactly at its limit.

Time comes from a fake timer (each request takes a set duration): nothing here depends on the machine.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import pytest

from harness.model import CollectionSchema, Distance, RecordBatch, SearchResult, Status
from harness.stores.exact import ExactStore
from harness.verify import Thresholds
from harness.verify.latency import LATENCY_CHECK_IDS, concat_results, latency_checks, percentiles, timed_search
from tests.fakes import SteppingTimer
from tests.judges.hostile import Forwarding


class RecordsSearches(Forwarding):
    """Forwards to ``inner`` and records each search's query count, k and parameters."""

    def __init__(self, inner: Any) -> None:
        super().__init__(inner)
        self.calls: list[tuple[int, int, Mapping[str, Any] | None]] = []

    def search(self, queries: np.ndarray, k: int, params: Mapping[str, Any] | None = None) -> SearchResult:
        self.calls.append((len(queries), k, params))
        return self.inner.search(queries, k, params)


@pytest.fixture
def store() -> Iterator[ExactStore]:
    s = ExactStore("latency-mutants")
    s.create(CollectionSchema(4, Distance.DOT))
    s.upsert(RecordBatch.build(range(30), np.random.default_rng(0).standard_normal((30, 4))))
    yield s
    s.drop()


def test_each_query_is_one_request_with_the_given_parameters_timed_by_the_given_timer(store: ExactStore) -> None:
    queries = np.random.default_rng(1).standard_normal((3, 4)).astype(np.float32)
    recording = RecordsSearches(store)
    params = {"hnsw_ef": 64}
    result, ms = timed_search(recording, queries, 4, params, timer=SteppingTimer([0.0015, 0.25, 0.004], start=100.0))  # type: ignore[arg-type]
    assert ms.tolist() == pytest.approx([1.5, 250.0, 4.0]) and ms.dtype == np.float64
    assert recording.calls == [(1, 4, params)] * 3
    batched = store.search(queries, 4)  # one batch scores to float32 rounding of one query at a time
    assert result.ids == batched.ids and result.namespaces is None
    assert np.asarray(result.scores) == pytest.approx(np.asarray(batched.scores), rel=1e-5)


def test_the_default_timer_measures_real_requests(store: ExactStore) -> None:
    queries = np.random.default_rng(2).standard_normal((2, 4)).astype(np.float32)
    _, ms = timed_search(store, queries, 3)
    assert ms.shape == (2,) and bool(np.all(ms >= 0.0)) and bool(np.all(ms < 60_000.0))


def test_merged_results_keep_query_order_and_fill_namespaces_only_when_one_part_has_them() -> None:
    plain = SearchResult(ids=((1, 2),), scores=((0.9, 0.8),))
    named = SearchResult(ids=((3,), (4,)), scores=((0.7,), (0.6,)), namespaces=(("a",), ("b",)))
    merged = concat_results([plain, named])
    assert merged == SearchResult(
        ids=((1, 2), (3,), (4,)), scores=((0.9, 0.8), (0.7,), (0.6,)), namespaces=((), ("a",), ("b",))
    )
    assert concat_results([plain, plain]) == SearchResult(ids=((1, 2), (1, 2)), scores=((0.9, 0.8), (0.9, 0.8)))
    assert concat_results([]) == SearchResult(ids=(), scores=())


def test_percentiles_are_rounded_to_the_microsecond() -> None:
    assert percentiles(np.array([1.23456, 2.34567, 9.87654])) == {
        "n": 3,
        "p50_ms": 2.346,
        "p95_ms": 9.123,
        "p99_ms": 9.726,
        "mean_ms": 4.486,
        "max_ms": 9.877,
    }
    assert percentiles(np.zeros(0)) == {"n": 0}


def test_the_checks_carry_both_stores_figures_and_say_why() -> None:
    source, target = np.array([4.0, 5.0, 6.0]), np.array([10.0, 12.0, 14.0])
    details = {
        "source": {"n": 3, "p50_ms": 5.0, "p95_ms": 5.9, "p99_ms": 5.98, "mean_ms": 5.0, "max_ms": 6.0},
        "target": {"n": 3, "p50_ms": 12.0, "p95_ms": 13.8, "p99_ms": 13.96, "mean_ms": 12.0, "max_ms": 14.0},
        "requests": "one query per request, wall clock",
    }
    assert [c.to_dict() for c in latency_checks(source, target, Thresholds())] == [
        {
            "id": "latency.p50",
            "status": "warn",
            "observed": 12.0,
            "expected": 10.0,  # max(the 10 ms floor, 2 × the source's 5 ms)
            "message": "p50 target 12.00 ms, source 5.00 ms — more than 2× the source's",
            "details": details,
        },
        {
            "id": "latency.p99",
            "status": "pass",
            "observed": 13.96,
            "expected": 500.0,
            "message": "p99 target 13.96 ms (gate ≤ 500 ms), source 5.98 ms",
            "details": details,
        },
    ]


@pytest.mark.parametrize(("target_p50", "status"), [(12.0, Status.PASS), (12.001, Status.WARN)])
def test_p50_at_twice_the_source_passes_and_just_above_warns(target_p50: float, status: Status) -> None:
    # Source p50 6 ms: the limit is max(10 ms floor, 2 × 6 ms) = 12 ms.
    check = latency_checks(np.full(3, 6.0), np.full(3, target_p50), Thresholds())[0]
    assert (check.status, check.expected) == (status, 12.0)
    assert check.message.endswith("— more than 2× the source's") is (status is Status.WARN)


def test_the_p50_limit_is_reported_to_the_microsecond_and_a_pass_says_only_the_figures() -> None:
    check = latency_checks(np.full(3, 8.001), np.full(3, 12.0), Thresholds(p50_max_ratio=1.5))[0]
    assert (check.status, check.expected) == (Status.PASS, 12.002)  # 1.5 × 8.001 = 12.0015
    assert check.message == "p50 target 12.00 ms, source 8.00 ms"


@pytest.mark.parametrize(("target_p50", "status"), [(10.0, Status.PASS), (10.001, Status.WARN)])
def test_p50_at_the_floor_passes_and_just_above_warns(target_p50: float, status: Status) -> None:
    # Source p50 1 ms: 2 × 1 ms is under the floor; the floor (10 ms) is the limit.
    check = latency_checks(np.full(3, 1.0), np.full(3, target_p50), Thresholds())[0]
    assert (check.status, check.expected) == (status, 10.0)


@pytest.mark.parametrize(("target_p99", "status"), [(500.0, Status.PASS), (500.001, Status.FAIL)])
def test_p99_at_the_gate_passes_and_just_above_fails(target_p99: float, status: Status) -> None:
    check = latency_checks(np.full(3, 1.0), np.full(3, target_p99), Thresholds())[1]
    assert (check.id, check.status, check.observed, check.expected) == ("latency.p99", status, target_p99, 500.0)


@pytest.mark.parametrize(
    ("source", "target"), [(None, np.ones(3)), (np.ones(3), None), (np.ones(3), np.zeros(0)), (None, None)]
)
def test_unmeasured_latency_skips_both_checks_and_says_why(source: Any, target: Any) -> None:
    checks = latency_checks(source, target, Thresholds())
    assert [c.to_dict() for c in checks] == [
        {
            "id": check_id,
            "status": "skip",
            "observed": None,
            "expected": None,
            "message": "latency not measured (no queries, or measurement switched off)",
            "details": {},
        }
        for check_id in ("latency.p50", "latency.p99")
    ]
    assert LATENCY_CHECK_IDS == ("latency.p50", "latency.p99")
