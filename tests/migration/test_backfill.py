"""The backfill: complete, resumable from its checkpoint, retrying transient errors through the clock."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import harness.migration.backfill as backfill_module
from harness.clock import ManualClock
from harness.errors import TransientStoreError
from harness.migration.backfill import Backfill, BackfillProgress, RetryPolicy, read_mapped
from harness.migration.journal import Journal
from harness.model import CollectionSchema, Distance, RecordBatch
from harness.parallel.held import WorkerStore, release_held
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


class InProcessRunner:
    """``WorkerStore``'s engine, run in this process: the "worker" holds its store here (``call_held``).
    Records the arguments of every task; ``fail_task`` (1-based) raises a transient error once, as a
    worker that lost its connection to the store would."""

    def __init__(self, fail_task: int = 0) -> None:
        self.tasks: list[tuple[Any, ...]] = []
        self.fail_task = fail_task

    def run(self, fn: Callable[..., Any], *args: Any, worker: str | None = None, **kwargs: Any) -> Any:
        self.tasks.append(args)
        if len(self.tasks) == self.fail_task:
            raise TransientStoreError("worker lost the source")
        return fn(*args, **kwargs)

    def reads(self) -> list[int]:
        """The number of pages each read task asked for."""
        return [args[-1] for args in self.tasks if args[1] is read_mapped]


@pytest.fixture
def worker_read(exact_pair: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """(source read through a ``WorkerStore`` on ``runner``, the source itself, the target): 100 records;
    a read task carries at most 30 records, so at batch size 7 four pages (28 records) a task."""
    monkeypatch.setattr(backfill_module, "WORKER_READ_RECORDS", 30)
    source, target = exact_pair(100)

    def make(runner: InProcessRunner) -> WorkerStore:
        return WorkerStore(runner, source.uri, "worker-1")

    yield make, source, target
    release_held()


def test_a_source_read_in_a_worker_comes_several_pages_a_task_and_is_copied_whole(
    worker_read: Any, tmp_path: Path
) -> None:
    make, source, target = worker_read
    runner = InProcessRunner()
    seen: list[BackfillProgress] = []
    with Journal(tmp_path / "j.sqlite") as journal:
        result = Backfill(make(runner), target, journal, batch_size=7, progress=False, on_batch=seen.append).run()
        checkpoint = journal.checkpoint()
    # 15 pages (14 of 7, one of 2) in tasks of 4 pages: 4 + 4 + 4 + 3; every page written and checkpointed.
    assert runner.reads() == [4, 4, 4, 4]
    assert (result.done, result.copied, result.batches) == (100, 100, 15)
    assert [p.done for p in seen] == [*range(7, 99, 7), 100]
    assert (checkpoint.done, checkpoint.attempted, checkpoint.cursor) == (100, 100, None)
    _same_records(source, target)


def test_a_crash_inside_a_read_task_s_pages_redoes_only_the_batch_in_flight(worker_read: Any, tmp_path: Path) -> None:
    make, source, target = worker_read

    def crash_on_sixth(n: int) -> None:  # the second page of the second read task
        if n == 6:
            raise Crash("killed")

    with Journal(tmp_path / "j.sqlite") as journal:
        with pytest.raises(Crash):
            Backfill(make(InProcessRunner()), ScriptedTarget(target, crash_on_sixth), journal, batch_size=7,
                     progress=False).run()  # fmt: skip
        assert journal.checkpoint().done == 35
        runner = InProcessRunner()
        resumed = Backfill(make(runner), target, journal, batch_size=7, progress=False).run()
        checkpoint = journal.checkpoint()
    # The resumed read starts at the crashed page, not at its task's first page: 65 records, 10 pages.
    assert runner.reads() == [4, 4, 4] and (resumed.resumed_from, resumed.copied, resumed.batches) == (35, 65, 10)
    assert checkpoint.attempted == 100 + 7 and checkpoint.done == 100
    _same_records(source, target)


def test_a_read_task_that_fails_transiently_is_retried_from_its_first_page(worker_read: Any, tmp_path: Path) -> None:
    make, source, target = worker_read
    # Tasks: the schema, the count, then the reads: the sixth task is the fourth (last) read.
    runner = InProcessRunner(fail_task=6)
    clock = ManualClock()
    with Journal(tmp_path / "j.sqlite") as journal:
        result = Backfill(make(runner), target, journal, batch_size=7, clock=clock, progress=False).run()
    assert runner.tasks[5][1] is read_mapped and len(clock.sleeps) == 1
    assert runner.reads() == [4, 4, 4, 4, 4] and (result.retries, result.done, result.batches) == (1, 100, 15)
    _same_records(source, target)


def test_read_mapped_stops_at_the_last_page_and_hands_each_page_its_own_cursor(exact_pair: Any) -> None:
    source, _ = exact_pair(20)
    mapping = RecordMapping()
    first = read_mapped(source, 6, None, mapping, pages=2)
    rest = read_mapped(source, 6, first[-1][2], mapping, pages=5)
    assert [n for n, _, _ in first] == [6, 6] and [n for n, _, _ in rest] == [6, 2]
    assert first[0][2] is not None and rest[-1][2] is None
    # The first page's cursor continues where the second page starts.
    assert read_mapped(source, 6, first[0][2], mapping)[0][1].ids == first[1][1].ids
    ids = [i for _, page, _ in first + rest for i in page.ids]
    assert sorted(ids) == sorted(RecordBatch.concat(list(iter_batches(source))).ids) and len(set(ids)) == 20
