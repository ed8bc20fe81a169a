"""The Qdrant-compatible server (``ragmig serve-qdrant``) on a free loopback port, and clients for it.

``qdrant`` is qdrant-client (the real SDK, REST); ``http`` a raw httpx client for wire-level checks;
``new_collection`` makes a uniquely named collection (deleted after the test).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from qdrant_client import QdrantClient, models

from harness.qdrant_server.testing import QdrantServer


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[QdrantServer]:
    """One server per module; ``optimize_quiet_s=0`` (optimizations only when triggered) keeps statuses exact."""
    with QdrantServer(tmp_path_factory.mktemp("qdrant-server"), optimize_quiet_s=0) as running:
        yield running


@pytest.fixture
def qdrant(server: QdrantServer) -> Iterator[QdrantClient]:
    client = QdrantClient(url=server.url, check_compatibility=False)
    yield client
    client.close()


@pytest.fixture
def http(server: QdrantServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30.0) as client:
        yield client


@pytest.fixture
def new_collection(qdrant: QdrantClient) -> Iterator[Callable[..., str]]:
    """``make(size=4, distance=COSINE, **create_kwargs)``: a new collection's name."""
    made: list[str] = []

    def make(size: int = 4, distance: models.Distance = models.Distance.COSINE, **kwargs: Any) -> str:
        name = f"c-{uuid.uuid4().hex[:10]}"
        qdrant.create_collection(name, vectors_config=models.VectorParams(size=size, distance=distance), **kwargs)
        made.append(name)
        return name

    yield make
    for name in made:
        qdrant.delete_collection(name)
