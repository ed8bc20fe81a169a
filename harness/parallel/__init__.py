"""Parallel passes on Dask: a local cluster of worker processes, or a remote one by address.

- ``engine``: ``Engine`` (a ``distributed.Client`` of a ``LocalCluster`` of N worker processes, or of a
  remote scheduler) and ``engine_for(workers, cluster)``. ``distributed`` is imported only when an engine
  starts, so ``ragmig --help`` and the in-process path (``workers=1``) never pay for it.
- ``plan``: the partition planner — which store is read where (``access_of``), the chunks a store that
  allows concurrent readers is split into (``ChunkPlanner``), the key-space buckets digests are compared
  in (``bucket_of``), and ``plan_for_collection`` (workers, memory per worker, time) behind the README's
  100M plan. Pure: no store, no Dask.
- ``held``: stores held open inside a worker process between tasks (an Edge shard is opened by exactly
  one worker and never by the client), and ``WorkerStore``, a ``VectorStore`` whose every call runs in
  that worker.
"""

from harness.parallel.engine import Engine, engine_for, resolve_workers
from harness.parallel.plan import (
    Access,
    Chunk,
    ChunkPlanner,
    access_of,
    bucket_bounds,
    bucket_of,
    plan_for_collection,
)

__all__ = [
    "Access",
    "Chunk",
    "ChunkPlanner",
    "Engine",
    "access_of",
    "bucket_bounds",
    "bucket_of",
    "engine_for",
    "plan_for_collection",
    "resolve_workers",
]
