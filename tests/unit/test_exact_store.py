"""The exact store is the oracle: its answers are checked against direct numpy computations."""

import numpy as np
import pytest

from harness.errors import CollectionNotFoundError, DimensionMismatchError, InvalidInputError
from harness.model import CollectionSchema, Distance, RecordBatch
from harness.stores import iter_batches, open_store
from harness.stores.exact import ExactStore


@pytest.fixture
def store(request: pytest.FixtureRequest):
    s = open_store(f"exact://unit-{request.node.name}")
    s.create(CollectionSchema(dimension=8, distance=Distance.COSINE))
    yield s
    assert isinstance(s, ExactStore)
    s.drop()


def _vectors(n: int, dim: int = 8, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)


@pytest.mark.parametrize("distance", list(Distance))
def test_search_matches_numpy(distance: Distance) -> None:
    s = open_store(f"exact://unit-search-{distance}")
    s.create(CollectionSchema(dimension=8, distance=distance))
    v, q = _vectors(500), _vectors(7, seed=1)
    s.upsert(RecordBatch.build(range(500), v))
    res = s.search(q, 5)
    if distance is Distance.COSINE:
        vn = v / np.linalg.norm(v, axis=1, keepdims=True)
        qn = q / np.linalg.norm(q, axis=1, keepdims=True)
        scores, best = qn @ vn.T, True
    elif distance is Distance.DOT:
        scores, best = q @ v.T, True
    elif distance is Distance.EUCLID:
        scores, best = np.linalg.norm(q[:, None] - v[None], axis=2), False
    else:
        scores, best = np.abs(q[:, None] - v[None]).sum(axis=2), False
    order = np.argsort(-scores if best else scores, axis=1)[:, :5]
    assert [list(r) for r in res.ids] == order.tolist()
    expected = np.take_along_axis(scores, order, axis=1)
    assert np.allclose(np.array(res.scores), expected, atol=1e-4)
    s.drop()  # type: ignore[attr-defined]


def test_cosine_vectors_are_stored_normalised(store) -> None:
    v = _vectors(3) * 5
    store.upsert(RecordBatch.build([1, 2, 3], v))
    got = store.fetch([1, 2, 3]).vectors
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-6)


def test_scroll_covers_every_point_once_after_deletes(store) -> None:
    store.upsert(RecordBatch.build(list(range(300)) + [f"s{i}" for i in range(50)], _vectors(350)))
    store.delete([*range(0, 300, 3), "s7", "missing"])
    ids = [i for b in iter_batches(store, batch_size=33) for i in b.ids]
    assert len(ids) == len(set(ids)) == store.count() == 350 - 100 - 1
    assert ids.index("s0") > ids.index(299)  # ints before strings, as in Qdrant


def test_upsert_is_idempotent_and_last_write_wins(store) -> None:
    v = _vectors(4)
    store.upsert(RecordBatch.build([1, 2, 1], v[:3], [{"n": 1}, {"n": 2}, {"n": 3}]))
    store.upsert(RecordBatch.build([2], v[3:4], [{"n": 4}]))
    assert store.count() == 2
    assert {i: p["n"] for i, p in zip(store.fetch([1, 2]).ids, store.fetch([1, 2]).payloads, strict=True)} == {
        1: 3,
        2: 4,
    }


def test_bad_input_raises_clear_errors(store) -> None:
    with pytest.raises(DimensionMismatchError, match="dimension 3"):
        store.upsert(RecordBatch.build([1], np.zeros((1, 3))))
    bad = _vectors(1)
    bad[0, 0] = np.nan
    with pytest.raises(InvalidInputError, match="NaN"):
        store.upsert(RecordBatch.build([1], bad))
    with pytest.raises(InvalidInputError, match="invalid id"):
        store.upsert(RecordBatch.build([-1], _vectors(1)))
    with pytest.raises(CollectionNotFoundError, match="does not exist"):
        open_store("exact://never-created").count()


def test_deleted_rows_never_come_back_from_search(store) -> None:
    v = _vectors(5000)
    store.upsert(RecordBatch.build(range(5000), v))
    store.delete(list(range(0, 5000, 2)))  # triggers compaction
    res = store.search(v[:10], 3)
    assert all(i % 2 == 1 for row in res.ids for i in row)
    assert store.count() == 2500


def test_fetch_returns_each_record_once_in_order_asked(store) -> None:
    store.upsert(RecordBatch.build([1, 2, 3], _vectors(3)))
    assert store.fetch([3, 1, 3, 99, 1]).ids == (3, 1)
