"""Fixtures for the migration tests: exact stores with seeded records, a fast config, recording seams."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

from harness.migration.config import MigrationConfig
from harness.model import Check, CollectionSchema, Distance, RecordBatch, Status, Verdict
from harness.stores.exact import ExactStore

_names = itertools.count()


def records(ids: range | list[int], dimension: int = 8, seed: int = 0, version: int = 0) -> RecordBatch:
    """Seeded records; ``version`` changes vectors and payloads so an update is visible."""
    rng = np.random.default_rng(seed + 7919 * version)
    ids = list(ids)
    vectors = rng.normal(size=(len(ids), dimension)).astype(np.float32)
    return RecordBatch.build(ids, vectors, [{"doc": i, "v": version} for i in ids])


def verdict(passed: bool) -> Verdict:
    """A verification verdict for the verifier seam."""
    return Verdict(checks=(Check("parity.ids", Status.PASS if passed else Status.FAIL, 0, 0),))


@pytest.fixture
def exact_pair() -> Iterator[Callable[[int], tuple[ExactStore, ExactStore]]]:
    """Make (source with ``n`` records, empty target not yet created); every store is dropped afterwards."""
    made: list[ExactStore] = []

    def make(n: int, dimension: int = 8) -> tuple[ExactStore, ExactStore]:
        i = next(_names)
        source, target = ExactStore(f"mig-src-{i}"), ExactStore(f"mig-tgt-{i}")
        source.create(CollectionSchema(dimension=dimension, distance=Distance.COSINE))
        for start in range(0, n, 5000):
            source.upsert(records(range(start, min(n, start + 5000)), dimension))
        made.extend((source, target))
        return source, target

    yield make
    for store in made:
        store.drop()


def fast_config(source: str, target: str, **sections: Any) -> MigrationConfig:
    """A config with short bakes (a ManualClock makes them free anyway) and small warm-up/shadow counts."""
    data: dict[str, Any] = {
        "source": source,
        "target": target,
        "batch_size": 500,
        "flag_propagation_s": 5.0,
        "canary": {"bake_time_s": 300.0, "health_interval_s": 60.0, "window_s": 600.0, "live_bake_s": 120.0},
        "thresholds": {"min_samples": 20, "failure_limit": 2},
        "shadow": {"queries": 20, "k": 5},
        "warm_up": {"queries": 20, "max_rounds": 3},
        "alerts": [],
    }
    for key, value in sections.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return MigrationConfig.model_validate(data)
