"""Bad requests to the Pinecone-compatible server: the right HTTP status in the right error shape, nothing
written (the data dir — snapshots and mutation log — byte-identical), and the server keeps serving.

Statuses follow Pinecone: malformed JSON 400; valid JSON of the wrong shape (``"topK": "5"``, a missing
required field, a deployment without ``cloud``) 422; a well-typed value that breaks a rule 400; an
oversized body 413; no or a wrong key 401; an unknown index or route 404; a taken name 409.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from harness.pinecone_local.testing import PineconeServer
from tests.badinput.conftest import assert_unchanged, snapshot

KEY = "bad-input-server-key"
INDEX = "victim"
DIM = 3


def _nested_filter(depth: int) -> dict[str, Any]:
    node: dict[str, Any] = {"genre": {"$eq": "drama"}}
    for _ in range(depth):
        node = {"$and": [node]}
    return node


def _deep_filter_body(depth: int) -> bytes:
    """A query whose filter nests ``depth`` ``$and`` levels (built as text: encoders stop at such depths)."""
    inner = b'{"genre":{"$eq":"drama"}}'
    return b'{"vector":[1,0,0],"topK":1,"filter":' + b'{"$and":[' * depth + inner + b"]}" * depth + b"}"


def _vectors(n: int, dim: int = DIM) -> list[dict[str, Any]]:
    return [{"id": f"v{i}", "values": [0.5] * dim} for i in range(n)]


Q = {"vector": [1.0, 0.0, 0.0]}
DATA = f"/data/{INDEX}"
# (method, path, JSON body or raw bytes, expected status, a word of the message)
CASES: dict[str, tuple[str, str, Any, int, str]] = {
    "upsert: malformed JSON": ("POST", f"{DATA}/vectors/upsert", b'{"vectors": [', 400, "not valid JSON"),
    "upsert: a NaN literal": (
        "POST",
        f"{DATA}/vectors/upsert",
        b'{"vectors":[{"id":"a","values":[NaN,1,2]}]}',
        400,
        "JSON",
    ),
    "upsert: body is an array": ("POST", f"{DATA}/vectors/upsert", [1, 2], 422, "JSON object"),
    "upsert: vectors is an object": ("POST", f"{DATA}/vectors/upsert", {"vectors": {"id": "a"}}, 422, "vectors"),
    "upsert: vectors missing": ("POST", f"{DATA}/vectors/upsert", {"namespace": "x"}, 422, "vectors"),
    "upsert: record is a string": ("POST", f"{DATA}/vectors/upsert", {"vectors": ["a"]}, 422, "vectors[0]"),
    "upsert: id missing": ("POST", f"{DATA}/vectors/upsert", {"vectors": [{"values": [1, 2, 3]}]}, 422, "id"),
    "upsert: id a number": ("POST", f"{DATA}/vectors/upsert", {"vectors": [{"id": 7, "values": [1, 2, 3]}]}, 422, "id"),
    "upsert: id too long": (
        "POST",
        f"{DATA}/vectors/upsert",
        {"vectors": [{"id": "x" * 600, "values": [1, 2, 3]}]},
        400,
        "512",
    ),
    "upsert: id not ASCII": (
        "POST",
        f"{DATA}/vectors/upsert",
        {"vectors": [{"id": "é", "values": [1, 2, 3]}]},
        400,
        "ASCII",
    ),
    "upsert: empty id": (
        "POST",
        f"{DATA}/vectors/upsert",
        {"vectors": [{"id": "", "values": [1, 2, 3]}]},
        400,
        "1-512",
    ),
    "upsert: values strings": (
        "POST",
        f"{DATA}/vectors/upsert",
        {"vectors": [{"id": "a", "values": ["1", "2", "3"]}]},
        422,
        "numbers",
    ),
    "upsert: values nested": (
        "POST",
        f"{DATA}/vectors/upsert",
        {"vectors": [{"id": "a", "values": [[1], 2, 3]}]},
        422,
        "numbers",
    ),
    "upsert: values booleans": (
        "POST",
        f"{DATA}/vectors/upsert",
        {"vectors": [{"id": "a", "values": [True, False, True]}]},
        422,
        "numbers",
    ),
    "upsert: values an object": (
        "POST",
        f"{DATA}/vectors/upsert",
        {"vectors": [{"id": "a", "values": {"x": 1}}]},
        422,
        "values",
    ),
    "upsert: wrong dimension": (
        "POST",
        f"{DATA}/vectors/upsert",
        {"vectors": [{"id": "a", "values": [1, 2]}]},
        400,
        "dimension",
    ),
    "upsert: beyond float32": (
        "POST",
        f"{DATA}/vectors/upsert",
        {"vectors": [{"id": "a", "values": [1e39, 1, 1]}]},
        400,
        "finite",
    ),
    "upsert: 1001 vectors": ("POST", f"{DATA}/vectors/upsert", {"vectors": _vectors(1001)}, 400, "maximum is 1000"),
    "upsert: null metadata value": (
        "POST",
        f"{DATA}/vectors/upsert",
        {"vectors": [{"id": "a", "values": [1, 2, 3], "metadata": {"x": None}}]},
        400,
        "null",
    ),
    "upsert: nested metadata": (
        "POST",
        f"{DATA}/vectors/upsert",
        {"vectors": [{"id": "a", "values": [1, 2, 3], "metadata": {"x": {"y": 1}}}]},
        400,
        "unsupported",
    ),
    "upsert: metadata over 40 KB": (
        "POST",
        f"{DATA}/vectors/upsert",
        {"vectors": [{"id": "a", "values": [1, 2, 3], "metadata": {"x": "y" * 41_000}}]},
        400,
        "exceeds",
    ),
    "upsert: metadata a list": (
        "POST",
        f"{DATA}/vectors/upsert",
        {"vectors": [{"id": "a", "values": [1, 2, 3], "metadata": ["x"]}]},
        422,
        "metadata",
    ),
    "upsert: sparse index negative": (
        "POST",
        f"{DATA}/vectors/upsert",
        {"vectors": [{"id": "a", "values": [1, 2, 3], "sparseValues": {"indices": [-1], "values": [0.5]}}]},
        400,
        "indices",
    ),
    "upsert: sparse lengths differ": (
        "POST",
        f"{DATA}/vectors/upsert",
        {"vectors": [{"id": "a", "values": [1, 2, 3], "sparseValues": {"indices": [1, 2], "values": [0.5]}}]},
        400,
        "same length",
    ),
    "upsert: sparse indices strings": (
        "POST",
        f"{DATA}/vectors/upsert",
        {"vectors": [{"id": "a", "values": [1, 2, 3], "sparseValues": {"indices": ["1"], "values": [0.5]}}]},
        422,
        "integers",
    ),
    "upsert: namespace a number": (
        "POST",
        f"{DATA}/vectors/upsert",
        {"vectors": _vectors(1), "namespace": 5},
        422,
        "namespace",
    ),
    "upsert: body over 2 MB": (
        "POST",
        f"{DATA}/vectors/upsert",
        b'{"vectors":[' + b" " * (3 * 1024 * 1024) + b"]}",
        413,
        "2 MB",
    ),
    "query: topK a string": ("POST", f"{DATA}/query", {**Q, "topK": "5"}, 422, "topK"),
    "query: topK a float": ("POST", f"{DATA}/query", {**Q, "topK": 5.0}, 422, "topK"),
    "query: topK a boolean": ("POST", f"{DATA}/query", {**Q, "topK": True}, 422, "topK"),
    "query: topK missing": ("POST", f"{DATA}/query", Q, 422, "topK"),
    "query: topK 0": ("POST", f"{DATA}/query", {**Q, "topK": 0}, 400, "between 1 and 10000"),
    "query: topK negative": ("POST", f"{DATA}/query", {**Q, "topK": -3}, 400, "between"),
    "query: topK 10001": ("POST", f"{DATA}/query", {**Q, "topK": 10_001}, 400, "between"),
    "query: topK 10**30": (
        "POST",
        f"{DATA}/query",
        b'{"vector":[1,0,0],"topK":1000000000000000000000000000000}',
        422,
        "topK",
    ),
    "query: topK 2000 with metadata": (
        "POST",
        f"{DATA}/query",
        {**Q, "topK": 2000, "includeMetadata": True},
        400,
        "at most 1000",
    ),
    "query: includeValues a string": (
        "POST",
        f"{DATA}/query",
        {**Q, "topK": 1, "includeValues": "yes"},
        422,
        "includeValues",
    ),
    "query: no vector, no id": ("POST", f"{DATA}/query", {"topK": 1}, 400, "vector"),
    "query: id and vector": ("POST", f"{DATA}/query", {**Q, "topK": 1, "id": "a"}, 400, "cannot be combined"),
    "query: wrong dimension": ("POST", f"{DATA}/query", {"vector": [1, 2], "topK": 1}, 400, "dimension"),
    "query: filter nested 500 deep": ("POST", f"{DATA}/query", _deep_filter_body(500), 400, ""),
    "query: filter nested 40 deep": (
        "POST",
        f"{DATA}/query",
        {**Q, "topK": 1, "filter": _nested_filter(40)},
        400,
        "nested more than",
    ),
    "query: filter of 2000 conditions": (
        "POST",
        f"{DATA}/query",
        {**Q, "topK": 1, "filter": {"$or": [{f"f{i}": i} for i in range(2000)]}},
        400,
        "conditions",
    ),
    "query: $in of 10001 values": (
        "POST",
        f"{DATA}/query",
        {**Q, "topK": 1, "filter": {"g": {"$in": list(range(10_001))}}},
        400,
        "maximum",
    ),
    "query: unknown operator": (
        "POST",
        f"{DATA}/query",
        {**Q, "topK": 1, "filter": {"g": {"$regex": "a.*"}}},
        400,
        "unknown operator",
    ),
    "query: $gt on a string": (
        "POST",
        f"{DATA}/query",
        {**Q, "topK": 1, "filter": {"year": {"$gt": "2020"}}},
        400,
        "takes a number",
    ),
    "query: empty $and": ("POST", f"{DATA}/query", {**Q, "topK": 1, "filter": {"$and": []}}, 400, "non-empty"),
    "query: filter a list": ("POST", f"{DATA}/query", {**Q, "topK": 1, "filter": [{"g": 1}]}, 422, "filter"),
    "fetch: no ids": ("GET", f"{DATA}/vectors/fetch", None, 400, "ids"),
    "fetch: 1001 ids": (
        "GET",
        f"{DATA}/vectors/fetch?" + "&".join(f"ids=i{i}" for i in range(1001)),
        None,
        400,
        "maximum is 1000",
    ),
    "list: limit 0": ("GET", f"{DATA}/vectors/list?limit=0", None, 400, "limit"),
    "list: limit not a number": ("GET", f"{DATA}/vectors/list?limit=ten", None, 400, "limit"),
    "list: a forged pagination token": (
        "GET",
        f"{DATA}/vectors/list?paginationToken=bm90LWEtdG9rZW4",
        None,
        400,
        "paginationToken",
    ),
    "delete: no selector": ("POST", f"{DATA}/vectors/delete", {"namespace": ""}, 400, "exactly one"),
    "delete: two selectors": ("POST", f"{DATA}/vectors/delete", {"ids": ["a"], "deleteAll": True}, 400, "exactly one"),
    "delete: empty filter": ("POST", f"{DATA}/vectors/delete", {"filter": {}}, 400, "empty metadata filter"),
    "delete: ids a string": ("POST", f"{DATA}/vectors/delete", {"ids": "a"}, 422, "ids"),
    "delete: deleteAll a string": ("POST", f"{DATA}/vectors/delete", {"deleteAll": "true"}, 422, "deleteAll"),
    "update: neither id nor filter": ("POST", f"{DATA}/vectors/update", {"setMetadata": {"a": 1}}, 400, "exactly one"),
    "update: values with a filter": (
        "POST",
        f"{DATA}/vectors/update",
        {"filter": {"g": 1}, "values": [1, 2, 3]},
        400,
        "need an 'id'",
    ),
    "update: wrong dimension": ("POST", f"{DATA}/vectors/update", {"id": "a", "values": [1, 2]}, 400, "dimension"),
    "update: setMetadata a list": (
        "POST",
        f"{DATA}/vectors/update",
        {"id": "a", "setMetadata": [1]},
        422,
        "setMetadata",
    ),
    "stats: with a filter": ("POST", f"{DATA}/describe_index_stats", {"filter": {"g": 1}}, 400, "filter"),
    "namespaces: create __default__": ("POST", f"{DATA}/namespaces", {"name": "__default__"}, 400, "__default__"),
    "namespaces: name a number": ("POST", f"{DATA}/namespaces", {"name": 5}, 400, "name"),
    "namespaces: delete one that is not there": ("DELETE", f"{DATA}/namespaces/ghost", None, 404, "ghost"),
    "index: unknown": ("POST", "/data/no-such-index/query", {**Q, "topK": 1}, 404, "no-such-index"),
    "route: unknown": ("GET", "/no/such/route", None, 404, "No route"),
    "create: deployment without cloud": (
        "POST",
        "/indexes",
        {
            "name": "x1",
            "schema": {"fields": {"_values": {"type": "dense_vector", "dimension": 3}}},
            "deployment": {"deployment_type": "managed", "region": "us-east-1"},
        },
        422,
        "cloud",
    ),
    "create: deployment without region": (
        "POST",
        "/indexes",
        {
            "name": "x1",
            "schema": {"fields": {"_values": {"type": "dense_vector", "dimension": 3}}},
            "deployment": {"deployment_type": "managed", "cloud": "aws"},
        },
        422,
        "region",
    ),
    "create: pod without environment": (
        "POST",
        "/indexes",
        {
            "name": "x1",
            "schema": {"fields": {"_values": {"type": "dense_vector", "dimension": 3}}},
            "deployment": {"deployment_type": "pod", "pod_type": "p1.x1", "replicas": 1, "shards": 1},
        },
        422,
        "environment",
    ),
    "create: unknown deployment type": (
        "POST",
        "/indexes",
        {
            "name": "x1",
            "schema": {"fields": {"_values": {"type": "dense_vector", "dimension": 3}}},
            "deployment": {"SERVERLESS": {"cloud": "aws"}},
        },
        422,
        "deployment_type",
    ),
    "create: schema missing": ("POST", "/indexes", {"name": "x1"}, 422, "schema"),
    "create: dimension a string": (
        "POST",
        "/indexes",
        {"name": "x1", "schema": {"fields": {"_values": {"type": "dense_vector", "dimension": "3"}}}},
        422,
        "dimension",
    ),
    "create: dimension 0": (
        "POST",
        "/indexes",
        {"name": "x1", "schema": {"fields": {"_values": {"type": "dense_vector", "dimension": 0}}}},
        400,
        "dimension",
    ),
    "create: metric unknown": (
        "POST",
        "/indexes",
        {
            "name": "x1",
            "schema": {"fields": {"_values": {"type": "dense_vector", "dimension": 3, "metric": "hamming"}}},
        },
        400,
        "metric",
    ),
    "create: name with capitals": (
        "POST",
        "/indexes",
        {"name": "Bad_Name", "schema": {"fields": {"_values": {"type": "dense_vector", "dimension": 3}}}},
        400,
        "index name",
    ),
    "create: name a number": (
        "POST",
        "/indexes",
        {"name": 7, "schema": {"fields": {"_values": {"type": "dense_vector", "dimension": 3}}}},
        422,
        "name",
    ),
    "create: name taken": (
        "POST",
        "/indexes",
        {"name": INDEX, "schema": {"fields": {"_values": {"type": "dense_vector", "dimension": 3}}}},
        409,
        "already exists",
    ),
    "create (2026-04): serverless without cloud": (
        "POST",
        "/indexes",
        {"name": "x2", "dimension": 3, "spec": {"serverless": {"region": "us-east-1"}}},
        422,
        "cloud",
    ),
    "configure: protection maybe": (
        "PATCH",
        f"/indexes/{INDEX}",
        {"deletion_protection": "maybe"},
        400,
        "deletion_protection",
    ),
    "configure: tags a list": ("PATCH", f"/indexes/{INDEX}", {"tags": ["a"]}, 422, "tags"),
    "admin: latency 1e300 ms": ("POST", f"/_admin/indexes/{INDEX}/faults", {"latency_ms": 1e300}, 400, "latency_ms"),
    "admin: negative latency": ("POST", f"/_admin/indexes/{INDEX}/faults", {"latency_ms": -1}, 400, "latency_ms"),
    "admin: jitter of a day": ("POST", f"/_admin/indexes/{INDEX}/faults", {"jitter_ms": 86_400_000}, 400, "jitter_ms"),
    "admin: lag of a year": (
        "POST",
        f"/_admin/indexes/{INDEX}/faults",
        {"visibility_lag_ms": 3.2e10},
        400,
        "visibility_lag_ms",
    ),
    "admin: retry-after of a week": (
        "POST",
        f"/_admin/indexes/{INDEX}/faults",
        {"retry_after_s": 604_800},
        400,
        "retry_after_s",
    ),
    "admin: error rate 2": ("POST", f"/_admin/indexes/{INDEX}/faults", {"error_rate": 2}, 400, "error_rate"),
    "admin: error status 418": ("POST", f"/_admin/indexes/{INDEX}/faults", {"error_status": 418}, 400, "error_status"),
    "admin: negative seed": ("POST", f"/_admin/indexes/{INDEX}/faults", {"seed": -1}, 400, "seed"),
    "admin: a typo": ("POST", f"/_admin/indexes/{INDEX}/faults", {"latency_msec": 5}, 400, "unknown fault setting"),
}
UNAUTHORIZED = {
    "auth: no key": {},
    "auth: wrong key": {"Api-Key": "not-the-key"},
    "auth: admin without a key": {},
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[PineconeServer, Path]]:
    """A keyed server with a data dir (no periodic snapshots: only a write changes its files) and an
    index holding a few records."""
    data_dir = tmp_path_factory.mktemp("badinput-server")
    with PineconeServer(data_dir=data_dir, api_key=KEY, snapshot_interval_s=0) as srv:
        with httpx.Client(base_url=srv.url, headers={"Api-Key": KEY}, timeout=30) as client:
            body = {"name": INDEX, "schema": {"fields": {"_values": {"type": "dense_vector", "dimension": DIM}}}}
            assert client.post("/indexes", json=body).status_code == 201
            upsert = {
                "vectors": [{"id": "a", "values": [1, 0, 0], "metadata": {"g": 1}}, {"id": "b", "values": [0, 1, 0]}]
            }
            assert client.post(f"{DATA}/vectors/upsert", json=upsert).status_code == 200
        yield srv, data_dir


def _still_serves(client: httpx.Client) -> None:
    answer = client.post(f"{DATA}/query", json={**Q, "topK": 2})
    assert answer.status_code == 200 and [m["id"] for m in answer.json()["matches"]] == ["a", "b"]


@pytest.mark.parametrize("case", list(CASES))
def test_a_bad_request_gets_its_status_writes_nothing_and_the_server_keeps_serving(
    case: str, server: tuple[PineconeServer, Path]
) -> None:
    srv, data_dir = server
    method, path, body, status, word = CASES[case]
    content = body if isinstance(body, bytes) else None if body is None else orjson.dumps(body)
    before = snapshot(data_dir)
    with httpx.Client(base_url=srv.url, headers={"Api-Key": KEY}, timeout=30) as client:
        headers = {"Content-Type": "application/json"}
        if "2026-04" in case:
            headers["X-Pinecone-Api-Version"] = "2026-04"
        response = client.request(method, path, content=content, headers=headers)
        assert response.status_code == status, response.text[:300]
        error = response.json()
        message = error["error"]["message"] if "error" in error else error["message"]
        assert word in message, message
        if "error" in error:  # the control plane's shape
            assert error["status"] == status and error["error"]["code"]
        else:
            assert isinstance(error["code"], int) and error["details"] == []
        _still_serves(client)
    assert_unchanged(before, data_dir)


@pytest.mark.parametrize("case", list(UNAUTHORIZED))
def test_a_request_without_the_key_is_refused(case: str, server: tuple[PineconeServer, Path]) -> None:
    srv, data_dir = server
    before = snapshot(data_dir)
    path = f"/_admin/indexes/{INDEX}/faults" if "admin" in case else f"{DATA}/vectors/upsert"
    response = httpx.post(srv.url + path, json={"latency_ms": 5, "vectors": _vectors(1)}, headers=UNAUTHORIZED[case])
    assert response.status_code == 401 and response.headers["content-type"].startswith("text/plain")
    assert "not-the-key" not in response.text and KEY not in response.text
    assert_unchanged(before, data_dir)


def test_the_server_table_is_large_enough() -> None:
    assert len(CASES) + len(UNAUTHORIZED) >= 60
