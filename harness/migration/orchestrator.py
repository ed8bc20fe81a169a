"""The migration orchestrator: dual_write → backfill → verify → shadow → warm_up → canary → live → completed.

What it fixes in the chapter's sketch (shared/reference/production-migration-chapter.md): dual-write is
on before the first record is copied; the copy pages by cursor and resumes from a checkpoint; a failed
verification or shadow comparison blocks every traffic shift; caches are warmed before any user reads
the target; traffic moves in steps (5 → 25 → 50 → 100 % by default) on sticky user buckets, each baked
and health-checked (``harness.migration.health``: every check judges the interval since the previous
one and the step's evidence, rates by exact binomial tests at the configured confidence, latency
against the baseline and against each cohort's own reference); ``failure_limit`` failed checks within
a step, or one severe breach, roll back at once to 0 % with dual-write kept, and a step is promoted
only when its bake has passed and its evidence passes every gate (without enough evidence the bake
extends, at most ``max_hold_s``). After cut-over source writes are switched off by flag and any write
still reaching the source is reported as an orphaned write.

Before each irreversible step (``live``, then ``completed``) the parity gate reads every write
acknowledged through dual-write back from the target and compares it with the source through the one
record comparison, plus a parity of the whole collection through the injected ``collection_parity``
seam; during the canary and live, read-your-writes probes sample acknowledged writes at every check. A
write the target silently dropped blocks the migration: the ids are listed, replayed from the source,
alerted and journaled.

The journal is the truth: each transition is journaled before the flags follow it, so a crash at any
point resumes where it stopped (``run()`` on a new orchestrator over the same journal), and never with
more traffic on the target than the journal says.

Other processes steer a running orchestrator through the same journal (``ragmig rollback``, ``pause``,
``resume``): their requests are queued in its ``commands`` table, and the orchestrator takes them at
every health check and between phases, so one takes effect within one health interval. A rollback is
the one above; a pause holds the canary at its step (health checks go on, and still roll back) and
holds the migration before its next phase, until a resume.

Every store call retries transient errors (timeouts, 429, outages) with the backfill's policy
(exponential backoff with jitter on the injected clock). When retries run out in verification or
shadow reads, the phase fails cleanly: the fault is journaled and the migration is blocked (``retry()``
resumes at verification once the store is back). After cut-over, an orphaned-write baseline that cannot
be taken is journaled and alerted, and taken on the next ``run()`` or check.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import partial
from typing import Any, TypeVar

import numpy as np

from harness.clock import Clock, SystemClock
from harness.errors import TransientStoreError, UsageError
from harness.migration.alerts import Alert, AlertSink
from harness.migration.backfill import (
    Backfill,
    BackfillResult,
    RetryPolicy,
    call_with_retry,
    ensure_target_collection,
    resolve_mapping,
)
from harness.migration.config import MigrationConfig
from harness.migration.dualwrite import (
    OrphanReport,
    OrphanWatch,
    ReadBack,
    ReplayReport,
    read_back,
    replay_outbox,
    replay_records,
)
from harness.migration.flags import FlagStore, WriteMode
from harness.migration.health import (
    BaselineResult,
    HealthResult,
    Outcome,
    StepBudget,
    evaluate_baseline,
    evaluate_window,
)
from harness.migration.journal import Event, Journal, MigrationState
from harness.migration.metrics import InProcessMetrics, MetricsSource, WindowStats
from harness.migration.router import Backend
from harness.model import Check, Status, Verdict
from harness.records import Comparison, RecordId, RecordMapping, key_parts
from harness.redact import redact_text
from harness.stores.base import VectorStore

__all__ = [
    "PHASE_ORDER",
    "TERMINAL",
    "CollectionCheck",
    "CollectionParity",
    "Orchestrator",
    "Phase",
    "ShadowQueries",
    "Traffic",
    "Verifier",
    "WarmUp",
    "sample_queries",
]

T = TypeVar("T")
WARM_UP_GAP_S = 0.001
"""The canary's first step starts this long (s) after the last warm-up query, so no health window of
the canary counts warm-up traffic (on a ManualClock both would otherwise share an instant)."""


class Phase(StrEnum):
    """Where a migration stands (design.md's phases, plus idle, blocked and rolled_back)."""

    IDLE = "idle"
    DUAL_WRITE = "dual_write"
    BACKFILL = "backfill"
    VERIFY = "verify"
    SHADOW = "shadow"
    WARM_UP = "warm_up"
    CANARY = "canary"
    LIVE = "live"
    COMPLETED = "completed"
    BLOCKED = "blocked"
    ROLLED_BACK = "rolled_back"


TERMINAL = frozenset({Phase.COMPLETED, Phase.BLOCKED, Phase.ROLLED_BACK})
PHASE_ORDER = (
    Phase.IDLE,
    Phase.DUAL_WRITE,
    Phase.BACKFILL,
    Phase.VERIFY,
    Phase.SHADOW,
    Phase.WARM_UP,
    Phase.CANARY,
    Phase.LIVE,
    Phase.COMPLETED,
)
"""The phases of a migration that goes well, in order."""

Verifier = Callable[[VectorStore, VectorStore], Verdict]
"""Certifies the target against the source and returns the final verdict: the verify phase passes only
on a passing one (``harness.verify.make_verifier`` builds the standard one: verification, then a
re-check of parity findings that may have been writes in flight)."""
Traffic = Callable[[float], None]
"""Called at the start of every health-check tick with the clock's time (s): drive the tick's traffic."""
WarmUp = Callable[[int], WindowStats | None]
"""Replays ``n`` recent/top queries on the target's serving path; returns what it saw, or None to let
the orchestrator read the target cohort's window from the metrics source."""
ShadowQueries = Callable[[int], np.ndarray]
"""``n`` query vectors for shadow reads and warm-up (default: sampled from the source)."""
VECTOR_TOLERANCE = 1e-3
"""Largest difference of a canonical vector component that still counts as equal when acknowledged writes
are read back (the verification thresholds' default ``vector_tolerance``)."""
REFERENCE_CAP = 2000
"""Store-call latencies kept (evenly spaced) as a cohort's latency reference."""


@dataclass(frozen=True, slots=True)
class CollectionParity:
    """What a parity of the whole collection found at a gate (``CollectionCheck``'s answer).

    ``missing``/``different``: source records absent on the target or held differently there;
    ``extra``: target records (target identity) no source record maps to; ``checks``: the parity checks
    as run; ``scope``: what was compared, in words ("every record", "a sample of 1,000 …").
    """

    checks: tuple[Check, ...]
    missing: tuple[RecordId, ...] = ()
    different: tuple[RecordId, ...] = ()
    extra: tuple[RecordId, ...] = ()
    scope: str = ""

    @property
    def passed(self) -> bool:
        """True when no check failed or errored and no record differs."""
        bad = any(c.status in (Status.FAIL, Status.ERROR) for c in self.checks)
        return not bad and not (self.missing or self.different or self.extra)


CollectionCheck = Callable[[VectorStore, VectorStore], CollectionParity]
"""The collection-wide parity a gate runs (``harness.assembly.build_collection_parity`` builds it from
``harness.verify``, which this layer must not import)."""


def sample_queries(store: VectorStore, n: int, seed: int = 0, scan_limit: int = 20_000) -> np.ndarray:
    """``n`` vectors sampled (seeded) from the first ``scan_limit`` records of ``store``, as float32 rows."""
    rng = np.random.default_rng(seed)
    pages: list[np.ndarray] = []
    seen = 0
    cursor = None
    while seen < min(scan_limit, max(4 * n, 1000)):
        batch, cursor = store.scroll(batch_size=1000, cursor=cursor)
        if len(batch):
            pages.append(batch.vectors)
            seen += len(batch)
        if cursor is None:
            break
    if not pages:
        return np.zeros((0, store.describe().dimension), dtype=np.float32)
    vectors = np.concatenate(pages)
    rows = rng.choice(len(vectors), size=n, replace=len(vectors) < n)
    return np.ascontiguousarray(vectors[rows], dtype=np.float32)


class Orchestrator:
    """Drives one migration from ``source`` to ``target`` per ``config``, journaled in ``journal``.

    Seams (all optional): ``clock`` (ManualClock in tests), ``flags`` (default: OpenFeature in-memory,
    mirrored into the journal), ``metrics`` (canary "target" vs baseline "source" windows), ``alerts``
    (default: the config's sinks), ``shadow_queries``, ``warm_up``, ``traffic``, ``collection_parity``
    (the parity gates' collection-wide parity; without it they read back acknowledged writes only).
    ``verifier`` is required: the verification gate is injected, never assumed.
    """

    def __init__(
        self,
        config: MigrationConfig,
        source: VectorStore,
        target: VectorStore,
        journal: Journal,
        *,
        clock: Clock | None = None,
        flags: FlagStore | None = None,
        metrics: MetricsSource | None = None,
        alerts: Sequence[AlertSink] | None = None,
        verifier: Verifier,
        shadow_queries: ShadowQueries | None = None,
        warm_up: WarmUp | None = None,
        traffic: Traffic | None = None,
        progress: bool = False,
        collection_parity: CollectionCheck | None = None,
    ) -> None:
        self.config = config
        self.source = source
        self.target = target
        self.journal = journal
        self.clock = clock or SystemClock()
        if flags is None:
            from harness.migration.flags_openfeature import OpenFeatureFlags

            flags = OpenFeatureFlags(journal)
        self.flags = flags
        self.metrics: MetricsSource = metrics if metrics is not None else InProcessMetrics()
        if alerts is None:
            from harness.migration.webhook import build_alert_sinks

            alerts = build_alert_sinks(config.alerts)
        self.alerts = list(alerts)
        self.verifier = verifier
        self.shadow_queries = shadow_queries
        self.warm_up = warm_up
        self.traffic = traffic
        self.progress = progress
        self.collection_parity = collection_parity
        self._mapping: RecordMapping | None = None
        self._comparison: Comparison | None = None
        self._queries: np.ndarray | None = None
        self.last_backfill: BackfillResult | None = None
        self.last_verdict: Verdict | None = None
        self._ran = False
        self._watch: OrphanWatch | None = None
        self._rng = random.Random(0)
        cfg = config.backfill
        self.retry_policy = RetryPolicy(
            max_attempts=cfg.max_attempts, base_s=cfg.backoff_base_s, max_s=cfg.backoff_max_s
        )
        state = journal.state()
        for side, uri in (("source", source.uri), ("target", target.uri)):
            journaled = getattr(state, side)
            if journaled is not None and journaled != uri:
                raise UsageError(
                    f"journal {journal.path} belongs to a migration with {side} {journaled!r}, not {uri!r}; "
                    "use another journal"
                )

    # -- accessors -------------------------------------------------------------------------------------
    @classmethod
    def resume(cls, *args: Any, **kwargs: Any) -> Orchestrator:
        """An orchestrator over an existing journal (same arguments as the constructor); ``run()`` then
        continues where the journal stopped."""
        return cls(*args, **kwargs)

    @property
    def state(self) -> MigrationState:
        """The journaled state."""
        return self.journal.state()

    @property
    def phase(self) -> Phase:
        """The journaled phase."""
        return Phase(self.journal.state().phase)

    def timeline(self, kind: str | None = None) -> list[Event]:
        """The journal's events (transitions, health checks with figures, decisions, alerts, faults)."""
        return self.journal.events(kind)

    def read_percent_timeline(self) -> list[tuple[float, float, str]]:
        """(time s, read percentage, phase) at every transition, for plots of traffic over time."""
        return [
            (e.at, float(e.data.get("read_percent", 0.0)), str(e.data.get("to", "")))
            for e in self.journal.events("transition")
        ]

    @property
    def mapping(self) -> RecordMapping:
        """How source records map onto the target."""
        if self._mapping is None:
            self._mapping = self._store_call(lambda: resolve_mapping(self.source, self.target))
        return self._mapping

    def _store_call(self, fn: Callable[[], T]) -> T:
        """``fn()`` (store calls), retried on ``TransientStoreError`` with the backfill's policy; each
        retry is journaled as a fault. The last error propagates when retries run out."""

        def noted(attempt: int, exc: TransientStoreError, wait: float) -> None:
            self._event(
                "fault",
                {"fault": "store_call_retried", "attempt": attempt + 1, "wait_s": wait, "error": redact_text(str(exc))},
            )

        return call_with_retry(fn, self.retry_policy, self.clock, self._rng, noted)

    def _unavailable(self, phase: Phase, exc: TransientStoreError) -> Phase:
        """Retries ran out in ``phase``: journal it and block cleanly (``retry()`` resumes at verification)."""
        error = redact_text(str(exc))
        self._event(
            "fault",
            {
                "fault": "store_unavailable",
                "phase": str(phase),
                "attempts": self.retry_policy.max_attempts,
                "error": error,
            },
        )
        return self._block(
            f"{phase}: a store stayed unavailable after {self.retry_policy.max_attempts} attempts ({error}); "
            "retry() once it is back",
            {"phase": str(phase), "error": error},
        )

    # -- the state machine -----------------------------------------------------------------------------
    def run(self, stop_at: Phase | None = None) -> Phase:
        """Drive the migration until a terminal phase (completed, blocked, rolled_back), or until it
        reaches ``stop_at`` (entered, not yet worked). Resumes from the journal; returns the phase."""
        state = self.journal.state()
        phase = Phase(state.phase)
        self._restore_flags(state)
        if phase is not Phase.IDLE and not self._ran:
            self._event(
                "info", {"message": f"resumed from the journal at phase {phase}", "canary_step": state.canary_step}
            )
        self._ran = True
        handlers: dict[Phase, Callable[[], Phase]] = {
            Phase.IDLE: self._start,
            Phase.DUAL_WRITE: self._dual_write,
            Phase.BACKFILL: self._backfill,
            Phase.VERIFY: self._verify,
            Phase.SHADOW: self._shadow,
            Phase.WARM_UP: self._warm_up,
            Phase.CANARY: self._canary,
            Phase.LIVE: self._live,
        }
        if phase is Phase.COMPLETED:
            self._start_orphan_watch()  # a crash right after cut-over may have left no baseline yet
        while phase not in TERMINAL:
            phase = self._between_phases(phase)
            if phase in TERMINAL:
                break
            phase = handlers[phase]()
            if stop_at is not None and phase is stop_at:
                return phase
        return phase

    # -- steering from other processes -----------------------------------------------------------------
    def poll_commands(self) -> bool:
        """Take the commands other processes queued in the journal (``ragmig rollback/pause/resume``), in
        order, and note that this controller is alive. Returns True when one rolled the migration back."""
        self.journal.set(controller={"pid": os.getpid(), "seen_wall": time.time(), **self._controller_info()})
        rolled_back = False
        for command in self.journal.pending_commands():
            phase = self.phase
            if command.command == "rollback":
                if phase in TERMINAL or phase is Phase.IDLE:
                    outcome = f"nothing to roll back: the migration is {phase}"
                else:
                    self.rollback(f"manual rollback: {command.reason or 'no reason given'}", {"command": command.seq})
                    outcome, rolled_back = "rolled back", True
            elif command.command == "pause":
                self.journal.set(paused=True)
                outcome = f"paused in phase {phase}"
            else:
                self.journal.set(paused=False)
                outcome = f"resumed in phase {phase}"
            self.journal.take_command(command.seq, outcome)
            self._event(
                "decision",
                {
                    "decision": f"command {command.command}",
                    "command": command.seq,
                    "reason": command.reason,
                    "outcome": outcome,
                },
            )
        return rolled_back

    def _controller_info(self) -> dict[str, Any]:
        return {"health_interval_s": self.config.canary.health_interval_s}

    @property
    def paused(self) -> bool:
        """True while a ``pause`` holds the migration (until a ``resume``)."""
        return bool(self.journal.get("paused", False))

    def _between_phases(self, phase: Phase) -> Phase:
        """Take commands before working ``phase``; while paused, wait (polling every health interval)."""
        if self.poll_commands():
            return self.phase
        while self.paused:
            self.clock.sleep(self.config.canary.health_interval_s)
            if self.poll_commands():
                return self.phase
        return phase

    def _restore_flags(self, state: MigrationState) -> None:
        """Flags follow the journal (after a crash, the journal's values are the ones to serve)."""
        self.flags.set_write_mode(WriteMode(state.write_mode))
        self.flags.set_read_percent(state.read_percent)

    def _transition(self, phase: Phase, **fields: Any) -> Phase:
        """Journal the move to ``phase`` first, then make the flags follow."""
        self.journal.transition(self.clock.now(), str(phase), **fields)
        if "write_mode" in fields:
            self.flags.set_write_mode(WriteMode(fields["write_mode"]))
        if "read_percent" in fields:
            self.flags.set_read_percent(float(fields["read_percent"]))
        return phase

    def _event(self, kind: str, data: dict[str, Any]) -> Event:
        return self.journal.append(kind, data, at=self.clock.now())

    def _alert(
        self, severity: str, title: str, message: str, details: dict[str, Any] | None = None, *, key: str = ""
    ) -> Alert:
        alert = Alert(
            severity=severity,
            title=title,
            message=message,
            at=self.clock.now(),
            details=details or {},
            key=key,
            phase=self.journal.state().phase,
        )
        if key:
            firing = dict(self.journal.get("alerts_firing", {}))
            firing[key] = {"severity": severity, "title": title}
            self.journal.set(alerts_firing=firing)
        self._send(alert)
        return alert

    def _resolve(self, *keys: str) -> None:
        """Tell the sinks that the conditions ``keys`` cleared (only those that fired and are not resolved)."""
        firing = dict(self.journal.get("alerts_firing", {}))
        for key in keys:
            fired = firing.pop(key, None)
            if fired is None:
                continue
            self.journal.set(alerts_firing=firing)
            alert = Alert(
                severity=str(fired["severity"]),
                title=str(fired["title"]),
                message="the condition cleared",
                at=self.clock.now(),
                key=key,
                phase=self.journal.state().phase,
                resolved=True,
            )
            self._send(alert)

    def _send(self, alert: Alert) -> None:
        self._event("alert", alert.to_dict())
        for sink in self.alerts:
            try:
                sink.send(alert)
            except Exception as exc:  # a broken sink must not stop a rollback
                self._event("fault", {"fault": "alert_sink_failed", "error": redact_text(str(exc))})

    # -- phases ----------------------------------------------------------------------------------------
    def _start(self) -> Phase:
        # The target must exist before any write is mirrored to it.
        self._store_call(lambda: ensure_target_collection(self.source, self.target))
        self.journal.set(source=self.source.uri, target=self.target.uri)
        return self._transition(
            Phase.DUAL_WRITE, write_mode=str(WriteMode.DUAL_SOURCE_FIRST), read_percent=0.0, canary_step=0
        )

    def _dual_write(self) -> Phase:
        # Every writer must see dual-write before the copy starts, or a write could fall in between. The
        # dual-write log goes on first, so this one wait also lets a write that checked the log just
        # before land (the backfill then skips its own activation grace).
        self.journal.set_backfill_active(True)
        self.clock.sleep(self.config.flag_propagation_s)
        return self._transition(Phase.BACKFILL)

    def _backfill(self) -> Phase:
        cfg = self.config.backfill
        backfill = Backfill(
            self.source,
            self.target,
            self.journal,
            batch_size=self.config.batch_size,
            clock=self.clock,
            mapping=self.mapping,
            retry=RetryPolicy(max_attempts=cfg.max_attempts, base_s=cfg.backoff_base_s, max_s=cfg.backoff_max_s),
            progress=self.progress,
        )
        for restart in range(cfg.max_restarts + 1):
            try:
                result = backfill.run()
                break
            except TransientStoreError as exc:
                self._event(
                    "fault",
                    {
                        "fault": "backfill_retries_exhausted",
                        "error": redact_text(str(exc)),
                        "restart": restart,
                        "done": self.journal.checkpoint().done,
                    },
                )
                if restart == cfg.max_restarts:
                    raise
                self.clock.sleep(cfg.backoff_max_s)
        self.last_backfill = result
        self._event("info", {"message": "backfill finished", **result.to_dict()})
        self.replay_outbox()
        return self._transition(Phase.VERIFY)

    def _verify(self) -> Phase:
        replay = self.replay_outbox(side=Backend.TARGET)
        try:
            verdict = self._store_call(lambda: self.verifier(self.source, self.target))
        except TransientStoreError as exc:
            return self._unavailable(Phase.VERIFY, exc)
        self.last_verdict = verdict
        rechecked = {c.id: c.details["recheck"] for c in verdict.checks if "recheck" in c.details}
        if rechecked:
            self._event("info", {"message": "parity re-check", "checks": rechecked})
        failed = [c.id for c in verdict.checks if c.status is Status.FAIL]
        self._event(
            "decision",
            {
                "decision": "verified" if verdict.passed else "blocked",
                "verdict": str(verdict.verdict),
                "failed_checks": failed,
                "checks": {c.id: str(c.status) for c in verdict.checks},
                "outbox_pending": replay.pending,
            },
        )
        if not verdict.passed:
            return self._block(f"verification failed: {', '.join(failed) or 'see verdict'}", {"failed_checks": failed})
        return self._transition(Phase.SHADOW)

    def _shadow(self) -> Phase:
        cfg = self.config.shadow
        if not cfg.enabled:
            self._event("decision", {"decision": "shadow skipped", "reason": "disabled in config"})
            return self._transition(Phase.WARM_UP)
        try:
            queries = self._sampled_queries(cfg.queries)
            overlaps = self.shadow_overlap(queries, cfg.k)
        except TransientStoreError as exc:
            return self._unavailable(Phase.SHADOW, exc)
        mean = float(np.mean(overlaps)) if overlaps.size else 0.0
        figures = {
            "queries": int(overlaps.size),
            "k": cfg.k,
            "mean_overlap": mean,
            "min_overlap": float(np.min(overlaps)) if overlaps.size else None,
            "p10_overlap": float(np.percentile(overlaps, 10)) if overlaps.size else None,
            "overlap_min": cfg.overlap_min,
        }
        passed = overlaps.size > 0 and mean >= cfg.overlap_min
        self._event("decision", {"decision": "shadow passed" if passed else "blocked", **figures})
        if not passed:
            return self._block(f"shadow reads: mean overlap@{cfg.k} {mean:.3f} < {cfg.overlap_min}", figures)
        return self._transition(Phase.WARM_UP)

    def shadow_overlap(self, queries: np.ndarray, k: int) -> np.ndarray:
        """overlap@k of target results with source results per query (fraction 0–1), ids mapped. Store
        calls retry transient errors; the last one propagates when retries run out."""
        if len(queries) == 0:
            return np.zeros(0)
        src = self._store_call(lambda: self.source.search(queries, k))
        tgt = self._store_call(lambda: self.target.search(queries, k))
        overlaps = []
        for q, source_ids in enumerate(src.ids):
            namespaces = src.namespaces[q] if src.namespaces is not None else None
            expected = {str(i) for i in self.mapping.target_ids(list(source_ids), namespaces)}
            got = {str(i) for i in tgt.ids[q]}
            overlaps.append(len(expected & got) / max(1, len(expected)))
        return np.asarray(overlaps, dtype=np.float64)

    def _sampled_queries(self, n: int) -> np.ndarray:
        if self.shadow_queries is not None:
            return np.asarray(self.shadow_queries(n), dtype=np.float32)
        if self._queries is None or len(self._queries) < n:
            self._queries = self._store_call(lambda: sample_queries(self.source, n))
        return self._queries[:n]

    def _warm_up(self) -> Phase:
        cfg = self.config.warm_up
        if not cfg.enabled:
            self._event("decision", {"decision": "warm-up skipped", "reason": "disabled in config"})
            return self._transition(Phase.CANARY, canary_step=0)
        thresholds = self.config.thresholds
        previous_p99: float | None = None
        for round_no in range(1, cfg.max_rounds + 1):
            requests, errors, p99, hit_rate = self._warm_up_round(cfg.queries)
            moved = None if previous_p99 is None or p99 is None else abs(p99 - previous_p99)
            settled = (
                p99 is not None
                and previous_p99 is not None
                and moved is not None
                and (moved <= cfg.settle_tolerance * previous_p99 or moved <= cfg.settle_floor_ms)
                and p99 <= thresholds.p99_ms_max
                and (hit_rate is None or hit_rate >= thresholds.cache_hit_rate_min)
            )
            self._event(
                "health",
                {
                    "check": "warm_up",
                    "round": round_no,
                    "requests": requests,
                    "errors": errors,
                    "p99_ms": p99,
                    "cache_hit_rate": hit_rate,
                    "p99_moved_ms": moved,
                    "settled": settled,
                },
            )
            previous_p99 = p99
            if settled:
                self._event("decision", {"decision": "warm-up settled", "rounds": round_no, "p99_ms": p99})
                break
        else:
            self._event("decision", {"decision": "warm-up did not settle", "rounds": cfg.max_rounds})
            self._alert(
                "warning",
                "warm-up did not settle",
                f"target p99/cache hit rate still moving after {cfg.max_rounds} rounds; the canary's checks decide",
                key="warm_up_unsettled",
            )
        # Canary windows start at the step's start: strictly after the last warm-up query, so warm-up
        # traffic (recorded under the target cohort) never inflates a canary window's samples or hit rate.
        self.clock.sleep(WARM_UP_GAP_S)
        return self._transition(Phase.CANARY, canary_step=0)

    def _warm_up_round(self, n: int) -> tuple[int, int, float | None, float | None]:
        """(requests, errors, p99 ms, cache hit rate or None) of one warm-up round."""
        if self.warm_up is not None:
            start = self.clock.now()
            stats = self.warm_up(n)
            if stats is None:
                # Records at the round's last instant count too (a ManualClock may not have moved).
                stats = self.metrics.window(str(Backend.TARGET), start, self.clock.now() + 1e-6)
            return stats.requests, stats.errors, stats.percentile_ms(99), stats.cache_hit_rate
        # No serving path to warm: query the target directly (its own caches, the OS page cache).
        latencies: list[float] = []
        errors = 0
        for row in self._sampled_queries(n):
            began = time.perf_counter()
            try:
                self.target.search(row.reshape(1, -1), self.config.shadow.k)
            except Exception:  # a failed warm-up query is counted, not fatal
                errors += 1
            latencies.append((time.perf_counter() - began) * 1000.0)
        p99 = float(np.percentile(latencies, 99)) if latencies else None
        return len(latencies), errors, p99, None

    def _canary(self) -> Phase:
        steps = self.config.canary.steps
        step = self.journal.state().canary_step
        while step < len(steps):
            percent = steps[step]
            self._transition(Phase.CANARY, canary_step=step, read_percent=percent)
            self._event("decision", {"decision": "shift", "canary_step": step, "read_percent": percent})
            ended = self._bake(self.config.canary.bake_time_of(step), f"canary step {step + 1} ({percent:g} %)")
            if ended is not None:
                return ended
            self._event("decision", {"decision": "promote", "canary_step": step, "read_percent": percent})
            step += 1
            self.journal.set(canary_step=step, consecutive_failures=0)
        self.replay_outbox(side=Backend.TARGET)
        blocked = self._parity_gate("before live")
        if blocked is not None:
            return blocked
        return self._transition(
            Phase.LIVE, read_percent=100.0, write_mode=str(WriteMode.DUAL_TARGET_FIRST), canary_step=len(steps)
        )

    def _live(self) -> Phase:
        if self.config.canary.live_bake_s > 0:
            ended = self._bake(self.config.canary.live_bake_s, "live")
            if ended is not None:
                return ended
        report = self.replay_outbox()
        if report.pending:
            self._alert(
                "warning",
                "source is behind",
                f"{report.pending} writes were not mirrored to the source; it will not be used again",
                report.to_dict(),
                key="source_behind",
            )
        blocked = self._parity_gate("before completed")
        if blocked is not None:
            return blocked
        self._transition(Phase.COMPLETED, write_mode=str(WriteMode.TARGET_ONLY), read_percent=100.0)
        self._resolve("warm_up_unsettled")
        self._event("decision", {"decision": "completed", "source_writes": "off"})
        # Writers pick up TARGET_ONLY; what reaches the source after that is an orphaned write.
        self.clock.sleep(self.config.flag_propagation_s)
        self._start_orphan_watch()
        return Phase.COMPLETED

    def _bake(self, bake_s: float, label: str) -> Phase | None:
        """Health-check the current step every interval (``harness.migration.health``) until it is
        promoted (None: its bake has passed and its evidence passes every gate), or until it ends: a
        rollback (``failure_limit`` failed checks in the step, a severe breach, no data or not enough
        evidence for too long, a manual rollback) or a block (a read-your-writes probe found a silent
        drop). Returns the phase it ended in."""
        canary = self.config.canary
        thresholds = self.config.thresholds
        budget = StepBudget(thresholds, failures=self.journal.state().consecutive_failures)
        started = self.clock.now()
        evidence_from = last_check = started
        next_check = started + canary.health_interval_s
        while True:
            if self.traffic is not None:
                self.traffic(self.clock.now())
            self.clock.sleep(max(0.0, next_check - self.clock.now()))
            if self.poll_commands():
                return Phase.ROLLED_BACK
            paused = self.paused
            now = self.clock.now()
            # After a stall (a slow traffic tick, a lazy import) the missed checks are skipped, not fired
            # back to back: each check judges the interval since the previous one.
            next_check = max(next_check, now) + canary.health_interval_s
            self.replay_outbox(side=None if self.phase is Phase.LIVE else Backend.TARGET, quiet=True)
            result, baseline = self._check(max(evidence_from, now - canary.window_s), last_check, now)
            last_check = now
            counted = budget.observe(result, since=started)
            if counted is Outcome.FAIL:
                evidence_from = now  # a failed check consumes its evidence: no interval counts twice
            self.journal.set(consecutive_failures=budget.failures)
            probe = self._probe()
            elapsed = now - started
            self._event(
                "health",
                {
                    "check": label,
                    "paused": paused,
                    "read_percent": self.flags.read_percent(),
                    "counted_as": str(counted),
                    "step_failures": budget.failures,
                    "failure_limit": thresholds.failure_limit,
                    "step_elapsed_s": elapsed,
                    **result.to_dict(),
                    "baseline": baseline.to_dict(),
                    "probe": probe.to_dict() if probe is not None else None,
                },
            )
            self._side_alerts(result, baseline)
            if result.severe:
                return self.rollback(
                    f"{label}: severe breach, rolled back at once: {result.reasons[0]}", result.to_dict()
                )
            if budget.exhausted:
                checks = "check" if budget.failures == 1 else "checks"
                return self.rollback(
                    f"{label}: {budget.failures} failed health {checks} in this step (failure_limit "
                    f"{thresholds.failure_limit}): {' | '.join(budget.failure_reasons)}",
                    result.to_dict(),
                )
            if budget.held_too_long:
                note = f"; {result.reasons[0]}" if result.reasons else ""
                return self.rollback(
                    f"{label}: no data for {budget.no_data_for:g} s (max_hold {thresholds.max_hold_s:g} s){note}",
                    result.to_dict(),
                )
            if probe is not None and probe.dropped:
                blocked = self._parity_gate(
                    label, trigger=f"a read-your-writes probe ({len(probe.dropped)} of {probe.checked} writes dropped)"
                )
                if blocked is not None:
                    return blocked
            if elapsed >= bake_s and not paused:
                if counted is Outcome.PASS:
                    self.journal.set(consecutive_failures=0)
                    return None
                if elapsed >= bake_s + thresholds.max_hold_s:
                    return self.rollback(
                        f"{label}: not enough evidence to promote {elapsed:g} s into the step (bake "
                        f"{bake_s:g} s + max_hold {thresholds.max_hold_s:g} s): {'; '.join(result.reasons)}",
                        result.to_dict(),
                    )

    def check_health(self, start: float, end: float, interval_start: float | None = None) -> HealthResult:
        """One health check of the canary (target cohort) over the evidence ``[start, end)`` whose last
        interval began at ``interval_start`` (default: ``start``), against the baseline (source cohort)."""
        return self._check(start, interval_start if interval_start is not None else start, end)[0]

    def _check(self, start: float, interval_start: float, end: float) -> tuple[HealthResult, BaselineResult]:
        target, source = str(Backend.TARGET), str(Backend.SOURCE)
        canary = self.metrics.window(target, start, end)
        interval = canary if interval_start <= start else self.metrics.window(target, interval_start, end)
        baseline = self.metrics.window(source, start, end)
        references = self._references(canary, baseline)
        thresholds = self.config.thresholds
        result = evaluate_window(
            canary, baseline, thresholds, at=end, interval=interval, reference=references.get(target)
        )
        return result, evaluate_baseline(baseline, thresholds, references.get(source))

    def _references(self, *windows: WindowStats) -> dict[str, np.ndarray]:
        """Each cohort's store-call latency reference: its first evidence with enough store calls in the
        canary, frozen and journaled (the window that sets a reference is not judged against it)."""
        stored: dict[str, list[float]] = dict(self.journal.get("latency_reference", {}))
        out: dict[str, np.ndarray] = {}
        thresholds = self.config.thresholds
        for window in windows:
            if window.cohort in stored:
                out[window.cohort] = np.asarray(stored[window.cohort], dtype=np.float64)
                continue
            series = window.latency_kind == "interval_quantiles"
            need = thresholds.min_interval_points if series else thresholds.min_samples
            calls = window.backend_latencies_ms
            if calls.size >= need:
                keep = (
                    calls
                    if calls.size <= REFERENCE_CAP
                    else calls[np.linspace(0, calls.size - 1, REFERENCE_CAP).astype(int)]
                )
                stored[window.cohort] = [float(v) for v in keep]
                self.journal.set(latency_reference=stored)
                self._event(
                    "info",
                    {
                        "message": "latency reference",
                        "cohort": window.cohort,
                        "store_calls": int(calls.size),
                        "median_ms": float(np.median(calls)),
                        "window": [window.start, window.end],
                    },
                )
        return out

    def _side_alerts(self, result: HealthResult, baseline: BaselineResult) -> None:
        """Alerts that do not fail the canary: a degrading baseline, store-call errors the cache hides."""
        if baseline.degraded:
            if "baseline_degraded" not in self.journal.get("alerts_firing", {}):
                self._alert(
                    "warning",
                    "baseline degraded",
                    f"the source (baseline) got worse on its own: {'; '.join(baseline.reasons)}. The canary is "
                    "judged on its own gates and its own reference; this does not roll it back.",
                    baseline.to_dict(),
                    key="baseline_degraded",
                )
        elif baseline.healthy:
            self._resolve("baseline_degraded")
        backend = result.tests.get("backend_error_rate")
        if result.warnings:
            if "hidden_backend_errors" not in self.journal.get("alerts_firing", {}):
                self._alert(
                    "warning",
                    "target store calls failing behind the cache",
                    f"{'; '.join(result.warnings)}: the cache hides it from users for now "
                    '(thresholds.backend_errors = "gate" makes it fail the check)',
                    backend.to_dict() if backend is not None else {},
                    key="hidden_backend_errors",
                )
        elif backend is not None and backend.result == "pass":
            self._resolve("hidden_backend_errors")

    # -- the parity gate and read-your-writes probes ---------------------------------------------------
    @property
    def comparison(self) -> Comparison:
        """How a target record is compared with its source record (the one record comparison)."""
        if self._comparison is None:
            schemas = self._store_call(lambda: (self.source.describe(), self.target.describe()))
            self._comparison = Comparison.for_schemas(schemas[0], schemas[1], VECTOR_TOLERANCE)
        return self._comparison

    def _pending_for_target(self, records: Sequence[RecordId]) -> frozenset[RecordId]:
        keys = {r.key: r for r in records}
        return frozenset(keys[k] for k in self.journal.outbox.pending_keys(str(Backend.TARGET), keys))

    def _read_back(self, records: Sequence[RecordId]) -> ReadBack:
        """Read ``records`` back from both stores; what differs is looked at again after the verification
        re-check's settle waits (a write in flight between the two fetches settles, a drop stays)."""
        pending = self._pending_for_target(records)
        found = self._store_call(
            lambda: read_back(records, self.source, self.target, self.mapping, self.comparison, pending=pending)
        )
        cfg = self.config.verification
        wait = cfg.recheck_settle_s
        for _ in range(cfg.recheck_rounds - 1):
            if not found.dropped:
                break
            self.clock.sleep(wait)
            wait *= 2
            again = self._store_call(
                partial(read_back, found.dropped, self.source, self.target, self.mapping, self.comparison)
            )
            found = ReadBack(found.checked, again.missing, again.different, again.extra, found.pending)
        return found

    def _probe(self) -> ReadBack | None:
        """Read-your-writes probe: the newest acknowledged writes since the last probe, topped up with
        older ones at random, read back from both stores (None when the probes are off)."""
        cfg = self.config.parity_gate
        if not cfg.enabled or cfg.probes_per_check == 0:
            return None
        seen = int(self.journal.get("probe_seq", 0))
        fresh = self.journal.acknowledged_writes(since_seq=seen)
        chosen = fresh[-cfg.probes_per_check :]
        older = min(seen, fresh[0][0] - 1) if fresh else seen
        room = cfg.probes_per_check - len(chosen)
        if room > 0 and older > 0:
            seqs = self._rng.sample(range(1, older + 1), min(room, older))
            chosen = self.journal.acknowledged_by_seq(sorted(seqs)) + chosen
        if fresh:
            self.journal.set(probe_seq=fresh[-1][0])
        records = list(dict.fromkeys(key_parts(key) for _, key, _ in chosen))
        if not records:
            return ReadBack(0)
        try:
            return self._read_back(records)
        except TransientStoreError as exc:  # a probe that cannot read is no finding; the next one tries again
            self._event("fault", {"fault": "probe_unavailable", "error": redact_text(str(exc))})
            return None

    def _parity_gate(self, before: str, trigger: str = "") -> Phase | None:
        """Read every acknowledged write back from the target and compare it with the source, plus the
        collection-wide parity. None when they agree; otherwise the dropped writes are listed, replayed
        from the source, alerted and journaled, and the migration is blocked (returns BLOCKED)."""
        cfg = self.config.parity_gate
        if not cfg.enabled:
            self._event("decision", {"decision": "parity gate skipped", "before": before, "reason": "disabled"})
            return None
        self.replay_outbox(side=Backend.TARGET, quiet=True)
        logged = self.journal.acknowledged_writes()
        records = list(dict.fromkeys(key_parts(key) for _, key, _ in logged))
        try:
            found = self._read_back(records)
            parity = self.collection_parity
            collection = self._store_call(partial(parity, self.source, self.target)) if parity is not None else None
        except TransientStoreError as exc:
            return self._unavailable(Phase(self.phase), exc)
        dropped = list(found.dropped)
        extra_points: list[RecordId] = []
        if collection is not None:
            # A write still queued in the outbox for the target is known, not silent: the outbox replays it.
            listed = [*collection.missing, *collection.different]
            queued = self._pending_for_target(listed)
            dropped += [r for r in dict.fromkeys(listed) if r not in set(dropped) and r not in queued]
            extra_points = list(collection.extra)
        figures: dict[str, Any] = {
            "before": before,
            "trigger": trigger or None,
            "acknowledged_writes": len(logged),
            "read_back": found.to_dict(),
            "collection": None
            if collection is None
            else {
                "scope": collection.scope,
                "checks": {c.id: str(c.status) for c in collection.checks},
                "missing": [r.id for r in collection.missing[:100]],
                "different": [r.id for r in collection.different[:100]],
                "extra": [r.id for r in collection.extra[:100]],
            },
        }
        if not dropped and not extra_points and (collection is None or collection.passed):
            self._event("decision", {"decision": "parity gate passed", **figures})
            return None
        ids = [r.id for r in dropped] + [r.id for r in extra_points]
        self._event("fault", {"fault": "silent_drop", "count": len(ids), "ids": ids[:1000], "before": before})
        replayed, still = self._replay_dropped(dropped, extra_points)
        shown = ", ".join(str(i) for i in ids[:10]) + (", …" if len(ids) > 10 else "")
        scope = f"; collection parity over {collection.scope}" if collection is not None and collection.scope else ""
        writes = "write" if len(ids) == 1 else "writes"
        reason = (
            f"parity gate {before}: {len(ids)} acknowledged {writes} the target does not hold as acknowledged "
            f"(ids {shown}){scope}"
            + (f"; found by {trigger}" if trigger else "")
            + f"; replayed from the source ({replayed} rewritten, {len(still)} still differ)"
        )
        details = {**figures, "ids": ids, "replayed": replayed, "still_differ": [r.id for r in still]}
        self._event("decision", {"decision": "blocked", "reason": reason, **details})
        self._transition(Phase.BLOCKED, read_percent=0.0, write_mode=str(WriteMode.DUAL_SOURCE_FIRST), reason=reason)
        self._alert(
            "critical",
            "acknowledged writes missing on the target",
            f"{reason}. Reads are back on the source; dual-write stays on, source first. The target loses "
            "acknowledged writes: investigate before retrying.",
            details,
            key="blocked",
        )
        return Phase.BLOCKED

    def _replay_dropped(
        self, dropped: Sequence[RecordId], extra_points: Sequence[RecordId]
    ) -> tuple[int, list[RecordId]]:
        """Replay ``dropped`` from the source (and delete ``extra_points`` from the target) until they read
        back equal, at most ``replay_rounds`` times. Returns (records rewritten, records still differing)."""
        rewritten = 0
        still = list(dropped)
        try:
            if extra_points:
                self._store_call(lambda: self.target.delete([r.id for r in extra_points]))
                rewritten += len(extra_points)
            for _ in range(self.config.parity_gate.replay_rounds):
                if not still:
                    break
                batch = list(still)
                upserted, deleted = self._store_call(
                    partial(replay_records, batch, self.source, self.target, self.mapping)
                )
                rewritten += upserted + deleted
                again = self._store_call(
                    partial(read_back, batch, self.source, self.target, self.mapping, self.comparison)
                )
                still = list(again.dropped)
        except TransientStoreError as exc:  # the block goes ahead; what could not be replayed is listed
            self._event("fault", {"fault": "replay_unavailable", "error": redact_text(str(exc))})
        self._event(
            "info",
            {"message": "dropped writes replayed", "rewritten": rewritten, "still_differ": [r.id for r in still]},
        )
        return rewritten, still

    # -- decisions anyone may take ---------------------------------------------------------------------
    def rollback(self, reason: str, figures: dict[str, Any] | None = None) -> Phase:
        """Reads back to 0 % at once, dual-write kept (source authoritative), alert sent, reason journaled."""
        previous = self.journal.state()
        self._event(
            "decision",
            {"decision": "rollback", "reason": reason, "from_phase": previous.phase, **(figures or {})},
        )
        self._transition(
            Phase.ROLLED_BACK,
            read_percent=0.0,
            write_mode=str(WriteMode.DUAL_SOURCE_FIRST),
            reason=reason,
            consecutive_failures=0,
        )
        self._alert(
            "critical",
            "migration rolled back",
            f"{reason}. Reads are back on the source; dual-write stays on. Investigate before retrying.",
            {"from_phase": previous.phase, "read_percent_before": previous.read_percent},
            key="rolled_back",
        )
        self.replay_outbox()
        return Phase.ROLLED_BACK

    def _block(self, reason: str, figures: dict[str, Any]) -> Phase:
        self._transition(Phase.BLOCKED, read_percent=0.0, reason=reason)
        self._alert("critical", "traffic shift blocked", f"{reason}. No user reads the target.", figures, key="blocked")
        return Phase.BLOCKED

    def retry(self) -> Phase:
        """After a block or a rollback was investigated: go back to verification (then shadow, warm-up,
        and the canary from its first step, with new latency references). Returns the new phase."""
        phase = self.phase
        if phase not in (Phase.BLOCKED, Phase.ROLLED_BACK):
            raise UsageError(f"nothing to retry: the migration is in phase {phase}")
        self._event("decision", {"decision": "retry", "from_phase": str(phase)})
        # The canary starts afresh: new latency references from its own first store calls.
        self.journal.set(latency_reference={})
        moved = self._transition(Phase.VERIFY, read_percent=0.0, canary_step=0, consecutive_failures=0, reason=None)
        self._resolve("rolled_back", "blocked")
        return moved

    def replay_outbox(self, side: str | None = None, *, quiet: bool = False) -> ReplayReport:
        """Retry the dual-write outbox (after completion, target writes only). Journaled unless ``quiet``
        and nothing changed."""
        if self.phase is Phase.COMPLETED:
            side = str(Backend.TARGET)
        report = replay_outbox(self.journal, self.source, self.target, self.mapping, side=side)
        if not quiet or report.acknowledged or report.failed:
            self._event("info", {"message": "outbox replay", "side": side or "both", **report.to_dict()})
        return report

    # -- after cut-over --------------------------------------------------------------------------------
    def _orphan_watch(self) -> OrphanWatch:
        """The watch over the source, with its baseline taken (and journaled) on first use."""
        if self._watch is None:
            self._watch = OrphanWatch(self.source, self.journal, clock=self.clock, batch_size=self.config.batch_size)
        if not self._watch.started:
            count = self._store_call(self._watch.start)
            self._event("info", {"message": "orphaned-write watch on", "baseline_records": count})
        return self._watch

    def _start_orphan_watch(self) -> None:
        """Take the baseline; when the source stays unavailable, journal and alert instead of failing the
        completed migration (the baseline is taken on the next ``run()`` or orphaned-write check)."""
        try:
            self._orphan_watch()
        except TransientStoreError as exc:
            error = redact_text(str(exc))
            self._event("fault", {"fault": "store_unavailable", "phase": str(Phase.COMPLETED), "error": error})
            self._alert(
                "warning",
                "orphaned-write watch not started",
                f"the source stayed unavailable while its baseline was taken ({error}); it is taken on the next "
                "run() or orphaned-write check",
                key="orphan_watch_unavailable",
            )

    def check_orphaned_writes(self) -> OrphanReport:
        """Compare the source with its state at cut-over: every record added, changed or deleted since
        is an orphaned write (a writer bypassing the flag). Journaled; alerted when there are any."""
        if self.phase is not Phase.COMPLETED:
            raise UsageError(f"orphaned writes are watched after completion; the migration is in phase {self.phase}")
        watch = self._orphan_watch()
        report = self._store_call(watch.check)
        self._event("health", {"check": "orphaned_writes", **report.to_dict()})
        self._resolve("orphan_watch_unavailable")
        if report.count:
            self._alert(
                "critical",
                "orphaned writes",
                f"{report.count} writes reached the source after its writes were switched off "
                f"(e.g. ids {list(report.ids[:5])}); find the writer that bypasses the flag",
                report.to_dict(),
                key="orphaned_writes",
            )
        else:
            self._resolve("orphaned_writes")
        return report
