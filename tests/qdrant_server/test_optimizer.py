"""The HNSW graph: built by the background optimizer when writes go quiet, or at once when triggered
(``PATCH /collections/NAME``, what the ``qdrant://`` adapter's ``optimize()`` sends); the status says
where it stands (grey: written, not optimized; yellow: optimizing; green: optimized)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path

import numpy as np
from qdrant_client import QdrantClient, models

from harness.model import CollectionSchema, Distance, HnswConfig, RecordBatch
from harness.qdrant_server.testing import QdrantServer
from harness.stores import open_store

DIM = 16
N = 3000  # 3000 × 16 floats = 188 KB: over an indexing threshold of 1 KB, so optimize() builds a graph


def _vectors(n: int = N, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, DIM)).astype(np.float32)


def _weak_graph_collection(qdrant: QdrantClient, new_collection: Callable[..., str]) -> str:
    name = new_collection(
        size=DIM,
        hnsw_config=models.HnswConfigDiff(m=4, ef_construct=8, full_scan_threshold=1),
        optimizers_config=models.OptimizersConfigDiff(indexing_threshold=1),
    )
    qdrant.upsert(name, points=models.Batch(ids=list(range(N)), vectors=_vectors().tolist()))
    return name


def _wait_status(qdrant: QdrantClient, name: str, status: models.CollectionStatus, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while qdrant.get_collection(name).status != status:
        assert time.monotonic() < deadline, f"{name} not {status} within {timeout_s:g} s"
        time.sleep(0.05)  # polling the server's optimizer thread, bounded


def _recall(qdrant: QdrantClient, name: str, params: models.SearchParams | None) -> float:
    queries = _vectors(30, seed=1)
    hits = 0
    for q in queries.tolist():
        exact = {
            p.id
            for p in qdrant.query_points(name, query=q, limit=10, search_params=models.SearchParams(exact=True)).points
        }
        got = {p.id for p in qdrant.query_points(name, query=q, limit=10, search_params=params).points}
        hits += len(exact & got)
    return hits / (10 * len(queries))


def test_writes_leave_the_collection_grey_until_a_trigger_builds_the_graph(
    qdrant: QdrantClient, new_collection: Callable[..., str]
) -> None:
    name = _weak_graph_collection(qdrant, new_collection)
    before = qdrant.get_collection(name)
    assert before.status == models.CollectionStatus.GREY and before.indexed_vectors_count == 0
    assert _recall(qdrant, name, models.SearchParams(hnsw_ef=1)) == 1.0  # no graph yet: brute force

    qdrant.update_collection(name, optimizers_config=models.OptimizersConfigDiff())
    _wait_status(qdrant, name, models.CollectionStatus.GREEN)

    after = qdrant.get_collection(name)
    assert after.indexed_vectors_count == N
    # The weak graph (m=4, ef_construct=8) now answers approximately at a small ef; exact stays exact.
    assert _recall(qdrant, name, models.SearchParams(hnsw_ef=1)) < 0.9
    assert _recall(qdrant, name, models.SearchParams(hnsw_ef=1, exact=True)) == 1.0
    assert _recall(qdrant, name, models.SearchParams(hnsw_ef=512)) > _recall(
        qdrant, name, models.SearchParams(hnsw_ef=1)
    )


def test_a_new_write_turns_a_green_collection_grey(qdrant: QdrantClient, new_collection: Callable[..., str]) -> None:
    name = _weak_graph_collection(qdrant, new_collection)
    qdrant.update_collection(name, optimizers_config=models.OptimizersConfigDiff())
    _wait_status(qdrant, name, models.CollectionStatus.GREEN)

    qdrant.upsert(name, points=[models.PointStruct(id=N + 1, vector=[1.0] * DIM)])

    assert qdrant.get_collection(name).status == models.CollectionStatus.GREY


def test_changing_hnsw_settings_rebuilds_with_them_and_keeps_the_points(
    qdrant: QdrantClient, new_collection: Callable[..., str]
) -> None:
    name = _weak_graph_collection(qdrant, new_collection)
    qdrant.update_collection(name, optimizers_config=models.OptimizersConfigDiff())
    _wait_status(qdrant, name, models.CollectionStatus.GREEN)
    weak = _recall(qdrant, name, models.SearchParams(hnsw_ef=16))

    qdrant.update_collection(name, hnsw_config=models.HnswConfigDiff(m=32, ef_construct=200))
    _wait_status(qdrant, name, models.CollectionStatus.GREEN)

    info = qdrant.get_collection(name)
    assert (info.config.hnsw_config.m, info.config.hnsw_config.ef_construct) == (32, 200)
    assert info.points_count == N and qdrant.count(name).count == N
    assert _recall(qdrant, name, models.SearchParams(hnsw_ef=16)) > weak


def test_the_background_optimizer_builds_the_graph_once_writes_go_quiet(tmp_path: Path) -> None:
    with QdrantServer(tmp_path, optimize_quiet_s=0.2) as server:
        qdrant = QdrantClient(url=server.url, check_compatibility=False)
        qdrant.create_collection(
            "quiet",
            vectors_config=models.VectorParams(size=DIM, distance=models.Distance.COSINE),
            optimizers_config=models.OptimizersConfigDiff(indexing_threshold=1),
        )
        qdrant.upsert("quiet", points=models.Batch(ids=list(range(N)), vectors=_vectors().tolist()))

        _wait_status(qdrant, "quiet", models.CollectionStatus.GREEN)  # no trigger sent

        assert qdrant.get_collection("quiet").indexed_vectors_count == N
        qdrant.close()


def test_the_qdrant_adapters_optimize_triggers_and_waits_for_the_graph(
    server: QdrantServer, qdrant: QdrantClient
) -> None:
    name = f"adapter-{uuid.uuid4().hex[:8]}"
    qdrant.create_collection(
        name,
        vectors_config=models.VectorParams(size=DIM, distance=models.Distance.COSINE),
        optimizers_config=models.OptimizersConfigDiff(indexing_threshold=1),
    )
    store = open_store(f"{server.uri}/{name}")
    try:
        store.upsert(RecordBatch.build(list(range(N)), _vectors()))
        assert qdrant.get_collection(name).status == models.CollectionStatus.GREY

        store.optimize()

        info = qdrant.get_collection(name)
        assert info.status == models.CollectionStatus.GREEN and info.indexed_vectors_count == N
    finally:
        store.close()
        qdrant.delete_collection(name)


def test_the_qdrant_adapter_creates_what_its_uri_asks_and_describes_it(server: QdrantServer) -> None:
    name = f"uri-{uuid.uuid4().hex[:8]}"
    store = open_store(f"{server.uri}/{name}?m=24&ef_construct=80&quantization=scalar&distance=dot")
    try:
        store.create(
            CollectionSchema(
                dimension=DIM,
                distance=Distance.COSINE,
                hnsw=HnswConfig(m=8, ef_construct=40, full_scan_threshold=100),
                payload_indexes={"doc_id": "keyword"},
            )
        )

        schema = store.describe()

        assert (schema.dimension, schema.distance, schema.quantization) == (DIM, Distance.DOT, "scalar")
        assert schema.hnsw == HnswConfig(m=24, ef_construct=80, full_scan_threshold=100)
        assert schema.payload_indexes == {"doc_id": "keyword"} and schema.index_config_reported
    finally:
        store.drop()  # type: ignore[attr-defined]
        store.close()
