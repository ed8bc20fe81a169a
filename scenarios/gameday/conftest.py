"""Fixtures of the game-day suite: ``stack``, the embedded stack one scenario runs on (a temporary
directory, exact / Qdrant Edge / Pinecone-compatible stores, cleaned up afterwards)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from scenarios.gameday.stack import GameDayStack


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "ragmig_gameday: a game-day scenario on the embedded stack")


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[GameDayStack]:
    """A fresh ``GameDayStack`` in ``tmp_path``."""
    with GameDayStack(tmp_path) as built:
        yield built
