"""QueryService in process: routing by sticky bucket, per-backend caches, metrics, text keys, writes."""

from __future__ import annotations

import numpy as np
import pytest

from harness.errors import ConfigError, InvalidInputError, TransientStoreError
from harness.faults import FaultPlan, FaultyStore
from harness.migration.router import Backend, Router
from harness.model import RecordBatch
from harness.service import QueryService, vector_for_text_key
from tests.service.conftest import DIM, QUERIES, Stack

USERS = [f"user-{i}" for i in range(400)]


@pytest.mark.parametrize("percent", [0.0, 50.0, 100.0])
def test_each_user_is_served_by_the_backend_of_its_bucket(stack: Stack, percent: float) -> None:
    stack.flags.percent = percent
    service = stack.service()
    served = {user: service.query(user, text_key="q0", k=3).backend for user in USERS}
    assert served == {user: Router().route(user, percent) for user in USERS}
    on_target = sum(b is Backend.TARGET for b in served.values()) / len(USERS)
    assert on_target == pytest.approx(percent / 100, abs=0.08)


def test_raising_the_percentage_never_moves_a_user_back_to_source(stack: Stack) -> None:
    service = stack.service()
    previous: set[str] = set()
    for percent in (5.0, 25.0, 50.0, 100.0):
        stack.flags.set_read_percent(percent)
        on_target = {u for u in USERS if service.query(u, text_key="q1", k=3).backend is Backend.TARGET}
        assert previous <= on_target
        assert {service.query(u, text_key="q1", k=3).backend for u in on_target} == {Backend.TARGET}  # sticky
        previous = on_target
    assert previous == set(USERS)


def test_a_repeated_query_is_a_cache_hit_and_skips_the_store(stack: Stack) -> None:
    source = FaultyStore(stack.source, FaultPlan(latency_ms=10), clock=stack.clock)
    service = stack.service(source=source)
    first = service.query("u", QUERIES[3], k=5)
    again = service.query("another-user", QUERIES[3], k=5)
    other_k = service.query("u", QUERIES[3], k=4)
    assert (first.cache_hit, again.cache_hit, other_k.cache_hit) == (False, True, False)
    assert again.ids == first.ids and again.scores == first.scores
    assert first.ids == stack.source.search(QUERIES[3:4], 5).ids[0]
    assert len(source.fault_log) == 2  # the hit never reached the store
    assert (first.latency_ms, again.latency_ms) == (pytest.approx(10.0), 0.0)
    assert stack.metrics.totals("source") == (3, 0, 1)


def test_a_target_that_never_served_is_cold_even_when_source_is_warm(stack: Stack) -> None:
    service = stack.service()
    for i in range(20):
        service.query(f"u{i}", text_key=f"q{i}", k=5)
        service.query(f"u{i}", text_key=f"q{i}", k=5)
    assert stack.metrics.totals("source") == (40, 0, 20)
    stack.clock.advance(60)
    stack.flags.set_read_percent(100.0)
    flipped_at = stack.clock.now()
    for i in range(20):
        service.query(f"u{i}", text_key=f"q{i}", k=5)
    window = stack.metrics.window("target", flipped_at, stack.clock.now() + 1)
    assert window.requests == 20 and window.cache_hit_rate == 0.0
    assert service.cache_len(Backend.TARGET) == 20


def test_store_errors_are_returned_and_recorded_as_errors_of_the_cohort(stack: Stack) -> None:
    target = FaultyStore(stack.target, FaultPlan(search_error_rate=1.0), clock=stack.clock)
    stack.flags.percent = 100.0
    service = stack.service(target=target)
    result = service.query("u", text_key="q2", k=3)
    assert not result.ok and result.backend is Backend.TARGET
    assert result.error is not None and "TransientStoreError" in result.error
    assert result.ids == ()
    assert stack.metrics.totals("target") == (1, 1, 0)
    assert service.request_totals()[("target", "error")] == 1
    assert service.cache_len(Backend.TARGET) == 0  # failures are not cached


