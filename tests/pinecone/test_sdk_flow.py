"""Issue 3's "Done when" flow, through the real ``pinecone`` SDK (v10) over loopback HTTP.

A dense index with 2,500 vectors in two namespaces: list every id page by page, query with and
without filters (equal to an independent numpy computation for each metric), fetch, update,
delete, stats, namespaces, and deleting the index.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from pinecone import Pinecone, ServerlessSpec
from pinecone.errors import NotFoundError

from harness.pinecone_local.testing import PineconeServer
from tests.pinecone.conftest import unique_name

DIM = 16
SIZES = {"alpha": 1500, "beta": 1000}
GENRES = ("drama", "comedy", "news", "sport")
SPEC = ServerlessSpec(cloud="aws", region="us-east-1")


def make_metadata(i: int) -> dict[str, Any]:
    md: dict[str, Any] = {"genre": GENRES[i % 4], "year": 1990 + i % 35, "tags": [f"t{i % 3}", f"u{i % 5}"]}
    if i % 7:
        md["rating"] = (i % 50) / 10
    if i % 5 == 0:
        md["draft"] = True
    return md


@dataclass
class Corpus:
    metric: str
    name: str
    index: Any  # pinecone.Index
    vectors: dict[str, np.ndarray]  # namespace -> (n × DIM) float32
    ids: dict[str, list[str]]
    metadata: dict[str, list[dict[str, Any]]]


@pytest.fixture(scope="module", params=["cosine", "dotproduct", "euclidean"])
def corpus(request: pytest.FixtureRequest, pc: Pinecone) -> Iterator[Corpus]:
    metric = request.param
    name = unique_name(f"flow-{metric[:3]}")
    model = pc.create_index(name=name, dimension=DIM, metric=metric, spec=SPEC)
    assert model.status.ready and model.host.startswith("http://127.0.0.1:")
    index = pc.index(name=name)
    rng = np.random.default_rng(7)
    vectors, ids, metadata = {}, {}, {}
    offset = 0
    for ns, n in SIZES.items():
        vectors[ns] = rng.normal(size=(n, DIM)).astype(np.float32)
        ids[ns] = [f"doc-{offset + i:05d}" for i in range(n)]
        metadata[ns] = [make_metadata(offset + i) for i in range(n)]
        records = [
            {"id": i, "values": v.tolist(), "metadata": m}
            for i, v, m in zip(ids[ns], vectors[ns], metadata[ns], strict=True)
        ]
        result = index.upsert(vectors=records, namespace=ns, batch_size=300, show_progress=False)
        assert result.upserted_count == n and not result.has_errors
        offset += n
    yield Corpus(metric, name, index, vectors, ids, metadata)
    index.close()
    pc.delete_index(name)


def reference_top_k(vectors: np.ndarray, q: np.ndarray, metric: str, k: int, mask: np.ndarray | None = None):
    """(row, score) best first, computed in float64 independently of the server."""
    v, q64 = vectors.astype(np.float64), q.astype(np.float64)
    if metric == "cosine":
        scores = v @ q64 / (np.linalg.norm(v, axis=1) * np.linalg.norm(q64))
    elif metric == "dotproduct":
        scores = v @ q64
    else:
        scores = ((v - q64) ** 2).sum(axis=1)  # Pinecone's euclidean score is the squared distance
    rows = np.arange(len(v)) if mask is None else np.flatnonzero(mask)
    order = np.argsort(scores[rows] if metric == "euclidean" else -scores[rows], kind="stable")[:k]
    return [(int(rows[j]), float(scores[rows[j]])) for j in order]


def test_every_id_listed_page_by_page(corpus: Corpus) -> None:
    for ns, expected in corpus.ids.items():
        seen: list[str] = []
        token = None
        pages = 0
        while True:
            page = corpus.index.list_paginated(namespace=ns, limit=100, pagination_token=token)
            seen.extend(item.id for item in page.vectors)
            pages += 1
            token = page.pagination.next if page.pagination else None
            if token is None:
                break
            assert len(page.vectors) == 100
        assert seen == sorted(expected)
        assert pages == -(-len(expected) // 100)
        # list() walks the same pages (default page size 100) and yields ListResponse pages.
        walked = [item.id for page in corpus.index.list(namespace=ns) for item in page.vectors]
        assert walked == seen
    prefixed = [item.id for page in corpus.index.list(namespace="alpha", prefix="doc-001") for item in page.vectors]
    assert prefixed == [f"doc-{i:05d}" for i in range(100, 200)]


def test_stats_count_each_namespace(corpus: Corpus) -> None:
    stats = corpus.index.describe_index_stats()
    assert {ns: s.vector_count for ns, s in stats.namespaces.items()} == SIZES
    assert stats.total_vector_count == sum(SIZES.values())
    assert stats.dimension == DIM
    assert stats.metric == corpus.metric


def test_query_without_filter_equals_numpy(corpus: Corpus) -> None:
    rng = np.random.default_rng(11)
    for ns in SIZES:
        for _ in range(5):
            q = rng.normal(size=DIM).astype(np.float32)
            got = corpus.index.query(vector=q.tolist(), top_k=10, namespace=ns)
            want = reference_top_k(corpus.vectors[ns], q, corpus.metric, 10)
            assert [m.id for m in got.matches] == [corpus.ids[ns][row] for row, _ in want]
            assert [m.score for m in got.matches] == pytest.approx([s for _, s in want], rel=1e-4, abs=1e-4)
            assert got.namespace == ns


def test_query_with_filter_equals_numpy(corpus: Corpus) -> None:
    rng = np.random.default_rng(12)
    ns = "alpha"
    flt = {"genre": {"$in": ["drama", "news"]}, "year": {"$gte": 2000}, "tags": "t1"}
    mask = np.array(
        [m["genre"] in ("drama", "news") and m["year"] >= 2000 and "t1" in m["tags"] for m in corpus.metadata[ns]]
    )
    assert 10 < mask.sum() < len(mask)
    for _ in range(3):
        q = rng.normal(size=DIM).astype(np.float32)
        got = corpus.index.query(vector=q.tolist(), top_k=25, namespace=ns, filter=flt, include_metadata=True)
        want = reference_top_k(corpus.vectors[ns], q, corpus.metric, 25, mask)
        assert [m.id for m in got.matches] == [corpus.ids[ns][row] for row, _ in want]
        assert [m.score for m in got.matches] == pytest.approx([s for _, s in want], rel=1e-4, abs=1e-4)
        assert all(m.metadata["genre"] in ("drama", "news") for m in got.matches)


def test_query_by_id_and_include_values(corpus: Corpus) -> None:
    ns, row = "beta", 17
    got = corpus.index.query(id=corpus.ids[ns][row], top_k=3, namespace=ns, include_values=True)
    want = reference_top_k(corpus.vectors[ns], corpus.vectors[ns][row], corpus.metric, 3)
    assert [m.id for m in got.matches] == [corpus.ids[ns][r] for r, _ in want]
    top = next(m for m in got.matches if m.id == corpus.ids[ns][row])
    np.testing.assert_array_equal(np.asarray(top.values, dtype=np.float32), corpus.vectors[ns][row])
    assert got.matches[0].metadata is None  # not asked for


def test_fetch_returns_values_and_float64_metadata(corpus: Corpus) -> None:
    ns = "alpha"
    wanted = [corpus.ids[ns][5], corpus.ids[ns][6], "missing-id"]
    got = corpus.index.fetch(ids=wanted, namespace=ns)
    assert set(got.vectors) == {wanted[0], wanted[1]}
    vec = got.vectors[wanted[0]]
    np.testing.assert_array_equal(np.asarray(vec.values, dtype=np.float32), corpus.vectors[ns][5])
    expected = make_metadata(5)
    assert vec.metadata == expected
    assert isinstance(vec.metadata["year"], float)  # Pinecone keeps numbers as float64


def test_fetch_by_metadata_pages_through_matches(corpus: Corpus) -> None:
    ns = "beta"
    flt = {"genre": "sport", "draft": True}
    want = sorted(
        i for i, m in zip(corpus.ids[ns], corpus.metadata[ns], strict=True) if m["genre"] == "sport" and m.get("draft")
    )
    seen: list[str] = []
    token = None
    while True:
        page = corpus.index.fetch_by_metadata(filter=flt, namespace=ns, limit=7, pagination_token=token)
        seen.extend(sorted(page.vectors))
        token = page.pagination.next if page.pagination else None
        if token is None:
            break
    assert seen == want and want


@pytest.fixture
def small_index(pc: Pinecone) -> Iterator[Any]:
    name = unique_name("mut")
    pc.create_index(name=name, dimension=3, metric="euclidean", spec=SPEC)
    index = pc.index(name=name)
    index.upsert(
        vectors=[
            {"id": f"r{i}", "values": [float(i), 0.0, 1.0], "metadata": {"kind": "odd" if i % 2 else "even", "n": i}}
            for i in range(10)
        ],
        namespace="ns",
    )
    yield index
    index.close()
    pc.delete_index(name)


def _count(index: Any, ns: str = "ns") -> int:
    stats = index.describe_index_stats()
    return stats.namespaces[ns].vector_count if ns in stats.namespaces else 0


def test_update_by_id_and_by_filter(small_index: Any) -> None:
    small_index.update(id="r1", values=[9.0, 9.0, 9.0], set_metadata={"kind": "special", "extra": "x"}, namespace="ns")
    got = small_index.fetch(ids=["r1"], namespace="ns").vectors["r1"]
    assert got.values == [9.0, 9.0, 9.0]
    assert got.metadata == {"kind": "special", "n": 1.0, "extra": "x"}

    preview = small_index.update(filter={"kind": "even"}, set_metadata={"seen": True}, namespace="ns", dry_run=True)
    assert preview.matched_records == 5
    assert small_index.fetch(ids=["r0"], namespace="ns").vectors["r0"].metadata.get("seen") is None
    done = small_index.update(filter={"kind": "even"}, set_metadata={"seen": True}, namespace="ns")
    assert done.matched_records == 5
    fetched = small_index.fetch(ids=[f"r{i}" for i in range(10)], namespace="ns").vectors
    assert sorted(i for i, v in fetched.items() if v.metadata.get("seen")) == ["r0", "r2", "r4", "r6", "r8"]


def test_delete_by_ids_by_filter_and_all(small_index: Any) -> None:
    small_index.delete(ids=["r0", "r1", "nope"], namespace="ns")
    assert _count(small_index) == 8
    small_index.delete(filter={"n": {"$gte": 7}}, namespace="ns")
    assert sorted(small_index.fetch(ids=[f"r{i}" for i in range(10)], namespace="ns").vectors) == [
        "r2",
        "r3",
        "r4",
        "r5",
        "r6",
    ]
    small_index.delete(delete_all=True, namespace="ns")
    assert _count(small_index) == 0
    assert small_index.query(vector=[0, 0, 0], top_k=5, namespace="ns").matches == []


def test_default_namespace_is_reported_as_default(small_index: Any) -> None:
    small_index.upsert(vectors=[("d1", [1.0, 1.0, 1.0])])
    assert _count(small_index, "__default__") == 1
    assert [m.id for m in small_index.query(vector=[1, 1, 1], top_k=1).matches] == ["d1"]
    assert small_index.describe_namespace(name="__default__").record_count == 1


def test_namespaces_create_describe_list_delete(small_index: Any) -> None:
    created = small_index.create_namespace(name="made", schema={"fields": {"genre": {"filterable": True}}})
    assert created.name == "made" and created.record_count == 0
    assert created.schema.fields["genre"].filterable is True
    for i in range(3):
        small_index.create_namespace(name=f"z{i}")
    assert small_index.describe_namespace(name="ns").record_count == 10

    first = small_index.list_namespaces_paginated(limit=2)
    assert [n.name for n in first.namespaces] == ["made", "ns"] and first.total_count == 5
    names = [n.name for page in small_index.list_namespaces(limit=2) for n in page.namespaces]
    assert names == ["made", "ns", "z0", "z1", "z2"]
    assert [n.name for page in small_index.list_namespaces(prefix="z") for n in page.namespaces] == ["z0", "z1", "z2"]

    small_index.delete_namespace(name="ns")
    with pytest.raises(NotFoundError):
        small_index.describe_namespace(name="ns")
    assert "ns" not in small_index.describe_index_stats().namespaces


def test_index_lifecycle_on_the_control_plane(pc: Pinecone, pinecone_server: PineconeServer) -> None:
    name = unique_name("life")
    pc.create_index(name=name, dimension=4, metric="dotproduct", spec=SPEC, tags={"team": "search"})
    described = pc.describe_index(name)
    assert (described.dimension, described.metric, described.tags) == (4, "dotproduct", {"team": "search"})
    assert described.host == pinecone_server.index_host(name)
    assert name in [m.name for m in pc.list_indexes()]
    configured = pc.configure_index(name, tags={"team": "", "env": "test"})
    assert configured.tags == {"env": "test"}
    pc.delete_index(name)
    assert pc.has_index(name) is False
    with pytest.raises(NotFoundError):
        pc.describe_index(name)


def test_sparse_values_are_stored_and_add_to_dotproduct_scores(pc: Pinecone) -> None:
    name = unique_name("hybrid")
    pc.create_index(name=name, dimension=2, metric="dotproduct", spec=SPEC)
    with pc.index(name=name) as index:
        index.upsert(
            vectors=[
                {"id": "s1", "values": [1.0, 0.0], "sparse_values": {"indices": [1, 7], "values": [0.5, 2.0]}},
                {"id": "s2", "values": [0.0, 1.0]},
            ]
        )
        fetched = index.fetch(ids=["s1"]).vectors["s1"].sparse_values
        assert (fetched.indices, fetched.values) == ([1, 7], [0.5, 2.0])
        got = index.query(vector=[1.0, 1.0], sparse_vector={"indices": [7], "values": [3.0]}, top_k=2)
        assert [(m.id, m.score) for m in got.matches] == [("s1", 1.0 + 6.0), ("s2", 1.0)]
        index.update(id="s2", sparse_values={"indices": [7], "values": [10.0]})
        got = index.query(vector=[1.0, 1.0], sparse_vector={"indices": [7], "values": [3.0]}, top_k=2)
        assert [(m.id, m.score) for m in got.matches] == [("s2", 31.0), ("s1", 7.0)]
    pc.delete_index(name)
