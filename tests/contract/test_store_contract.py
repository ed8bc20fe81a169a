"""The VectorStore contract, the same behavioural tests for every adapter (fixtures in conftest.py).

Ids are UUID strings, the one id kind every backend holds. Scores are compared in each backend's
native semantics: Pinecone's euclidean score is the squared distance, so the exact store's euclid
distances are squared before comparing them with it.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest

from harness.datasets import synthetic_corpus, synthetic_queries
from harness.errors import CollectionNotFoundError, InvalidInputError
from harness.model import CollectionSchema, Distance, HnswConfig, RecordBatch
from harness.stores import VectorStore, iter_batches, open_store
from harness.vectormath import normalise
from tests.contract.conftest import DIMENSION, SCHEMA, Backend

DISTANCES = [Distance.COSINE, Distance.DOT, Distance.EUCLID]
Factory = Callable[..., VectorStore]


def _ids(n: int) -> list[str]:
    return [str(uuid.uuid4()) for _ in range(n)]


def _batch(ids: Sequence[str], seed: int = 0, dimension: int = DIMENSION) -> RecordBatch:
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(len(ids), dimension)).astype(np.float32)
    payloads = [{"rank": i, "name": f"item-{i}"} for i in range(len(ids))]
    return RecordBatch.build(ids, vectors, payloads)


def _canonical(vectors: np.ndarray, distance: Distance) -> np.ndarray:
    # Qdrant (and the exact store) keep cosine vectors normalised; Pinecone keeps them raw.
    return normalise(vectors) if distance is Distance.COSINE else vectors


def _by_id(batch: RecordBatch) -> dict[Any, tuple[np.ndarray, dict[str, Any]]]:
    return {pid: (batch.vectors[i], batch.payloads[i]) for i, pid in enumerate(batch.ids)}


def _scroll_all(store: VectorStore, batch_size: int) -> list[Any]:
    return [pid for batch in iter_batches(store, batch_size=batch_size) for pid in batch.ids]


# -- round trip ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("distance", DISTANCES, ids=str)
def test_vectors_round_trip(store_factory: Factory, distance: Distance) -> None:
    store = store_factory(CollectionSchema(dimension=DIMENSION, distance=distance))
    ids = _ids(30)
    sent = _batch(ids, seed=1)
    store.upsert(sent)

    got = store.fetch(ids)

    assert sorted(got.ids) == sorted(ids)
    order = [got.ids.index(pid) for pid in ids]
    np.testing.assert_allclose(
        _canonical(got.vectors[order], distance), _canonical(sent.vectors, distance), rtol=1e-5, atol=1e-6
    )


def test_payloads_round_trip(empty_store: VectorStore) -> None:
    ids = _ids(3)
    payloads = [
        {"doc_id": "doc-1", "chunk": 3, "score": 0.25, "public": True, "tags": ["a", "b"]},
        {"doc_id": "doc-2", "chunk": 0, "score": -1.5, "public": False, "tags": []},
        {"text": "naïve café — unicode survives", "year": 2024},
    ]
    empty_store.upsert(RecordBatch.build(ids, np.ones((3, DIMENSION)), payloads))

    got = _by_id(empty_store.fetch(ids))

    for pid, payload in zip(ids, payloads, strict=True):
        assert got[pid][1] == payload


def test_fetch_leaves_out_absent_ids(empty_store: VectorStore) -> None:
    ids = _ids(4)
    empty_store.upsert(_batch(ids))
    absent = _ids(2)

    got = empty_store.fetch([ids[0], absent[0], ids[2], absent[1]])

    assert sorted(got.ids) == sorted([ids[0], ids[2]])
    assert got.vectors.shape == (2, DIMENSION)


def test_upsert_replaces_vector_and_payload(empty_store: VectorStore) -> None:
    ids = _ids(5)
    empty_store.upsert(_batch(ids, seed=1))
    replacement = RecordBatch.build([ids[2]], np.full((1, DIMENSION), 3.0), [{"replaced": True}])

    empty_store.upsert(replacement)

    got = _by_id(empty_store.fetch([ids[2]]))
    np.testing.assert_allclose(normalise(got[ids[2]][0][None, :]), normalise(replacement.vectors), atol=1e-6)
    assert got[ids[2]][1] == {"replaced": True}


# -- scroll ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("batch_size", [1, 7, 100])
def test_scroll_covers_every_point_once(empty_store: VectorStore, batch_size: int) -> None:
    ids = _ids(57)
    empty_store.upsert(_batch(ids))

    seen = _scroll_all(empty_store, batch_size)

    assert Counter(seen) == Counter(ids)
    deleted = ids[::4]
    empty_store.delete(deleted)
    after = _scroll_all(empty_store, batch_size)
    assert Counter(after) == Counter(set(ids) - set(deleted))


def test_scroll_pages_are_bounded_and_carry_vectors(empty_store: VectorStore) -> None:
    ids = _ids(20)
    sent = _batch(ids)
    empty_store.upsert(sent)

    page, cursor = empty_store.scroll(batch_size=6)

    assert 0 < len(page) <= 6
    assert cursor is not None
    expected = _by_id(sent)
    for i, pid in enumerate(page.ids):
        np.testing.assert_allclose(normalise(page.vectors[i : i + 1]), normalise(expected[pid][0][None, :]), atol=1e-6)
        assert page.payloads[i] == expected[pid][1]


def test_empty_store_scrolls_to_nothing(empty_store: VectorStore) -> None:
    page, cursor = empty_store.scroll(batch_size=10)

    assert len(page) == 0
    assert cursor is None
    assert empty_store.count() == 0


# -- count -----------------------------------------------------------------------------------------------
def test_count_is_exact_and_upserts_are_idempotent(empty_store: VectorStore) -> None:
    ids = _ids(40)
    empty_store.upsert(_batch(ids, seed=1))
    assert empty_store.count() == 40

    empty_store.upsert(_batch(ids, seed=2))  # the same ids again
    assert empty_store.count() == 40

    more = _ids(10)
    empty_store.upsert(_batch(ids[:20] + more, seed=3))
    assert empty_store.count() == 50

    empty_store.delete(ids[:5] + _ids(3))  # unknown ids are ignored
    assert empty_store.count() == 45


# -- search ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("distance", DISTANCES, ids=str)
def test_search_matches_the_exact_store(store_factory: Factory, backend: Backend, distance: Distance) -> None:
    dim, k = 16, 10
    schema = CollectionSchema(dimension=dim, distance=distance)
    store = store_factory(schema)
    oracle = open_store(f"exact://oracle-{uuid.uuid4().hex}")
    oracle.create(schema)
    for batch in synthetic_corpus(300, dim, seed=7, batch_size=128, id_kind="uuid"):
        store.upsert(batch)
        oracle.upsert(batch)
    store.optimize()  # a small collection stays in the brute-force regime: answers must be exact
    queries = synthetic_queries(12, dim, seed=7)

    try:
        got = store.search(queries, k)
        want = oracle.search(queries, k)
    finally:
        oracle.drop()  # type: ignore[attr-defined]

    assert len(got) == len(want) == len(queries)
    for got_ids, got_scores, want_ids, want_scores in zip(got.ids, got.scores, want.ids, want.scores, strict=True):
        expected = np.asarray(want_scores, dtype=np.float64)
        if distance is Distance.EUCLID and backend.squared_euclid:
            expected = expected**2
        assert set(got_ids) == set(want_ids)
        np.testing.assert_allclose(np.asarray(got_scores), expected, rtol=1e-4, atol=1e-4)


def test_search_returns_all_points_when_k_exceeds_count(empty_store: VectorStore) -> None:
    ids = _ids(5)
    empty_store.upsert(_batch(ids))

    got = empty_store.search(np.ones((2, DIMENSION), dtype=np.float32), k=20)

    assert [sorted(row) for row in got.ids] == [sorted(ids), sorted(ids)]


# -- describe --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("distance", DISTANCES, ids=str)
def test_describe_reports_dimension_and_distance(store_factory: Factory, backend: Backend, distance: Distance) -> None:
    hnsw = HnswConfig(m=12, ef_construct=64, full_scan_threshold=5000)
    store = store_factory(CollectionSchema(dimension=24, distance=distance, hnsw=hnsw))

    schema = store.describe()

    assert (schema.dimension, schema.distance) == (24, distance)
    if backend.reports_hnsw:
        assert schema.index_config_reported
        assert schema.hnsw == hnsw
    else:
        # A backend that cannot report its index must not pass a made-up one off as real.
        assert schema.hnsw is None or not schema.index_config_reported


def test_exists_tracks_creation(backend: Backend) -> None:
    store = open_store(backend.uri_for(backend.new_name()))
    try:
        assert not store.exists()
        store.create(SCHEMA)
        assert store.exists()
    finally:
        drop = getattr(store, "drop", None)
        if callable(drop):
            drop()
        store.close()


# -- bad input -------------------------------------------------------------------------------------------
def test_wrong_dimension_is_rejected(empty_store: VectorStore) -> None:
    with pytest.raises(InvalidInputError, match="dimension"):
        empty_store.upsert(_batch(_ids(2), dimension=DIMENSION + 1))
    with pytest.raises(InvalidInputError):
        empty_store.search(np.ones((1, DIMENSION + 1), dtype=np.float32), k=3)
    assert empty_store.count() == 0


def test_nan_is_rejected(empty_store: VectorStore) -> None:
    vectors = np.ones((2, DIMENSION), dtype=np.float32)
    vectors[1, 3] = np.nan

    with pytest.raises(InvalidInputError):
        empty_store.upsert(RecordBatch.build(_ids(2), vectors))
    assert empty_store.count() == 0


def test_invalid_id_is_rejected(empty_store: VectorStore, backend: Backend) -> None:
    with pytest.raises(InvalidInputError):
        empty_store.upsert(RecordBatch.build([backend.invalid_id], np.ones((1, DIMENSION))))  # type: ignore[list-item]
    assert empty_store.count() == 0


def test_unknown_collection_raises_collection_not_found(missing_store: VectorStore) -> None:
    assert not missing_store.exists()
    with pytest.raises(CollectionNotFoundError):
        missing_store.count()
    with pytest.raises(CollectionNotFoundError):
        missing_store.describe()
    with pytest.raises(CollectionNotFoundError):
        missing_store.scroll(batch_size=10)
