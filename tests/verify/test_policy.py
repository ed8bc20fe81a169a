"""The quality policy (verify/policy.py): every gate just inside and just outside, and direction."""

from __future__ import annotations

import numpy as np
import pytest

from harness.model import Status
from harness.verify import Thresholds
from harness.verify.policy import QualityData, judge, namespace_check, quality_checks

T = Thresholds()  # recall_target_min 0.95, recall_max_drop 0.02, overlap_min 0.9, noise_slack 0.02, upgrade_margin 0.02


def arr(*values: float) -> np.ndarray:
    return np.asarray(values, dtype=np.float64)


def data(rs: np.ndarray, rt: np.ndarray, overlap: np.ndarray, noise: np.ndarray | None = None) -> QualityData:
    n = len(rs)
    return QualityData(rs, rt, overlap, np.ones(n) if noise is None else noise, tuple(range(n)))


def checks(d: QualityData, thresholds: Thresholds = T) -> dict[str, object]:
    return {c.id: c for c in quality_checks(d, thresholds, 10, {})}


@pytest.mark.parametrize(
    ("rt", "status"),
    [(0.98, Status.PASS), (0.98 - 1e-6, Status.FAIL), (1.0, Status.PASS)],
)
def test_recall_gate_is_the_source_minus_the_drop_or_the_floor(rt: float, status: Status) -> None:
    j = judge(arr(1.0), arr(rt), arr(1.0), arr(1.0), T)
    assert j.required_recall == pytest.approx(0.98)
    assert (Status.PASS if j.recall_ok else Status.FAIL) is status


def test_a_weak_source_does_not_lower_the_floor() -> None:
    j = judge(arr(0.3), arr(0.9499), arr(0.3), arr(1.0), T)
    assert j.required_recall == 0.95 and not j.recall_ok and j.status is Status.FAIL
    assert judge(arr(0.3), arr(0.95), arr(0.3), arr(1.0), T).recall_ok


@pytest.mark.parametrize(
    ("overlap", "noise", "status"),
    [
        (0.90, 1.0, Status.PASS),  # at the gate
        (0.90 - 1e-6, 1.0, Status.FAIL),  # just under it, and not an upgrade
        (0.85, 0.87, Status.PASS),  # an unstable source relaxes the gate: 0.87 − 0.02
        (0.85 - 1e-6, 0.87, Status.FAIL),
    ],
)
def test_overlap_gate_relaxes_with_the_noise_floor(overlap: float, noise: float, status: Status) -> None:
    assert judge(arr(1.0), arr(1.0), arr(overlap), arr(noise), T).overlap_status is status


def test_an_upgrade_needs_a_gain_above_the_margin() -> None:
    # Source 0.95, target 0.97 + ε: gain just above max(0.02, 1 − 1.0); overlap low → warn.
    above = judge(arr(0.95), arr(0.97 + 1e-6), arr(0.5), arr(1.0), T)
    assert above.upgrade and above.overlap_status is Status.WARN
    at = judge(arr(0.95), arr(0.97), arr(0.5), arr(1.0), T)
    assert not at.upgrade and at.overlap_status is Status.FAIL


def test_an_unstable_source_widens_the_upgrade_margin() -> None:
    # Noise floor 0.9: the source's own answers move by up to 0.1, so a gain of 0.05 is not clear.
    j = judge(arr(0.80), arr(0.85), arr(0.5), arr(0.9), T)
    assert j.margin == pytest.approx(0.1) and not j.upgrade and j.overlap_status is Status.FAIL
    assert judge(arr(0.80), arr(0.91), arr(0.5), arr(0.9), T).upgrade


def test_an_upgrade_still_fails_where_it_is_not_better() -> None:
    rs = arr(0.5, 0.5, 0.9, 0.9)
    rt = arr(1.0, 1.0, 0.9, 0.9)  # better on two queries, as good (and not perfect) on two
    kept = judge(rs, rt, arr(0.5, 0.5, 0.95, 0.95), arr(1, 1, 1, 1), T)
    assert kept.upgrade and kept.not_better == 2 and kept.overlap_not_better == pytest.approx(0.95)
    assert kept.overlap_status is Status.WARN
    # Same gain, but where it is not better its results changed anyway: that is not an upgrade's doing.
    changed = judge(rs, rt, arr(0.5, 0.5, 0.6, 0.6), arr(1, 1, 1, 1), T)
    assert changed.upgrade and changed.overlap_status is Status.FAIL
    # Worse on those two queries counts as not better too.
    worse = judge(arr(0.5, 0.5, 0.9, 0.9), arr(1.0, 1.0, 0.8, 0.8), arr(0.5, 0.5, 0.6, 0.6), arr(1, 1, 1, 1), T)
    assert worse.upgrade and worse.not_better == 2 and worse.overlap_status is Status.FAIL


