"""The verification gate of a live migration: verify, then look again at what parity found.

``make_verifier`` builds the orchestrator's ``verifier``: one ``VerificationRun`` (schema, parity,
quality, latency from one scan of each store), then ``recheck_parity`` on its typed findings, so a
write that landed between the two scans settles while a real difference keeps the verdict failing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from harness.clock import Clock
from harness.model import Verdict
from harness.stores.base import VectorStore
from harness.verify.recheck import Call, recheck_parity
from harness.verify.run import VerificationRun
from harness.verify.thresholds import Thresholds, load_thresholds

__all__ = ["Verifier", "make_verifier"]

Verifier = Callable[[VectorStore, VectorStore], Verdict]
"""Certifies a target against its source; returns the final verdict."""


def make_verifier(
    queries: int = 200,
    k: int = 10,
    thresholds: Thresholds | str | Path | None = None,
    *,
    clock: Clock | None = None,
    call: Call[Any] | None = None,
    rounds: int = 4,
    settle_s: float = 2.0,
    measure_latency: bool = True,
    payload_indexes: Mapping[str, str] | None = None,
) -> Verifier:
    """A verifier: ``queries`` sampled queries, recall and overlap @``k``, gates from ``thresholds`` (a
    ``Thresholds``, a thresholds TOML file read on each run, or None for the defaults); then the parity
    findings re-checked in at most ``rounds`` looks, waits doubling from ``settle_s`` s on ``clock``,
    every re-check store call wrapped by ``call`` (e.g. a retry policy). ``payload_indexes`` (field → type,
    a migration config's ``[target] payload_indexes``) join the thresholds' own: the target must hold them."""

    def verify(source: VectorStore, target: VectorStore) -> Verdict:
        limits = load_thresholds(thresholds) if isinstance(thresholds, str | Path) else thresholds
        if payload_indexes:
            limits = limits or Thresholds()
            limits = limits.model_copy(update={"payload_indexes": {**limits.payload_indexes, **payload_indexes}})
        with VerificationRun(
            source, target, queries=queries, k=k, thresholds=limits, measure_latency=measure_latency
        ) as run:
            verdict = run.verdict()
            findings = run.parity_findings()
        confirmed, _ = recheck_parity(
            verdict, findings, source, target, clock=clock, rounds=rounds, settle_s=settle_s, call=call
        )
        return confirmed

    return verify
