"""The qdrant-edge adapter against shards it did not create, and proof that its HNSW is really used."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import qdrant_edge as qe

from harness.datasets import synthetic_corpus, synthetic_queries
from harness.errors import CollectionNotFoundError, InvalidURIError, UsageError
from harness.model import CollectionSchema, Distance, HnswConfig, SearchResult
from harness.stores import VectorStore, iter_batches, open_store

UPSTREAM_POINTS = 3000
UPSTREAM_DIM = 16


@pytest.fixture
def upstream_shard(tmp_path: Path) -> tuple[Path, list[int | str], np.ndarray]:
    """A shard written by the upstream qdrant_edge API: m=16, ef_construct=100, Euclid, a keyword index."""
    path = tmp_path / "upstream"
    config = qe.EdgeConfig(
        vectors=qe.EdgeVectorParams(size=UPSTREAM_DIM, distance=qe.Distance.Euclid),
        hnsw_config=qe.HnswIndexConfig(m=16, ef_construct=100, full_scan_threshold=10_000),
    )
    shard = qe.EdgeShard.create(str(path), config)
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(UPSTREAM_POINTS, UPSTREAM_DIM)).astype(np.float32)
    ids: list[int | str] = [i * 3 for i in range(UPSTREAM_POINTS // 2)]
    ids += [str(uuid.uuid5(uuid.NAMESPACE_URL, f"upstream/{i}")) for i in range(UPSTREAM_POINTS - len(ids))]
    for start in range(0, UPSTREAM_POINTS, 1000):
        shard.update(
            qe.UpdateOperation.upsert_points(
                [qe.Point(ids[i], vectors[i].tolist(), {"row": i}) for i in range(start, start + 1000)]
            )
        )
    shard.update(qe.UpdateOperation.create_field_index("row", qe.PayloadSchemaType.Integer))
    shard.close()
    return path, ids, vectors


def test_upstream_shard_opens_with_exact_count_full_scroll_and_its_config(
    upstream_shard: tuple[Path, list[int | str], np.ndarray],
) -> None:
    path, ids, vectors = upstream_shard
    store = open_store(f"qdrant-edge://{path}")
    try:
        assert store.count() == UPSTREAM_POINTS
        seen = Counter(pid for batch in iter_batches(store, batch_size=700) for pid in batch.ids)
        schema = store.describe()
        fetched = store.fetch([ids[10], ids[-1]])
    finally:
        store.close()

    assert seen == Counter(ids)
    assert (schema.dimension, schema.distance) == (UPSTREAM_DIM, Distance.EUCLID)
    assert schema.hnsw == HnswConfig(m=16, ef_construct=100, full_scan_threshold=10_000)
    assert schema.index_config_reported and schema.backend == "qdrant-edge"
    assert schema.payload_indexes == {"row": "integer"}
    np.testing.assert_array_equal(fetched.vectors, vectors[[10, -1]])
    assert [p["row"] for p in fetched.payloads] == [10, UPSTREAM_POINTS - 1]


def test_handles_on_one_directory_share_the_shard(tmp_path: Path) -> None:
    uri = f"qdrant-edge://{tmp_path / 'shared'}"
    first, second = open_store(uri), open_store(uri)
    first.create(CollectionSchema(dimension=4, distance=Distance.DOT))
    first.upsert(next(synthetic_corpus(10, 4)))

    assert second.count() == 10  # Edge alone would refuse a second handle (WouldBlock)
    first.close()
    assert second.count() == 10  # the shard stays open for the remaining handle
    second.close()
    reopened = open_store(uri)
    assert reopened.count() == 10  # the last close released the directory
    reopened.close()


def test_a_shard_held_by_this_process_is_refused_to_another_with_one_line(tmp_path: Path) -> None:
    uri = f"qdrant-edge://{tmp_path / 'held'}"
    store = open_store(uri)
    store.create(CollectionSchema(dimension=4, distance=Distance.COSINE))
    try:
        code = (
            "from harness.stores import open_store\n"
            "from harness.errors import UsageError\n"
            f"try:\n    open_store({uri!r}).count()\n"
            "except UsageError as exc:\n    print(exc)\n"
        )
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    finally:
        store.close()
    assert "open in another process" in out.stdout
    assert len(out.stdout.strip().splitlines()) == 1


def test_missing_directory_is_collection_not_found_and_not_created(tmp_path: Path) -> None:
    path = tmp_path / "nowhere"
    store = open_store(f"qdrant-edge://{path}")

    assert not store.exists()
    with pytest.raises(CollectionNotFoundError, match="create it first or check the path"):
        store.count()
    assert not path.exists()


def test_create_refuses_an_existing_shard(tmp_path: Path) -> None:
    schema = CollectionSchema(dimension=4, distance=Distance.COSINE)
    store = open_store(f"qdrant-edge://{tmp_path / 's'}")
    store.create(schema)
    store.close()

    again = open_store(f"qdrant-edge://{tmp_path / 's'}")
    with pytest.raises(UsageError, match="already exists"):
        again.create(schema)
    again.close()


def test_uri_creation_options_override_the_schema(tmp_path: Path) -> None:
    uri = (
        f"qdrant-edge://{tmp_path / 'o'}?distance=euclid&m=8&ef_construct=40&full_scan_threshold=1&quantization=scalar"
    )
    store = open_store(uri)
    store.create(CollectionSchema(dimension=4, distance=Distance.COSINE, hnsw=HnswConfig(32, 200, 20_000)))

    schema = store.describe()
    store.close()

    assert schema.distance is Distance.EUCLID
    assert schema.hnsw == HnswConfig(m=8, ef_construct=40, full_scan_threshold=1)
    assert schema.quantization == "scalar"


@pytest.mark.parametrize("query", ["m=x", "hnsw_ef=0", "quantization=fancy", "mm=4", "on_disk=maybe", "distance=cos2"])
def test_bad_uri_options_are_rejected(tmp_path: Path, query: str) -> None:
    with pytest.raises(InvalidURIError):
        open_store(f"qdrant-edge://{tmp_path}?{query}")


def _recall(got: SearchResult, truth: SearchResult, k: int) -> float:
    return float(np.mean([len(set(g) & set(t)) / k for g, t in zip(got.ids, truth.ids, strict=True)]))


def _loaded(uri: str, n: int, dim: int) -> VectorStore:
    store = open_store(uri)
    store.create(CollectionSchema(dimension=dim, distance=Distance.COSINE))
    for batch in synthetic_corpus(n, dim, seed=11, batch_size=1000):
        store.upsert(batch)
    store.optimize()
    return store


def test_optimize_builds_a_real_hnsw_graph_whose_settings_change_recall(tmp_path: Path) -> None:
    n, dim, k = 5000, 32, 10
    queries = synthetic_queries(100, dim, seed=11)
    oracle = open_store(f"exact://recall-{uuid.uuid4().hex}")
    oracle.create(CollectionSchema(dimension=dim, distance=Distance.COSINE))
    for batch in synthetic_corpus(n, dim, seed=11, batch_size=1000):
        oracle.upsert(batch)
    truth = oracle.search(queries, k)
    oracle.drop()  # type: ignore[attr-defined]
    # full_scan_threshold=1 KB: searches go through the graph even on 5k points.
    weak = _loaded(f"qdrant-edge://{tmp_path / 'weak'}?m=4&ef_construct=8&full_scan_threshold=1", n, dim)
    strong = _loaded(f"qdrant-edge://{tmp_path / 'strong'}?full_scan_threshold=1", n, dim)
    # A second handle on the weak shard whose URI sets the default query-time ef.
    weak_ef64 = open_store(f"qdrant-edge://{tmp_path / 'weak'}?hnsw_ef=64")
    try:
        weak_small_ef = _recall(weak.search(queries, k, {"hnsw_ef": 10}), truth, k)
        weak_default = _recall(weak.search(queries, k), truth, k)
        weak_uri_ef = _recall(weak_ef64.search(queries, k), truth, k)
        weak_call_ef = _recall(weak.search(queries, k, {"hnsw_ef": 64}), truth, k)
        weak_exact = _recall(weak.search(queries, k, {"exact": True}), truth, k)
        strong_default = _recall(strong.search(queries, k), truth, k)
    finally:
        for store in (weak_ef64, weak, strong):
            store.close()

    assert weak_small_ef < 0.9, "a weak graph searched with a small ef must miss neighbours"
    assert weak_default < 0.9, "without hnsw_ef Edge searches with ef = ef_construct (8 here)"
    assert weak_uri_ef == pytest.approx(weak_call_ef)
    assert weak_uri_ef > weak_small_ef
    assert weak_exact == 1.0
    assert strong_default >= 0.95


def test_copy_shard_keeps_sparse_files_sparse_and_the_copy_opens(tmp_path: Path) -> None:
    import os

    from harness.model import CollectionSchema, Distance, RecordBatch
    from harness.stores import open_store
    from harness.stores.qdrant_edge import copy_shard

    store = open_store(f"qdrant-edge://{tmp_path / 'a'}")
    store.create(CollectionSchema(dimension=4, distance=Distance.DOT))
    store.upsert(RecordBatch.build([1, 2], [[1, 2, 3, 4], [5, 6, 7, 8]], [{"x": 1}, {"x": 2}]))
    store.close()
    copy_shard(tmp_path / "a", tmp_path / "b")

    def on_disk(root: Path) -> int:
        return sum(os.stat(p).st_blocks * 512 for p in root.rglob("*") if p.is_file())

    def apparent(root: Path) -> int:
        return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())

    assert apparent(tmp_path / "b") == apparent(tmp_path / "a") > 32 * 2**20  # Edge preallocates 32 MB files
    assert on_disk(tmp_path / "b") < 8 * 2**20  # ... which hold a few KB of data
    copy = open_store(f"qdrant-edge://{tmp_path / 'b'}")
    try:
        assert copy.count() == 2 and copy.fetch([2]).payloads == ({"x": 2},)
    finally:
        copy.close()
