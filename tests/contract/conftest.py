"""One parametrised fixture over every adapter: the contract suite runs the same tests against each.

Backends: ``exact``, ``qdrant-edge`` (a shard in a temp dir), ``qdrant-local`` (a unique ``:memory:``
collection), ``qdrant-local-disk`` (a collection in a temp dir), ``qdrant-server`` (Qdrant in Docker
through testcontainers; skipped with the reason when no Docker engine is reachable), ``qdrant-serve``
(``qdrant://`` through qdrant-client's REST against the project's Qdrant-compatible server over Qdrant
Edge, ``ragmig serve-qdrant``, which needs no Docker) and ``pinecone`` (the project's
Pinecone-compatible server through the real SDK; ``pinecone_server`` comes from tests/conftest.py).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.model import CollectionSchema, Distance
from harness.stores import VectorStore, open_store

DIMENSION = 8
SCHEMA = CollectionSchema(dimension=DIMENSION, distance=Distance.COSINE)


@dataclass(frozen=True)
class Backend:
    """How the contract tests address one adapter."""

    name: str
    uri_for: Callable[[str], str]
    """URI of the collection called NAME (which may not exist)."""
    invalid_id: object
    """An id this backend cannot hold (InvalidInputError expected)."""
    reports_hnsw: bool
    """describe() reports the real HNSW config (m, ef_construct, full_scan_threshold)."""
    squared_euclid: bool = False
    """Native euclid scores are squared distances (Pinecone), not distances (Qdrant, exact)."""

    def new_name(self) -> str:
        """A collection name no other test uses (valid for every backend: lowercase, digits, hyphen)."""
        return f"contract-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session")
def qdrant_server_url() -> Iterator[str]:
    """``qdrant://HOST:PORT`` of a throw-away Qdrant server in Docker; skips when Docker is absent."""
    from harness.stores.qdrant_container import docker_available, qdrant_server

    ok, why = docker_available()
    if not ok:
        pytest.skip(f"qdrant-server backend needs Docker: {why}")
    with qdrant_server() as url:
        yield url


@pytest.fixture(scope="session")
def qdrant_serve_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``qdrant://127.0.0.1:PORT`` of the project's Qdrant-compatible server (``ragmig serve-qdrant``)."""
    from harness.qdrant_server.testing import QdrantServer

    with QdrantServer(tmp_path_factory.mktemp("qdrant-serve")) as server:
        yield server.uri


@pytest.fixture
def local_disk_dir(tmp_path: Path) -> Iterator[Path]:
    """A directory for qdrant-local's SQLite files, on tmpfs when there is one.

    Local mode commits every point separately; on a real disk each commit is an fsync (300 points took
    4.5 s here), on tmpfs it is free, and the code path (SQLite, file lock) is the same.
    """
    shm = Path("/dev/shm")
    directory = Path(tempfile.mkdtemp(prefix="ragmig-contract-", dir=shm)) if os.access(shm, os.W_OK) else tmp_path
    yield directory
    if directory != tmp_path:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(
    params=[
        "exact",
        "qdrant-edge",
        "qdrant-local",
        "qdrant-local-disk",
        pytest.param("qdrant-server", marks=pytest.mark.docker),
        "qdrant-serve",
        "pinecone",
    ]
)
def backend(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Backend:
    """The adapter under test (see the module docstring)."""
    name: str = request.param
    if name == "exact":
        return Backend(name, lambda n: f"exact://{n}", invalid_id=-1, reports_hnsw=False)
    if name == "qdrant-edge":
        return Backend(name, lambda n: f"qdrant-edge://{tmp_path / n}", invalid_id="doc#1", reports_hnsw=True)
    if name == "qdrant-local":
        return Backend(name, lambda n: f"qdrant-local://:memory:/{n}", invalid_id="doc#1", reports_hnsw=False)
    if name == "qdrant-local-disk":
        directory = request.getfixturevalue("local_disk_dir")
        return Backend(name, lambda n: f"qdrant-local://{directory}/{n}", invalid_id="doc#1", reports_hnsw=False)
    if name in ("qdrant-server", "qdrant-serve"):
        url = request.getfixturevalue("qdrant_server_url" if name == "qdrant-server" else "qdrant_serve_url")
        return Backend(name, lambda n: f"{url}/{n}", invalid_id="doc#1", reports_hnsw=True)
    assert name == "pinecone"
    server = request.getfixturevalue("pinecone_server")
    monkeypatch.setenv("PINECONE_CONTROLLER_HOST", server.url)
    monkeypatch.setenv("PINECONE_API_KEY", "local-test-key")
    # Pinecone ids are ASCII of at most 512 characters.
    return Backend(name, lambda n: f"pinecone://{n}", invalid_id="x" * 600, reports_hnsw=False, squared_euclid=True)


def _release(store: VectorStore) -> None:
    drop = getattr(store, "drop", None)
    if callable(drop):  # in-process collections (exact, qdrant-local) would outlive the test otherwise
        drop()
    store.close()


@pytest.fixture
def store_factory(backend: Backend) -> Iterator[Callable[..., VectorStore]]:
    """``make(schema=SCHEMA)``: a new, empty collection on the backend under test, released after the test."""
    opened: list[VectorStore] = []

    def make(schema: CollectionSchema = SCHEMA) -> VectorStore:
        store = open_store(backend.uri_for(backend.new_name()))
        opened.append(store)
        store.create(schema)
        return store

    yield make
    for store in opened:
        _release(store)


@pytest.fixture
def empty_store(store_factory: Callable[..., VectorStore]) -> VectorStore:
    """A new, empty cosine collection of dimension ``DIMENSION``."""
    return store_factory()


@pytest.fixture
def missing_store(backend: Backend) -> Iterator[VectorStore]:
    """A handle on a collection that does not exist."""
    store = open_store(backend.uri_for(f"missing-{uuid.uuid4().hex[:10]}"))
    yield store
    store.close()
