"""The backfill: complete, resumable from its checkpoint, retrying transient errors through the clock."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from harness.clock import ManualClock
from harness.errors import TransientStoreError
from harness.migration.backfill import Backfill, BackfillProgress, RetryPolicy
from harness.migration.journal import Journal
from harness.model import CollectionSchema, Distance, RecordBatch
from harness.records import NAMESPACE_FIELD, ORIGINAL_ID_FIELD, RecordMapping, qdrant_point_id
from harness.stores import open_store
from harness.stores.base import iter_batches
from harness.stores.exact import ExactStore


class Crash(Exception):
    """Stands for the process dying in the middle of a batch."""


class ScriptedTarget:
    """Forwards to ``inner``; ``on_upsert(n)`` runs before the n-th upsert (1-based) and may raise."""

    def __init__(self, inner: Any, on_upsert: Callable[[int], None]) -> None:
        self.inner = inner
        self.on_upsert = on_upsert
        self.upserts = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def upsert(self, batch: RecordBatch) -> None:
        self.upserts += 1
        self.on_upsert(self.upserts)
        self.inner.upsert(batch)


def _same_records(a: Any, b: Any) -> None:
    left = RecordBatch.concat(list(iter_batches(a)))
    right = b.fetch(list(left.ids))
    assert a.count() == b.count() == len(left)
    assert right.ids == left.ids and right.payloads == left.payloads
    np.testing.assert_allclose(right.vectors, left.vectors, atol=1e-6)


def test_copies_every_record_and_checkpoints_the_end(exact_pair: Any, tmp_path: Path) -> None:
    source, target = exact_pair(2345)
    seen: list[BackfillProgress] = []
    with Journal(tmp_path / "j.sqlite") as journal:
        result = Backfill(source, target, journal, batch_size=500, progress=True, on_batch=seen.append).run()
        checkpoint = journal.checkpoint()
    _same_records(source, target)
    assert (result.done, result.copied, result.batches, result.status) == (2345, 2345, 5, "optimized")
    assert (checkpoint.done, checkpoint.attempted, checkpoint.cursor) == (2345, 2345, None)
    assert [p.done for p in seen] == [500, 1000, 1500, 2000, 2345] and all(p.total == 2345 for p in seen)


def test_resumes_from_the_checkpoint_and_redoes_only_the_batch_in_flight(exact_pair: Any, tmp_path: Path) -> None:
    source, target = exact_pair(3000)

    def crash_on_fourth(n: int) -> None:
        if n == 4:
            raise Crash("killed")

    with Journal(tmp_path / "j.sqlite") as journal:
        with pytest.raises(Crash):
            Backfill(source, ScriptedTarget(target, crash_on_fourth), journal, batch_size=500, progress=False).run()
        assert journal.checkpoint().done == 1500
        resumed = Backfill(source, target, journal, batch_size=500, progress=False).run()
        checkpoint = journal.checkpoint()
    assert resumed.resumed_from == 1500 and resumed.copied == 1500
    # The crashed batch was sent once before the crash and once after: nothing acknowledged was redone.
    assert checkpoint.attempted == 3000 + 500 and checkpoint.done == 3000
    _same_records(source, target)


def test_transient_errors_back_off_exponentially_through_the_clock(exact_pair: Any, tmp_path: Path) -> None:
    source, target = exact_pair(1000)
    clock = ManualClock()

    def flaky(n: int) -> None:
        if n <= 3:
            raise TransientStoreError("503 from target")
        if n == 4:
            raise TransientStoreError("429 slow down", retry_after_s=7.0)

    policy = RetryPolicy(max_attempts=6, base_s=0.2, max_s=3.2, jitter=0.5)
    with Journal(tmp_path / "j.sqlite") as journal:
        result = Backfill(
            source, ScriptedTarget(target, flaky), journal, batch_size=500, clock=clock, retry=policy, progress=False
        ).run()
    assert result.retries == 4 and result.done == 1000
    waits = clock.sleeps
    assert len(waits) == 4
    for attempt, wait in enumerate(waits[:3]):
        full = 0.2 * 2**attempt
        assert full * 0.5 <= wait <= full  # exponential, with jitter of at most half
    assert waits[3] >= 7.0  # the server's Retry-After is honoured
    _same_records(source, target)


def test_exhausted_retries_raise_and_keep_the_checkpoint(exact_pair: Any, tmp_path: Path) -> None:
    source, target = exact_pair(1500)

    def outage_from_second(n: int) -> None:
        if n >= 2:
            raise TransientStoreError("target down")

    with Journal(tmp_path / "j.sqlite") as journal:
        backfill = Backfill(
            source,
            ScriptedTarget(target, outage_from_second),
            journal,
            batch_size=500,
            clock=ManualClock(),
            retry=RetryPolicy(max_attempts=3),
            progress=False,
        )
        with pytest.raises(TransientStoreError):
            backfill.run()
        assert journal.checkpoint().done == 500
        assert Backfill(source, target, journal, batch_size=500, progress=False).run().done == 1500
    _same_records(source, target)


def test_creates_the_target_from_the_source_schema_with_uri_overrides(exact_pair: Any, tmp_path: Path) -> None:
    source, _ = exact_pair(1200, dimension=16)
    target = open_store(f"qdrant-edge://{tmp_path / 'shard'}?m=8&ef_construct=32")
    try:
        with Journal(tmp_path / "j.sqlite") as journal:
            result = Backfill(source, target, journal, batch_size=400, progress=False).run()
        schema = target.describe()
        assert result.created_target and result.status == "optimized"
        assert (schema.dimension, schema.distance) == (16, Distance.COSINE)
        assert schema.hnsw is not None and (schema.hnsw.m, schema.hnsw.ef_construct) == (8, 32)
        _same_records(source, target)
    finally:
        target.close()


def test_pinecone_records_map_to_uuid_points_and_namespaces_stay_apart(tmp_path: Path) -> None:
    source = ExactStore("mig-pinecone-like")
    source.create(CollectionSchema(dimension=4, distance=Distance.COSINE))
    rng = np.random.default_rng(5)
    source.upsert(
        RecordBatch.build(
            ["doc-1", "doc-2", "doc-3"],
            rng.normal(size=(3, 4)),
            [{"year": 2020.0}, {"tags": ["a"]}, {}],
            namespaces=["ns-a", "ns-a", "ns-b"],
        )
    )
    target = open_store(f"qdrant-edge://{tmp_path / 'shard'}")
    try:
        with Journal(tmp_path / "j.sqlite") as journal:
            Backfill(source, target, journal, mapping=RecordMapping(pinecone_to_qdrant=True), progress=False).run()
        assert target.count() == 3
        point = target.fetch([qdrant_point_id("doc-1", "ns-a")])
        assert point.payloads[0] == {"year": 2020, ORIGINAL_ID_FIELD: "doc-1", NAMESPACE_FIELD: "ns-a"}
        assert isinstance(point.payloads[0]["year"], int)
        assert len(target.fetch([qdrant_point_id("doc-3", "ns-b")])) == 1
    finally:
        target.close()
        source.drop()


def test_with_dual_write_on_the_copy_waits_for_in_flight_writes_before_its_first_page(
    exact_pair: Any, tmp_path: Path
) -> None:
    source, target = exact_pair(100)
    clock = ManualClock()
    with Journal(tmp_path / "j.sqlite") as journal:
        journal.transition(0.0, "backfill", write_mode="dual_source_first")
        Backfill(source, target, journal, clock=clock, progress=False, activation_grace_s=2.0).run()
    assert clock.sleeps == [2.0]
