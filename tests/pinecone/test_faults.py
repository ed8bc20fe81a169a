"""Game-day fault hooks, seen through the SDK: 429/503 answers, its retries, read-after-write lag."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pinecone import Pinecone, ServerlessSpec
from pinecone.errors import RateLimitError, ServiceError

from harness.clock import ManualClock
from harness.pinecone_local.testing import PineconeServer
from tests.pinecone.conftest import API_KEY, unique_name

SPEC = ServerlessSpec(cloud="aws", region="us-east-1")


@pytest.fixture
def faulty(pc: Pinecone, pinecone_server: PineconeServer) -> Iterator[tuple[str, Any]]:
    name = unique_name("fault")
    pc.create_index(name=name, dimension=2, metric="dotproduct", spec=SPEC)
    index = pc.index(name=name)
    index.upsert(vectors=[("a", [1.0, 0.0]), ("b", [0.0, 1.0])])
    yield name, index
    pinecone_server.clear_faults(name)
    index.close()
    pc.delete_index(name)


def test_rate_limit_after_the_sdk_retries(faulty: tuple[str, Any], pinecone_server: PineconeServer) -> None:
    name, index = faulty
    pinecone_server.set_faults(name, error_rate=1.0, error_status=429, retry_after_s=0)
    with pytest.raises(RateLimitError) as info:
        index.query(vector=[1.0, 0.0], top_k=1)
    assert info.value.retry_after == 0
    assert "Too many requests" in str(info.value)
    injector = pinecone_server.engine.fault_injector(name)
    assert injector is not None and injector.injected_errors == 4  # the first attempt + 3 SDK retries
    pinecone_server.clear_faults(name)
    assert [m.id for m in index.query(vector=[1.0, 0.0], top_k=1).matches] == ["a"]


def test_unavailable_after_the_sdk_retries(faulty: tuple[str, Any], pinecone_server: PineconeServer) -> None:
    name, index = faulty
    pinecone_server.set_faults(name, error_rate=1.0, error_status=503, retry_after_s=0)
    with pytest.raises(ServiceError):
        index.describe_index_stats()


def test_half_the_requests_fail_and_the_sdk_retries_get_through(
    faulty: tuple[str, Any], pinecone_server: PineconeServer
) -> None:
    name, index = faulty
    # Seed 9's draws hold runs of up to three failures but never four (the SDK makes four attempts),
    # and 12 failures in all: every query needs the SDK's retries and every query gets through.
    pinecone_server.set_faults(name, error_rate=0.5, error_status=429, retry_after_s=0, seed=9)
    for _ in range(12):
        assert [m.id for m in index.query(vector=[0.0, 1.0], top_k=1).matches] == ["b"]
    injector = pinecone_server.engine.fault_injector(name)
    assert injector is not None and injector.injected_errors == 12
    assert injector.requests == 12 + injector.injected_errors


def test_added_latency_delays_each_request(faulty: tuple[str, Any], pinecone_server: PineconeServer) -> None:
    name, index = faulty
    pinecone_server.set_faults(name, latency_ms=40, jitter_ms=10, seed=2)
    started = time.monotonic()
    index.query(vector=[1.0, 0.0], top_k=1)
    assert time.monotonic() - started >= 0.040  # a lower bound: the server waited before answering


def test_admin_endpoint_sets_reads_and_clears_faults(pinecone_server: PineconeServer) -> None:
    url = f"{pinecone_server.url}/_admin/indexes/game-day/faults"
    with httpx.Client(headers={"Api-Key": API_KEY}, timeout=10) as client:
        set_ = client.post(url, json={"error_rate": 0.25, "error_status": 503, "visibility_lag_ms": 500, "seed": 9})
        assert set_.status_code == 200 and set_.json()["faults"]["error_rate"] == 0.25
        assert client.get(url).json()["faults"]["visibility_lag_ms"] == 500
        assert pinecone_server.engine.faults("game-day").error_status == 503
        bad = client.post(url, json={"error_rate": 2})
        assert bad.status_code == 400 and "error_rate" in bad.json()["error"]["message"]
        typo = client.post(url, json={"eror_rate": 0.5})
        assert typo.status_code == 400 and "eror_rate" in typo.json()["error"]["message"]
        cleared = client.delete(url).json()["faults"]
        assert cleared["error_rate"] == 0 and cleared["visibility_lag_ms"] == 0


def test_writes_become_visible_only_after_the_lag() -> None:
    clock = ManualClock(start=1000.0)
    with PineconeServer(clock=clock) as server:
        pc = Pinecone(api_key=API_KEY, host=server.url)
        pc.create_index(name="lagged", dimension=2, metric="euclidean", spec=SPEC)
        index = pc.index(name="lagged")
        server.set_faults("lagged", visibility_lag_ms=1000)
        assert index.upsert(vectors=[("x", [1.0, 1.0]), ("y", [2.0, 2.0])], namespace="n").upserted_count == 2

        def visible() -> tuple[int, int, int, int]:
            stats = index.describe_index_stats()
            return (
                stats.namespaces["n"].vector_count if "n" in stats.namespaces else 0,
                len(index.query(vector=[1.0, 1.0], top_k=5, namespace="n").matches),
                len(index.fetch(ids=["x", "y"], namespace="n").vectors),
                sum(len(p.vectors) for p in index.list(namespace="n")),
            )

        assert visible() == (0, 0, 0, 0)
        clock.advance(0.999)
        assert visible() == (0, 0, 0, 0)
        clock.advance(0.002)
        assert visible() == (2, 2, 2, 2)

        index.delete(ids=["x"], namespace="n")  # deletes lag too
        assert visible() == (2, 2, 2, 2)
        clock.advance(1.0)
        assert visible() == (1, 1, 1, 1)
        index.close()
        pc.close()
