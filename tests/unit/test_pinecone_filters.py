"""Pinecone → Qdrant filter translation.

Shapes and errors first; then the same records and filters evaluated by qdrant-client local mode on
the translated filter and by the project's Pinecone server through the real SDK, which must agree
(random metadata and random filters, plus the cases a literal translation gets wrong).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, note
from hypothesis import strategies as st
from qdrant_client import QdrantClient, models

from harness.errors import UsageError
from harness.model import RecordBatch
from harness.records import NAMESPACE_FIELD, ORIGINAL_ID_FIELD, map_pinecone_batch
from harness.records.filters import KNOWN_DIFFERENCE, PineconeFilterError, to_qdrant_filter

DIMENSION = 4
COLLECTION = "filters"

# -- the translation's shape -------------------------------------------------------------------


def test_bare_value_is_eq_and_strings_match_by_value() -> None:
    assert to_qdrant_filter({"genre": "drama"}) == {"must": [{"key": "genre", "match": {"value": "drama"}}]}


def test_numbers_become_closed_ranges_with_integral_floats_as_ints() -> None:
    assert to_qdrant_filter({"year": {"$eq": 2020.0}}) == {
        "must": [{"key": "year", "range": {"gte": 2020, "lte": 2020}}]
    }
    translated = to_qdrant_filter({"year": {"$eq": 2020.0}})
    assert type(translated["must"][0]["range"]["gte"]) is int
    assert to_qdrant_filter({"x": {"$gt": 1.5, "$lte": 3}}) == {"must": [{"key": "x", "range": {"gt": 1.5, "lte": 3}}]}


def test_nin_is_must_not_match_any_never_match_except() -> None:
    translated = to_qdrant_filter({"tags": {"$nin": ["a", "b"]}})
    assert translated == {"must_not": [{"key": "tags", "match": {"any": ["a", "b"]}}]}
    assert "except" not in repr(translated)


def test_in_on_numbers_is_a_should_of_ranges() -> None:
    assert to_qdrant_filter({"n": {"$in": ["a", 2020.0, 3.5]}}) == {
        "should": [
            {"key": "n", "match": {"any": ["a"]}},
            {"key": "n", "range": {"gte": 2020, "lte": 2020}},
            {"key": "n", "range": {"gte": 3.5, "lte": 3.5}},
        ]
    }


def test_logical_operators_nest_and_exists_uses_is_empty() -> None:
    translated = to_qdrant_filter({"$or": [{"a": {"$exists": True}}, {"b": {"$exists": False}}]})
    assert translated == {
        "should": [
            {"must_not": [{"is_empty": {"key": "a"}}]},
            {"is_empty": {"key": "b"}},
        ]
    }


def test_empty_filter_matches_everything() -> None:
    assert to_qdrant_filter({}) == {}


@pytest.mark.parametrize(
    ("bad", "words"),
    [
        ({"genre": {"$regex": "x"}}, "unsupported operator"),
        ({"$not": {"a": 1}}, "unsupported operator"),
        ({"$and": []}, "non-empty list"),
        ({"$or": {"a": 1}}, "non-empty list"),
        ({"year": {"$gt": "2020"}}, "expected a number"),
        ({"year": {"$gt": True}}, "expected a number"),
        ({"tags": {"$in": "a"}}, "expected a list"),
        ({"tags": {"$in": [True]}}, "strings and numbers"),
        ({"genre": None}, "string, number or boolean"),
        ({"genre": ["a", "b"]}, "string, number or boolean"),
        ({"genre": {}}, "at least one operator"),
        ({"x": {"$exists": 1}}, "true or false"),
        ({"x": {"$eq": float("nan")}}, "finite"),
    ],
)
def test_malformed_filters_raise_one_line_usage_errors(bad: dict[str, Any], words: str) -> None:
    with pytest.raises(PineconeFilterError) as caught:
        to_qdrant_filter(bad)
    assert isinstance(caught.value, UsageError)
    message = str(caught.value)
    assert words in message and "\n" not in message


# -- qdrant-client local mode on the translation -----------------------------------------------


@pytest.fixture(scope="module")
def qdrant() -> Iterator[QdrantClient]:
    client = QdrantClient(":memory:")
    client.create_collection(
        COLLECTION, vectors_config=models.VectorParams(size=DIMENSION, distance=models.Distance.COSINE)
    )
    yield client
    client.close()


def _records(metadata: list[dict[str, Any]], namespace: str) -> RecordBatch:
    ids = [f"r{i}" for i in range(len(metadata))]
    vectors = [[1.0, float(i + 1), 0.5, 0.0] for i in range(len(metadata))]
    return RecordBatch.build(ids, vectors, metadata, namespaces=[namespace] * len(metadata))


def _qdrant_ids(client: QdrantClient, batch: RecordBatch, pinecone_filter: dict[str, Any]) -> set[str]:
    """Load the mapped records under a fresh namespace and return the original ids the filter admits."""
    assert batch.namespaces is not None
    namespace = batch.namespaces[0]
    mapped = map_pinecone_batch(batch)
    client.upsert(
        COLLECTION,
        [
            models.PointStruct(id=str(pid), vector=vec.tolist(), payload=payload)
            for pid, vec, payload in zip(mapped.ids, mapped.vectors, mapped.payloads, strict=True)
        ],
    )
    scoped = {"must": [{"key": NAMESPACE_FIELD, "match": {"value": namespace}}, to_qdrant_filter(pinecone_filter)]}
    points, _ = client.scroll(COLLECTION, scroll_filter=models.Filter.model_validate(scoped), limit=10_000)
    return {str((p.payload or {})[ORIGINAL_ID_FIELD]) for p in points}


def test_nin_on_list_fields_excludes_any_overlap_in_qdrant(qdrant: QdrantClient) -> None:
    batch = _records([{"tags": ["a", "b"]}, {"tags": ["b"]}, {"tags": ["c"]}, {}], uuid.uuid4().hex)
    assert _qdrant_ids(qdrant, batch, {"tags": {"$nin": ["a"]}}) == {"r1", "r2", "r3"}
    assert _qdrant_ids(qdrant, batch, {"tags": {"$in": ["a", "c"]}}) == {"r0", "r2"}
    assert _qdrant_ids(qdrant, batch, {"tags": "b"}) == {"r0", "r1"}
    assert _qdrant_ids(qdrant, batch, {"tags": {"$ne": "b"}}) == {"r2", "r3"}


def test_2020_and_2020_point_0_match_each_other_in_qdrant(qdrant: QdrantClient) -> None:
    batch = _records([{"year": 2020.0}, {"year": 2020}, {"year": 2020.5}, {"year": "2020"}], uuid.uuid4().hex)
    assert _qdrant_ids(qdrant, batch, {"year": 2020}) == {"r0", "r1"}
    assert _qdrant_ids(qdrant, batch, {"year": {"$eq": 2020.0}}) == {"r0", "r1"}
    assert _qdrant_ids(qdrant, batch, {"year": {"$in": [2020.5, 1999]}}) == {"r2"}
    assert _qdrant_ids(qdrant, batch, {"year": {"$nin": [2020]}}) == {"r2", "r3"}
    assert _qdrant_ids(qdrant, batch, {"year": "2020"}) == {"r3"}


# -- agreement with the project's Pinecone server (through the real SDK) ------------------------


@pytest.fixture(scope="module")
def pinecone_index(pinecone_server: Any) -> Iterator[Any]:
    from pinecone import Pinecone, ServerlessSpec

    name = f"filters-{uuid.uuid4().hex[:8]}"
    control = Pinecone(api_key="test-key", host=pinecone_server.url)
    control.create_index(
        name=name, spec=ServerlessSpec(cloud="aws", region="us-east-1"), dimension=DIMENSION, metric="cosine"
    )
    index = control.index(name=name)
    yield index
    index.close()
    control.delete_index(name)
    control.close()


def _server_ids(index: Any, batch: RecordBatch, pinecone_filter: dict[str, Any]) -> set[str]:
    """Upsert ``batch`` into its namespace and return the ids the server's filter admits."""
    assert batch.namespaces is not None
    namespace = batch.namespaces[0]
    index.upsert(
        vectors=[
            {"id": str(pid), "values": vec.tolist(), **({"metadata": payload} if payload else {})}
            for pid, vec, payload in zip(batch.ids, batch.vectors, batch.payloads, strict=True)
        ],
        namespace=namespace,
    )
    response = index.query(vector=[1.0, 1.0, 1.0, 1.0], top_k=1000, namespace=namespace, filter=pinecone_filter)
    return {m.id for m in response.matches}


