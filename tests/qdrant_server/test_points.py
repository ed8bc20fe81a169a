"""Points through qdrant-client (the real SDK, REST): filters against a Python oracle, scroll to the
end, search params, payload operations, named and sparse vectors, the older search API."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import httpx
import numpy as np
import pytest
from qdrant_client import QdrantClient, models

N = 240
TAGS = ("a", "b", "c")


def _payload(i: int) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "group": i % 5,
        "tags": [t for j, t in enumerate(TAGS) if (i >> j) & 1],
        "price": float(i % 97),
        "meta": {"lang": "de" if i % 3 == 0 else "en"},
        "items": [{"k": i % 4}, {"k": (i + 1) % 4}],
    }
    if i % 7 == 1:
        payload["maybe"] = None
    elif i % 7 == 2:
        payload["maybe"] = []
    elif i % 7 == 3:
        payload["maybe"] = "x"
    return payload


PAYLOADS = {i: _payload(i) for i in range(N)}
F = models.FieldCondition

FILTERS: dict[str, tuple[models.Filter, Callable[[int, dict[str, Any]], bool]]] = {
    "match value": (
        models.Filter(must=[F(key="group", match=models.MatchValue(value=2))]),
        lambda i, p: p["group"] == 2,
    ),
    "match any": (
        models.Filter(must=[F(key="tags", match=models.MatchAny(any=["a"]))]),
        lambda i, p: "a" in p["tags"],
    ),
    # Qdrant's except: some value of the field is outside the list (so it is not Pinecone's $nin).
    "match except": (
        models.Filter(must=[F(key="tags", match=models.MatchExcept(**{"except": ["a"]}))]),
        lambda i, p: any(t != "a" for t in p["tags"]),
    ),
    "range": (
        models.Filter(must=[F(key="price", range=models.Range(gte=10, lt=50))]),
        lambda i, p: 10 <= p["price"] < 50,
    ),
    "must_not (missing fields match)": (
        models.Filter(must_not=[F(key="maybe", match=models.MatchValue(value="x"))]),
        lambda i, p: p.get("maybe") != "x",
    ),
    "should": (
        models.Filter(
            should=[F(key="group", match=models.MatchValue(value=1)), F(key="group", match=models.MatchValue(value=3))]
        ),
        lambda i, p: p["group"] in (1, 3),
    ),
    "min_should": (
        models.Filter(
            min_should=models.MinShould(
                conditions=[
                    F(key="group", match=models.MatchValue(value=0)),
                    F(key="tags", match=models.MatchAny(any=["b"])),
                    F(key="meta.lang", match=models.MatchValue(value="de")),
                ],
                min_count=2,
            )
        ),
        lambda i, p: sum([p["group"] == 0, "b" in p["tags"], p["meta"]["lang"] == "de"]) >= 2,
    ),
    "is_empty (missing, null, [])": (
        models.Filter(must=[models.IsEmptyCondition(is_empty=models.PayloadField(key="maybe"))]),
        lambda i, p: p.get("maybe") in (None, []),
    ),
    "is_null": (
        models.Filter(must=[models.IsNullCondition(is_null=models.PayloadField(key="maybe"))]),
        lambda i, p: "maybe" in p and p["maybe"] is None,
    ),
    "has_id": (models.Filter(must=[models.HasIdCondition(has_id=[3, 5, 8, 1000])]), lambda i, p: i in (3, 5, 8)),
    "values_count": (
        models.Filter(must=[F(key="tags", values_count=models.ValuesCount(gte=2))]),
        lambda i, p: len(p["tags"]) >= 2,
    ),
    "nested": (
        models.Filter(
            must=[
                models.NestedCondition(
                    nested=models.Nested(
                        key="items", filter=models.Filter(must=[F(key="k", match=models.MatchValue(value=3))])
                    )
                )
            ]
        ),
        lambda i, p: any(item["k"] == 3 for item in p["items"]),
    ),
    "nested key path": (
        models.Filter(must=[F(key="meta.lang", match=models.MatchValue(value="de"))]),
        lambda i, p: p["meta"]["lang"] == "de",
    ),
    "filter in filter": (
        models.Filter(
            must=[
                models.Filter(should=[F(key="group", match=models.MatchValue(value=4))]),
                F(key="tags", match=models.MatchAny(any=["c"])),
            ]
        ),
        lambda i, p: p["group"] == 4 and "c" in p["tags"],
    ),
}


def _vectors(n: int, dim: int = 4, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)


@pytest.fixture
def loaded(qdrant: QdrantClient, new_collection: Callable[..., str]) -> str:
    name = new_collection()
    vectors = _vectors(N)
    qdrant.upsert(
        name,
        points=models.Batch(ids=list(range(N)), vectors=vectors.tolist(), payloads=[PAYLOADS[i] for i in range(N)]),
    )
    return name


def _scroll_ids(qdrant: QdrantClient, name: str, limit: int, flt: models.Filter | None = None) -> list[int]:
    ids: list[int] = []
    offset = None
    pages = 0
    while True:
        records, offset = qdrant.scroll(name, scroll_filter=flt, limit=limit, offset=offset, with_payload=False)
        assert len(records) <= limit
        ids += [int(r.id) for r in records]
        pages += 1
        assert pages <= N + 1, "scroll did not end"
        if offset is None:
            return ids


@pytest.mark.parametrize("case", sorted(FILTERS))
def test_filters_select_what_qdrant_semantics_say(qdrant: QdrantClient, loaded: str, case: str) -> None:
    flt, predicate = FILTERS[case]
    expected = sorted(i for i in range(N) if predicate(i, PAYLOADS[i]))
    assert 0 < len(expected) < N  # the case discriminates

    assert sorted(_scroll_ids(qdrant, loaded, 17, flt)) == expected
    assert qdrant.count(loaded, count_filter=flt, exact=True).count == len(expected)
    hits = qdrant.query_points(loaded, query=[1.0, 0.0, 0.0, 0.0], query_filter=flt, limit=N).points
    assert sorted(int(h.id) for h in hits) == expected
    # Deleting by the filter removes exactly those points.
    qdrant.delete(loaded, points_selector=models.FilterSelector(filter=flt))
    assert qdrant.count(loaded).count == N - len(expected)


@pytest.mark.parametrize("limit", [1, 7, 100, 1000])
def test_scroll_pages_to_the_end_once_each_in_id_order(qdrant: QdrantClient, loaded: str, limit: int) -> None:
    ids = _scroll_ids(qdrant, loaded, limit)

    assert ids == list(range(N))


def test_scroll_next_page_offset_is_the_next_id_and_none_at_the_end(http: httpx.Client, loaded: str) -> None:
    first = http.post(f"/collections/{loaded}/points/scroll", json={"limit": 10}).json()["result"]
    last = http.post(f"/collections/{loaded}/points/scroll", json={"limit": 10, "offset": N - 3}).json()["result"]

    assert [p["id"] for p in first["points"]] == list(range(10)) and first["next_page_offset"] == 10
    assert "payload" in first["points"][0] and first["points"][0]["vector"] is None  # Qdrant's defaults
    assert [p["id"] for p in last["points"]] == [N - 3, N - 2, N - 1] and last["next_page_offset"] is None


def test_search_is_exact_on_small_collections_whatever_hnsw_ef_and_exact_say(qdrant: QdrantClient, loaded: str) -> None:
    vectors = _vectors(N)
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    query = np.array([0.3, -1.0, 0.5, 2.0], dtype=np.float32)
    expected = np.argsort(-(unit @ (query / np.linalg.norm(query))))[:10].tolist()

    for params in (None, models.SearchParams(hnsw_ef=4), models.SearchParams(exact=True)):
        hits = qdrant.query_points(loaded, query=query.tolist(), limit=10, search_params=params).points
        assert [int(h.id) for h in hits] == expected
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_query_options_limit_offset_threshold_payload_and_vectors(
    qdrant: QdrantClient, loaded: str, http: httpx.Client
) -> None:
    query = [0.3, -1.0, 0.5, 2.0]
    top = qdrant.query_points(loaded, query=query, limit=20).points

    page = qdrant.query_points(loaded, query=query, limit=5, offset=5, with_payload=["group"], with_vectors=True).points
    above = qdrant.query_points(loaded, query=query, limit=N, score_threshold=(top[9].score + top[10].score) / 2).points

    assert [p.id for p in page] == [p.id for p in top[5:10]]
    assert all(set(p.payload or {}) == {"group"} and len(p.vector) == 4 for p in page)  # type: ignore[arg-type]
    raw = http.post(f"/collections/{loaded}/points/query", json={"query": query}).json()
    assert raw["result"]["points"][0]["payload"] is None and raw["result"]["points"][0]["vector"] is None  # defaults
    assert [p.id for p in above] == [p.id for p in top[:10]]


def test_query_batch_answers_each_search_in_order(qdrant: QdrantClient, loaded: str) -> None:
    queries = _vectors(3, seed=9).tolist()

    batch = qdrant.query_batch_points(loaded, [models.QueryRequest(query=q, limit=4) for q in queries])

    singles = [qdrant.query_points(loaded, query=q, limit=4).points for q in queries]
    assert [[p.id for p in r.points] for r in batch] == [[p.id for p in s] for s in singles]


def test_the_older_search_api_is_served(http: httpx.Client, loaded: str, qdrant: QdrantClient) -> None:
    query = [0.3, -1.0, 0.5, 2.0]
    expected = [p.id for p in qdrant.query_points(loaded, query=query, limit=5).points]

    single = http.post(f"/collections/{loaded}/points/search", json={"vector": query, "limit": 5}).json()["result"]
    batch = http.post(
        f"/collections/{loaded}/points/search/batch",
        json={
            "searches": [{"vector": query, "limit": 5, "filter": {"must": [{"key": "group", "match": {"value": 1}}]}}]
        },
    ).json()["result"]

    assert [p["id"] for p in single] == expected
    assert all(PAYLOADS[p["id"]]["group"] == 1 for p in batch[0]) and len(batch[0]) == 5


def test_retrieve_get_point_and_payload_selectors(qdrant: QdrantClient, loaded: str, http: httpx.Client) -> None:
    got = qdrant.retrieve(loaded, [4, 999, 2], with_payload=models.PayloadSelectorExclude(exclude=["items", "meta"]))

    assert sorted(int(r.id) for r in got) == [2, 4]
    assert all("items" not in (r.payload or {}) and "group" in (r.payload or {}) for r in got)
    one = http.get(f"/collections/{loaded}/points/7").json()["result"]
    assert one["id"] == 7 and one["payload"] == PAYLOADS[7] and len(one["vector"]) == 4
    missing = http.get(f"/collections/{loaded}/points/999")
    assert missing.status_code == 404 and missing.json()["status"]["error"] == "Not found: No point with id 999 found"


def test_payload_set_overwrite_delete_and_clear(qdrant: QdrantClient, loaded: str) -> None:
    qdrant.set_payload(loaded, payload={"flag": True}, points=[1, 2])
    qdrant.set_payload(
        loaded, payload={"x": 1}, points=models.Filter(must=[F(key="group", match=models.MatchValue(value=4))])
    )
    qdrant.overwrite_payload(loaded, payload={"only": "this"}, points=[3])
    qdrant.delete_payload(loaded, keys=["tags"], points=[1])
    qdrant.clear_payload(loaded, points_selector=[2])

    got = {int(r.id): r.payload for r in qdrant.retrieve(loaded, [1, 2, 3, 4])}
    assert got[1] == {**{k: v for k, v in PAYLOADS[1].items() if k != "tags"}, "flag": True}
    assert got[2] == {}
    assert got[3] == {"only": "this"}
    assert got[4] == {**PAYLOADS[4], "x": 1}


def test_uuid_ids_named_and_sparse_vectors(qdrant: QdrantClient) -> None:
    name = f"named-{uuid.uuid4().hex[:8]}"
    qdrant.create_collection(
        name,
        vectors_config={"dense": models.VectorParams(size=3, distance=models.Distance.DOT)},
        sparse_vectors_config={"words": models.SparseVectorParams(modifier=models.Modifier.IDF)},
    )
    try:
        ids = [str(uuid.uuid4()) for _ in range(3)]
        qdrant.upsert(
            name,
            points=[
                models.PointStruct(
                    id=ids[i],
                    vector={
                        "dense": [float(i), 1.0, 0.0],
                        "words": models.SparseVector(indices=[i, 10], values=[1.0, 0.5]),
                    },
                    payload={"i": i},
                )
                for i in range(3)
            ],
        )
        dense = qdrant.query_points(name, query=[1.0, 0.0, 0.0], using="dense", limit=1).points
        sparse = qdrant.query_points(
            name, query=models.SparseVector(indices=[1], values=[2.0]), using="words", limit=3
        ).points
        (record,) = qdrant.retrieve(name, [ids[2]], with_vectors=True)

        assert dense[0].id == ids[2]
        assert [p.id for p in sparse] == [ids[1]]
        assert record.vector["dense"] == [2.0, 1.0, 0.0]  # type: ignore[index]
        assert record.vector["words"] == models.SparseVector(indices=[2, 10], values=[1.0, 0.5])  # type: ignore[index]
        info = qdrant.get_collection(name)
        assert set(info.config.params.vectors) == {"dense"}  # type: ignore[arg-type]
        assert info.config.params.sparse_vectors["words"].modifier == models.Modifier.IDF  # type: ignore[index]
    finally:
        qdrant.delete_collection(name)


def test_payload_indexes_show_in_the_collection_info_and_go_again(qdrant: QdrantClient, loaded: str) -> None:
    qdrant.create_payload_index(loaded, "group", field_schema=models.PayloadSchemaType.INTEGER)
    qdrant.create_payload_index(
        loaded,
        "meta.lang",
        field_schema=models.KeywordIndexParams(type=models.KeywordIndexType.KEYWORD, is_tenant=True),
    )

    schema = qdrant.get_collection(loaded).payload_schema
    assert schema["group"].data_type == models.PayloadSchemaType.INTEGER and schema["group"].points == N
    assert schema["meta.lang"].data_type == models.PayloadSchemaType.KEYWORD
    qdrant.delete_payload_index(loaded, "group")
    assert set(qdrant.get_collection(loaded).payload_schema) == {"meta.lang"}


def test_collection_info_reports_what_was_created(qdrant: QdrantClient, new_collection: Callable[..., str]) -> None:
    name = new_collection(
        size=8,
        distance=models.Distance.EUCLID,
        hnsw_config=models.HnswConfigDiff(m=12, ef_construct=64, full_scan_threshold=500),
        optimizers_config=models.OptimizersConfigDiff(indexing_threshold=20),
        quantization_config=models.ScalarQuantization(
            scalar=models.ScalarQuantizationConfig(type=models.ScalarType.INT8, always_ram=True)
        ),
        metadata={"team": "search"},
    )

    config = qdrant.get_collection(name).config

    assert config.params.vectors == models.VectorParams(size=8, distance=models.Distance.EUCLID)
    assert (config.hnsw_config.m, config.hnsw_config.ef_construct, config.hnsw_config.full_scan_threshold) == (
        12,
        64,
        500,
    )
    assert config.optimizer_config.indexing_threshold == 20
    assert isinstance(config.quantization_config, models.ScalarQuantization)
    assert config.metadata == {"team": "search"}
