"""Named dense vectors, sparse vectors, ids-only scans and hybrid search: the same tests for every adapter
that holds them (fixtures in conftest.py).

Pinecone holds one sparse vector per record (its ``sparse_values``, ``records.PINECONE_SPARSE``) and no
named dense vectors; the Qdrant adapters and the exact store hold both under any name.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import numpy as np
import pytest

from harness.errors import InvalidInputError, UsageError
from harness.model import (
    CollectionSchema,
    DenseColumn,
    DenseVectorParams,
    Distance,
    RecordBatch,
    SparseColumn,
    SparseVectorParams,
)
from harness.records import PINECONE_SPARSE, QDRANT_SPARSE, Comparison, RecordParts
from harness.stores import VectorStore, iter_batches, open_store
from harness.stores.base import HybridSearch, IdScan
from tests.contract.conftest import DIMENSION, Backend

Factory = Callable[..., VectorStore]


def _sparse_name(backend: Backend) -> str:
    return PINECONE_SPARSE if backend.name == "pinecone" else QDRANT_SPARSE


def _hybrid_schema(backend: Backend) -> CollectionSchema:
    return CollectionSchema(DIMENSION, Distance.DOT, sparse_vectors={_sparse_name(backend): SparseVectorParams()})


def _sparse_rows(n: int, seed: int) -> list[tuple[list[int], list[float]] | None]:
    """Every third record without sparse values; the others with 1-6 distinct indices in no order."""
    rng = np.random.default_rng(seed)
    rows: list[tuple[list[int], list[float]] | None] = []
    for i in range(n):
        if i % 3 == 2:
            rows.append(None)
            continue
        size = int(rng.integers(1, 7))
        indices = rng.choice(5000, size=size, replace=False).tolist()
        rows.append((indices, rng.uniform(0.05, 2.0, size=size).round(3).tolist()))
    return rows


def _hybrid_batch(backend: Backend, n: int = 24, seed: int = 0) -> RecordBatch:
    ids = [str(uuid.UUID(int=seed * 10_000 + i + 1)) for i in range(n)]
    vectors = np.random.default_rng(seed).normal(size=(n, DIMENSION)).astype(np.float32)
    return RecordBatch.build(
        ids, vectors, [{"i": i} for i in range(n)], sparse={_sparse_name(backend): _sparse_rows(n, seed)}
    )


def _assert_same_records(sent: RecordBatch, got: RecordBatch, comparison: Comparison) -> None:
    assert sorted(got.ids) == sorted(sent.ids)
    rows = {pid: i for i, pid in enumerate(got.ids)}
    for i, pid in enumerate(sent.ids):
        a, b = RecordParts.of(sent, i), RecordParts.of(got, rows[pid])
        assert comparison.sparse_differences(a, b) == [], pid
        assert comparison.named_differences(a, b) == [], pid


# -- sparse vectors ----------------------------------------------------------------------------------------
def test_sparse_vectors_round_trip_through_fetch_and_scroll(store_factory: Factory, backend: Backend) -> None:
    store = store_factory(_hybrid_schema(backend))
    sent = _hybrid_batch(backend)
    store.upsert(sent)

    assert _sparse_name(backend) in store.describe().sparse_vectors
    _assert_same_records(sent, store.fetch(list(sent.ids)), Comparison())
    _assert_same_records(sent, RecordBatch.concat(list(iter_batches(store, 7))), Comparison())


def test_a_record_rewritten_without_sparse_values_loses_them(store_factory: Factory, backend: Backend) -> None:
    store = store_factory(_hybrid_schema(backend))
    sent = _hybrid_batch(backend, n=3)
    store.upsert(sent)
    store.upsert(sent.take([0]).with_columns(sparse={}))  # an upsert replaces the whole record

    got = store.fetch([sent.ids[0]])
    name = _sparse_name(backend)
    assert name not in got.sparse or got.sparse[name].nnz == 0


def test_sparse_vectors_the_collection_lacks_are_refused_not_dropped(store_factory: Factory, backend: Backend) -> None:
    store = store_factory(CollectionSchema(DIMENSION, Distance.DOT))
    batch = _hybrid_batch(backend, n=4).with_columns(sparse={"elsewhere": SparseColumn.from_rows([([1], [1.0])] * 4)})

    with pytest.raises(InvalidInputError, match="elsewhere"):
        store.upsert(batch)
    assert store.count() == 0


def test_non_finite_sparse_values_are_refused(store_factory: Factory, backend: Backend) -> None:
    store = store_factory(_hybrid_schema(backend))
    batch = _hybrid_batch(backend, n=2).with_columns(
        sparse={_sparse_name(backend): SparseColumn.from_rows([([1, 2], [1.0, float("nan")]), None])}
    )
    with pytest.raises(InvalidInputError, match="NaN"):
        store.upsert(batch)


# -- named dense vectors -----------------------------------------------------------------------------------
NAMED = {"image": DenseVectorParams(3, Distance.EUCLID), "title": DenseVectorParams(4, Distance.COSINE)}
QDRANT_CLIENT = ("qdrant-local", "qdrant-local-disk", "qdrant-server", "qdrant-serve")


def test_named_vectors_round_trip_and_a_record_may_lack_one(store_factory: Factory, backend: Backend) -> None:
    # Named vectors only (dimension 0): the layout every Qdrant API holds.
    schema = CollectionSchema(
        0, Distance.DOT, named_vectors=NAMED, sparse_vectors={QDRANT_SPARSE: SparseVectorParams()}
    )
    if backend.name == "pinecone":
        with pytest.raises(UsageError, match="named vectors"):
            store_factory(schema)
        return
    store = store_factory(schema)
    rng = np.random.default_rng(5)
    ids = [str(uuid.UUID(int=i + 1)) for i in range(10)]
    sent = RecordBatch.build(
        ids,
        np.zeros((10, 0)),
        named={
            "image": DenseColumn.of(rng.normal(size=(10, 3)), [i % 4 != 0 for i in range(10)]),
            "title": DenseColumn.of(rng.normal(size=(10, 4))),
        },
        sparse={QDRANT_SPARSE: _sparse_rows(10, 2)},
    )
    store.upsert(sent)

    described = store.describe()
    assert described.dimension == 0 and described.named_vectors == NAMED
    comparison = Comparison.for_schemas(schema, described, 1e-5)
    got = store.fetch(ids)
    _assert_same_records(sent, got, comparison)
    assert got.named["image"].present_rows()[[got.ids.index(ids[0]), got.ids.index(ids[1])]].tolist() == [False, True]
    _assert_same_records(sent, RecordBatch.concat(list(iter_batches(store, 3))), comparison)


def test_an_unnamed_and_named_vectors_together_are_held_by_edge_and_refused_by_qdrant_apis(
    store_factory: Factory, backend: Backend
) -> None:
    schema = CollectionSchema(DIMENSION, Distance.DOT, named_vectors=NAMED)
    if backend.name in QDRANT_CLIENT or backend.name == "pinecone":
        with pytest.raises(UsageError, match="named vectors"):
            store_factory(schema)
        return
    store = store_factory(schema)
    sent = RecordBatch.build([str(uuid.UUID(int=1))], np.ones((1, DIMENSION)), named={"title": np.ones((1, 4))})
    store.upsert(sent)
    got = store.fetch(list(sent.ids))
    assert got.vectors.shape == (1, DIMENSION) and got.named["title"].present_rows().tolist() == [True]
    assert got.named["image"].present_rows().tolist() == [False]


def test_named_vectors_of_another_dimension_are_refused(store_factory: Factory, backend: Backend) -> None:
    if backend.name == "pinecone":
        pytest.skip("Pinecone holds no named vectors (refused at create, tested above)")
    store = store_factory(
        CollectionSchema(0, Distance.DOT, named_vectors={"image": DenseVectorParams(3, Distance.DOT)})
    )
    batch = RecordBatch.build([str(uuid.UUID(int=1))], np.zeros((1, 0)), named={"image": np.ones((1, 5))})
    with pytest.raises(InvalidInputError, match="image"):
        store.upsert(batch)
    assert store.count() == 0


# -- ids-only scans ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("batch_size", [1, 7, 1000])
def test_scroll_ids_lists_what_scroll_lists_in_pages(store_factory: Factory, backend: Backend, batch_size: int) -> None:
    store = store_factory(_hybrid_schema(backend))
    store.upsert(_hybrid_batch(backend, n=20))
    assert isinstance(store, IdScan)

    listed, cursor, pages = [], None, 0
    while True:
        page, cursor = store.scroll_ids(batch_size=batch_size, cursor=cursor)
        assert len(page.ids) <= batch_size
        listed += list(page.ids)
        pages += 1
        if cursor is None:
            break
    assert listed == [pid for batch in iter_batches(store, 1000) for pid in batch.ids]
    assert pages >= 20 // batch_size


# -- hybrid search -----------------------------------------------------------------------------------------
def test_hybrid_search_finds_what_the_backend_semantics_say(store_factory: Factory, backend: Backend) -> None:
    if backend.name == "qdrant-serve":
        pytest.skip("ragmig serve-qdrant answers no prefetch + fusion queries (Qdrant and Qdrant Edge do)")
    schema = _hybrid_schema(backend)
    store = store_factory(schema)
    sent = _hybrid_batch(backend, n=30, seed=3)
    store.upsert(sent)
    assert isinstance(store, HybridSearch)
    rng = np.random.default_rng(9)
    queries = rng.normal(size=(4, DIMENSION)).astype(np.float32)
    name = _sparse_name(backend)
    # Each query's sparse part repeats indices of records 0-3, so the sparse side matters.
    sparse = SparseColumn.from_rows(
        [(sent.sparse[name].row(i)[0].tolist(), [1.0] * len(sent.sparse[name].row(i)[0])) for i in range(4)]
    )

    got = store.hybrid_search(queries, sparse, 5)

    if backend.name == "pinecone":
        # One blended score: dense dot + sparse dot, best first.
        dense = queries @ sent.vectors.T
        blended = np.array(
            [[dense[q, r] + _sparse_dot(sparse, q, sent.sparse[name], r) for r in range(30)] for q in range(4)]
        )
        for q in range(4):
            expected = [sent.ids[r] for r in np.argsort(-blended[q], kind="stable")[:5]]
            assert list(got.ids[q]) == expected
        return
    oracle = open_store(f"exact://hybrid-oracle-{uuid.uuid4().hex[:8]}")
    oracle.create(CollectionSchema(DIMENSION, Distance.DOT, sparse_vectors={name: SparseVectorParams()}))
    try:
        oracle.upsert(sent)
        expected = oracle.hybrid_search(queries, sparse, 5)  # type: ignore[attr-defined]
    finally:
        oracle.drop()  # type: ignore[attr-defined]
    for q in range(4):
        assert set(got.ids[q]) == set(expected.ids[q])
        np.testing.assert_allclose(sorted(got.scores[q]), sorted(expected.scores[q]), rtol=1e-5)


def test_hybrid_search_needs_a_sparse_vector(store_factory: Factory, backend: Backend) -> None:
    store = store_factory(CollectionSchema(DIMENSION, Distance.DOT))
    store.upsert(RecordBatch.build([str(uuid.UUID(int=1))], np.ones((1, DIMENSION))))
    query = SparseColumn.from_rows([([1], [1.0])])
    if backend.name == "pinecone":  # Pinecone blends a sparse part into any dotproduct query
        assert store.hybrid_search(np.ones((1, DIMENSION)), query, 1).ids == ((str(uuid.UUID(int=1)),),)  # type: ignore[attr-defined]
        return
    with pytest.raises(InvalidInputError, match="no sparse vectors"):
        store.hybrid_search(np.ones((1, DIMENSION)), query, 1)  # type: ignore[attr-defined]


def _sparse_dot(queries: SparseColumn, q: int, records: SparseColumn, r: int) -> float:
    qi, qv = queries.row(q)
    ri, rv = records.row(r)
    weights = dict(zip(qi.tolist(), qv.tolist(), strict=True))
    return float(sum(weights.get(i, 0.0) * v for i, v in zip(ri.tolist(), rv.tolist(), strict=True)))
