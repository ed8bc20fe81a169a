"""Reading pages relaxes Python's cyclic garbage collector for as long as the pages are read, and only then.

``iter_batches`` (every full scan, the floor the benchmarks measure against) raises the youngest generation's
threshold to ``PAGING_GC_CONTAINERS_PER_RECORD`` × the page size while it pages, puts the threshold back when
the scan ends or is abandoned, leaves alone a threshold someone changed meanwhile, and still collects cycles.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator

import numpy as np
import pytest

from harness.model import CollectionSchema, Distance, RecordBatch
from harness.stores import open_store
from harness.stores.base import PAGING_GC_CONTAINERS_PER_RECORD, VectorStore, iter_batches, paging_gc


@pytest.fixture(autouse=True)
def default_threshold() -> Iterator[None]:
    saved = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield
    gc.set_threshold(*saved)


def _store_of(n: int) -> VectorStore:
    store = open_store("exact://paging-gc")
    store.create(CollectionSchema(4, Distance.COSINE))
    rng = np.random.default_rng(0)
    store.upsert(RecordBatch(ids=tuple(range(n)), vectors=rng.normal(size=(n, 4)).astype(np.float32),
                             payloads=tuple({"i": i, "tags": ["a", str(i)]} for i in range(n))))  # fmt: skip
    return store


def test_a_scan_raises_the_threshold_while_it_pages_and_puts_it_back_after() -> None:
    seen = []
    with paging_gc(100):
        seen.append(gc.get_threshold())
    with paging_gc(1):  # pages so small that the default is higher already: never lowered
        seen.append(gc.get_threshold())
    assert seen == [(PAGING_GC_CONTAINERS_PER_RECORD * 100, 10, 10), (700, 10, 10)]
    assert gc.get_threshold() == (700, 10, 10)


def test_a_threshold_already_higher_stays_and_one_changed_meanwhile_is_left_alone() -> None:
    gc.set_threshold(10**6, 10, 10)
    with paging_gc(7):
        assert gc.get_threshold()[0] == 10**6  # never lowered
    assert gc.get_threshold()[0] == 10**6
    gc.set_threshold(700, 10, 10)
    with paging_gc(7):
        gc.set_threshold(1234, 10, 10)  # someone else's choice, made while the pages were read
    assert gc.get_threshold()[0] == 1234


def test_two_scans_at_once_end_at_the_threshold_before_either() -> None:
    first, second = paging_gc(3), paging_gc(3)
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)
    second.__exit__(None, None, None)
    assert gc.get_threshold() == (700, 10, 10)


def test_an_abandoned_scan_puts_the_threshold_back_and_cycles_are_still_collected() -> None:
    pages = iter_batches(_store_of(50), batch_size=20)
    assert len(next(pages)) == 20
    assert gc.get_threshold()[0] == PAGING_GC_CONTAINERS_PER_RECORD * 20
    pages.close()  # a caller that stops early (an error, a sample that has enough)
    assert gc.get_threshold() == (700, 10, 10)
    with paging_gc(10):
        cycle: list[object] = []
        cycle.append(cycle)
        del cycle
        assert gc.collect() >= 1  # relaxed, not off


def test_a_full_scan_returns_every_record_with_the_threshold_back_at_the_end() -> None:
    batches = list(iter_batches(_store_of(50), batch_size=20))
    assert [len(b) for b in batches] == [20, 20, 10]
    assert sorted(i for b in batches for i in b.ids) == list(range(50))
    assert gc.get_threshold() == (700, 10, 10)
