"""``backfill_vs_upsert``: what the backfill costs over a raw bulk load into the same target, Edge → Edge.

Both sides write the same records into a fresh Qdrant Edge shard with the same batch size, and both
exclude ``optimize()`` (the HNSW build is the same work either way and would only dilute the ratio):

- raw: the batches are read from the source and materialised in memory first, then upserted back to
  back — the fastest a loader can possibly go into that target;
- backfill: ``Backfill`` from a Qdrant Edge source shard, read the way ``ragmig migrate`` reads a source
  of this size: ``--workers auto`` starts a local Dask cluster for it (``resolve_workers``) and the first
  worker reads and maps the source while this process writes (``migration.run.read_in_worker``) —
  pages read ahead, a journal commit before and after every batch (attempt count, then cursor + done),
  the dual-write resync check, retries armed. The same copy with the source read in this process
  (``--workers 1``) is measured too and reported beside it (``in_process_ratio_median``).

Both timed runs keep the pre-existing heap out of the garbage collector's scans (``gc.freeze``), so
the materialised batches cost neither side. The figure is wall time, backfill ÷ raw
(≤ 1.3): the median over ``REPEATS`` adjacent pairs on fresh shards, so a background hiccup on a
shared machine cannot decide it; the CPU-time ratio of this process is reported beside it (the worker
that reads is another process).
"""

from __future__ import annotations

import gc
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.benchmarks import BenchResult, within
from harness.migration.backfill import Backfill
from harness.migration.journal import Journal
from harness.migration.run import read_in_worker
from harness.model import CollectionSchema, Distance, RecordBatch
from harness.parallel.engine import Engine, engine_for, resolve_workers
from harness.stores import open_store
from harness.stores.base import VectorStore, iter_batches

__all__ = ["backfill_vs_upsert"]

RECORDS = 100_000
DIMENSION = 128
BATCH_SIZE = 1000
REPEATS = 5
IN_PROCESS_REPEATS = 3
TARGET = "<= 1.3"


def _source(path: Path) -> VectorStore:
    """A Qdrant Edge shard of the bench's 100k records (not optimised: the copy reads its segments as they are)."""
    rng = np.random.default_rng(7)
    store = open_store(f"qdrant-edge://{path}")
    store.create(CollectionSchema(dimension=DIMENSION, distance=Distance.COSINE))
    for start in range(0, RECORDS, 10_000):
        ids = range(start, min(start + 10_000, RECORDS))
        vectors = rng.normal(size=(len(ids), DIMENSION)).astype(np.float32)
        payloads = [{"doc": f"d{i // 10}", "chunk": i % 10, "lang": "en"} for i in ids]
        store.upsert(RecordBatch.build(ids, vectors, payloads))
    return store


@dataclass(slots=True)
class _Timing:
    """Wall and process CPU seconds of one timed run (CPU is the steadier figure on a shared machine)."""

    wall_s: float = 0.0
    cpu_s: float = 0.0


@contextmanager
def _timed() -> Iterator[_Timing]:
    """Time the block. What exists before it (the in-memory source, the materialised batches) is kept
    out of the garbage collector's scans for both sides alike: only the run's own work is measured."""
    gc.collect()
    gc.freeze()
    timing = _Timing()
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        yield timing
    finally:
        timing.wall_s, timing.cpu_s = time.perf_counter() - wall, time.process_time() - cpu
        gc.unfreeze()


def _fresh_target(root: Path, name: str, schema: CollectionSchema) -> VectorStore:
    path = root / name
    shutil.rmtree(path, ignore_errors=True)
    store = open_store(f"qdrant-edge://{path}")
    store.create(schema)
    return store


def _raw(root: Path, batches: list[RecordBatch], schema: CollectionSchema) -> _Timing:
    target = _fresh_target(root, "raw", schema)
    try:
        with _timed() as timing:
            for batch in batches:
                target.upsert(batch)
        return timing
    finally:
        target.close()