@pytest.mark.parametrize(
    ("rt_tied", "not_better", "status"),
    [(1.0, 0, Status.WARN), (1.0 - 1e-6, 2, Status.FAIL)],
)
def test_a_query_the_target_answers_exactly_is_never_one_where_it_is_not_better(
    rt_tied: float, not_better: int, status: Status
) -> None:
    # A weak HNSW source scores recall 1 on some queries by the tie rule while returning records other
    # than the exact top k (within ε of the k-th); an exact target disagrees with it there. Measured on
    # Qdrant Edge (m=4, ef_construct=8 source, exact target): 20 such queries at overlap 0.895.
    rs = arr(0.5, 0.5, rt_tied, rt_tied)
    j = judge(rs, arr(1.0, 1.0, rt_tied, rt_tied), arr(0.5, 0.5, 0.6, 0.6), arr(1, 1, 1, 1), T)
    assert j.upgrade and j.not_better == not_better and j.overlap_status is status
    if not_better == 0:
        assert j.overlap_not_better is None


def test_the_upgrade_warning_says_results_changed_and_which_way() -> None:
    c = checks(data(arr(0.59, 0.59), arr(0.9995, 0.9995), arr(0.587, 0.587)))
    overlap = c["quality.overlap"]
    assert overlap.status is Status.WARN  # type: ignore[attr-defined]
    message = overlap.message  # type: ignore[attr-defined]
    assert message.startswith("results changed: overlap@10 of target with source 0.587")
    assert "toward the exact answers (recall 0.590 → 1.000, +0.410)" in message
    assert "max(upgrade_margin 0.02, 1 − noise floor 1.000)" in message
    assert c["quality.recall_source"].status is Status.WARN  # type: ignore[attr-defined]
    assert c["quality.recall_target"].status is Status.PASS  # type: ignore[attr-defined]


def test_a_weaker_target_fails_and_says_away_from_the_exact_answers() -> None:
    c = checks(data(arr(0.999), arr(0.90), arr(0.85)))
    assert c["quality.recall_target"].status is Status.FAIL  # type: ignore[attr-defined]
    overlap = c["quality.overlap"]
    assert overlap.status is Status.FAIL  # type: ignore[attr-defined]
    assert "away from the exact answers" in overlap.message  # type: ignore[attr-defined]


def test_namespaces_are_judged_one_by_one_and_the_worst_is_named() -> None:
    n = 12
    rs = np.ones(3 * n)
    rt = np.concatenate([np.ones(n), np.full(n, 0.7), np.ones(n)])
    overlap = np.concatenate([np.ones(n), np.full(n, 0.7), np.ones(n)])
    d = QualityData(rs, rt, overlap, np.ones(3 * n), tuple(range(3 * n)), ("a",) * n + ("b",) * n + ("c",) * n)
    check = namespace_check(d, T, 10)
    assert check.status is Status.FAIL
    assert check.message.startswith("worst namespace 'b': target recall@10 0.700 (needs ≥ 0.980)")
    assert "failing: 'b'" in check.message
    rows = {r["namespace"]: r for r in check.details["namespaces"]}
    assert rows["a"]["status"] == "pass" and rows["b"]["status"] == "fail"


def test_a_namespace_with_too_few_queries_is_listed_not_judged() -> None:
    d = QualityData(
        np.ones(12), np.concatenate([np.ones(10), np.zeros(2)]), np.ones(12), np.ones(12), tuple(range(12)),
        ("big",) * 10 + ("tiny",) * 2,
    )  # fmt: skip
    check = namespace_check(d, T, 10)
    assert check.status is Status.PASS
    assert "1 with fewer than 10 queries only listed" in check.message
    tiny = next(r for r in check.details["namespaces"] if r["namespace"] == "tiny")
    assert tiny["judged"] is False and tiny["status"] == "skip"
    few = namespace_check(d, Thresholds(namespace_min_queries=11), 10)
    assert few.status is Status.SKIP


def test_unscoped_queries_skip_the_namespace_check() -> None:
    check = namespace_check(data(arr(1.0), arr(1.0), arr(1.0)), T, 10)
    assert check.status is Status.SKIP and "not asked per namespace" in check.message
