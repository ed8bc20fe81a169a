"""The migration's one assembly: stores, journal, flags, metrics, dual-write, alerts, verifier, orchestrator.

``ragmig run``, ``ragmig demo`` and the game days all build their migration here, from a
``MigrationConfig`` and a few injection points:

- ``wrap(side, store)``: layers around each store (the game days' ``FaultyStore``s); ``side`` is
  "source" or "target";
- ``clock`` (a ``ManualClock`` keeps game days deterministic), ``flags``, ``metrics``, ``alerts``
  (sinks added to the config's own), ``verifier``, ``collection_parity`` (the parity gates'
  collection-wide parity, default ``build_collection_parity``), ``warm_up``, ``traffic``, ``shadow_queries``;
- already opened ``source`` / ``target`` stores (otherwise the config's URIs are opened, and closed by
  ``Migration.close``).

It lives outside ``harness.migration`` because it joins that layer with ``harness.verify``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.clock import Clock, SystemClock
from harness.migration.alerts import AlertSink
from harness.migration.backfill import ensure_target_collection, resolve_mapping
from harness.migration.config import MigrationConfig
from harness.migration.dualwrite import DualWriteStore
from harness.migration.flags import FlagStore
from harness.migration.journal import Journal
from harness.migration.metrics import InProcessMetrics, MetricsSource, WindowStats
from harness.migration.orchestrator import (
    CollectionCheck,
    CollectionParity,
    Orchestrator,
    ShadowQueries,
    Traffic,
    Verifier,
    WarmUp,
)
from harness.migration.router import Backend
from harness.migration.webhook import build_alert_sinks
from harness.model import Verdict
from harness.records import RecordMapping
from harness.stores.base import VectorStore

__all__ = [
    "Migration",
    "ServiceWarmUp",
    "Wrap",
    "build_collection_parity",
    "build_flags",
    "build_metrics",
    "build_migration",
    "build_verifier",
]

Wrap = Callable[[str, VectorStore], VectorStore]
"""Wraps the store of one side ("source" or "target") in layers (fault injection, instrumentation)."""


def build_verifier(config: MigrationConfig, clock: Clock) -> Verifier:
    """The verification gate: ``harness.verify.make_verifier`` with the config's query count, k, thresholds
    file and re-check rounds (the parity re-check waits on ``clock``). The one place a migration's
    verifier is made."""
    from harness.verify import make_verifier  # heavy; imported when a migration is assembled

    cfg = config.verification
    return make_verifier(
        cfg.queries,
        cfg.k,
        cfg.thresholds,
        clock=clock,
        rounds=cfg.recheck_rounds,
        settle_s=cfg.recheck_settle_s,
        payload_indexes=config.target_payload_indexes,
    )


def build_collection_parity(config: MigrationConfig, clock: Clock) -> CollectionCheck:
    """The parity gates' collection-wide parity (the one place it is made). A source holding at most
    ``config.parity_gate.sample`` records is compared in full (``harness.verify``'s parity, every record
    of both stores); a larger one by ``harness.verify.sample.sample_parity`` over that many records
    drawn at random (a new seed at each gate), with the exact counts compared too. Either way the
    findings are re-checked as verification re-checks them (a write in flight settles, a drop stays)."""
    from harness.verify import recheck_parity  # heavy; imported when a migration is assembled
    from harness.verify.parity import parity_outcome
    from harness.verify.sample import sample_parity

    cfg = config.verification
    sample = config.parity_gate.sample
    gates = 0

    def parity(source: VectorStore, target: VectorStore) -> CollectionParity:
        nonlocal gates
        gates += 1
        held = source.count()
        if held > sample:
            sampled = sample_parity(source, target, sample, seed=gates)
            checks, findings = sampled.checks, sampled.findings
            scope = f"a random sample of {len(sampled.sampled):,} of {held:,} source records, and the counts"
        else:
            outcome = parity_outcome(source, target)
            checks, findings = outcome.checks, outcome.findings
            scope = f"every record ({held:,} on the source)"
        checked, report = recheck_parity(
            Verdict(checks=tuple(checks)),
            findings,
            source,
            target,
            clock=clock,
            rounds=cfg.recheck_rounds,
            settle_s=cfg.recheck_settle_s,
        )
        open_ = {(check, str(listed)) for check, ids in report.still_differing.items() for listed in ids}
        still = [f for f in findings.findings if (f.check, str(f.listed)) in open_]
        return CollectionParity(
            checks=tuple(c for c in checked.checks if c.id.startswith("parity.")),
            missing=tuple(f.source for f in still if f.kind == "missing" and f.source is not None),
            different=tuple(f.source for f in still if f.kind not in ("missing", "extra") and f.source is not None),
            extra=tuple(f.target for f in still if f.kind in ("extra", "unknown") and f.target is not None),
            scope=scope,
        )

    return parity


def build_flags(config: MigrationConfig, journal: Journal) -> FlagStore:
    """The config's ``[flags]``: OpenFeature in memory (mirrored into ``journal``) or a flagd flag file."""
    if config.flags.provider == "flagd-file":
        from harness.migration.flags_flagd import FlagdFileFlags

        assert config.flags.path is not None  # the config validates it
        return FlagdFileFlags(config.flags.path)
    from harness.migration.flags_openfeature import OpenFeatureFlags

    return OpenFeatureFlags(journal)


