"""The locust runner against the query service on loopback: locust's counts equal the service's."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from harness.clock import SystemClock
from harness.errors import ConfigError
from harness.faults import FaultPlan, FaultyStore
from harness.load import LoadRunError, LoadStats, run_load
from harness.load.runner import read_stats_json
from harness.migration.metrics import InProcessMetrics
from harness.model import CollectionSchema, Distance, RecordBatch
from harness.service import QueryService, ServiceEndpoint, requests_total, serve_in_thread
from harness.stores.exact import ExactStore
from tests.service.conftest import StaticFlags

DIM = 16
USERS = 5


@pytest.fixture
def stores() -> Iterator[tuple[ExactStore, ExactStore]]:
    pair = []
    for side in ("src", "tgt"):
        store = ExactStore(f"load-{side}-{uuid.uuid4().hex[:8]}")
        store.create(CollectionSchema(dimension=DIM, distance=Distance.COSINE))
        store.upsert(RecordBatch.build(range(300), np.random.default_rng(1).standard_normal((300, DIM))))
        pair.append(store)
    yield pair[0], pair[1]
    for store in pair:
        store.drop()


def service_totals(endpoint: ServiceEndpoint) -> tuple[int, int]:
    """(queries, writes) the service counted, read from its /metrics."""
    text = httpx.get(f"{endpoint.url}/metrics").text
    return requests_total(text), requests_total(text, "ragmig_writes_total")


@pytest.mark.slow
def test_locust_counts_equal_the_service_metrics(stores: tuple[ExactStore, ExactStore], tmp_path: Path) -> None:
    source, target = stores
    metrics = InProcessMetrics()
    # A fifth of target searches fail: locust must count them as failures, the service as errors.
    faulty_target = FaultyStore(target, FaultPlan(search_error_rate=0.2), clock=SystemClock(), seed=3)
    service = QueryService(
        source, faulty_target, flags=StaticFlags(50.0), metrics=metrics, writer=source, clock=SystemClock()
    )
    env = {"RAGMIG_LOAD_UPSERT_SHARE": "0.1", "RAGMIG_LOAD_DIMENSION": str(DIM), "RAGMIG_LOAD_KEYS": "50"}
    with serve_in_thread(service) as endpoint:
        stats = run_load(endpoint.url, users=USERS, spawn_rate=USERS, run_time_s=3, out_dir=tmp_path, env=env)
        queries, writes = service_totals(endpoint)

    query_row, upsert_row = stats.endpoint("/query"), stats.endpoint("/upsert")
    assert query_row.requests > 0 and upsert_row.requests > 0
    assert stats.requests == query_row.requests + upsert_row.requests
    # A request cut off in flight at stop is counted by the service but not by locust.
    assert query_row.requests <= queries <= query_row.requests + USERS
    assert upsert_row.requests <= writes <= upsert_row.requests + USERS
    target_errors = metrics.totals("target")[1]
    assert target_errors > 0
    assert query_row.failures <= target_errors <= query_row.failures + USERS
    assert upsert_row.failures == 0
    assert source.count() >= 300 + upsert_row.requests  # the upserts went through the writer
    assert 0 < stats.p50_ms <= stats.p95_ms <= stats.p99_ms
    assert stats.rps > 0 and stats.failure_rate == pytest.approx(stats.failures / stats.requests)
    assert stats.csv_path.exists() and stats.json_path.exists()
    cache_hits = metrics.totals("source")[2] + metrics.totals("target")[2]
    assert cache_hits > 0  # Zipf-popular keys repeat


@pytest.mark.slow
def test_distributed_master_and_one_worker_with_a_ramp(stores: tuple[ExactStore, ExactStore], tmp_path: Path) -> None:
    source, target = stores
    service = QueryService(source, target, flags=StaticFlags(0.0), metrics=InProcessMetrics(), writer=source)
    with serve_in_thread(service) as endpoint:
        stats = run_load(
            endpoint.url, users=USERS, spawn_rate=USERS, run_time_s=3, out_dir=tmp_path, workers=1, shape="ramp"
        )
        queries, _ = service_totals(endpoint)
    assert isinstance(stats, LoadStats)
    assert (stats.workers, stats.shape) == (1, "ramp")
    assert 0 < stats.requests <= queries <= stats.requests + USERS
    assert stats.failures == 0
    assert (tmp_path / "locust_master.log").exists() and (tmp_path / "locust_worker_0.log").exists()


@pytest.mark.slow
def test_a_locustfile_error_is_a_clear_load_run_error(tmp_path: Path) -> None:
    # An upsert share without a dimension makes the locustfile refuse to load.
    with pytest.raises(LoadRunError, match="RAGMIG_LOAD_DIMENSION"):
        run_load(
            "http://127.0.0.1:9",
            users=1,
            spawn_rate=1,
            run_time_s=1,
            out_dir=tmp_path,
            env={"RAGMIG_LOAD_UPSERT_SHARE": "0.5"},
        )


def test_impossible_arguments_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        run_load("http://127.0.0.1:9", users=0, spawn_rate=1, run_time_s=1, out_dir=tmp_path)
    with pytest.raises(ConfigError):
        run_load("http://127.0.0.1:9", users=1, spawn_rate=1, run_time_s=1, out_dir=tmp_path, shape="spike")  # type: ignore[arg-type]


def test_stats_are_read_from_locusts_final_json(tmp_path: Path) -> None:
    path = tmp_path / "locust.json"
    path.write_text(
        """[
        {"name": "/query", "method": "POST", "start_time": 100.0, "last_request_timestamp": 110.0,
         "num_requests": 100, "num_none_requests": 0, "num_failures": 4, "total_response_time": 1500.0,
         "max_response_time": 90.0, "response_times": {"10": 90, "50": 9, "90": 1}},
        {"name": "/upsert", "method": "POST", "start_time": 101.0, "last_request_timestamp": 110.0,
         "num_requests": 10, "num_none_requests": 0, "num_failures": 0, "total_response_time": 200.0,
         "max_response_time": 30.0, "response_times": {"20": 10}}
        ]"""
    )
    aggregated, rows = read_stats_json(path)
    assert [r.name for r in rows] == ["/query", "/upsert"]
    query = rows[0]
    assert (query.requests, query.failures, query.rps, query.avg_ms) == (100, 4, 10.0, 15.0)
    # Locust's convention (kept so the numbers match its own reports): the p99 of 100 requests is the
    # time that at most int(100 × 0.99) = 99 requests are counted below, here the slowest one.
    assert (query.p50_ms, query.p95_ms, query.p99_ms, query.max_ms) == (10.0, 50.0, 90.0, 90.0)
    assert (aggregated.requests, aggregated.failures, aggregated.rps) == (110, 4, 11.0)
    assert aggregated.p50_ms == 10.0 and aggregated.p99_ms == 50.0


def test_until_stops_the_load_when_the_event_is_set_and_the_stats_count_every_answered_request(
    stores: tuple[ExactStore, ExactStore], tmp_path: Path
) -> None:
    source, target = stores
    service = QueryService(
        source, target, flags=StaticFlags(0.0), metrics=InProcessMetrics(), writer=source, clock=SystemClock()
    )
    env = {"RAGMIG_LOAD_UPSERT_SHARE": "0.0", "RAGMIG_LOAD_DIMENSION": str(DIM), "RAGMIG_LOAD_KEYS": "50"}
    enough = threading.Event()
    with serve_in_thread(service) as endpoint:

        def watch() -> None:  # the "migration": done once the service has answered 40 queries
            while service_totals(endpoint)[0] < 40:
                SystemClock().sleep(0.05)
            enough.set()

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        # run_time_s is only a bound: the run ends when `enough` is set, long before it
        stats = run_load(
            endpoint.url, users=USERS, spawn_rate=USERS, run_time_s=600, out_dir=tmp_path, env=env, until=enough
        )
        queries, _ = service_totals(endpoint)
    assert enough.is_set()
    row = stats.endpoint("/query")
    assert row.requests >= 40 - USERS and row.failures == 0
    assert row.requests <= queries <= row.requests + USERS  # locust stopped its users; stats were written
    assert stats.json_path.exists()
