"""qdrant-client adapter specifics: local mode's honesty and sharing, URI options, error translation."""

from __future__ import annotations

import socket
import uuid
from pathlib import Path

import httpx
import numpy as np
import pytest
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from harness.datasets import synthetic_corpus
from harness.errors import (
    CollectionNotFoundError,
    InvalidInputError,
    InvalidURIError,
    StoreUnreachableError,
    TransientStoreError,
    UsageError,
)
from harness.model import CollectionSchema, Distance, HnswConfig, RecordBatch
from harness.stores import open_store
from harness.stores.qdrant import QdrantStore
from harness.stores.qdrant_container import docker_available

SCHEMA = CollectionSchema(dimension=4, distance=Distance.COSINE, hnsw=HnswConfig(4, 8, 1), quantization="scalar")


def _memory_uri() -> str:
    return f"qdrant-local://:memory:/c_{uuid.uuid4().hex[:10]}"


def test_local_mode_does_not_pass_off_fake_index_config() -> None:
    store = open_store(_memory_uri())
    store.create(SCHEMA)

    schema = store.describe()
    store.drop()  # type: ignore[attr-defined]

    assert (schema.dimension, schema.distance) == (4, Distance.COSINE)
    assert schema.index_config_reported is False
    assert schema.hnsw is None and schema.quantization is None
    assert schema.backend == "qdrant-local"


@pytest.mark.parametrize("where", ["memory", "disk"])
def test_local_handles_on_one_location_share_data(tmp_path: Path, where: str) -> None:
    uri = _memory_uri() if where == "memory" else f"qdrant-local://{tmp_path}/shared"
    first, second = open_store(uri), open_store(uri)
    first.create(SCHEMA)
    first.upsert(next(synthetic_corpus(12, 4, id_kind="uuid")))

    assert second.count() == 12
    first.close()
    assert second.count() == 12
    second.drop()  # type: ignore[attr-defined]
    second.close()


def test_local_disk_data_survives_closing(tmp_path: Path) -> None:
    uri = f"qdrant-local://{tmp_path}/kept"
    store = open_store(uri)
    store.create(SCHEMA)
    store.upsert(next(synthetic_corpus(7, 4)))
    store.close()

    reopened = open_store(uri)
    assert reopened.count() == 7
    reopened.close()


def test_local_search_ignores_search_params_without_warning() -> None:
    store = open_store(_memory_uri())
    store.create(SCHEMA)
    store.upsert(next(synthetic_corpus(20, 4)))

    # filterwarnings=error: local mode's "search_params has no effect" warning would fail this test.
    result = store.search(np.ones((2, 4), dtype=np.float32), 3, {"hnsw_ef": 4, "exact": False})
    store.drop()  # type: ignore[attr-defined]

    assert [len(r) for r in result.ids] == [3, 3]


def test_local_mode_over_20000_points_does_not_warn() -> None:
    store = open_store(_memory_uri())
    store.create(CollectionSchema(dimension=2, distance=Distance.DOT))
    for batch in synthetic_corpus(20_050, 2, batch_size=10_025):
        store.upsert(batch)  # local mode warns past 20,000 points; the adapter silences exactly that

    assert store.count() == 20_050
    store.drop()  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "uri",
    [
        "qdrant-local://:memory:/c?m=4",
        "qdrant-local://:memory:/c?hnsw_ef=10",
        "qdrant://127.0.0.1:6333/c?colour=blue",
        "qdrant://127.0.0.1:6333/c?m=-1",
        "qdrant://127.0.0.1:6333/c?grpc=perhaps",
    ],
)
def test_bad_options_are_rejected(uri: str) -> None:
    with pytest.raises(InvalidURIError):
        open_store(uri)


def _refused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("grpc", [False, True])
def test_unreachable_server_is_one_line_store_unreachable(grpc: bool) -> None:
    port = _refused_port()
    options = f"?grpc=1&grpc_port={port}&timeout=2" if grpc else "?timeout=2"
    store = open_store(f"qdrant://127.0.0.1:{port}/c{options}")

    with pytest.raises(StoreUnreachableError) as caught:
        store.count()
    store.close()

    assert f"127.0.0.1:{port}" in str(caught.value)
    assert "\n" not in str(caught.value)


def _server_store() -> QdrantStore:
    store = open_store("qdrant://127.0.0.1:6333/docs")
    assert isinstance(store, QdrantStore)
    return store


def _response(status: int, headers: dict[str, str] | None = None) -> UnexpectedResponse:
    return UnexpectedResponse(status, "reason", b'{"status": {"error": "boom"}}', httpx.Headers(headers or {}))


def test_server_errors_are_translated() -> None:
    store = _server_store()

    assert isinstance(store._translate(_response(404), "count"), CollectionNotFoundError)
    throttled = store._translate(_response(429, {"retry-after": "3"}), "upsert")
    assert isinstance(throttled, TransientStoreError) and throttled.retry_after_s == 3.0
    assert isinstance(store._translate(_response(503), "query"), TransientStoreError)
    assert isinstance(store._translate(_response(401), "count"), UsageError)
    assert isinstance(store._translate(_response(400), "upsert"), InvalidInputError)
    refused = ResponseHandlingException(httpx.ConnectError("Connection refused"))
    assert isinstance(store._translate(refused, "count"), StoreUnreachableError)
    store._reached = True  # once the server answered, a lost connection is worth retrying
    assert isinstance(store._translate(refused, "count"), TransientStoreError)
    store.close()


def test_closed_store_says_so() -> None:
    store = open_store(_memory_uri())
    store.close()
    store.close()  # idempotent

    with pytest.raises(UsageError, match="closed"):
        store.count()


def test_fetch_of_a_missing_local_collection_is_collection_not_found() -> None:
    store = open_store(_memory_uri())
    with pytest.raises(CollectionNotFoundError):
        store.upsert(RecordBatch.build([1], np.ones((1, 4))))
    store.close()


def test_docker_probe_gives_a_reason_when_there_is_no_engine(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/docker.sock")

    ok, why = docker_available()

    assert not ok
    assert str(tmp_path / "docker.sock") in why
