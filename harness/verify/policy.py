"""How search quality is judged: against exact ground truth and against the source, knowing direction.

Per group of queries (all of them, or one namespace), with ``rs``/``rt`` the mean recall@k of source and
target against exact ground truth, ``overlap`` the mean overlap@k of target with source, and ``noise``
the source's overlap with itself on a re-run:

- **recall** (``quality.recall_target``): ``rt ≥ max(recall_target_min, rs − recall_max_drop)``. A weak
  target fails whatever the source did.
- **upgrade**: the target is *clearly* better when ``rt − rs > max(upgrade_margin, 1 − noise)``: more than
  the tolerance (0.02 by default) and more than the source's own run-to-run disagreement, which bounds
  how much its measured recall can move on a re-run.
- **overlap** (``quality.overlap``): gates only where the target is not better than the source. The gate
  is ``min(overlap_min, noise − noise_slack)`` (a target is not asked to agree with the source more
  closely than the source agrees with itself: Diffy's idea, for ranked lists). Overlap above it passes.
  Below it, an upgrade still passes with ``warn`` — the results changed, toward the exact answers — as
  long as the queries on which the target is *not* better (target recall ≤ source recall, and below 1)
  keep the overlap gate; otherwise, and for any target that is not an upgrade, low overlap fails. A query
  the target answers with recall 1 is never one where it is not better: its answers are the exact ones
  (ties within ε included), so where they differ from the source's, the source chose among ties or
  missed — a weak HNSW source and an exact target disagree so on a few queries in ten.

``quality.namespaces`` applies the same rules to each namespace holding at least
``namespace_min_queries`` queries and names the worst one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from harness.model import Check, PointId, Status
from harness.verify.thresholds import Thresholds

F64 = npt.NDArray[np.float64]

QUALITY_CHECK_IDS = (
    "quality.recall_source",
    "quality.recall_target",
    "quality.overlap",
    "quality.noise_floor",
    "quality.namespaces",
    "quality.filtered",
)
EPS = 1e-12


@dataclass(frozen=True, slots=True)
class QualityData:
    """Per-query arrays behind the quality checks (and the report's plots)."""

    recall_source: F64
    recall_target: F64
    overlap: F64
    noise: F64
    labels: tuple[PointId, ...]
    namespaces: tuple[str | None, ...] | None = None


@dataclass(frozen=True, slots=True)
class Judgement:
    """The policy applied to one group of queries (module docstring)."""

    queries: int
    recall_source: float
    recall_target: float
    overlap: float
    noise: float
    required_recall: float
    required_overlap: float
    margin: float
    not_better: int  # queries on which the target's recall is below 1 and not above the source's
    overlap_not_better: float | None  # their mean overlap (None when there are none)

    @property
    def gain(self) -> float:
        """Target recall minus source recall."""
        return self.recall_target - self.recall_source

    @property
    def upgrade(self) -> bool:
        """The target is clearly better than the source (gain above the margin)."""
        return self.gain > self.margin + EPS

    @property
    def recall_ok(self) -> bool:
        return self.recall_target >= self.required_recall - EPS

    @property
    def overlap_status(self) -> Status:
        """PASS above the gate; WARN for an upgrade that keeps the gate where it is not better; else FAIL."""
        if self.overlap >= self.required_overlap - EPS:
            return Status.PASS
        kept = self.overlap_not_better is None or self.overlap_not_better >= self.required_overlap - EPS
        return Status.WARN if self.upgrade and kept else Status.FAIL

    @property
    def status(self) -> Status:
        """The group's outcome: FAIL if recall or overlap fails, WARN for a changed upgrade, else PASS."""
        if not self.recall_ok:
            return Status.FAIL
        return self.overlap_status

    def direction(self) -> str:
        """Which way the target's answers moved, in words."""
        if self.upgrade:
            return f"toward the exact answers (recall {self.recall_source:.3f} → {self.recall_target:.3f}, +{self.gain:.3f})"
        if self.gain < -self.margin - EPS:
            return f"away from the exact answers (recall {self.recall_source:.3f} → {self.recall_target:.3f}, {self.gain:.3f})"
        return f"neither way (recall {self.recall_source:.3f} → {self.recall_target:.3f}, within ±{self.margin:.3f})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "queries": self.queries,
            "recall_source": round(self.recall_source, 4),
            "recall_target": round(self.recall_target, 4),
            "overlap": round(self.overlap, 4),
            "noise_floor": round(self.noise, 4),
            "required_recall": round(self.required_recall, 4),
            "required_overlap": round(self.required_overlap, 4),
            "upgrade": self.upgrade,
            "upgrade_margin": round(self.margin, 4),
            "queries_not_better": self.not_better,
            "overlap_not_better": None if self.overlap_not_better is None else round(self.overlap_not_better, 4),
            "status": str(self.status),
        }


