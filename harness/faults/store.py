"""``FaultyStore``: a ``VectorStore`` wrapper that injects seeded, switchable faults.

Faults are described by a ``FaultPlan`` (a frozen value) and switched at run time with
``set_faults(...)``, ``clear()`` or ``with store.faults(...):``. Every injected fault is appended to
``fault_log`` (harness time, operation, kind, detail) so a game-day timeline can show it.

Timed schedules: ``follow(FaultSchedule)`` (``harness.faults.schedule``: bursts, flapping, ramps) puts
each of its plans in force for its span of time after the schedule's start; outside them the store's
own plan applies. The plan in force is looked up at every operation on the store's clock.

Operation kinds: ``read`` (describe, exists, count, scroll, fetch), ``write`` (create, upsert, delete,
optimize) and ``search``. ``close`` is never faulted.

Determinism: each operation kind draws from its own ``random.Random`` seeded from ``seed`` and the
kind, so the same seed and the same sequence of calls of a kind inject the same faults, and a
concurrent stream of searches does not change which writes fail.

Time: every injected wait goes through ``clock.sleep``. With a ``ManualClock`` the wait costs no wall
time but moves harness time forward, so the latency a caller measures on the same clock is exactly the
injected latency; with ``SystemClock`` the waits are real.

Models worth knowing:

- **Stale reads** (``read_lag_s``): a write is acknowledged at once but becomes visible to reads only
  ``read_lag_s`` seconds later (Pinecone's read-after-write lag). Every read and search sees the store
  as it was ``read_lag_s`` ago — a snapshot that slides with time. ``math.inf`` freezes reads at the
  moment writes start queueing, until the fault is cleared. Deferred writes are applied to the inner
  store in order, before any later operation, once their time has come; switching the lag off
  (``clear()`` or a plan with ``read_lag_s == 0``) applies every deferred write at once.
- **Cold start** (``cold_latency_ms``, ``warm_after_searches``): models the disk page cache of a
  store that has never served. A search call whose query rows have not all been seen before pays
  ``cold_latency_ms × coldness``; coldness decays linearly from 1 to 0 over the first
  ``warm_after_searches`` search calls the wrapper has served (0 means no decay: only seen queries are
  warm). A query row is "seen" once its float32 bytes were searched; ``reset_warmth()`` restarts cold.
- **Dropped writes** (``drop_write_rate``): each record of an upsert (and each id of a delete) is
  dropped with that probability; the call still succeeds. Dropped ids are kept in ``dropped_ids`` /
  ``dropped_delete_ids`` so a test can prove the harness found exactly those.
- **Partial batches** (``partial_batch_rate``): an upsert of two or more records applies its first
  half, then raises ``error_type``; ``partial_batches`` keeps (applied ids, unapplied ids).
"""

from __future__ import annotations

import dataclasses
import hashlib
import random
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

import numpy as np

from harness.clock import Clock
from harness.errors import ConfigError, TransientStoreError
from harness.faults.events import FaultEvent, FaultKind
from harness.model import CollectionSchema, PointId, RecordBatch, SearchResult
from harness.records.filters import Filter
from harness.stores.base import Cursor, SearchParams, VectorStore


class Schedule(Protocol):
    """What ``follow`` reads from a timed schedule (``harness.faults.schedule.FaultSchedule`` is one)."""

    def plan_at(self, t: float) -> FaultPlan | None:
        """The plan in force ``t`` seconds after the schedule's start, or None."""
        ...


__all__ = ["FaultEvent", "FaultKind", "FaultPlan", "FaultyStore", "OpKind"]


class OpKind(StrEnum):
    """The kind of a store operation, as fault rates are given."""

    READ = "read"
    WRITE = "write"
    SEARCH = "search"


ALL_OPS: frozenset[OpKind] = frozenset(OpKind)


