"""Refused requests: the SDK raises its own exception types with a clear message, and the server keeps serving."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest
from pinecone import Pinecone, ServerlessSpec
from pinecone.errors import (
    ApiError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    PayloadTooLargeError,
    UnauthorizedError,
)

from harness.pinecone_local.testing import PineconeServer
from tests.pinecone.conftest import API_KEY, unique_name

SPEC = ServerlessSpec(cloud="aws", region="us-east-1")


@pytest.fixture(scope="module")
def index3(pc: Pinecone) -> Iterator[Any]:
    name = unique_name("err")
    pc.create_index(name=name, dimension=3, metric="cosine", spec=SPEC)
    index = pc.index(name=name)
    yield index
    index.close()
    pc.delete_index(name)


def still_serves(index: Any) -> None:
    index.upsert(vectors=[("ok", [1.0, 2.0, 3.0])], namespace="ok")
    assert [m.id for m in index.query(vector=[1, 2, 3], top_k=1, namespace="ok").matches] == ["ok"]


def test_wrong_dimension_names_both_dimensions(index3: Any) -> None:
    with pytest.raises(ApiError) as info:
        index3.upsert(vectors=[("a", [1.0, 2.0])])
    assert info.value.status_code == 400
    assert "Vector dimension 2 does not match the dimension of the index 3" in str(info.value)
    with pytest.raises(ApiError, match="dimension"):
        index3.query(vector=[1.0, 2.0, 3.0, 4.0], top_k=1)
    still_serves(index3)


def test_unknown_index_is_not_found(pc: Pinecone, pinecone_server: PineconeServer) -> None:
    with pytest.raises(NotFoundError, match="nope-index"):
        pc.describe_index("nope-index")
    with pytest.raises(NotFoundError, match="nope-index"):
        pc.delete_index("nope-index")
    data = pc.index(host=pinecone_server.index_host("nope-index"))
    with pytest.raises(NotFoundError, match="nope-index"):
        data.query(vector=[1.0, 2.0, 3.0], top_k=1)
    data.close()


def test_oversized_batches_are_refused(index3: Any) -> None:
    too_many = [(f"v{i}", [1.0, 0.0, 0.0]) for i in range(1001)]
    with pytest.raises(ApiError) as info:
        index3.upsert(vectors=too_many)  # no batch_size: one request of 1001 vectors
    assert info.value.status_code == 400 and "maximum is 1000" in str(info.value)
    bulky = [(f"w{i}", [1.0, 0.0, 0.0], {"text": "x" * 3000}) for i in range(800)]
    with pytest.raises(PayloadTooLargeError, match="exceeds the limit"):
        index3.upsert(vectors=bulky)
    assert "v0" not in index3.fetch(ids=["v0"]).vectors  # nothing of a refused batch was written
    still_serves(index3)


def test_bad_metadata_filters_and_top_k(index3: Any) -> None:
    with pytest.raises(ApiError, match="null metadata values are not supported"):
        index3.upsert(vectors=[{"id": "m", "values": [1, 2, 3], "metadata": {"x": None}}])
    with pytest.raises(ApiError, match="exceeds the limit of 40960 bytes"):
        index3.upsert(vectors=[{"id": "m", "values": [1, 2, 3], "metadata": {"x": "y" * 41_000}}])
    with pytest.raises(ApiError, match="unknown operator"):
        index3.query(vector=[1, 2, 3], top_k=1, filter={"genre": {"$regex": "a.*"}})
    with pytest.raises(ApiError, match=r"\$gt on field 'year' takes a number"):
        index3.query(vector=[1, 2, 3], top_k=1, filter={"year": {"$gt": "2020"}})
    with pytest.raises(ApiError, match="at most 1000"):
        index3.query(vector=[1, 2, 3], top_k=5000, include_metadata=True)
    still_serves(index3)


def test_bad_json_and_unknown_route(pinecone_server: PineconeServer, index3: Any) -> None:
    with httpx.Client(base_url=index3.host, headers={"Api-Key": API_KEY}, timeout=10) as client:
        bad = client.post("/vectors/upsert", content=b'{"vectors": [', headers={"Content-Type": "application/json"})
        assert bad.status_code == 400
        assert bad.json()["code"] == 3 and "not valid JSON" in bad.json()["message"]
        assert "content-length" in bad.headers
        assert client.get("/no/such/route").status_code == 404
    still_serves(index3)


def test_duplicate_create_and_deletion_protection(pc: Pinecone) -> None:
    name = unique_name("prot")
    pc.create_index(name=name, dimension=2, spec=SPEC, deletion_protection="enabled")
    with pytest.raises(ConflictError):
        pc.create_index(name=name, dimension=2, spec=SPEC)
    with pytest.raises(ForbiddenError, match="Deletion protection is enabled"):
        pc.delete_index(name)
    assert pc.has_index(name)
    pc.configure_index(name, deletion_protection="disabled")
    pc.delete_index(name)
    assert not pc.has_index(name)


@pytest.fixture(scope="module")
def keyed_server() -> Iterator[PineconeServer]:
    with PineconeServer(api_key="right-key") as server:
        yield server


def test_bad_api_key_is_unauthorized(keyed_server: PineconeServer) -> None:
    good = Pinecone(api_key="right-key", host=keyed_server.url)
    good.create_index(name="keyed", dimension=2, spec=SPEC)
    wrong = Pinecone(api_key="wrong-key", host=keyed_server.url)
    with pytest.raises(UnauthorizedError):
        wrong.list_indexes()
    wrong_data = wrong.index(host=keyed_server.index_host("keyed"))
    with pytest.raises(UnauthorizedError):
        wrong_data.upsert(vectors=[("a", [1.0, 2.0])])
    missing = httpx.get(f"{keyed_server.url}/indexes", timeout=10)
    assert missing.status_code == 401 and missing.headers["content-type"].startswith("text/plain")
    index = good.index(name="keyed")
    index.upsert(vectors=[("a", [1.0, 2.0])])
    assert index.describe_index_stats().total_vector_count == 1
    for client in (wrong_data, index, wrong, good):
        client.close()


def test_concurrent_batched_upserts_all_land(pc: Pinecone) -> None:
    name = unique_name("conc")
    pc.create_index(name=name, dimension=8, metric="dotproduct", spec=SPEC)
    index = pc.index(name=name)
    vectors = np.random.default_rng(3).normal(size=(3000, 8)).astype(np.float32)
    result = index.upsert(
        vectors=[(f"c{i}", v.tolist()) for i, v in enumerate(vectors)],
        batch_size=100,
        max_concurrency=8,
        show_progress=False,
    )
    assert result.upserted_count == 3000 and not result.has_errors
    assert index.describe_index_stats().total_vector_count == 3000
    index.close()
    pc.delete_index(name)