def judge(rs: F64, rt: F64, overlap: F64, noise: F64, thresholds: Thresholds) -> Judgement:
    """The policy over one group of queries (per-query arrays of equal length, at least one query)."""
    mean_rs, mean_rt = float(rs.mean()), float(rt.mean())
    mean_noise = float(noise.mean())
    not_better = (rt <= rs + EPS) & (rt < 1.0 - EPS)
    return Judgement(
        queries=len(rs),
        recall_source=mean_rs,
        recall_target=mean_rt,
        overlap=float(overlap.mean()),
        noise=mean_noise,
        required_recall=max(thresholds.recall_target_min, mean_rs - thresholds.recall_max_drop),
        required_overlap=min(thresholds.overlap_min, mean_noise - thresholds.noise_slack),
        margin=max(thresholds.upgrade_margin, 1.0 - mean_noise),
        not_better=int(not_better.sum()),
        overlap_not_better=float(overlap[not_better].mean()) if not_better.any() else None,
    )


def quality_checks(
    data: QualityData, thresholds: Thresholds, k: int, details: dict[str, Any], about: str = ""
) -> list[Check]:
    """``quality.recall_source``, ``recall_target``, ``overlap`` and ``noise_floor`` from per-query arrays;
    ``details`` (truth ids, results) go on the target check; ``about`` says where the queries came from."""
    j = judge(data.recall_source, data.recall_target, data.overlap, data.noise, thresholds)
    rs, rt, noise = j.recall_source, j.recall_target, j.noise
    n = len(data.labels)
    over = f"over {n} queries{f' {about}' if about else ''}"
    return [
        Check(
            "quality.recall_source",
            Status.PASS if rs >= thresholds.recall_target_min else Status.WARN,
            round(rs, 4),
            thresholds.recall_target_min,
            f"source recall@{k} {rs:.3f} against exact ground truth {over}"
            + ("" if rs >= thresholds.recall_target_min else " — the source itself is below the recall gate"),
            {"per_query": _rounded(data.recall_source), **_distribution(data.recall_source)},
        ),
        Check(
            "quality.recall_target",
            Status.PASS if j.recall_ok else Status.FAIL,
            round(rt, 4),
            round(j.required_recall, 4),
            f"target recall@{k} {rt:.3f} {over} (needs ≥ {j.required_recall:.3f}: ≥ "
            f"{thresholds.recall_target_min:g} and at most {thresholds.recall_max_drop:g} below the source's {rs:.3f})",
            {"per_query": _rounded(data.recall_target), **_distribution(data.recall_target), **details},
        ),
        _overlap_check(j, data, thresholds, k),
        Check(
            "quality.noise_floor",
            Status.PASS if noise >= thresholds.overlap_min else Status.WARN,
            round(noise, 4),
            thresholds.overlap_min,
            f"the source agrees with itself on a re-run at overlap@{k} {noise:.3f}"
            + ("" if noise >= thresholds.overlap_min else " — its own results are unstable; the overlap gate relaxes"),
            {"per_query": _rounded(data.noise), **_distribution(data.noise)},
        ),
    ]


def _overlap_check(j: Judgement, data: QualityData, thresholds: Thresholds, k: int) -> Check:
    gate = (
        f"needs ≥ {j.required_overlap:.3f} = min(overlap_min {thresholds.overlap_min:g}, noise floor {j.noise:.3f} "
        f"− slack {thresholds.noise_slack:g})"
    )
    upgrade_rule = (
        f"clearly better means a recall gain above {j.margin:.3f} = max(upgrade_margin {thresholds.upgrade_margin:g}, "
        f"1 − noise floor {j.noise:.3f})"
    )
    status = j.overlap_status
    base = f"overlap@{k} of target with source {j.overlap:.3f} ({gate})"
    if status is Status.PASS:
        message = base
    elif status is Status.WARN:
        where = (
            f"; on the {j.not_better} queries where it is not better the overlap is {j.overlap_not_better:.3f}"
            if j.overlap_not_better is not None
            else "; it is better on every query"
        )
        message = (
            f"results changed: {base}, because the target is clearly better than the source — its answers moved "
            f"{j.direction()} ({upgrade_rule}){where}, so overlap does not gate"
        )
    elif j.upgrade:
        message = (
            f"{base}; the target is better on average ({j.direction()}), but on the {j.not_better} queries where "
            f"it is not better the overlap is {j.overlap_not_better:.3f}: there its results changed without "
            "finding more true neighbours"
        )
    else:
        message = f"{base}; the target's answers moved {j.direction()}, not clearly better ({upgrade_rule})"
    return Check(
        "quality.overlap",
        status,
        round(j.overlap, 4),
        round(j.required_overlap, 4),
        message,
        {"per_query": _rounded(data.overlap), **_distribution(data.overlap), "policy": j.to_dict()},
    )


