"""Fixtures for the fault-injection tests: exact stores with a few records, a manual clock."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import numpy as np
import pytest

from harness.clock import ManualClock
from harness.model import CollectionSchema, Distance, RecordBatch
from harness.stores.exact import ExactStore

DIM = 8


def records(ids: range | list[int], seed: int = 0) -> RecordBatch:
    """Records with these ids and seeded random vectors."""
    ids = list(ids)
    rng = np.random.default_rng(seed)
    return RecordBatch.build(ids, rng.standard_normal((len(ids), DIM)), [{"n": i} for i in ids])


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=100.0)


@pytest.fixture
def exact() -> Iterator[ExactStore]:
    """An empty exact store of dimension 8 (cosine), dropped afterwards."""
    store = ExactStore(f"faults-{uuid.uuid4().hex[:8]}")
    store.create(CollectionSchema(dimension=DIM, distance=Distance.COSINE))
    yield store
    store.drop()
