"""Shared fixtures for the harness's own tests (kept minimal)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from harness.pinecone_local.testing import PineconeServer


@pytest.fixture(scope="session")
def pinecone_server() -> Iterator[PineconeServer]:
    """A Pinecone-compatible server on a free loopback port for the whole session (no api key).

    Tests share it: give every index a unique name and delete it when done.
    """
    with PineconeServer() as server:
        yield server
