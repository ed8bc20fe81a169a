"""Dual-write: authoritative side first, the outbox for the other, per-record order, orphaned writes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from harness.clock import ManualClock
from harness.errors import TransientStoreError
from harness.faults.store import FaultyStore
from harness.migration.backfill import Backfill
from harness.migration.dualwrite import DualWriteStore, OrphanWatch
from harness.migration.flags import WriteMode
from harness.migration.flags_openfeature import InMemoryFlags
from harness.migration.journal import Journal
from harness.model import CollectionSchema, Distance, RecordBatch
from harness.records import RecordMapping, qdrant_point_id
from harness.stores.exact import ExactStore
from tests.migration.conftest import records


@pytest.fixture
def journal(tmp_path: Path) -> Any:
    with Journal(tmp_path / "j.sqlite") as j:
        yield j


def _pair(exact_pair: Any, n: int = 0) -> tuple[ExactStore, ExactStore]:
    source, target = exact_pair(n)
    target.create(source.describe())
    return source, target


def _has(store: Any, pid: Any, version: int | None = None) -> bool:
    got = store.fetch([pid])
    return len(got) == 1 and (version is None or got.payloads[0]["v"] == version)


@pytest.mark.parametrize(
    ("mode", "on_source", "on_target", "reads"),
    [
        (WriteMode.SOURCE_ONLY, True, False, "source"),
        (WriteMode.DUAL_SOURCE_FIRST, True, True, "source"),
        (WriteMode.DUAL_TARGET_FIRST, True, True, "target"),
        (WriteMode.TARGET_ONLY, False, True, "target"),
    ],
)
def test_write_mode_decides_where_writes_and_reads_go(
    exact_pair: Any, journal: Journal, mode: WriteMode, on_source: bool, on_target: bool, reads: str
) -> None:
    source, target = _pair(exact_pair)
    store = DualWriteStore(source, target, journal, InMemoryFlags(write_mode=mode))
    store.upsert(records([1, 2]))
    assert (_has(source, 1), _has(target, 1)) == (on_source, on_target)
    assert store.count() == (source if reads == "source" else target).count()
    store.delete([1])
    assert not _has(source, 1) and not _has(target, 1)


def test_a_failed_mirror_write_goes_to_the_outbox_and_replays(exact_pair: Any, journal: Journal) -> None:
    source, inner_target = _pair(exact_pair)
    clock = ManualClock()
    target = FaultyStore(inner_target, clock=clock)
    store = DualWriteStore(source, target, journal, InMemoryFlags(write_mode=WriteMode.DUAL_SOURCE_FIRST), clock)
    target.set_faults(write_error_rate=1.0)
    store.upsert(records([1, 2, 3]))  # acknowledged: the source has it, the outbox holds the rest
    store.delete([2])
    assert _has(source, 1) and not _has(inner_target, 1)
    assert journal.outbox.size("target") == 2
    assert journal.events("fault")[0].data["side"] == "target"
    assert store.replay_outbox().pending == 2  # still down: nothing lost, nothing reordered
    target.clear()
    report = store.replay_outbox()
    assert (report.acknowledged, report.pending) == (2, 0)
    assert _has(inner_target, 1) and _has(inner_target, 3) and not _has(inner_target, 2)


def test_later_writes_of_a_record_queue_behind_its_pending_ones(exact_pair: Any, journal: Journal) -> None:
    source, inner_target = _pair(exact_pair)
    target = FaultyStore(inner_target, clock=ManualClock())
    store = DualWriteStore(source, target, journal, InMemoryFlags(write_mode=WriteMode.DUAL_SOURCE_FIRST))
    target.set_faults(write_error_rate=1.0)
    store.upsert(records([7], version=1))
    target.clear()
    store.upsert(records([7], version=2))  # the target is back, but v1 is still queued: v2 must not overtake it
    store.upsert(records([8], version=2))  # another record is not held back
    assert not _has(inner_target, 7) and _has(inner_target, 8, version=2)
    store.replay_outbox()
    assert _has(inner_target, 7, version=2) and _has(source, 7, version=2)


def test_the_authoritative_sides_failure_fails_the_write(exact_pair: Any, journal: Journal) -> None:
    inner_source, target = _pair(exact_pair)
    source = FaultyStore(inner_source, clock=ManualClock())
    store = DualWriteStore(source, target, journal, InMemoryFlags(write_mode=WriteMode.DUAL_SOURCE_FIRST))
    source.set_faults(write_error_rate=1.0)
    with pytest.raises(TransientStoreError):
        store.upsert(records([1]))
    assert not _has(target, 1) and journal.outbox.size() == 0


def test_target_first_writes_replay_queued_target_writes_before_overtaking(exact_pair: Any, journal: Journal) -> None:
    source, inner_target = _pair(exact_pair)
    target = FaultyStore(inner_target, clock=ManualClock())
    flags = InMemoryFlags(write_mode=WriteMode.DUAL_SOURCE_FIRST)
    store = DualWriteStore(source, target, journal, flags)
    target.set_faults(write_error_rate=1.0)
    store.upsert(records([5], version=1))
    target.clear()
    flags.set_write_mode(WriteMode.DUAL_TARGET_FIRST)
    store.upsert(records([5], version=2))
    assert _has(inner_target, 5, version=2) and _has(source, 5, version=2)
    assert journal.outbox.size() == 0


def test_pinecone_writes_reach_the_target_mapped(exact_pair: Any, journal: Journal) -> None:
    source, target = _pair(exact_pair)
    store = DualWriteStore(
        source,
        target,
        journal,
        InMemoryFlags(write_mode=WriteMode.DUAL_SOURCE_FIRST),
        mapping=RecordMapping(pinecone_to_qdrant=True, default_namespace="ns"),
    )
    store.upsert(RecordBatch.build(["doc-1"], np.ones((1, 8)), [{"n": 1.0}]))
    mapped = qdrant_point_id("doc-1", "ns")
    assert _has(source, "doc-1") and target.fetch([mapped]).payloads[0]["__id__"] == "doc-1"
    store.delete(["doc-1"])
    assert not _has(target, mapped)


def test_orphan_watch_catches_a_writer_that_bypasses_the_flag(exact_pair: Any, journal: Journal) -> None:
    source, target = _pair(exact_pair, 100)
    store = DualWriteStore(source, target, journal, InMemoryFlags(write_mode=WriteMode.TARGET_ONLY))
    watch = OrphanWatch(source, journal)
    assert watch.start() == 100
    store.upsert(records([500]))  # through the flag: target only, not an orphan
    rogue = ExactStore(source.name)  # a second handle on the source, as a forgotten writer has
    rogue.upsert(records([1000, 1001]))
    rogue.upsert(records([3], version=9))
    rogue.delete([4])
    report = OrphanWatch(source, journal).check()  # baseline restored from the journal
    assert report.added == (1000, 1001) and report.changed == (3,) and report.deleted == (4,)
    assert report.count == 4 and 500 not in report.ids


def test_backfill_recopies_a_record_dual_written_while_its_page_was_in_flight(
    exact_pair: Any, journal: Journal
) -> None:
    source, target = exact_pair(1000)
    flags = InMemoryFlags(write_mode=WriteMode.DUAL_SOURCE_FIRST)
    writer = DualWriteStore(source, target, journal, flags)

    class RacingTarget:
        """Before the backfill writes its first page, the application updates record 3 (in that page)."""

        def __init__(self, inner: ExactStore) -> None:
            self.inner, self.raced = inner, False

        def __getattr__(self, name: str) -> Any:
            return getattr(self.inner, name)

        def upsert(self, batch: RecordBatch) -> None:
            if not self.raced and 3 in batch.ids:
                self.raced = True
                writer.upsert(records([3], version=2))
            self.inner.upsert(batch)

    target.create(source.describe())
    racing = RacingTarget(target)
    result = Backfill(source, racing, journal, batch_size=250, progress=False).run()  # type: ignore[arg-type]
    assert racing.raced and result.resynced >= 1
    # Without the re-copy the page's older version (v0) would have overwritten the update on the target.
    assert _has(target, 3, version=2) and _has(source, 3, version=2)
    assert target.count() == source.count() == 1000


def test_create_and_schema_of_the_wrapper(exact_pair: Any, journal: Journal) -> None:
    source, target = exact_pair(10)
    store = DualWriteStore(source, target, journal, InMemoryFlags())
    assert not store.exists()
    store.create(CollectionSchema(dimension=8, distance=Distance.COSINE))
    assert store.exists() and store.describe().dimension == 8 and source.count() == 10