def _backfill(root: Path, source: VectorStore, schema: CollectionSchema) -> _Timing:
    target = _fresh_target(root, "backfill", schema)
    journal_path = root / "journal.sqlite"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{journal_path}{suffix}").unlink(missing_ok=True)
    try:
        with Journal(journal_path) as journal:
            backfill = Backfill(source, target, journal, batch_size=BATCH_SIZE, progress=False, optimize=False)
            with _timed() as timing:
                result = backfill.run()
        if result.done != RECORDS or target.count() != RECORDS:
            raise RuntimeError(f"backfill copied {result.done} of {RECORDS} records")
        return timing
    finally:
        target.close()


def _pairs(
    root: Path, batches: list[RecordBatch], source: VectorStore, schema: CollectionSchema, repeats: int
) -> list[tuple[_Timing, _Timing]]:
    """(raw, backfill) timings of ``repeats`` adjacent pairs; the order alternates, so drift on a busy
    machine hits both sides alike."""
    pairs: list[tuple[_Timing, _Timing]] = []
    for repeat in range(repeats):
        if repeat % 2 == 0:
            raw = _raw(root, batches, schema)
            pairs.append((raw, _backfill(root, source, schema)))
        else:
            backfill = _backfill(root, source, schema)
            pairs.append((_raw(root, batches, schema), backfill))
    return pairs


def backfill_vs_upsert() -> BenchResult:
    """Backfill time ÷ raw bulk upsert time, 100k × 128 from a Qdrant Edge source into Qdrant Edge (both
    without optimize), the source read as ``ragmig migrate`` reads one of this size."""
    root = Path(tempfile.mkdtemp(prefix="ragmig-bench-"))
    source = _source(root / "source")
    engine: Engine | None = None
    try:
        schema = source.describe()
        batches = list(iter_batches(source, batch_size=BATCH_SIZE))
        in_process = _pairs(root, batches, source, schema, IN_PROCESS_REPEATS)
        # What `ragmig migrate --workers auto` runs for a source and a target of this size.
        workers = resolve_workers("auto", 2 * RECORDS)
        engine = engine_for(workers, None)
        reader = source if engine is None else read_in_worker(engine, source)
        pairs = _pairs(root, batches, reader, schema, REPEATS)
        ratios = [b.wall_s / r.wall_s for r, b in pairs]
        cpu_ratios = [b.cpu_s / r.cpu_s for r, b in pairs]
        ratio = float(np.median(ratios))
        return BenchResult(
            name="backfill_vs_upsert",
            value=ratio,
            unit="x",
            target=TARGET,
            ok=within(ratio, TARGET),
            details={
                "records": RECORDS,
                "dimension": DIMENSION,
                "source": "a Qdrant Edge shard"
                + ("" if engine is None else f", read by a Dask worker (migrate --workers auto: {workers} workers)"),
                "batch_size": BATCH_SIZE,
                "backfill_s": [round(b.wall_s, 3) for _, b in pairs],
                "raw_upsert_s": [round(r.wall_s, 3) for r, _ in pairs],
                "ratios": [round(x, 3) for x in ratios],
                "cpu_ratio_median": round(float(np.median(cpu_ratios)), 3),
                "backfill_vectors_per_s": round(RECORDS / min(b.wall_s for _, b in pairs)),
                "raw_vectors_per_s": round(RECORDS / min(r.wall_s for r, _ in pairs)),
                "repeats": REPEATS,
                "in_process_ratios": [round(b.wall_s / r.wall_s, 3) for r, b in in_process],
                "in_process_ratio_median": round(float(np.median([b.wall_s / r.wall_s for r, b in in_process])), 3),
                "optimize": "excluded from both",
            },
        )
    finally:
        if engine is not None:
            engine.close()
        source.close()
        shutil.rmtree(root, ignore_errors=True)
