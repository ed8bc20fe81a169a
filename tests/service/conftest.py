"""Fixtures for the query-service tests: source and target exact stores with the same records."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pytest

from harness.clock import ManualClock
from harness.migration.flags import WriteMode
from harness.migration.metrics import InProcessMetrics
from harness.model import CollectionSchema, Distance, RecordBatch
from harness.service import QueryService
from harness.stores.exact import ExactStore

DIM = 8
QUERIES = np.random.default_rng(99).standard_normal((50, DIM)).astype(np.float32)


class StaticFlags:
    """A FlagStore seam that holds what it was told and records every change."""

    def __init__(self, percent: float = 0.0) -> None:
        self.percent = percent
        self.mode = WriteMode.DUAL_SOURCE_FIRST
        self.changes: list[float] = []

    def read_percent(self) -> float:
        return self.percent

    def set_read_percent(self, percent: float) -> None:
        self.changes.append(percent)
        self.percent = percent

    def write_mode(self) -> WriteMode:
        return self.mode

    def set_write_mode(self, mode: WriteMode) -> None:
        self.mode = mode


def exact_store(prefix: str, n: int = 200) -> ExactStore:
    store = ExactStore(f"{prefix}-{uuid.uuid4().hex[:8]}")
    store.create(CollectionSchema(dimension=DIM, distance=Distance.COSINE))
    if n:
        vectors = np.random.default_rng(7).standard_normal((n, DIM))
        store.upsert(RecordBatch.build(range(n), vectors, [{"n": i} for i in range(n)]))
    return store


@dataclass
class Stack:
    source: ExactStore
    target: ExactStore
    writer: ExactStore
    flags: StaticFlags
    metrics: InProcessMetrics
    clock: ManualClock

    def service(self, **kwargs: object) -> QueryService:
        options: dict[str, object] = {
            "flags": self.flags,
            "metrics": self.metrics,
            "writer": self.writer,
            "clock": self.clock,
            "query_vectors": QUERIES,
        }
        options.update(kwargs)
        source = options.pop("source", self.source)
        target = options.pop("target", self.target)
        return QueryService(source, target, **options)  # type: ignore[arg-type]


@pytest.fixture
def stack() -> Iterator[Stack]:
    source, target, writer = exact_store("svc-src"), exact_store("svc-tgt"), exact_store("svc-writer", n=0)
    yield Stack(source, target, writer, StaticFlags(), InProcessMetrics(), ManualClock(start=1000.0))
    for store in (source, target, writer):
        store.drop()
