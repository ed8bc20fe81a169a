"""Helpers for tests that drive the Pinecone-compatible server through the real ``pinecone`` SDK."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from pinecone import Pinecone

from harness.pinecone_local.testing import PineconeServer

API_KEY = "test-key"


def unique_name(prefix: str) -> str:
    """An index name no other test in the session uses."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session")
def pc(pinecone_server: PineconeServer) -> Iterator[Pinecone]:
    """The SDK's control-plane client pointed at the session server."""
    client = Pinecone(api_key=API_KEY, host=pinecone_server.url)
    yield client
    client.close()
