"""The query service over HTTP (uvicorn in a thread): /query, /upsert, /delete, /metrics, /healthz."""

from __future__ import annotations

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from harness.errors import ConfigError
from harness.faults import FaultPlan, FaultyStore
from harness.migration.router import Router
from harness.service import requests_total, serve_in_thread
from tests.service.conftest import DIM, QUERIES, Stack


def samples(metrics_text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(metrics_text)
        for s in family.samples
    }


def test_query_routes_caches_and_answers_json(stack: Stack) -> None:
    stack.flags.percent = 50.0
    service = stack.service()
    with serve_in_thread(service) as endpoint, httpx.Client(base_url=endpoint.url) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        for user in ("alice", "bob", "carol", "dave"):
            body = client.post("/query", json={"user_id": user, "text_key": "q4", "k": 3}).json()
            assert body["backend"] == str(Router().route(user, 50.0))
            assert body["ids"] == list(stack.source.search(QUERIES[4:5], 3).ids[0])
            assert len(body["scores"]) == 3
        again = client.post("/query", json={"user_id": "alice", "vector": QUERIES[4].tolist(), "k": 3}).json()
        assert again["cache_hit"] is False  # a vector and a text key are different cache entries
        assert client.post("/query", json={"user_id": "alice", "vector": QUERIES[4].tolist(), "k": 3}).json()[
            "cache_hit"
        ]


def test_store_errors_answer_503_and_are_recorded(stack: Stack) -> None:
    stack.flags.percent = 100.0
    target = FaultyStore(stack.target, FaultPlan(search_error_rate=1.0), clock=stack.clock)
    service = stack.service(target=target)
    with serve_in_thread(service) as endpoint:
        response = httpx.post(f"{endpoint.url}/query", json={"user_id": "u", "text_key": "q1", "k": 3})
    assert response.status_code == 503
    assert response.json()["backend"] == "target" and "injected search error" in response.json()["error"]
    assert stack.metrics.totals("target") == (1, 1, 0)


MALFORMED: list[object] = [
    {"text_key": "q1"},
    {"user_id": "u", "text_key": "q1", "vector": [0.0] * DIM},
    {"user_id": "u", "text_key": "q1", "k": 0},
    {"user_id": "u", "text_key": "q1", "k": "ten"},
    {"user_id": "u", "text_key": "unknown-key"},
    {"user_id": "u", "vector": ["a"] * DIM},
    ["not", "an", "object"],
]


def test_malformed_queries_answer_400_and_are_not_recorded(stack: Stack) -> None:
    service = stack.service()
    with serve_in_thread(service) as endpoint, httpx.Client(base_url=endpoint.url) as client:
        answers = [client.post("/query", json=body) for body in MALFORMED]
        garbage = client.post("/query", content=b"{not json")
    assert [a.status_code for a in answers] == [400] * len(MALFORMED)
    assert all(a.json()["error"] for a in answers)
    assert garbage.status_code == 400
    assert stack.metrics.totals("source") == (0, 0, 0) and stack.metrics.totals("target") == (0, 0, 0)


def test_metrics_totals_equal_what_the_recorder_recorded(stack: Stack) -> None:
    stack.flags.percent = 50.0
    target = FaultyStore(stack.target, FaultPlan(search_error_rate=0.3), clock=stack.clock, seed=1)
    service = stack.service(target=target)
    with serve_in_thread(service) as endpoint, httpx.Client(base_url=endpoint.url) as client:
        for i in range(120):
            client.post("/query", json={"user_id": f"user-{i % 40}", "text_key": f"q{i % 15}", "k": 4})
        text = client.get("/metrics").text
    values = samples(text)
    for cohort in ("source", "target"):
        requests, errors, hits = stack.metrics.totals(cohort)
        assert requests > 0
        ok = values[("ragmig_requests_total", (("backend", cohort), ("outcome", "ok")))]
        failed = values[("ragmig_requests_total", (("backend", cohort), ("outcome", "error")))]
        assert (ok + failed, failed) == (requests, errors)
        assert values[("ragmig_cache_hits_total", (("backend", cohort),))] == hits
        assert values[("ragmig_query_latency_seconds_count", (("backend", cohort),))] == requests
    assert stack.metrics.totals("target")[1] > 0
    assert requests_total(text) == 120


def test_each_service_has_its_own_registry(stack: Stack) -> None:
    first, second = stack.service(), stack.service()
    first.query("u", text_key="q1", k=2)
    assert requests_total(first.metrics_text().decode()) == 1
    assert requests_total(second.metrics_text().decode()) == 0


def test_upsert_and_delete_go_through_the_writer(stack: Stack) -> None:
    service = stack.service()
    records = {"ids": [500, 501], "vectors": QUERIES[:2].tolist(), "payloads": [{"title": "a"}, None]}
    with serve_in_thread(service) as endpoint, httpx.Client(base_url=endpoint.url) as client:
        assert client.post("/upsert", json=records).json() == {"upserted": 2}
        assert stack.writer.fetch([500, 501]).payloads == ({"title": "a"}, {})
        assert stack.source.fetch([500]).ids == ()  # the service does not write around its writer
        assert client.post("/delete", json={"ids": [500]}).json() == {"deleted": 1}
        assert stack.writer.fetch([500, 501]).ids == (501,)
        wrong_dimension = {"ids": [502], "vectors": [[1.0, 2.0]]}
        assert client.post("/upsert", json=wrong_dimension).status_code == 400
        assert client.post("/upsert", json={"ids": [1, 2], "vectors": [[1.0] * DIM]}).status_code == 400
        assert client.post("/delete", json={"ids": [True]}).status_code == 400
        text = client.get("/metrics").text
    values = samples(text)
    assert values[("ragmig_writes_total", (("op", "upsert"), ("outcome", "ok")))] == 1
    assert values[("ragmig_writes_total", (("op", "upsert"), ("outcome", "error")))] == 1
    assert values[("ragmig_writes_total", (("op", "delete"), ("outcome", "ok")))] == 1


def test_a_failing_writer_answers_503(stack: Stack) -> None:
    writer = FaultyStore(stack.writer, FaultPlan(write_error_rate=1.0), clock=stack.clock)
    service = stack.service(writer=writer)
    with serve_in_thread(service) as endpoint:
        response = httpx.post(f"{endpoint.url}/upsert", json={"ids": [1], "vectors": [[0.5] * DIM]})
    assert response.status_code == 503 and "TransientStoreError" in response.json()["error"]
    assert stack.writer.count() == 0


def test_serves_on_loopback_only(stack: Stack) -> None:
    with pytest.raises(ConfigError, match="loopback"), serve_in_thread(stack.service(), host="0.0.0.0"):
        pass
