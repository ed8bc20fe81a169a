"""Shared fixtures for the harness's own tests (kept minimal); every verdict a test writes must match the
shipped JSON Schema (``tests/verdict_schemas.py``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pinecone._internal.bulk.registry import get_registry
from pinecone._internal.http_client import get_budget_registry

from harness.pinecone_local.testing import PineconeServer
from tests.verdict_schemas import verdicts_match_the_schema

__all__ = ["fresh_sdk_retry_state", "pinecone_server", "verdicts_match_the_schema"]


@pytest.fixture(scope="session")
def pinecone_server() -> Iterator[PineconeServer]:
    """A Pinecone-compatible server on a free loopback port for the whole session (no api key).

    Tests share it: give every index a unique name and delete it when done.
    """
    with PineconeServer() as server:
        yield server


@pytest.fixture(autouse=True)
def fresh_sdk_retry_state() -> Iterator[None]:
    """Reset the pinecone SDK's process-wide retry budget and throttle gate around every test.

    The SDK keys both by bare host name ("127.0.0.1", whatever the port): each retryable failure
    (an injected 429/503, here or in tests/faults) spends a token, and below half the budget it stops
    retrying. Without a reset, one test's injected faults would change how later tests are retried.
    """
    get_budget_registry()._reset()
    get_registry()._reset()
    yield
    get_budget_registry()._reset()
    get_registry()._reset()
