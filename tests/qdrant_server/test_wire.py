"""The server answers in Qdrant's wire shapes: the envelope, status codes and error texts (raw HTTP)."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from harness.qdrant_server.wire import MAX_REQUEST_BYTES


def _error(response: httpx.Response) -> str:
    body = response.json()
    assert set(body) == {"status", "time"}, body
    assert isinstance(body["time"], float)
    return str(body["status"]["error"])


def test_success_has_qdrants_envelope(http: httpx.Client, new_collection: Callable[..., str]) -> None:
    name = new_collection()

    response = http.post(f"/collections/{name}/points/count", json={"exact": True})

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["result"] == {"count": 0} and isinstance(body["time"], float)


def test_root_reports_the_qdrant_api_version_of_the_models_it_speaks(http: httpx.Client) -> None:
    from importlib.metadata import version

    body = http.get("/").json()

    assert body["version"] == version("qdrant-client")
    assert "serve-qdrant" in body["title"]
    assert http.get("/healthz").status_code == http.get("/readyz").status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/collections/{missing}", None),
        ("DELETE", "/collections/{missing}/index/field", None),
        ("PUT", "/collections/{missing}/points", {"points": [{"id": 1, "vector": [1.0, 0.0, 0.0, 0.0]}]}),
        ("POST", "/collections/{missing}/points", {"ids": [1]}),
        ("POST", "/collections/{missing}/points/scroll", {"limit": 1}),
        ("POST", "/collections/{missing}/points/count", {}),
        ("POST", "/collections/{missing}/points/query", {"query": [1.0, 0.0, 0.0, 0.0]}),
        ("POST", "/collections/{missing}/points/delete", {"points": [1]}),
        ("PATCH", "/collections/{missing}", {"optimizers_config": {}}),
    ],
)
def test_a_missing_collection_is_404_in_qdrants_words(http: httpx.Client, method: str, path: str, body: object) -> None:
    missing = "never-created"

    response = http.request(method, path.format(missing=missing), json=body)

    assert response.status_code == 404
    assert _error(response) == f"Not found: Collection `{missing}` doesn't exist!"


def test_exists_and_delete_of_a_missing_collection_answer_false(http: httpx.Client) -> None:
    assert http.get("/collections/never-created/exists").json()["result"] == {"exists": False}
    response = http.delete("/collections/never-created")
    assert response.status_code == 200 and response.json()["result"] is False


def test_creating_an_existing_collection_is_409(http: httpx.Client, new_collection: Callable[..., str]) -> None:
    name = new_collection()

    response = http.put(f"/collections/{name}", json={"vectors": {"size": 4, "distance": "Cosine"}})

    assert response.status_code == 409
    assert _error(response) == f"Wrong input: Collection `{name}` already exists!"


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (b"{not json", "Format error in JSON body"),
        (b'{"points": [{"id": 1, "vector": [NaN, 0, 0, 0]}]}', "Format error in JSON body"),
        (b'{"points": [{"id": 1, "vector": [1, 0, 0, 0], "colour": "red"}]}', "Format error in JSON body"),
        (b'{"points": [{"id": "doc#1", "vector": [1, 0, 0, 0]}]}', "Unable to parse UUID: doc#1"),
        (b'{"points": [{"id": -1, "vector": [1, 0, 0, 0]}]}', "invalid point id -1"),
        (
            b'{"points": [{"id": 1, "vector": [1, 0, 0]}]}',
            "Wrong input: Vector dimension error: expected dim: 4, got 3",
        ),
        (b"", "Format error in JSON body"),
    ],
)
def test_a_bad_upsert_is_400_and_changes_nothing(
    http: httpx.Client, new_collection: Callable[..., str], raw: bytes, why: str
) -> None:
    name = new_collection()

    response = http.put(
        f"/collections/{name}/points?wait=true", content=raw, headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 400
    assert why in _error(response)
    assert http.post(f"/collections/{name}/points/count", json={}).json()["result"]["count"] == 0


@pytest.mark.parametrize(
    ("path", "body", "status", "why"),
    [
        ("points/query", {"query": [1, 0, 0, 0], "limit": 0}, 422, "limit: value 0 invalid"),
        ("points/scroll", {"limit": 0}, 422, "limit: value 0 invalid"),
        (
            "points/query",
            {"query": [1, 0, 0, 0], "prefetch": {"query": [1, 0, 0, 0]}},
            400,
            "prefetch is not supported",
        ),
        ("points/query", {"query": {"fusion": "rrf"}}, 400, "is not supported"),
        ("points/query", {"query": [1, 0, 0, 0], "using": "nope"}, 400, "Not existing vector name"),
        ("points/query", {"query": [1, 0, 0, 0], "params": {"hnsw_ef": "many"}}, 400, "Format error in JSON body"),
        ("points/payload", {"payload": {"a": 1}}, 422, "Either list of point ids or filter must be provided"),
    ],
)
def test_bad_reads_and_unsupported_features_are_refused_not_ignored(
    http: httpx.Client, new_collection: Callable[..., str], path: str, body: object, status: int, why: str
) -> None:
    name = new_collection()

    response = http.post(f"/collections/{name}/{path}", json=body)

    assert response.status_code == status, response.text
    assert why in _error(response)


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (
            {"vectors": {"size": 4, "distance": "Cosine"}, "shard_number": 2},
            "shard_number=2 (one local shard per collection) is not supported",
        ),
        (
            {"vectors": {"size": 4, "distance": "Cosine"}, "wal_config": {"wal_capacity_mb": 64}},
            "wal_config is not supported",
        ),
        (
            {"vectors": {"size": 4, "distance": "Cosine"}, "optimizers_config": {"flush_interval_sec": 1}},
            "flush_interval_sec",
        ),
        (
            {"vectors": {"size": 4, "distance": "Cosine", "hnsw_config": {"m": 8, "copies": 2}}},
            "Format error in JSON body",
        ),
        ({"vectors": {"size": 4, "distance": "Cosinus"}}, "Format error in JSON body"),
        ({}, "a collection without vectors is not supported"),
    ],
)
def test_a_collection_edge_cannot_build_is_refused_and_not_created(http: httpx.Client, body: object, why: str) -> None:
    response = http.put("/collections/refused", json=body)

    assert response.status_code == 400, response.text
    assert why in _error(response)
    assert http.get("/collections/refused/exists").json()["result"] == {"exists": False}


@pytest.mark.parametrize(("name", "bad"), [("a:b", ":"), ("a*b", "*"), ("a|b", "|"), ("x" * 256, "length")])
def test_a_collection_name_qdrant_refuses_is_422(http: httpx.Client, name: str, bad: str) -> None:
    response = http.put(f"/collections/{name}", json={"vectors": {"size": 4, "distance": "Cosine"}})

    assert response.status_code == 422
    assert "Validation error in path parameters" in _error(response) and bad in _error(response)


def test_dot_dot_is_refused_as_a_collection_name(http: httpx.Client) -> None:
    # ".." must never become a directory of ours.
    response = http.put("/collections/%2E%2E", json={"vectors": {"size": 4, "distance": "Cosine"}})

    assert response.status_code == 422
    assert "'..' is not a collection name" in _error(response)


def test_an_unknown_route_is_404_in_qdrants_shape(http: httpx.Client) -> None:
    response = http.post("/collections/x/points/recommend", json={})

    assert response.status_code == 404
    assert _error(response).startswith("Not found: no route POST")


def test_a_body_over_32_mb_is_400_and_the_server_keeps_serving(
    http: httpx.Client, new_collection: Callable[..., str]
) -> None:
    name = new_collection()
    raw = b'{"points": [' + b" " * (MAX_REQUEST_BYTES + 1) + b"]}"

    response = http.put(f"/collections/{name}/points", content=raw, headers={"Content-Type": "application/json"})

    assert response.status_code == 400
    assert "larger than allowed" in _error(response)
    assert http.get(f"/collections/{name}").status_code == 200
