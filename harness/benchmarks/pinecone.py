"""Throughput of the project's Pinecone-compatible server as the real ``pinecone`` SDK sees it.

Both benchmarks start a ``PineconeServer`` on a free loopback port with a data dir — so every write
goes through the durable mutation log, synced before its response, as ``ragmig serve-pinecone
--data-dir`` serves it — create a 384-d cosine index and load it through the ``pinecone://`` adapter
(the SDK underneath, requests within 1000 vectors / 2 MB). The upsert floor (design.md) is 5 000
vectors/s with the log on; about 10 900 was measured without the log. The query floor is modest on
purpose (80-345 queries/s measured on 2 busy cores), so only a real regression misses it (a per-record
Python loop, a lost keep-alive, a 40 ms Nagle stall per request), not a busy machine.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from harness.benchmarks import BenchResult, within
from harness.model import CollectionSchema, Distance, RecordBatch
from harness.stores.pinecone import PineconeStore

DIMENSION = 384
UPSERT_VECTORS = 20_000
UPSERT_BATCH = 1000
QUERY_VECTORS = 10_000
QUERIES = 300
TOP_K = 10
UPSERT_TARGET = ">= 5000"  # vectors/s, with the durable mutation log
QUERY_TARGET = ">= 50"  # queries/s, one client, one query in flight


def _records(n: int, seed: int) -> RecordBatch:
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(n, DIMENSION)).astype(np.float32)
    payloads = [{"genre": ("drama", "comedy", "news")[i % 3], "year": 2000 + i % 25} for i in range(n)]
    return RecordBatch.build([f"doc-{i}" for i in range(n)], vectors, payloads)


@contextmanager
def _index(name: str) -> Iterator[tuple[PineconeStore, str]]:
    """A fresh 384-d cosine index on a private server with a data dir (the mutation log on): the adapter
    and the index host."""
    from harness.pinecone_local.testing import PineconeServer

    with (
        tempfile.TemporaryDirectory(prefix="ragmig-bench-pinecone-") as data_dir,
        PineconeServer(data_dir=Path(data_dir)) as server,
    ):
        store = PineconeStore(name, host=server.index_host(name), control_host=server.url)
        try:
            store.create(CollectionSchema(dimension=DIMENSION, distance=Distance.COSINE))
            yield store, server.index_host(name)
        finally:
            store.close()


def _upsert_all(store: PineconeStore, records: RecordBatch) -> float:
    """Seconds to upsert ``records`` in batches of ``UPSERT_BATCH``."""
    started = time.perf_counter()
    for start in range(0, len(records), UPSERT_BATCH):
        store.upsert(records.slice(start, start + UPSERT_BATCH))
    return time.perf_counter() - started


def pinecone_upsert_vps() -> BenchResult:
    """Vectors per second upserted through the SDK (20 000 × 384-d, batches of 1000 split to ≤ 2 MB)."""
    records = _records(UPSERT_VECTORS, seed=1)
    with _index("bench-upsert") as (store, _):
        seconds = _upsert_all(store, records)
        stored = store.count()
    value = UPSERT_VECTORS / seconds
    return BenchResult(
        name="pinecone_upsert_vps",
        value=value,
        unit="vectors/s",
        target=UPSERT_TARGET,
        ok=within(value, UPSERT_TARGET) and stored == UPSERT_VECTORS,
        details={
            "vectors": UPSERT_VECTORS,
            "dimension": DIMENSION,
            "batch_size": UPSERT_BATCH,
            "seconds": round(seconds, 3),
            "count_after": stored,
            "durable_log": True,
        },
    )


def pinecone_query_qps() -> BenchResult:
    """Single queries per second through the SDK (top_k 10 over 10 000 × 384-d, one in flight)."""
    from pinecone import Index

    records = _records(QUERY_VECTORS, seed=2)
    queries = np.random.default_rng(3).normal(size=(QUERIES, DIMENSION)).astype(np.float32).tolist()
    with _index("bench-query") as (store, host):
        load_seconds = _upsert_all(store, records)
        index = Index(host=host, api_key="bench-placeholder")
        try:
            index.query(vector=queries[0], top_k=TOP_K)  # connection set up outside the timing
            latencies = []
            started = time.perf_counter()
            for query in queries:
                sent = time.perf_counter()
                matches = index.query(vector=query, top_k=TOP_K).matches
                latencies.append(time.perf_counter() - sent)
                if len(matches) != TOP_K:
                    raise RuntimeError(f"a query returned {len(matches)} matches, expected {TOP_K}")
            seconds = time.perf_counter() - started
        finally:
            index.close()
    value = QUERIES / seconds
    latency_ms = np.asarray(latencies) * 1000
    return BenchResult(
        name="pinecone_query_qps",
        value=value,
        unit="queries/s",
        target=QUERY_TARGET,
        ok=within(value, QUERY_TARGET),
        details={
            "queries": QUERIES,
            "top_k": TOP_K,
            "vectors": QUERY_VECTORS,
            "dimension": DIMENSION,
            "seconds": round(seconds, 3),
            "p50_ms": round(float(np.percentile(latency_ms, 50)), 2),
            "p99_ms": round(float(np.percentile(latency_ms, 99)), 2),
            "load_seconds": round(load_seconds, 3),
        },
    )