@dataclass(frozen=True, slots=True)
class FaultPlan:
    """The faults to inject. Latencies in ms, rates and probabilities as fractions 0–1, times in s.

    ``outages`` are ``(t0, t1)`` windows on the store's clock: every call with ``t0 <= now < t1``
    fails at once. ``error_type`` builds the exception from a message (a class or any callable); the
    default is the backends' own retryable ``TransientStoreError``.
    """

    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    spike_ms: float = 0.0
    spike_probability: float = 0.0
    latency_ops: frozenset[OpKind] = ALL_OPS
    read_error_rate: float = 0.0
    write_error_rate: float = 0.0
    search_error_rate: float = 0.0
    error_type: Callable[[str], BaseException] = TransientStoreError
    outages: tuple[tuple[float, float], ...] = ()
    drop_write_rate: float = 0.0
    read_lag_s: float = 0.0
    partial_batch_rate: float = 0.0
    cold_latency_ms: float = 0.0
    warm_after_searches: int = 0

    def __post_init__(self) -> None:
        for name in ("latency_ms", "jitter_ms", "spike_ms", "cold_latency_ms", "read_lag_s"):
            value = getattr(self, name)
            if not value >= 0:
                raise ConfigError(f"fault plan: {name} must be >= 0, got {value}")
        for name in (
            "spike_probability",
            "read_error_rate",
            "write_error_rate",
            "search_error_rate",
            "drop_write_rate",
            "partial_batch_rate",
        ):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"fault plan: {name} must be a fraction within 0..1, got {value}")
        if self.warm_after_searches < 0:
            raise ConfigError(f"fault plan: warm_after_searches must be >= 0, got {self.warm_after_searches}")
        for window in self.outages:
            if len(window) != 2 or not window[0] < window[1]:
                raise ConfigError(f"fault plan: an outage window is (t0, t1) with t0 < t1, got {window}")
        object.__setattr__(self, "latency_ops", frozenset(OpKind(op) for op in self.latency_ops))

    def error_rate(self, op: OpKind) -> float:
        """The error rate (0–1) of operations of kind ``op``."""
        return {
            OpKind.READ: self.read_error_rate,
            OpKind.WRITE: self.write_error_rate,
            OpKind.SEARCH: self.search_error_rate,
        }[op]

    @property
    def active(self) -> bool:
        """True when the plan injects anything at all."""
        return bool(
            self.latency_ms
            or self.jitter_ms
            or (self.spike_ms and self.spike_probability)
            or self.read_error_rate
            or self.write_error_rate
            or self.search_error_rate
            or self.outages
            or self.drop_write_rate
            or self.read_lag_s
            or self.partial_batch_rate
            or self.cold_latency_ms
        )


NO_FAULTS = FaultPlan()


@dataclass(slots=True)
class _DeferredWrite:
    visible_at: float
    op: str  # "upsert" | "delete"
    batch: RecordBatch | None = None
    ids: tuple[PointId, ...] = ()


@dataclass(slots=True)
class _Warmth:
    searches_served: int = 0
    seen: set[bytes] = field(default_factory=set)


def _query_key(row: np.ndarray) -> bytes:
    return hashlib.blake2b(np.ascontiguousarray(row, dtype=np.float32).tobytes(), digest_size=16).digest()