def namespace_check(data: QualityData, thresholds: Thresholds, k: int) -> Check:
    """``quality.namespaces``: the policy per namespace (those with at least ``namespace_min_queries``
    queries); the worst namespace is named; every namespace is in ``details["namespaces"]``."""
    if data.namespaces is None or all(ns is None for ns in data.namespaces):
        return Check(
            "quality.namespaces",
            Status.SKIP,
            None,
            None,
            "not applicable: the queries are not asked per namespace (the source has no namespaces, or the "
            "queries span all of them)",
        )
    groups: dict[str, list[int]] = {}
    for q, ns in enumerate(data.namespaces):
        groups.setdefault("(all namespaces)" if ns is None else ns, []).append(q)
    rows: list[dict[str, Any]] = []
    judged: list[tuple[str, Judgement]] = []
    for name in sorted(groups):
        idx = np.asarray(groups[name])
        j = judge(data.recall_source[idx], data.recall_target[idx], data.overlap[idx], data.noise[idx], thresholds)
        enough = len(idx) >= thresholds.namespace_min_queries
        row = {"namespace": name, **j.to_dict(), "judged": enough}
        if not enough:
            row["status"] = "skip"
        rows.append(row)
        if enough:
            judged.append((name, j))
    if not judged:
        return Check(
            "quality.namespaces",
            Status.SKIP,
            None,
            thresholds.namespace_min_queries,
            f"no namespace has {thresholds.namespace_min_queries} queries to judge (namespace_min_queries); "
            f"{len(rows)} listed",
            {"namespaces": rows},
        )
    worst_name, worst = min(judged, key=lambda item: (item[1].recall_target, item[1].overlap, item[0]))
    statuses = [j.status for _, j in judged]
    status = Status.FAIL if Status.FAIL in statuses else Status.WARN if Status.WARN in statuses else Status.PASS
    failing = [name for name, j in judged if j.status is Status.FAIL]
    small = len(rows) - len(judged)
    message = (
        f"worst namespace {worst_name!r}: target recall@{k} {worst.recall_target:.3f} (needs ≥ "
        f"{worst.required_recall:.3f}), overlap {worst.overlap:.3f} (needs ≥ {worst.required_overlap:.3f}"
        f"{' unless an upgrade' if worst.upgrade else ''}) over {worst.queries} queries; "
        f"{len(judged)} of {len(rows)} namespaces judged"
        + (f" ({small} with fewer than {thresholds.namespace_min_queries} queries only listed)" if small else "")
        + (f"; failing: {', '.join(map(repr, failing))}" if failing else "")
    )
    return Check(
        "quality.namespaces",
        status,
        round(worst.recall_target, 4),
        round(worst.required_recall, 4),
        message,
        {"worst": worst_name, "namespaces": rows},
    )


def worst_queries(
    data: QualityData, truth_ids: Sequence[Sequence[Any]], target_ids: Sequence[Sequence[Any]], limit: int
) -> list[dict[str, Any]]:
    """The ``limit`` queries with the lowest target recall (then overlap), with expected and returned ids
    in the source's terms (``{"id", "namespace"}`` for a record in a named namespace)."""
    order = np.lexsort((data.overlap, data.recall_target))[:limit]
    return [
        {
            "query": data.labels[q],
            "recall_target": round(float(data.recall_target[q]), 4),
            "recall_source": round(float(data.recall_source[q]), 4),
            "overlap": round(float(data.overlap[q]), 4),
            "expected": truth_ids[q],
            "target": list(target_ids[q]),
        }
        for q in order.tolist()
    ]


def skipped_quality(reason: str, check_ids: Sequence[str] = QUALITY_CHECK_IDS) -> list[Check]:
    """The quality checks as SKIP with ``reason`` (no queries)."""
    return [Check(check_id, Status.SKIP, None, None, reason) for check_id in check_ids]


def _rounded(values: F64) -> list[float]:
    return [round(float(v), 4) for v in values]


def _distribution(values: F64) -> dict[str, float]:
    if len(values) == 0:
        return {}
    return {
        "min": round(float(values.min()), 4),
        "p05": round(float(np.quantile(values, 0.05)), 4),
        "median": round(float(np.median(values)), 4),
        "mean": round(float(values.mean()), 4),
    }
