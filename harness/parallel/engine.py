"""The one distributed engine: Dask (``distributed``), through its own client — no scheduler or RPC of ours.

``Engine.local(n)`` starts a ``LocalCluster`` of ``n`` worker processes (one thread each: the work is
CPU-bound Python and Qdrant Edge holds the GIL, so threads would not run in parallel); ``Engine.remote``
connects to a running scheduler (``dask scheduler`` / ``dask worker`` on other machines). Tasks are
plain functions of importable modules, submitted with ``pure=False`` (a scan is not a pure function of its
arguments: the store changes) and, where the data lives in one worker, pinned to it.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any

from harness.errors import StoreError, UsageError

__all__ = [
    "AUTO_MIN_RECORDS",
    "HASH_SEED",
    "MAX_AUTO_WORKERS",
    "Engine",
    "check_cluster",
    "engine_for",
    "hash_seed_env",
    "resolve_workers",
    "seed_is_fixed",
]

AUTO_MIN_RECORDS = 200_000  # below this (source + target), "auto" stays in process: a cluster costs seconds
MAX_AUTO_WORKERS = 4
CONNECT_TIMEOUT_S = 30
WATCH_S = 5.0
"""How often a wait for a task's result checks that the workers holding this engine's work are still there."""
HASH_SEED = "6640"
"""The ``PYTHONHASHSEED`` a Dask nanny gives the workers it spawns unless told otherwise (dask/distributed
#8400); ``ragmig`` runs a partitioned verification with it so that its keys agree with theirs."""
LOCAL_CLUSTER_CONFIG = {
    "distributed.worker.profile.enabled": False,
    "distributed.scheduler.worker-ttl": None,
}
"""Dask settings of a local cluster. Its workers run without the statistical profiler (a stack sample of every
worker thread each 10 ms, for a dashboard the cluster does not have). Its scheduler, which runs in this
process, never restarts a worker for missed heartbeats (``worker-ttl``, 5 minutes by default): a Qdrant Edge
``optimize()`` holds this process's GIL for as long as the HNSW build takes (445 s for 1M records on a busy
machine), the scheduler cannot hear the workers meanwhile, and a restart closes the stores they hold. A local
worker that really dies closes its connection, which the scheduler notices without a TTL."""
_PROBE = ("ragmig", "parity-key", "b3f1c2d4-0000-4000-8000-000000000000")


def hash_seed_env() -> dict[str, str]:
    """``PYTHONHASHSEED`` for a process that verifies on Dask workers: the one already set, else ``HASH_SEED``."""
    seed = os.environ.get("PYTHONHASHSEED")
    return {"PYTHONHASHSEED": seed if seed and seed != "random" else HASH_SEED}


def seed_is_fixed() -> bool:
    """True when this process was started with a fixed ``PYTHONHASHSEED`` (a local cluster's workers then
    get it too and make the same parity keys); with a random seed "auto" stays in process."""
    return os.environ.get("PYTHONHASHSEED", "") not in ("", "random")


def _string_hashes() -> list[int]:
    return [hash(text) for text in _PROBE]


def resolve_workers(workers: int | str | None, records: int) -> int:
    """The number of local worker processes for ``workers`` ("auto"/None, or a count ≥ 1).

    "auto": the machine's CPU count (at most ``MAX_AUTO_WORKERS``, at least 2) when the stores hold
    at least ``AUTO_MIN_RECORDS`` records together, else 1 (in process: starting a cluster costs more
    than it saves on a small pair).
    """
    if workers is None or workers == "auto":
        if records < AUTO_MIN_RECORDS:
            return 1
        return max(2, min(MAX_AUTO_WORKERS, os.cpu_count() or 1))
    try:
        count = int(workers)
    except (TypeError, ValueError):
        raise UsageError(f"--workers must be a number of worker processes or 'auto', got {workers!r}") from None
    if count < 1:
        raise UsageError(f"--workers must be at least 1 (1 runs in this process), got {count}")
    return count


class Engine:
    """A Dask client, and the local cluster behind it when this engine started one."""

    def __init__(self, client: Any, cluster: Any = None, *, address: str | None = None) -> None:
        self.client = client
        self.cluster = cluster
        self.address = address
        self._holders: set[str] = set()  # the workers pinned work went to: they hold partitions and stores

    @classmethod
    def local(cls, workers: int) -> Engine:
        """A ``LocalCluster`` of ``workers`` processes, one thread each, no dashboard, on loopback."""
        import dask
        from distributed import Client, LocalCluster

        # The scheduler (in this process) and the workers the nannies start read LOCAL_CLUSTER_CONFIG.
        with dask.config.set(LOCAL_CLUSTER_CONFIG):
            cluster = LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,
                # Its HTTP endpoints (/health, /metrics) on a free loopback port, not Dask's 8787: two runs at
                # once on one machine would contend for it (the second warns and moves).
                scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                silence_logs=logging.ERROR,
                env=hash_seed_env(),  # the workers hash strings as this process does when its seed is set
            )
        try:
            client = Client(cluster, set_as_default=False)
        except BaseException:
            cluster.close()
            raise
        return cls(client, cluster)

    @classmethod
    def remote(cls, address: str) -> Engine:
        """A client of the scheduler at ``address`` (``tcp://HOST:8786``); ``UsageError`` when it does not answer."""
        from distributed import Client

        try:
            client = Client(address, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise UsageError(
                f"--cluster {address}: no Dask scheduler answered ({type(exc).__name__}: {exc}); start one with "
                "`dask scheduler` and `dask worker ADDRESS`, or drop --cluster for a local cluster"
            ) from None
        engine = cls(client, address=address)
        if not engine.workers():
            client.close()
            raise UsageError(
                f"--cluster {address}: the scheduler has no workers; start some with `dask worker {address}`"
            )
        return engine

    # -- lifecycle -------------------------------------------------------------------------------------
    def __enter__(self) -> Engine:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close every store the workers hold, the client, and the local cluster (its worker processes end)
        when this engine started it."""
        from harness.parallel.held import release_held

        with contextlib.suppress(Exception):  # a worker already gone took its stores with it
            self.client.run(release_held)
        try:
            self.client.close()
        finally:
            if self.cluster is not None:
                self.cluster.close()
                self.cluster = None

    @property
    def description(self) -> str:
        """What the verdict says about where the work ran."""
        where = f"the Dask cluster at {self.address}" if self.address else "a local Dask cluster"
        return f"{where} of {len(self.workers())} worker processes"

    def check_same_hashing(self) -> None:
        """``UsageError`` unless every worker hashes strings as this process does.

        Parity keys of string ids and payload digests are Python's keyed hash (``records.identity``,
        ``Comparison.payload_digests``), computed where a record is read: those made on a worker and those
        made here must agree, so this process and the workers need the same ``PYTHONHASHSEED`` (``ragmig
        certify`` and ``migrate`` set it; a ``dask worker`` uses 6640)."""
        here = _string_hashes()
        theirs = self.client.run(_string_hashes)
        if any(values != here for values in theirs.values()):
            seed = os.environ.get("PYTHONHASHSEED")
            raise UsageError(
                "the Dask workers hash strings differently from this process ("
                + (f"PYTHONHASHSEED={seed} here" if seed else "PYTHONHASHSEED is not set here")
                + f"): run this process and the workers with the same PYTHONHASHSEED (dask workers default to {HASH_SEED}); "
                "`ragmig certify` and `ragmig migrate` set it themselves"
            )

    # -- work ------------------------------------------------------------------------------------------
    def workers(self) -> list[str]:
        """The workers' addresses, sorted (a stable order to assign pinned work in)."""
        return sorted(self.client.scheduler_info()["workers"])

    def submit(self, fn: Callable[..., Any], *args: Any, worker: str | None = None, **kwargs: Any) -> Any:
        """Run ``fn(*args, **kwargs)`` as a task; on ``worker`` only, when given. Returns its future."""
        pinned: dict[str, Any] = {}
        if worker:
            pinned = {"workers": [worker], "allow_other_workers": False}
            self._holders.add(worker)
        return self.client.submit(fn, *args, pure=False, **pinned, **kwargs)

    def result(self, future: Any) -> Any:
        """The result of ``future`` (a task's exception is raised here).

        ``StoreError`` once a worker that pinned work went to has left the cluster (killed, restarted by its
        nanny under a new address): the partitions and stores it held went with it, and a task pinned to it
        would wait forever (Dask keeps a task whose only allowed worker is gone in "no-worker")."""
        while True:
            try:
                return future.result(timeout=WATCH_S)
            except TimeoutError:
                if future.done():
                    raise  # the task's own TimeoutError
            gone = sorted(self._holders - set(self.workers()))
            if gone:
                raise StoreError(
                    f"the Dask worker {gone[0]} is gone ({self.description} now): the partitions and stores it "
                    "held went with it; run the command again"
                )

    def run(self, fn: Callable[..., Any], *args: Any, worker: str | None = None, **kwargs: Any) -> Any:
        """``submit`` and wait for the result (``result``)."""
        return self.result(self.submit(fn, *args, worker=worker, **kwargs))

    def gather(self, futures: Sequence[Any]) -> list[Any]:
        """The results of ``futures`` in order (``result`` of each; the first exception is raised)."""
        return [self.result(future) for future in futures]


def check_cluster(address: str) -> int:
    """Connect to the scheduler at ``address`` and count its workers (``UsageError`` when there is no
    answer or no worker): a bad ``--cluster`` ends before any work."""
    with Engine.remote(address) as engine:
        return len(engine.workers())


def engine_for(workers: int, cluster: str | None) -> Engine | None:
    """The engine for ``--workers`` / ``--cluster``: None for one in-process worker, a remote client for
    ``cluster``, else a local cluster of ``workers`` processes."""
    if cluster:
        return Engine.remote(cluster)
    if workers <= 1:
        return None
    return Engine.local(workers)
