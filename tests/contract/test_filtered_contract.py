"""The filtered half of the VectorStore contract: ``search_filtered`` and ``count_filtered`` on every adapter.

The shared tests use payloads on which every backend's semantics agree (one type per field, no empty
lists, no integral floats); the known differences between the backends are pinned per backend at the
end, so a change in any store's semantics shows up here by name.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import numpy as np
import pytest

from harness.errors import InvalidInputError
from harness.model import CollectionSchema, Distance, RecordBatch
from harness.records.filters import And, Exists, Filter, Match, MatchAny, Not, Or, Range, matches
from harness.stores import VectorStore
from harness.vectormath import exact_top_k, normalise
from tests.contract.conftest import DIMENSION, Backend

Factory = Callable[..., VectorStore]
N = 60
GENRES = ("drama", "comedy", "news")


def _payload(i: int) -> dict[str, object]:
    payload: dict[str, object] = {"genre": GENRES[i % 3], "year": 2000 + i % 7, "score": round(0.25 * (i % 9), 2)}
    if i % 4:
        payload["tags"] = ["a", "b"] if i % 2 else ["c"]
    return payload


@pytest.fixture
def loaded(store_factory: Factory) -> tuple[VectorStore, RecordBatch]:
    store = store_factory()
    rng = np.random.default_rng(3)
    batch = RecordBatch.build(
        [str(uuid.UUID(int=i + 1)) for i in range(N)],
        rng.normal(size=(N, DIMENSION)).astype(np.float32),
        [_payload(i) for i in range(N)],
    )
    store.upsert(batch)
    wait = getattr(store, "wait_until_visible", None)
    if callable(wait):
        assert wait(N)
    return store, batch


FILTERS: list[Filter | None] = [
    None,
    Match("genre", "drama"),
    Match("year", 2003),
    MatchAny("genre", ("drama", "news")),
    MatchAny("year", (2001, 2005)),
    Range("score", gte=0.5, lt=1.5),
    Range("year", gt=2002),
    Not(Match("genre", "comedy")),
    Not(MatchAny("tags", ("a",))),
    Exists("tags"),
    Not(Exists("tags")),
    Match("tags", "c"),
    And((Match("genre", "drama"), Range("year", lte=2003))),
    Or((Match("genre", "news"), Match("tags", "c"))),
    Match("genre", "no-such-genre"),
]


@pytest.mark.parametrize("where", FILTERS, ids=repr)
def test_count_filtered_counts_what_the_filter_admits(
    loaded: tuple[VectorStore, RecordBatch], where: Filter | None
) -> None:
    store, batch = loaded
    expected = sum(matches(where, p) for p in batch.payloads)
    assert store.count_filtered(where) == expected


@pytest.mark.parametrize("where", FILTERS[1:8], ids=repr)
def test_search_filtered_returns_the_nearest_admitted_records(
    loaded: tuple[VectorStore, RecordBatch], where: Filter
) -> None:
    store, batch = loaded
    admitted = np.array([matches(where, p) for p in batch.payloads])
    queries = np.random.default_rng(4).normal(size=(5, DIMENSION)).astype(np.float32)
    k = 5
    result = store.search_filtered(queries, k, where)
    rows, _ = exact_top_k(
        queries, normalise(batch.vectors), min(k, int(admitted.sum())), Distance.COSINE, valid=admitted
    )
    for q, got in enumerate(result.ids):
        assert all(admitted[batch.ids.index(pid)] for pid in got), "a record the filter does not admit came back"
        assert list(got) == [batch.ids[r] for r in rows[q]]


def test_an_empty_admitted_set_returns_no_results(loaded: tuple[VectorStore, RecordBatch]) -> None:
    store, _ = loaded
    result = store.search_filtered(np.ones((2, DIMENSION), np.float32), 3, Match("genre", "no-such-genre"))
    assert result.ids == ((), ())


def test_namespaces_exist_only_where_the_store_partitions_records(
    backend: Backend, loaded: tuple[VectorStore, RecordBatch]
) -> None:
    store, batch = loaded
    query = batch.vectors[:1]
    if backend.name in ("pinecone", "exact"):
        # Records written without a namespace live in the default one, "".
        assert store.count_filtered(Match("genre", "drama"), namespace="") == 20
        assert store.count_filtered(None, namespace="elsewhere") == 0
        assert store.search_filtered(query, 3, None, namespace="elsewhere").ids == ((),)
        assert len(store.search_filtered(query, 3, None, namespace="").ids[0]) == 3
    else:
        with pytest.raises(InvalidInputError, match="__namespace__"):
            store.count_filtered(None, namespace="")
        with pytest.raises(InvalidInputError, match="no namespaces"):
            store.search_filtered(query, 3, None, namespace="ns")


# The stores' own semantics where they differ (records.filters.KNOWN_DIFFERENCES), per backend:
# (Match(year, 5) over {5, 5.0}, Exists(tags) over {[], ["a"]}, Match(flag, True) over {true, 1}).
SEMANTICS = {
    "exact": (1, 1, 1),
    "qdrant-edge": (1, 1, "error"),  # qdrant-edge 0.9 reads MatchValue(True) as the integer 1
    "qdrant-local": (1, 1, 1),
    "qdrant-local-disk": (1, 1, 1),
    "qdrant-server": (1, 1, 1),
    "qdrant-serve": (1, 1, "error"),  # ragmig serve-qdrant answers with the Qdrant Edge engine
    "pinecone": (2, 2, 1),  # numbers are float64; $exists counts [] as present
}


def test_each_backend_keeps_its_own_semantics(backend: Backend, store_factory: Factory) -> None:
    store = store_factory(CollectionSchema(dimension=DIMENSION, distance=Distance.COSINE))
    payloads = [{"year": 5}, {"year": 5.0}, {"tags": []}, {"tags": ["a"]}, {"flag": True}, {"flag": 1}]
    store.upsert(
        RecordBatch.build([str(uuid.uuid4()) for _ in payloads], np.ones((len(payloads), DIMENSION)), payloads)
    )
    wait = getattr(store, "wait_until_visible", None)
    if callable(wait):
        assert wait(len(payloads))
    year, tags, flag = SEMANTICS[backend.name]
    assert store.count_filtered(Match("year", 5)) == year
    assert store.count_filtered(Exists("tags")) == tags
    if flag == "error":
        with pytest.raises(InvalidInputError, match="boolean"):
            store.count_filtered(Match("flag", True))
    else:
        assert store.count_filtered(Match("flag", True)) == flag


def test_an_integer_payload_index_converts_stored_floats_on_qdrant(backend: Backend, store_factory: Factory) -> None:
    if backend.name not in ("qdrant-edge", "qdrant-server", "exact"):
        pytest.skip(f"{backend.name} keeps no payload indexes that change matching")
    store = store_factory(
        CollectionSchema(dimension=DIMENSION, distance=Distance.COSINE, payload_indexes={"year": "integer"})
    )
    store.upsert(
        RecordBatch.build([str(uuid.uuid4()) for _ in range(2)], np.ones((2, DIMENSION)), [{"year": 5}, {"year": 5.0}])
    )
    assert store.count_filtered(Match("year", 5)) == 2
