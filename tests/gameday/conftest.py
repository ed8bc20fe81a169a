"""Fixtures for the game-day tests: a fresh embedded stack per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from scenarios.gameday.stack import GameDayStack


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[GameDayStack]:
    """A ``GameDayStack`` in ``tmp_path``, closed (servers stopped, stores dropped) afterwards."""
    with GameDayStack(tmp_path) as built:
        yield built