def build_metrics(config: MigrationConfig, clock: Clock) -> MetricsSource:
    """The config's ``[metrics]``: an in-process recorder, or Prometheus' HTTP API."""
    cfg = config.metrics
    if cfg.provider != "prometheus":
        return InProcessMetrics()
    from harness.migration.metrics_prometheus import PrometheusMetrics, PromQL

    assert cfg.url is not None  # the config validates it
    return PrometheusMetrics(
        cfg.url,
        PromQL.from_config(cfg),
        clock=clock,
        scrape_interval_s=cfg.scrape_interval_s,
        step_s=cfg.step_s or config.canary.health_interval_s,
        series_quantile=cfg.series_quantile,
        timeout_s=cfg.timeout_s,
    )


class ServiceWarmUp:
    """A ``WarmUp`` that replays a query service's most asked queries on its target path (filling the
    target's cache the way users would); counts the queries it sent in ``queries``."""

    def __init__(self, service: Any) -> None:
        self.service = service
        self.queries = 0

    def __call__(self, n: int) -> WindowStats | None:
        for spec in self.service.top_queries(n):
            self.queries += 1
            self.service.query("warm-up", text_key=spec.text_key, k=spec.k, backend=Backend.TARGET)
        return None  # the orchestrator reads the target cohort's window from the metrics source


@dataclass
class Migration:
    """One assembled migration (see ``build_migration``). ``writer`` is the application's dual-write
    store; ``backfill_source`` is the source the orchestrator copies from (a scenario may wrap it
    before the orchestrator is first used)."""

    config: MigrationConfig
    clock: Clock
    source: VectorStore
    target: VectorStore
    journal: Journal
    flags: FlagStore
    metrics: MetricsSource
    alerts: list[AlertSink]
    mapping: RecordMapping
    writer: DualWriteStore
    backfill_source: VectorStore
    verifier: Verifier
    collection_parity: CollectionCheck | None = None
    shadow_queries: ShadowQueries | None = None
    warm_up: WarmUp | None = None
    traffic: Traffic | None = None
    progress: bool = False
    orchestrator_class: type[Orchestrator] = Orchestrator
    _orchestrator: Orchestrator | None = None
    _cleanup: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)

    @property
    def orchestrator(self) -> Orchestrator:
        """The orchestrator over these parts (built on first use)."""
        if self._orchestrator is None:
            self._orchestrator = self.orchestrator_class(
                self.config,
                self.backfill_source,
                self.target,
                self.journal,
                clock=self.clock,
                flags=self.flags,
                metrics=self.metrics,
                alerts=self.alerts,
                verifier=self.verifier,
                shadow_queries=self.shadow_queries,
                warm_up=self.warm_up,
                traffic=self.traffic,
                progress=self.progress,
                collection_parity=self.collection_parity,
            )
        return self._orchestrator

    def restart(self) -> Orchestrator:
        """A new orchestrator over the same parts and journal, as a restarted controller process builds
        (it resumes where the journal stopped on its next ``run()``)."""
        self._orchestrator = None
        return self.orchestrator

    def close(self) -> None:
        """Close what the assembly opened (the journal, stores opened from the config's URIs)."""
        self._cleanup.close()


def build_migration(
    config: MigrationConfig,
    *,
    clock: Clock | None = None,
    source: VectorStore | None = None,
    target: VectorStore | None = None,
    wrap: Wrap | None = None,
    journal: Journal | None = None,
    flags: FlagStore | None = None,
    metrics: MetricsSource | None = None,
    alerts: Sequence[AlertSink] = (),
    verifier: Verifier | None = None,
    collection_parity: CollectionCheck | None = None,
    shadow_queries: ShadowQueries | None = None,
    warm_up: WarmUp | None = None,
    traffic: Traffic | None = None,
    progress: bool = False,
    orchestrator_class: type[Orchestrator] = Orchestrator,
) -> Migration:
    """Assemble the migration ``config`` describes (see the module docstring for the injection points).

    The target collection is created from the source's schema before anything is mirrored to it; the
    Pinecone → Qdrant mapping is decided once here and shared by dual-write and the orchestrator.
    """
    clock = clock or SystemClock()
    cleanup = contextlib.ExitStack()
    try:
        if source is None:
            from harness.stores import open_store

            source = open_store(config.source)
            cleanup.callback(source.close)
        if target is None:
            from harness.stores import open_store

            target = open_store(config.target)
            cleanup.callback(target.close)
        raw_source = source
        if wrap is not None:
            source, target = wrap("source", source), wrap("target", target)
        ensure_target_collection(source, target, config.target_payload_indexes)
        mapping = resolve_mapping(raw_source, target)
        if journal is None:
            journal = Journal(config.journal)
            cleanup.callback(journal.close)
        flags = flags if flags is not None else build_flags(config, journal)
        metrics = metrics if metrics is not None else build_metrics(config, clock)
        sinks = [*alerts, *build_alert_sinks(config.alerts, migration=config.migration_name)]
        writer = DualWriteStore(source, target, journal, flags, clock, mapping=mapping)
    except BaseException:
        cleanup.close()
        raise
    return Migration(
        config=config,
        clock=clock,
        source=source,
        target=target,
        journal=journal,
        flags=flags,
        metrics=metrics,
        alerts=sinks,
        mapping=mapping,
        writer=writer,
        backfill_source=source,
        verifier=verifier or build_verifier(config, clock),
        collection_parity=collection_parity or build_collection_parity(config, clock),
        shadow_queries=shadow_queries,
        warm_up=warm_up,
        traffic=traffic,
        progress=progress,
        orchestrator_class=orchestrator_class,
        _cleanup=cleanup,
    )