class FaultyStore:
    """A ``VectorStore`` that forwards to ``inner`` and injects the faults of its current plan."""

    def __init__(self, inner: VectorStore, faults: FaultPlan | None = None, *, clock: Clock, seed: int = 0) -> None:
        self.inner = inner
        self.uri = inner.uri
        self.clock = clock
        self.seed = seed
        self._plan = faults or NO_FAULTS
        self._lock = threading.Lock()
        # Applying deferred writes must not interleave with a direct write (order is the contract).
        self._write_order = threading.RLock()
        self._rngs = {op: random.Random(f"{seed}:{op}") for op in OpKind}
        self._log: list[FaultEvent] = []
        self._dropped: list[PointId] = []
        self._dropped_deletes: list[PointId] = []
        self._partial: list[tuple[tuple[PointId, ...], tuple[PointId, ...]]] = []
        self._deferred: deque[_DeferredWrite] = deque()
        self._warmth = _Warmth()
        self._schedule: tuple[Schedule, float] | None = None

    # -- switching faults ------------------------------------------------------------------------------
    @property
    def plan(self) -> FaultPlan:
        """The faults in force now: the schedule's plan of the moment, else the store's own."""
        schedule = self._schedule
        if schedule is not None:
            scheduled = schedule[0].plan_at(self.clock.now() - schedule[1])
            if scheduled is not None:
                return scheduled
        return self._plan

    def follow(self, schedule: Schedule | None, start: float | None = None) -> None:
        """Put ``schedule`` in force from ``start`` (default: now) on the store's clock; None stops it."""
        with self._lock:
            self._schedule = None if schedule is None else (schedule, self.clock.now() if start is None else start)

    def set_faults(self, plan: FaultPlan | None = None, /, **changes: Any) -> FaultPlan:
        """Replace the plan with ``plan`` (or no faults) updated by ``changes``; returns the previous plan.

        Turning the read lag off applies every deferred write before returning.
        """
        new = dataclasses.replace(plan or NO_FAULTS, **changes) if changes else (plan or NO_FAULTS)
        with self._lock:
            previous, self._plan = self._plan, new
        if new.read_lag_s == 0:
            self._apply_deferred(force=True)
        return previous

    def clear(self) -> None:
        """No faults from now on, scheduled or not (deferred writes are applied at once)."""
        self.follow(None)
        self.set_faults(NO_FAULTS)

    @contextmanager
    def faults(self, plan: FaultPlan | None = None, /, **changes: Any) -> Iterator[FaultyStore]:
        """Inject ``plan`` updated by ``changes`` inside the block, then restore the previous plan."""
        previous = self.set_faults(plan, **changes)
        try:
            yield self
        finally:
            self.set_faults(previous)

    def reset_warmth(self) -> None:
        """Forget every query seen and every search served: the store is cold again (a restart)."""
        with self._lock:
            self._warmth = _Warmth()

    # -- what was injected -----------------------------------------------------------------------------
    @property
    def fault_log(self) -> tuple[FaultEvent, ...]:
        """Every injected fault so far, in the order injected."""
        with self._lock:
            return tuple(self._log)

    @property
    def dropped_ids(self) -> tuple[PointId, ...]:
        """Ids of upserted records that were acknowledged but silently not applied."""
        with self._lock:
            return tuple(self._dropped)

    @property
    def dropped_delete_ids(self) -> tuple[PointId, ...]:
        """Ids whose delete was acknowledged but silently not applied."""
        with self._lock:
            return tuple(self._dropped_deletes)

    @property
    def partial_batches(self) -> tuple[tuple[tuple[PointId, ...], tuple[PointId, ...]], ...]:
        """Each partially applied upsert as (applied ids, ids not applied)."""
        with self._lock:
            return tuple(self._partial)

    @property
    def pending_writes(self) -> int:
        """Writes acknowledged but not yet visible (read lag)."""
        with self._lock:
            return len(self._deferred)

    # -- fault machinery -------------------------------------------------------------------------------
    def _record(self, op: str, kind: FaultKind, detail: str = "") -> None:
        self._log.append(FaultEvent(at=self.clock.now(), op=op, kind=kind, detail=detail))

    def _enter(self, op: str, kind: OpKind) -> FaultPlan:
        """Outage, latency and error injection shared by every operation; returns the plan used."""
        plan = self.plan
        if not plan.active:
            self._apply_deferred()
            return plan
        now = self.clock.now()
        for t0, t1 in plan.outages:
            if t0 <= now < t1:
                with self._lock:
                    self._record(op, FaultKind.OUTAGE, f"window {t0:g}..{t1:g}s")
                raise plan.error_type(f"{self.uri}: unavailable (injected outage {t0:g}..{t1:g}s) during {op}")
        wait_ms = 0.0
        with self._lock:
            rng = self._rngs[kind]
            if kind in plan.latency_ops:
                if plan.latency_ms or plan.jitter_ms:
                    jitter = rng.uniform(-plan.jitter_ms, plan.jitter_ms) if plan.jitter_ms else 0.0
                    added = max(0.0, plan.latency_ms + jitter)
                    wait_ms += added
                    self._record(op, FaultKind.LATENCY, f"{added:.3f} ms")
                if plan.spike_probability and rng.random() < plan.spike_probability:
                    wait_ms += plan.spike_ms
                    self._record(op, FaultKind.SPIKE, f"{plan.spike_ms:.3f} ms")
            failed = bool(plan.error_rate(kind)) and rng.random() < plan.error_rate(kind)
            if failed:
                self._record(op, FaultKind.ERROR, getattr(plan.error_type, "__name__", "error"))
        if wait_ms:
            self.clock.sleep(wait_ms / 1000.0)
        if failed:
            raise plan.error_type(f"{self.uri}: injected {kind} error during {op}")
        self._apply_deferred()
        return plan

    def _apply_deferred(self, force: bool = False) -> None:
        """Apply, in order, every deferred write whose time has come (all of them with ``force``)."""
        if not self._deferred:
            return
        with self._write_order:
            while True:
                with self._lock:
                    if not self._deferred or not (force or self._deferred[0].visible_at <= self.clock.now()):
                        return
                    write = self._deferred.popleft()
                if write.op == "upsert" and write.batch is not None:
                    self.inner.upsert(write.batch)
                else:
                    self.inner.delete(write.ids)

    def _note_stale_read(self, op: str) -> None:
        with self._lock:
            if self._deferred:
                self._record(op, FaultKind.STALE_READ, f"{len(self._deferred)} writes not yet visible")

    def _draw_drops(self, op: str, ids: Sequence[PointId], rate: float) -> list[int]:
        """Indices of ``ids`` to drop silently (caller holds no lock)."""
        if not rate or not ids:
            return []
        with self._lock:
            rng = self._rngs[OpKind.WRITE]
            dropped = [i for i in range(len(ids)) if rng.random() < rate]
            if dropped:
                sink = self._dropped if op == "upsert" else self._dropped_deletes
                sink.extend(ids[i] for i in dropped)
                self._record(op, FaultKind.DROP, f"{len(dropped)} of {len(ids)} ids dropped")
        return dropped

    def _write(self, op: str, plan: FaultPlan, batch: RecordBatch | None, ids: tuple[PointId, ...]) -> None:
        """Apply a write now, or defer it behind the read lag (keeping write order either way)."""
        if plan.read_lag_s == 0 and not self._deferred:
            # Nothing queued: concurrent writers need no ordering from us (the inner store has its own).
            if batch is not None:
                self.inner.upsert(batch)
            else:
                self.inner.delete(ids)
            return
        with self._write_order:
            now = self.clock.now()
            with self._lock:
                defer = plan.read_lag_s > 0 or bool(self._deferred)
                if defer:
                    self._deferred.append(_DeferredWrite(now + plan.read_lag_s, op, batch, ids))
                    if plan.read_lag_s > 0:
                        self._record(op, FaultKind.DEFERRED, f"visible after {plan.read_lag_s:g}s")
            if not defer:
                if batch is not None:
                    self.inner.upsert(batch)
                else:
                    self.inner.delete(ids)

    # -- VectorStore: reads ----------------------------------------------------------------------------
    def describe(self) -> CollectionSchema:
        """The inner store's schema (read faults apply)."""
        self._enter("describe", OpKind.READ)
        return self.inner.describe()

    def exists(self) -> bool:
        """Whether the inner collection exists (read faults apply)."""
        self._enter("exists", OpKind.READ)
        return self.inner.exists()

    def count(self) -> int:
        """The inner count as reads currently see it (read faults and lag apply)."""
        self._enter("count", OpKind.READ)
        self._note_stale_read("count")
        return self.inner.count()

    def scroll(self, batch_size: int = 1000, cursor: Cursor | None = None) -> tuple[RecordBatch, Cursor | None]:
        """One page of the inner store (read faults and lag apply)."""
        self._enter("scroll", OpKind.READ)
        self._note_stale_read("scroll")
        return self.inner.scroll(batch_size=batch_size, cursor=cursor)

    def fetch(self, ids: Sequence[PointId]) -> RecordBatch:
        """Records by id from the inner store (read faults and lag apply)."""
        self._enter("fetch", OpKind.READ)
        self._note_stale_read("fetch")
        return self.inner.fetch(ids)

    def search(self, queries: np.ndarray, k: int, params: SearchParams | None = None) -> SearchResult:
        """Inner search after search faults, read lag and the cold-start model."""
        plan = self._enter("search", OpKind.SEARCH)
        self._note_stale_read("search")
        self._cold_wait(plan, np.asarray(queries, dtype=np.float32))
        return self.inner.search(queries, k, params)

    def search_filtered(
        self,
        queries: np.ndarray,
        k: int,
        where: Filter | None,
        *,
        namespace: str | None = None,
        params: SearchParams | None = None,
    ) -> SearchResult:
        """Inner filtered search after search faults and read lag (the cold-start model is unfiltered only)."""
        self._enter("search", OpKind.SEARCH)
        self._note_stale_read("search")
        return self.inner.search_filtered(queries, k, where, namespace=namespace, params=params)

    def count_filtered(self, where: Filter | None, *, namespace: str | None = None) -> int:
        """The inner filtered count (read faults and lag apply)."""
        self._enter("count", OpKind.READ)
        self._note_stale_read("count")
        return self.inner.count_filtered(where, namespace=namespace)

    def _cold_wait(self, plan: FaultPlan, queries: np.ndarray) -> None:
        rows = queries.reshape(1, -1) if queries.ndim == 1 else queries
        keys = [_query_key(row) for row in rows]
        with self._lock:
            warmth = self._warmth
            unseen = any(key not in warmth.seen for key in keys)
            served = warmth.searches_served
            warmth.searches_served += 1
            warmth.seen.update(keys)
            wait_ms = 0.0
            if plan.cold_latency_ms and unseen:
                coldness = 1.0 if not plan.warm_after_searches else max(0.0, 1.0 - served / plan.warm_after_searches)
                wait_ms = plan.cold_latency_ms * coldness
                if wait_ms:
                    self._record("search", FaultKind.COLD, f"{wait_ms:.3f} ms (coldness {coldness:.3f})")
        if wait_ms:
            self.clock.sleep(wait_ms / 1000.0)

    # -- VectorStore: writes ---------------------------------------------------------------------------
    def create(self, schema: CollectionSchema) -> None:
        """Create the inner collection (write faults apply)."""
        self._enter("create", OpKind.WRITE)
        self.inner.create(schema)

    def upsert(self, batch: RecordBatch) -> None:
        """Upsert into the inner store, subject to write faults, drops, partial batches and read lag."""
        plan = self._enter("upsert", OpKind.WRITE)
        if plan.partial_batch_rate and len(batch) >= 2:
            with self._lock:
                partial = self._rngs[OpKind.WRITE].random() < plan.partial_batch_rate
            if partial:
                half = len(batch) // 2
                applied, lost = batch.slice(0, half), batch.slice(half, len(batch))
                self._write("upsert", plan, applied, ())
                with self._lock:
                    self._partial.append((applied.ids, lost.ids))
                    self._record("upsert", FaultKind.PARTIAL_BATCH, f"{half} of {len(batch)} records applied")
                raise plan.error_type(
                    f"{self.uri}: injected partial batch failure ({half} of {len(batch)} records applied)"
                )
        dropped = self._draw_drops("upsert", batch.ids, plan.drop_write_rate)
        if dropped:
            drop = set(dropped)
            batch = batch.take([i for i in range(len(batch)) if i not in drop])
        if len(batch):
            self._write("upsert", plan, batch, ())

    def delete(self, ids: Sequence[PointId]) -> None:
        """Delete from the inner store, subject to write faults, drops and read lag."""
        plan = self._enter("delete", OpKind.WRITE)
        kept = tuple(ids)
        dropped = self._draw_drops("delete", kept, plan.drop_write_rate)
        if dropped:
            drop = set(dropped)
            kept = tuple(pid for i, pid in enumerate(kept) if i not in drop)
        if kept:
            self._write("delete", plan, None, kept)

    def optimize(self) -> None:
        """Optimize the inner store (write faults apply)."""
        self._enter("optimize", OpKind.WRITE)
        self.inner.optimize()

    def close(self) -> None:
        """Close the inner store; never faulted (deferred writes are applied first)."""
        self._apply_deferred(force=True)
        self.inner.close()
