"""Latency: one query per request, percentiles, and the p99 gate on the target."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from harness.model import CollectionSchema, Distance, RecordBatch, Status
from harness.stores.exact import ExactStore
from harness.verify import Thresholds
from harness.verify.latency import latency_checks, percentiles, timed_search
from tests.fakes import SteppingTimer


@pytest.fixture
def store() -> Iterator[ExactStore]:
    s = ExactStore("latency-store")
    s.create(CollectionSchema(4, Distance.DOT))
    s.upsert(RecordBatch.build(range(50), np.random.default_rng(0).standard_normal((50, 4))))
    yield s
    s.drop()


def test_each_query_is_its_own_timed_request(store: ExactStore) -> None:
    queries = np.random.default_rng(1).standard_normal((5, 4)).astype(np.float32)
    result, ms = timed_search(store, queries, 3, timer=SteppingTimer([0.001, 0.002, 0.003, 0.004, 0.6]))
    assert ms.tolist() == pytest.approx([1.0, 2.0, 3.0, 4.0, 600.0])
    assert result.ids == store.search(queries, 3).ids


def test_percentiles_in_ms() -> None:
    p = percentiles(np.arange(1.0, 101.0))
    assert (p["n"], p["p50_ms"], p["p99_ms"], p["max_ms"]) == (100, 50.5, 99.01, 100.0)


def test_p99_gates_the_target_and_p50_only_warns() -> None:
    fast, slow = np.full(100, 2.0), np.concatenate([np.full(95, 30.0), np.full(5, 900.0)])
    checks = {c.id: c for c in latency_checks(fast, slow, Thresholds())}
    assert checks["latency.p99"].status is Status.FAIL
    assert checks["latency.p99"].observed == 900.0 and checks["latency.p99"].expected == 500.0
    assert checks["latency.p50"].status is Status.WARN  # 30 ms > 2 × 2 ms and > the 10 ms floor
    assert checks["latency.p50"].details["source"]["p50_ms"] == 2.0
    relaxed = {c.id: c.status for c in latency_checks(fast, slow, Thresholds(p99_ms_max=1000.0, p50_ms_floor=50.0))}
    assert relaxed == {"latency.p50": Status.PASS, "latency.p99": Status.PASS}


def test_not_measured_is_a_skip_not_a_pass() -> None:
    assert {c.status for c in latency_checks(None, None, Thresholds())} == {Status.SKIP}