def test_latency_is_measured_on_the_injected_clock(stack: Stack) -> None:
    target = FaultyStore(stack.target, FaultPlan(latency_ms=30, cold_latency_ms=200), clock=stack.clock)
    stack.flags.percent = 100.0
    service = stack.service(target=target)
    start = stack.clock.now()
    for i in range(4):
        service.query("u", text_key=f"q{i}", k=3)
    window = stack.metrics.window("target", start, stack.clock.now() + 1)
    assert window.latencies_ms.tolist() == pytest.approx([230.0] * 4)
    assert window.end > window.start


def test_text_keys_map_to_the_query_table_or_a_seeded_vector(stack: Stack) -> None:
    service = stack.service()
    assert service.query("u", text_key="q7", k=4).ids == stack.source.search(QUERIES[7:8], 4).ids[0]
    with pytest.raises(InvalidInputError, match="unknown text_key 'nope'"):
        service.query("u", text_key="nope", k=4)

    generated = stack.service(query_vectors=None, text_key_seed=3)
    vec = vector_for_text_key("refund policy", DIM, seed=3)
    assert np.array_equal(vec, vector_for_text_key("refund policy", DIM, seed=3))
    assert not np.array_equal(vec, vector_for_text_key("refund policy", DIM, seed=4))
    assert float(np.linalg.norm(vec)) == pytest.approx(1.0)
    assert generated.query("u", text_key="refund policy", k=4).ids == stack.source.search(vec[None, :], 4).ids[0]


@pytest.mark.parametrize(
    ("vector", "text_key", "k"),
    [(None, None, 3), ([0.1] * DIM, "q1", 3), (None, "q1", 0), ([float("nan")] * DIM, None, 3), ([], None, 3)],
)
def test_malformed_queries_raise_and_are_not_recorded(
    stack: Stack, vector: list[float] | None, text_key: str | None, k: int
) -> None:
    service = stack.service()
    with pytest.raises(InvalidInputError):
        service.query("u", vector, text_key=text_key, k=k)
    assert stack.metrics.totals("source") == (0, 0, 0)


def test_forced_backend_serves_warm_up_without_touching_the_query_log(stack: Stack) -> None:
    service = stack.service()
    for i, repeats in enumerate((1, 3, 2)):
        for _ in range(repeats):
            service.query(f"u{i}", text_key=f"q{i}", k=5)
    top = service.top_queries(2)
    assert [(spec.text_key, spec.k) for spec in top] == [("q1", 5), ("q2", 5)]
    for spec in service.top_queries(10):
        warmed = service.query("warm-up", spec.vector, text_key=spec.text_key, k=spec.k, backend=Backend.TARGET)
        assert warmed.backend is Backend.TARGET and not warmed.cache_hit
    assert [s.text_key for s in service.top_queries(10)] == ["q1", "q2", "q0"]
    assert service.cache_len(Backend.TARGET) == 3
    stack.flags.percent = 100.0
    assert service.query("u9", text_key="q1", k=5).cache_hit  # the warmed target cache serves it


def test_writes_go_through_the_writer_only(stack: Stack) -> None:
    service = stack.service()
    batch = QUERIES[:3]
    assert service.upsert(RecordBatch.build([900, 901, 902], batch)) == 3
    assert stack.writer.count() == 3 and stack.source.count() == 200 and stack.target.count() == 200
    assert service.delete([900]) == 1
    assert sorted(stack.writer.fetch([900, 901, 902]).ids) == [901, 902]

    failing = stack.service(writer=FaultyStore(stack.writer, FaultPlan(write_error_rate=1.0), clock=stack.clock))
    with pytest.raises(TransientStoreError):
        failing.upsert(RecordBatch.build([903], batch[:1]))


def test_cache_size_bounds_each_backend_cache(stack: Stack) -> None:
    service = stack.service(cache_size=4)
    for i in range(10):
        service.query("u", text_key=f"q{i}", k=3)
    assert service.cache_len(Backend.SOURCE) == 4
    assert service.query("u", text_key="q9", k=3).cache_hit
    assert not service.query("u", text_key="q0", k=3).cache_hit  # evicted, least recently used


def test_constructor_rejects_a_negative_cache(stack: Stack) -> None:
    with pytest.raises(ConfigError):
        QueryService(
            stack.source, stack.target, flags=stack.flags, metrics=stack.metrics, writer=stack.writer, cache_size=-1
        )