def _agree(
    index: Any, qdrant: QdrantClient, metadata: list[dict[str, Any]], flt: dict[str, Any]
) -> tuple[set[str], set[str]]:
    batch = _records(metadata, uuid.uuid4().hex)
    return _server_ids(index, batch, flt), _qdrant_ids(qdrant, batch, flt)


def test_missing_fields_under_ne_and_nin_agree(pinecone_index: Any, qdrant: QdrantClient) -> None:
    metadata: list[dict[str, Any]] = [{"genre": "a", "tags": ["a"]}, {"genre": "b", "tags": ["b"]}, {}]
    for flt in ({"genre": {"$ne": "a"}}, {"tags": {"$nin": ["a"]}}):
        server, qdrant_ids = _agree(pinecone_index, qdrant, metadata, flt)
        assert server == qdrant_ids == {"r1", "r2"}, flt


def test_exists_on_an_empty_list_is_the_one_known_difference(pinecone_index: Any, qdrant: QdrantClient) -> None:
    metadata: list[dict[str, Any]] = [{"tags": []}, {"tags": ["a"]}, {}]
    server, qdrant_ids = _agree(pinecone_index, qdrant, metadata, {"tags": {"$exists": True}})
    assert (server, qdrant_ids) == ({"r0", "r1"}, {"r1"}), KNOWN_DIFFERENCE
    server, qdrant_ids = _agree(pinecone_index, qdrant, metadata, {"tags": {"$exists": False}})
    assert (server, qdrant_ids) == ({"r2"}, {"r0", "r2"}), KNOWN_DIFFERENCE


