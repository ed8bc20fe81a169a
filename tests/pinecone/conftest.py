"""Helpers for tests that drive the Pinecone-compatible server through the real ``pinecone`` SDK."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from pinecone import Pinecone
from pinecone._internal.bulk.registry import get_registry
from pinecone._internal.http_client import get_budget_registry

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


@pytest.fixture(autouse=True)
def fresh_sdk_retry_state() -> Iterator[None]:
    """Reset the SDK's process-wide retry budget and throttle gate around every test here.

    The SDK keys both by bare host name ("127.0.0.1", whatever the port): each retryable failure
    (an injected 429/503) spends a token, and below half the budget it stops retrying. Without a
    reset, one test's injected faults would change how later tests' requests are retried.
    """
    get_budget_registry()._reset()
    get_registry()._reset()
    yield
    get_budget_registry()._reset()
    get_registry()._reset()
