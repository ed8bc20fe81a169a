"""FaultyStore: each fault, on a manual clock, over the exact store."""

from __future__ import annotations

import contextlib
import math
from pathlib import Path

import numpy as np
import pytest

from harness.clock import ManualClock
from harness.errors import ConfigError, TransientStoreError
from harness.faults import FaultKind, FaultPlan, FaultyStore, OpKind
from harness.model import CollectionSchema, Distance
from harness.stores import open_store
from harness.stores.base import VectorStore
from harness.stores.exact import ExactStore
from tests.faults.conftest import DIM, records


def query(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((1, DIM)).astype(np.float32)


def kinds(store: FaultyStore) -> list[FaultKind]:
    return [event.kind for event in store.fault_log]


def test_is_a_vector_store_and_passes_through_without_faults(exact: ExactStore, clock: ManualClock) -> None:
    store = FaultyStore(exact, clock=clock)
    assert isinstance(store, VectorStore)
    assert store.uri == exact.uri
    store.upsert(records(range(10)))
    assert store.count() == 10
    assert store.fetch([3]).ids == (3,)
    assert store.search(query(1), 3).ids == exact.search(query(1), 3).ids
    assert store.fault_log == () and clock.sleeps == []


def test_fixed_latency_advances_the_injected_clock_per_operation_kind(exact: ExactStore, clock: ManualClock) -> None:
    store = FaultyStore(exact, FaultPlan(latency_ms=50, latency_ops=frozenset({OpKind.SEARCH})), clock=clock)
    store.upsert(records(range(5)))  # writes are not in latency_ops
    assert clock.now() == 100.0
    store.search(query(0), 2)
    assert clock.now() == pytest.approx(100.05)
    assert kinds(store) == [FaultKind.LATENCY]
    assert store.fault_log[0].op == "search" and store.fault_log[0].at == pytest.approx(100.0)


def test_jitter_stays_within_bounds_and_is_deterministic_by_seed(exact: ExactStore) -> None:
    def waits(seed: int) -> list[float]:
        clock = ManualClock()
        store = FaultyStore(exact, FaultPlan(latency_ms=20, jitter_ms=10), clock=clock, seed=seed)
        for _ in range(30):
            store.count()
        return clock.sleeps

    first, again, other = waits(1), waits(1), waits(2)
    assert first == again
    assert first != other
    assert all(0.010 - 1e-9 <= s <= 0.030 + 1e-9 for s in first)
    assert len(set(first)) > 20  # jitter really varies


def test_spikes_hit_about_their_probability(exact: ExactStore, clock: ManualClock) -> None:
    store = FaultyStore(exact, FaultPlan(spike_ms=500, spike_probability=0.25), clock=clock, seed=3)
    exact.upsert(records(range(5)))
    for _ in range(400):
        store.search(query(0), 1)
    spikes = kinds(store).count(FaultKind.SPIKE)
    assert 60 <= spikes <= 140
    assert clock.now() - 100.0 == pytest.approx(spikes * 0.5)


def test_error_rate_applies_to_its_operation_kind_only(exact: ExactStore, clock: ManualClock) -> None:
    store = FaultyStore(exact, FaultPlan(write_error_rate=1.0), clock=clock)
    with pytest.raises(TransientStoreError, match="injected write error during upsert"):
        store.upsert(records(range(3)))
    assert exact.count() == 0  # the failed write was not applied
    assert store.count() == 0 and store.search(query(0), 1).ids == ((),)
    assert kinds(store) == [FaultKind.ERROR]


def test_error_type_from_the_plan(exact: ExactStore, clock: ManualClock) -> None:
    class BackendTimeout(Exception):
        pass

    store = FaultyStore(exact, FaultPlan(search_error_rate=1.0, error_type=BackendTimeout), clock=clock)
    with pytest.raises(BackendTimeout):
        store.search(query(0), 1)


def test_error_draws_are_seeded_and_independent_of_other_operation_kinds(exact: ExactStore) -> None:
    exact.upsert(records(range(5)))

    def write_failures(seed: int, searches_between: int) -> list[int]:
        store = FaultyStore(
            exact, FaultPlan(write_error_rate=0.3, search_error_rate=0.5), clock=ManualClock(), seed=seed
        )
        failed = []
        for i in range(60):
            for _ in range(searches_between):
                with contextlib.suppress(TransientStoreError):
                    store.search(query(i), 1)
            try:
                store.delete([10_000 + i])
            except TransientStoreError:
                failed.append(i)
        return failed

    base = write_failures(seed=5, searches_between=0)
    assert base == write_failures(seed=5, searches_between=3)  # concurrent searches do not shift writes
    assert base != write_failures(seed=6, searches_between=0)
    assert 8 <= len(base) <= 30


def test_outage_window_fails_every_call_between_t0_and_t1(exact: ExactStore, clock: ManualClock) -> None:
    store = FaultyStore(exact, FaultPlan(outages=((110.0, 120.0),)), clock=clock)
    store.upsert(records(range(3)))
    clock.advance(10)  # t = 110: inside the window
    for call in (lambda: store.count(), lambda: store.search(query(0), 1), lambda: store.upsert(records([7]))):
        with pytest.raises(TransientStoreError, match="outage"):
            call()
    assert kinds(store) == [FaultKind.OUTAGE] * 3
    clock.advance(10)  # t = 120: the window is half-open
    assert store.count() == 3


def test_dropped_writes_are_acknowledged_not_applied_and_recorded(exact: ExactStore, clock: ManualClock) -> None:
    store = FaultyStore(exact, FaultPlan(drop_write_rate=0.2), clock=clock, seed=11)
    for start in range(0, 200, 50):
        store.upsert(records(range(start, start + 50)))  # no exception: acknowledged
    missing = {i for i in range(200)} - set(exact.fetch(list(range(200))).ids)
    assert missing == set(store.dropped_ids)
    assert 15 <= len(missing) <= 65
    assert FaultKind.DROP in kinds(store)


def test_dropped_deletes_are_recorded(exact: ExactStore, clock: ManualClock) -> None:
    exact.upsert(records(range(40)))
    store = FaultyStore(exact, FaultPlan(drop_write_rate=0.5), clock=clock, seed=2)
    store.delete(list(range(40)))
    assert set(exact.fetch(list(range(40))).ids) == set(store.dropped_delete_ids)
    assert 0 < len(store.dropped_delete_ids) < 40


def test_partial_batch_applies_the_first_half_then_raises(exact: ExactStore, clock: ManualClock) -> None:
    store = FaultyStore(exact, FaultPlan(partial_batch_rate=1.0), clock=clock)
    with pytest.raises(TransientStoreError, match="partial batch"):
        store.upsert(records(range(10)))
    assert sorted(exact.fetch(list(range(10))).ids) == [0, 1, 2, 3, 4]
    assert store.partial_batches == (((0, 1, 2, 3, 4), (5, 6, 7, 8, 9)),)
    store.upsert(records([42]))  # a single record cannot be split
    assert exact.fetch([42]).ids == (42,)


def test_read_lag_hides_writes_for_n_seconds_then_applies_them_in_order(exact: ExactStore, clock: ManualClock) -> None:
    store = FaultyStore(exact, FaultPlan(read_lag_s=5.0), clock=clock)
    batch = records(range(3))
    store.upsert(batch)
    clock.advance(2)
    store.delete([1])
    assert store.count() == 0
    assert store.fetch([0, 1, 2]).ids == ()
    assert store.search(batch.vectors[:1], 1).ids == ((),)
    assert store.pending_writes == 2
    assert FaultKind.STALE_READ in kinds(store) and kinds(store).count(FaultKind.DEFERRED) == 2
    clock.advance(3)  # t = 105: the upsert is visible, the delete (at 102) not yet
    assert sorted(store.fetch([0, 1, 2]).ids) == [0, 1, 2]
    clock.advance(2)
    assert sorted(store.fetch([0, 1, 2]).ids) == [0, 2]
    assert store.pending_writes == 0


def test_infinite_lag_freezes_reads_until_cleared(exact: ExactStore, clock: ManualClock) -> None:
    exact.upsert(records(range(2)))
    store = FaultyStore(exact, clock=clock)
    with store.faults(read_lag_s=math.inf):
        store.upsert(records(range(2, 6)))
        clock.advance(3600)
        assert store.count() == 2
    assert store.plan == FaultPlan()
    assert store.count() == 6  # leaving the block switched the lag off and applied the writes


def test_cold_start_decays_with_searches_and_seen_queries_are_warm(exact: ExactStore, clock: ManualClock) -> None:
    exact.upsert(records(range(20)))
    store = FaultyStore(exact, FaultPlan(cold_latency_ms=200, warm_after_searches=4), clock=clock)
    store.search(query(1), 3)  # served 0 so far: full cold latency
    store.search(query(1), 3)  # seen: warm
    store.search(query(2), 3)  # unseen, 2 served: 200 × (1 − 2/4)
    store.search(query(3), 3)  # unseen, 3 served: 200 × (1 − 3/4)
    store.search(query(4), 3)  # 4 served: warm
    assert clock.sleeps == pytest.approx([0.2, 0.1, 0.05])
    assert kinds(store) == [FaultKind.COLD] * 3
    store.reset_warmth()
    store.search(query(1), 3)
    assert clock.sleeps[-1] == pytest.approx(0.2)


def test_cold_start_without_decay_warms_only_seen_queries(exact: ExactStore, clock: ManualClock) -> None:
    exact.upsert(records(range(20)))
    store = FaultyStore(exact, clock=clock)
    store.search(query(1), 3)  # served while no cold model was on: the page is cached already
    store.set_faults(cold_latency_ms=80)
    store.search(query(1), 3)
    for seed in range(2, 6):
        store.search(query(seed), 3)
    assert clock.sleeps == pytest.approx([0.08] * 4)


def test_set_faults_returns_the_previous_plan_and_clear_switches_everything_off(
    exact: ExactStore, clock: ManualClock
) -> None:
    store = FaultyStore(exact, clock=clock)
    assert store.set_faults(FaultPlan(write_error_rate=1.0)) == FaultPlan()
    previous = store.set_faults(search_error_rate=1.0)
    assert previous.write_error_rate == 1.0
    assert store.plan.write_error_rate == 0.0 and store.plan.search_error_rate == 1.0
    store.clear()
    store.upsert(records(range(2)))
    assert store.count() == 2


@pytest.mark.parametrize(
    "bad",
    [
        {"latency_ms": -1},
        {"read_error_rate": 1.5},
        {"spike_probability": -0.1},
        {"outages": ((5.0, 5.0),)},
        {"warm_after_searches": -2},
    ],
)
def test_invalid_plans_are_config_errors(bad: dict[str, object]) -> None:
    with pytest.raises(ConfigError, match="fault plan"):
        FaultPlan(**bad)  # type: ignore[arg-type]


def test_faults_over_the_real_qdrant_edge_engine(tmp_path: Path, clock: ManualClock) -> None:
    pytest.importorskip("qdrant_edge")
    edge = open_store(f"qdrant-edge://{tmp_path / 'shard'}")
    edge.create(CollectionSchema(dimension=DIM, distance=Distance.COSINE))
    try:
        store = FaultyStore(edge, FaultPlan(partial_batch_rate=1.0, read_lag_s=1.0), clock=clock)
        with pytest.raises(TransientStoreError):
            store.upsert(records(range(8)))
        assert edge.count() == 0  # the applied half is still behind the read lag
        clock.advance(1.0)
        assert store.count() == 4
        assert sorted(edge.fetch(list(range(8))).ids) == [0, 1, 2, 3]
        store.clear()
        store.upsert(records(range(4, 8)))
        assert [len(ids) for ids in store.search(records([0]).vectors, 8).ids] == [8]
    finally:
        edge.close()