def test_numbers_and_list_fields_agree_on_the_classic_traps(pinecone_index: Any, qdrant: QdrantClient) -> None:
    metadata: list[dict[str, Any]] = [
        {"year": 2020.0, "tags": ["a", "b"]},
        {"year": 2020, "tags": ["b"]},
        {"year": 2020.5},
    ]
    for flt, expected in (
        ({"year": 2020}, {"r0", "r1"}),
        ({"year": {"$in": [2020.0]}}, {"r0", "r1"}),
        ({"tags": {"$nin": ["a"]}}, {"r1", "r2"}),
    ):
        server, qdrant_ids = _agree(pinecone_index, qdrant, metadata, flt)
        assert server == qdrant_ids == expected, flt


# Random metadata: each field optional, one type per field as real data has, plus a stray type.
WORDS = ("a", "b", "c")
NUMBERS = st.sampled_from([-1.5, 0, 0.5, 1, 2.0, 2019, 2020, 2020.0, 2020.5, 2021.0])
FIELD_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "genre": st.sampled_from(WORDS),
    "year": st.one_of(NUMBERS, st.just("2020")),
    "flag": st.booleans(),
    "tags": st.lists(st.sampled_from(WORDS), max_size=3, unique=True),
}
FIELDS = (*FIELD_VALUES, "absent")
RECORD = st.fixed_dictionaries({}, optional=FIELD_VALUES)

SCALAR = st.one_of(st.sampled_from(WORDS), NUMBERS, st.booleans())
IN_LIST = st.lists(st.one_of(st.sampled_from(WORDS), NUMBERS), max_size=3)
OPERAND: dict[str, st.SearchStrategy[Any]] = {
    "$eq": SCALAR,
    "$ne": SCALAR,
    "$gt": NUMBERS,
    "$gte": NUMBERS,
    "$lt": NUMBERS,
    "$lte": NUMBERS,
    "$in": IN_LIST,
    "$nin": IN_LIST,
    "$exists": st.booleans(),
}
OPERATORS = st.dictionaries(st.sampled_from(sorted(OPERAND)), st.none(), min_size=1, max_size=2).flatmap(
    lambda ops: st.fixed_dictionaries({op: OPERAND[op] for op in ops})
)
CONDITION = st.one_of(SCALAR, OPERATORS)  # a bare scalar is Pinecone's $eq shorthand
LEAF = st.dictionaries(st.sampled_from(FIELDS), CONDITION, min_size=1, max_size=2)
FILTER = st.recursive(
    LEAF,
    lambda children: st.one_of(
        st.builds(lambda fs: {"$and": fs}, st.lists(children, min_size=1, max_size=3)),
        st.builds(lambda fs: {"$or": fs}, st.lists(children, min_size=1, max_size=3)),
    ),
    max_leaves=6,
)


def _exists_fields(node: Any) -> set[str]:
    """Fields named under ``$exists`` anywhere in a filter."""
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("$and", "$or"):
                for child in value:
                    found |= _exists_fields(child)
            elif isinstance(value, dict) and "$exists" in value:
                found.add(key)
    return found


@given(metadata=st.lists(RECORD, min_size=1, max_size=12), pinecone_filter=FILTER)
def test_server_and_qdrant_local_admit_the_same_records(
    pinecone_index: Any, qdrant: QdrantClient, metadata: list[dict[str, Any]], pinecone_filter: dict[str, Any]
) -> None:
    note(f"qdrant filter: {to_qdrant_filter(pinecone_filter)}")
    server, qdrant_ids = _agree(pinecone_index, qdrant, metadata, pinecone_filter)
    # The one known difference: $exists on a field holding [] (KNOWN_DIFFERENCE); nothing else may differ.
    excused = {
        f"r{i}"
        for i, record in enumerate(metadata)
        if any(record.get(f) == [] for f in _exists_fields(pinecone_filter))
    }
    assert server ^ qdrant_ids <= excused, f"server {sorted(server)} vs qdrant {sorted(qdrant_ids)}"
