"""The partition planner: what each worker reads, and where the digests are compared. Pure arithmetic.

How a store is read depends on who may open it (``access_of``):
- ``exclusive`` — Qdrant Edge (one handle per shard directory) and qdrant-client's local mode (a file
  lock): the whole store is one partition, read by one worker, which holds it open for the rest of the run
  (fetches, searches); the client process never opens it meanwhile.
- ``shared`` — a Qdrant server (``qdrant://``, also ``ragmig serve-qdrant``) and Pinecone: many readers
  at once. An ids-only scan (``scroll_ids``: Qdrant's scroll without vectors and payloads, Pinecone's
  ``list``) is cut into chunks of whole pages (``ChunkPlanner``); a chunk is the cursor of its first page
  and its page count, and a worker reads it with ``scroll`` from that cursor — the same pages, in the same
  order, as one scroll of the whole store, so the chunks cover every record exactly once and the result
  does not depend on how many workers read them.
- ``local`` — a store that lives in the client process (``exact://``, a fault-injecting wrapper): read
  there.

The digests each partition produced are compared in key-space buckets (data-diff's segments): a record's
64-bit parity key picks its bucket by its top bits (``bucket_of``), so a record and its counterpart on the
other side always meet in the same bucket, whichever partitions read them. A bucket holds about
``records / buckets`` rows of each side; ``plan_for_collection`` picks the counts so that a bucket, a
chunk's digests and a worker's share stay within the memory given.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "DIGEST_BYTES_PER_RECORD",
    "Access",
    "Chunk",
    "ChunkPlanner",
    "CollectionPlan",
    "access_of",
    "bucket_bounds",
    "bucket_count",
    "bucket_of",
    "chunk_records_for",
    "plan_for_collection",
]

U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]

# What parity keeps per record and side (verify/parity.py): key 8, vector and payload digests 16 + 16,
# key order 8, the id (8 for an integer id, a UUID or a short string a little more) ~10.
DIGEST_BYTES_PER_RECORD = 58
BUCKET_ROW_BYTES = 8 + 16 + 16 + 8 + 8  # key, two digests, position, named/sparse flags and slack
MAX_BUCKET_BYTES = 64 * 2**20  # both sides of one bucket while it is compared
MIN_CHUNK_RECORDS = 50_000
MAX_CHUNK_RECORDS = 2_000_000
CHUNKS_PER_WORKER = 4  # a few chunks per worker, so an early finisher takes another (balance)


class Access(StrEnum):
    """Who may read a store at the same time (see the module docstring)."""

    EXCLUSIVE = "exclusive"
    SHARED = "shared"
    LOCAL = "local"


_ACCESS = {
    "qdrant-edge": Access.EXCLUSIVE,
    "qdrant-local": Access.EXCLUSIVE,
    "qdrant": Access.SHARED,
    "pinecone": Access.SHARED,
    "exact": Access.LOCAL,
}


def access_of(scheme: str | None) -> Access:
    """The access of a store by its URI scheme (None: not a store URI, e.g. a wrapper's label → local)."""
    return _ACCESS.get(scheme or "", Access.LOCAL)


# -- chunks of a shared store -------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Chunk:
    """Pages ``[first_page, first_page + pages)`` of a store's scroll: read from ``cursor`` (None: the
    start) for ``pages`` pages of the plan's batch size. ``records``: the ids the plan saw in them."""

    index: int
    cursor: str | None
    first_page: int
    pages: int
    records: int


class ChunkPlanner:
    """Cuts an ids-only scan into chunks of whole pages holding about ``chunk_records`` records each.

    Feed it each page of the scan (``add_page(cursor_of_that_page, ids_in_it)``, in order); it returns a
    chunk each time one is complete, and ``finish()`` returns the last, partial one.
    """

    def __init__(self, chunk_records: int) -> None:
        if chunk_records < 1:
            raise ValueError(f"chunk_records must be at least 1, got {chunk_records}")
        self.chunk_records = chunk_records
        self._pages = 0
        self._start_cursor: str | None = None
        self._start_page = 0
        self._records = 0
        self._chunks = 0

    def add_page(self, cursor: str | None, ids: int) -> Chunk | None:
        """Page number ``n`` (the n-th call) starts at ``cursor`` and holds ``ids`` ids."""
        if self._records == 0 and self._pages == self._start_page:
            self._start_cursor = cursor
        self._pages += 1
        self._records += ids
        if self._records >= self.chunk_records:
            return self._cut()
        return None

    def finish(self) -> Chunk | None:
        """The last chunk (None when every page is already in one)."""
        return self._cut() if self._pages > self._start_page else None

    def _cut(self) -> Chunk:
        chunk = Chunk(self._chunks, self._start_cursor, self._start_page, self._pages - self._start_page, self._records)
        self._chunks += 1
        self._start_page = self._pages
        self._records = 0
        return chunk


# -- key-space buckets --------------------------------------------------------------------------------
def bucket_count(records: int, workers: int = 1, max_bucket_bytes: int = MAX_BUCKET_BYTES) -> int:
    """Buckets (a power of two) so that one bucket of both sides fits ``max_bucket_bytes``, at least one
    per worker."""
    need = math.ceil(2 * max(records, 1) * BUCKET_ROW_BYTES / max_bucket_bytes)
    return 1 << max(0, math.ceil(math.log2(max(need, workers, 1))))


def bucket_of(keys: U64, buckets: int) -> I64:
    """The bucket of each 64-bit key: its top ``log2(buckets)`` bits (``buckets`` a power of two)."""
    if buckets < 1 or buckets & (buckets - 1):
        raise ValueError(f"buckets must be a power of two, got {buckets}")
    shift = np.uint64(64 - (buckets.bit_length() - 1))
    if buckets == 1:
        return np.zeros(len(keys), dtype=np.int64)
    return (np.asarray(keys, dtype=np.uint64) >> shift).astype(np.int64)


def bucket_bounds(bucket: int, buckets: int) -> tuple[int, int]:
    """The keys ``[low, high)`` of ``bucket`` (``high`` is 2**64 for the last bucket)."""
    width = 2**64 // buckets
    return bucket * width, (bucket + 1) * width


# -- the plan of a whole collection -------------------------------------------------------------------
def chunk_records_for(records: int, workers: int) -> int:
    """Records per chunk of a shared store: about ``CHUNKS_PER_WORKER`` chunks per worker, within
    [``MIN_CHUNK_RECORDS``, ``MAX_CHUNK_RECORDS``]."""
    share = math.ceil(max(records, 1) / (max(workers, 1) * CHUNKS_PER_WORKER))
    return max(MIN_CHUNK_RECORDS, min(MAX_CHUNK_RECORDS, share))


@dataclass(frozen=True, slots=True)
class CollectionPlan:
    """A certification of ``records`` × ``dimension`` on ``workers`` workers, on paper."""

    records: int
    dimension: int
    workers: int
    chunk_records: int
    chunks_per_side: int
    buckets: int
    digest_mb_per_worker: float
    bucket_mb: float
    spill_gb_per_worker: float
    scan_s: float
    ground_truth_s: float
    total_s: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, rounded."""
        return {
            "records": self.records,
            "dimension": self.dimension,
            "workers": self.workers,
            "chunk_records": self.chunk_records,
            "chunks_per_side": self.chunks_per_side,
            "buckets": self.buckets,
            "digest_mb_per_worker": round(self.digest_mb_per_worker, 1),
            "bucket_mb": round(self.bucket_mb, 1),
            "spill_gb_per_worker": round(self.spill_gb_per_worker, 2),
            "scan_s": round(self.scan_s, 1),
            "ground_truth_s": round(self.ground_truth_s, 1),
            "total_s": round(self.total_s, 1),
        }


def plan_for_collection(
    records: int,
    dimension: int,
    workers: int,
    *,
    scan_us_per_record: float,
    queries: int = 200,
    matmul_gflops: float = 20.0,
    fixed_s: float = 10.0,
) -> CollectionPlan:
    """Chunks, buckets, memory and time of certifying a shared-store pair of ``records`` × ``dimension``.

    ``scan_us_per_record``: the measured cost of reading and digesting one record of one side on one core
    (README, "Scaling"); both sides' chunks are spread over ``workers`` processes. Ground truth is the
    matmul of the query set against every source vector at ``matmul_gflops`` per worker. Memory per worker:
    the digests of its share of both sides' chunks; the spilled source vectors go to its local disk.
    """
    chunk = chunk_records_for(records, workers)
    chunks = math.ceil(records / chunk)
    buckets = bucket_count(records, workers)
    share = 2 * records / workers  # records of both sides each worker reads
    scan_s = share * scan_us_per_record / 1e6
    gt_s = 2.0 * queries * records * dimension / (matmul_gflops * 1e9 * workers)
    return CollectionPlan(
        records=records,
        dimension=dimension,
        workers=workers,
        chunk_records=chunk,
        chunks_per_side=chunks,
        buckets=buckets,
        digest_mb_per_worker=share * DIGEST_BYTES_PER_RECORD / 2**20,
        bucket_mb=2 * records / buckets * BUCKET_ROW_BYTES / 2**20,
        spill_gb_per_worker=records / workers * dimension * 4 / 2**30,
        scan_s=scan_s,
        ground_truth_s=gt_s,
        total_s=fixed_s + scan_s + gt_s,
    )
