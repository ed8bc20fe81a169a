"""The search-quality policy (``verify/policy.py``) pinned to exact checks, so a one-line bug fails a test
(``make mutation``): every check's status, observed and expected figure, message and details for each
branch (pass, an upgrade that warns, an upgrade that fails where it is not better, neither way, away),
each comparison exactly at its threshold, the per-namespace judgement and the worst queries."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from harness.model import Check, Status
from harness.verify import Thresholds
from harness.verify.policy import (
    EPS,
    QUALITY_CHECK_IDS,
    QualityData,
    _distribution,
    judge,
    namespace_check,
    quality_checks,
    skipped_quality,
    worst_queries,
)

T = Thresholds()  # recall_target_min 0.95, recall_max_drop 0.02, overlap_min 0.9, noise_slack 0.02, upgrade_margin 0.02


def arr(*values: float) -> np.ndarray:
    return np.asarray(values, dtype=np.float64)


def data(
    rs: tuple[float, ...],
    rt: tuple[float, ...],
    overlap: tuple[float, ...],
    noise: tuple[float, ...],
    namespaces: tuple[str | None, ...] | None = None,
) -> QualityData:
    return QualityData(
        arr(*rs), arr(*rt), arr(*overlap), arr(*noise), tuple(f"q{i}" for i in range(len(rs))), namespaces
    )


def dicts(checks: list[Check]) -> list[dict[str, Any]]:
    return [c.to_dict() for c in checks]


def policy(**fields: Any) -> dict[str, Any]:
    base = {
        "queries": 1,
        "recall_source": 1.0,
        "recall_target": 1.0,
        "overlap": 1.0,
        "noise_floor": 1.0,
        "required_recall": 0.98,
        "required_overlap": 0.9,
        "upgrade": False,
        "upgrade_margin": 0.02,
        "queries_not_better": 0,
        "overlap_not_better": None,
        "status": "pass",
    }
    return {**base, **fields}


# -- the four checks, every field ---------------------------------------------------------------------------------
def test_a_passing_group_reports_each_figure_to_four_places() -> None:
    d = data((0.987654321,), (0.9812345678,), (0.91234567,), (0.93456789,))
    assert dicts(quality_checks(d, T, 3, {"truth": [1]}, "from a file")) == [
        {
            "id": "quality.recall_source",
            "status": "pass",
            "observed": 0.9877,
            "expected": 0.95,
            "message": "source recall@3 0.988 against exact ground truth over 1 queries from a file",
            "details": {"per_query": [0.9877], "min": 0.9877, "p05": 0.9877, "median": 0.9877, "mean": 0.9877},
        },
        {
            "id": "quality.recall_target",
            "status": "pass",
            "observed": 0.9812,
            "expected": 0.9677,
            "message": "target recall@3 0.981 over 1 queries from a file (needs ≥ 0.968: ≥ 0.95 and at most 0.02 "
            "below the source's 0.988)",
            "details": {
                "per_query": [0.9812],
                "min": 0.9812,
                "p05": 0.9812,
                "median": 0.9812,
                "mean": 0.9812,
                "truth": [1],
            },
        },
        {
            "id": "quality.overlap",
            "status": "pass",
            "observed": 0.9123,
            "expected": 0.9,
            "message": "overlap@3 of target with source 0.912 (needs ≥ 0.900 = min(overlap_min 0.9, noise floor 0.935 "
            "− slack 0.02))",
            "details": {
                "per_query": [0.9123],
                "min": 0.9123,
                "p05": 0.9123,
                "median": 0.9123,
                "mean": 0.9123,
                "policy": policy(
                    recall_source=0.9877,
                    recall_target=0.9812,
                    overlap=0.9123,
                    noise_floor=0.9346,
                    required_recall=0.9677,
                    upgrade_margin=0.0654,
                    queries_not_better=1,
                    overlap_not_better=0.9123,
                ),
            },
        },
        {
            "id": "quality.noise_floor",
            "status": "pass",
            "observed": 0.9346,
            "expected": 0.9,
            "message": "the source agrees with itself on a re-run at overlap@3 0.935",
            "details": {"per_query": [0.9346], "min": 0.9346, "p05": 0.9346, "median": 0.9346, "mean": 0.9346},
        },
    ]


def test_an_upgrade_better_on_every_query_warns_and_says_so() -> None:
    # Noise floor 0.96 widens the margin to 0.04; the gain (0.45) is far above it.
    d = data((0.5, 0.6), (1.0, 1.0), (0.5, 0.6), (0.95, 0.97))
    assert dicts(quality_checks(d, T, 5, {})) == [
        {
            "id": "quality.recall_source",
            "status": "warn",
            "observed": 0.55,
            "expected": 0.95,
            "message": "source recall@5 0.550 against exact ground truth over 2 queries — the source itself is below "
            "the recall gate",
            "details": {"per_query": [0.5, 0.6], "min": 0.5, "p05": 0.505, "median": 0.55, "mean": 0.55},
        },
        {
            "id": "quality.recall_target",
            "status": "pass",
            "observed": 1.0,
            "expected": 0.95,
            "message": "target recall@5 1.000 over 2 queries (needs ≥ 0.950: ≥ 0.95 and at most 0.02 below the "
            "source's 0.550)",
            "details": {"per_query": [1.0, 1.0], "min": 1.0, "p05": 1.0, "median": 1.0, "mean": 1.0},
        },
        {
            "id": "quality.overlap",
            "status": "warn",
            "observed": 0.55,
            "expected": 0.9,
            "message": "results changed: overlap@5 of target with source 0.550 (needs ≥ 0.900 = min(overlap_min 0.9, "
            "noise floor 0.960 − slack 0.02)), because the target is clearly better than the source — its answers "
            "moved toward the exact answers (recall 0.550 → 1.000, +0.450) (clearly better means a recall gain above "
            "0.040 = max(upgrade_margin 0.02, 1 − noise floor 0.960)); it is better on every query, so overlap does "
            "not gate",
            "details": {
                "per_query": [0.5, 0.6],
                "min": 0.5,
                "p05": 0.505,
                "median": 0.55,
                "mean": 0.55,
                "policy": policy(
                    queries=2,
                    recall_source=0.55,
                    overlap=0.55,
                    noise_floor=0.96,
                    required_recall=0.95,
                    upgrade=True,
                    upgrade_margin=0.04,
                    status="warn",
                ),
            },
        },
        {
            "id": "quality.noise_floor",
            "status": "pass",
            "observed": 0.96,
            "expected": 0.9,
            "message": "the source agrees with itself on a re-run at overlap@5 0.960",
            "details": {"per_query": [0.95, 0.97], "min": 0.95, "p05": 0.951, "median": 0.96, "mean": 0.96},
        },
    ]


def test_an_upgrade_that_keeps_the_overlap_where_it_is_not_better_warns_with_that_overlap() -> None:
    d = data((0.5, 0.5, 0.9, 0.9), (1.0, 1.0, 0.9, 0.9), (0.5, 0.5, 0.95, 0.95), (1, 1, 1, 1))
    overlap = quality_checks(d, T, 10, {})[2].to_dict()
    assert overlap == {
        "id": "quality.overlap",
        "status": "warn",
        "observed": 0.725,
        "expected": 0.9,
        "message": "results changed: overlap@10 of target with source 0.725 (needs ≥ 0.900 = min(overlap_min 0.9, "
        "noise floor 1.000 − slack 0.02)), because the target is clearly better than the source — its answers moved "
        "toward the exact answers (recall 0.700 → 0.950, +0.250) (clearly better means a recall gain above 0.020 = "
        "max(upgrade_margin 0.02, 1 − noise floor 1.000)); on the 2 queries where it is not better the overlap is "
        "0.950, so overlap does not gate",
        "details": {
            "per_query": [0.5, 0.5, 0.95, 0.95],
            "min": 0.5,
            "p05": 0.5,
            "median": 0.725,
            "mean": 0.725,
            "policy": policy(
                queries=4,
                recall_source=0.7,
                recall_target=0.95,
                overlap=0.725,
                required_recall=0.95,
                upgrade=True,
                queries_not_better=2,
                overlap_not_better=0.95,
                status="warn",
            ),
        },
    }


def test_an_upgrade_whose_results_changed_where_it_is_not_better_fails_and_says_where() -> None:
    d = data((0.5, 0.5, 0.9, 0.9), (1.0, 1.0, 0.9, 0.9), (0.5, 0.5, 0.6, 0.6), (1, 1, 1, 1))
    overlap = quality_checks(d, T, 10, {})[2]
    assert overlap.status is Status.FAIL
    assert overlap.message == (
        "overlap@10 of target with source 0.550 (needs ≥ 0.900 = min(overlap_min 0.9, noise floor 1.000 − slack "
        "0.02)); the target is better on average (toward the exact answers (recall 0.700 → 0.950, +0.250)), but on "
        "the 2 queries where it is not better the overlap is 0.600: there its results changed without finding more "
        "true neighbours"
    )


def test_a_target_exactly_one_margin_worse_moved_neither_way() -> None:
    # Gain −0.02 (to within float rounding) is within ±margin: "neither way", not "away".
    messages = [c.message for c in quality_checks(data((0.97,), (0.95,), (0.5,), (1.0,)), T, 10, {})]
    assert messages == [
        "source recall@10 0.970 against exact ground truth over 1 queries",
        "target recall@10 0.950 over 1 queries (needs ≥ 0.950: ≥ 0.95 and at most 0.02 below the source's 0.970)",
        "overlap@10 of target with source 0.500 (needs ≥ 0.900 = min(overlap_min 0.9, noise floor 1.000 − slack "
        "0.02)); the target's answers moved neither way (recall 0.970 → 0.950, within ±0.020), not clearly better "
        "(clearly better means a recall gain above 0.020 = max(upgrade_margin 0.02, 1 − noise floor 1.000))",
        "the source agrees with itself on a re-run at overlap@10 1.000",
    ]
    away = quality_checks(data((0.999,), (0.9,), (0.85,), (1.0,)), T, 10, {})[2].message
    assert "the target's answers moved away from the exact answers (recall 0.999 → 0.900, -0.099), not clearly" in away


def test_the_direction_just_inside_and_outside_the_margin() -> None:
    def direction(rs: float, rt: float) -> str:
        return judge(arr(rs), arr(rt), arr(1.0), arr(1.0), T).direction()

    assert direction(0.5, 0.5 + 0.02 + 2 * EPS).startswith("toward")
    assert direction(0.5, 0.52).startswith("neither way")
    assert direction(0.5, 0.5 - 0.02 - 2 * EPS).startswith("away")
    assert direction(0.5, 0.5 - 0.02 + 2 * EPS).startswith("neither way")
    # A loss of exactly margin + EPS (rs = 2x, rt = x: the difference is exact) is still "neither way".
    edge = -(-0.02 - EPS)
    assert judge(arr(2 * edge), arr(edge), arr(1.0), arr(1.0), T).gain == -0.02 - EPS
    assert direction(2 * edge, edge).startswith("neither way")


@pytest.mark.parametrize(("rs", "status"), [(0.95, Status.PASS), (0.95 - 1e-9, Status.WARN)])
def test_the_source_recall_warns_just_below_the_gate(rs: float, status: Status) -> None:
    check = quality_checks(data((rs,), (1.0,), (1.0,), (1.0,)), T, 10, {})[0]
    assert check.status is status
    assert check.message.endswith(" — the source itself is below the recall gate") is (status is Status.WARN)


@pytest.mark.parametrize(("noise", "status"), [(0.9, Status.PASS), (0.9 - 1e-9, Status.WARN)])
def test_the_noise_floor_warns_just_below_overlap_min(noise: float, status: Status) -> None:
    check = quality_checks(data((1.0,), (1.0,), (1.0,), (noise,)), T, 10, {})[3]
    assert check.status is status
    suffix = " — its own results are unstable; the overlap gate relaxes"
    assert check.message.endswith(suffix) is (status is Status.WARN)


@pytest.mark.parametrize(("rt", "recall_ok"), [(0.95 - 1e-13, True), (0.95 - 1e-11, False)])
def test_the_recall_gate_forgives_only_float_rounding(rt: float, recall_ok: bool) -> None:
    assert judge(arr(0.5), arr(rt), arr(1.0), arr(1.0), T).recall_ok is recall_ok


@pytest.mark.parametrize(
    ("rt", "not_better"),
    [(1.0 - 1e-13, 0), (1.0 - EPS, 0), (1.0 - 1e-11, 1), (0.7 + 1e-13, 1), (0.7 + EPS, 1), (0.7 + 1e-11, 0)],
)
def test_not_better_means_no_higher_than_the_source_and_below_one_within_eps(rt: float, not_better: int) -> None:
    j = judge(arr(0.7 if rt < 0.9 else 1.0), arr(rt), arr(0.5), arr(1.0), T)
    assert j.not_better == not_better
    assert j.overlap_not_better == (0.5 if not_better else None)


def test_overlap_and_upgrade_thresholds_forgive_only_float_rounding() -> None:
    at_gate = judge(arr(1.0), arr(1.0), arr(0.9 - 1e-13), arr(1.0), T)
    assert at_gate.overlap_status is Status.PASS
    assert judge(arr(1.0), arr(1.0), arr(0.9 - 1e-11), arr(1.0), T).overlap_status is Status.FAIL
    # Where it is not better the overlap just keeps the gate (the group as a whole is below it): still an upgrade.
    kept = judge(arr(0.5, 0.9), arr(1.0, 0.9), arr(0.1, 0.9 - 1e-13), arr(1.0, 1.0), T)
    assert kept.upgrade and kept.overlap_status is Status.WARN
    lost = judge(arr(0.5, 0.9), arr(1.0, 0.9), arr(0.1, 0.9 - 1e-11), arr(1.0, 1.0), T)
    assert lost.overlap_status is Status.FAIL


def test_an_unstable_source_gate_is_reported_to_four_places() -> None:
    # Noise floor 0.87654321: the overlap gate is 0.85654321, the margin 0.12345679.
    overlap = quality_checks(data((0.9,), (0.96,), (0.95,), (0.87654321,)), T, 10, {})[2]
    assert (overlap.status, overlap.observed, overlap.expected) == (Status.PASS, 0.95, 0.8565)
    assert overlap.details["policy"]["required_overlap"] == 0.8565
    assert overlap.details["policy"]["upgrade_margin"] == 0.1235


def test_a_failing_recall_fails_the_group_whatever_the_overlap() -> None:
    j = judge(arr(1.0), arr(0.9), arr(1.0), arr(1.0), T)
    assert j.overlap_status is Status.PASS and j.status is Status.FAIL
    assert j.to_dict()["status"] == "fail"


# -- per namespace ------------------------------------------------------------------------------------------------
def test_namespaces_warn_on_an_upgrade_and_name_the_worst_with_unscoped_queries_as_a_group() -> None:
    n = 10
    rs = (1.0,) * n + (1.0,) * n + (0.5,) * n + (1.0,) * 2
    rt = (1.0,) * n + (1.0,) * n + (1.0,) * n + (0.0,) * 2
    ov = (0.95,) * n + (0.95,) * n + (0.5,) * n + (0.0,) * 2
    ns = ("b",) * n + ("a",) * n + (None,) * n + ("tiny",) * 2
    check = namespace_check(data(rs, rt, ov, (1.0,) * len(rs), ns), T, 10)
    same = {"queries": n, "recall_source": 1.0, "overlap": 0.95, "judged": True}
    assert check.to_dict() == {
        "id": "quality.namespaces",
        "status": "warn",
        "observed": 1.0,
        "expected": 0.95,
        "message": "worst namespace '(all namespaces)': target recall@10 1.000 (needs ≥ 0.950), overlap 0.500 "
        "(needs ≥ 0.900 unless an upgrade) over 10 queries; 3 of 4 namespaces judged (1 with fewer than 10 "
        "queries only listed)",
        "details": {
            "worst": "(all namespaces)",
            "namespaces": [
                {
                    "namespace": "(all namespaces)",
                    **policy(queries=n, recall_source=0.5, overlap=0.5, required_recall=0.95, upgrade=True),
                    "status": "warn",
                    "judged": True,
                },
                {"namespace": "a", **policy(**same)},
                {"namespace": "b", **policy(**same)},
                {
                    "namespace": "tiny",
                    **policy(queries=2, recall_target=0.0, overlap=0.0, queries_not_better=2, overlap_not_better=0.0),
                    "status": "skip",
                    "judged": False,
                },
            ],
        },
    }


def test_among_equal_namespaces_the_first_by_name_is_the_worst() -> None:
    n = 10
    d = data((1.0,) * 2 * n, (1.0,) * 2 * n, (0.95,) * 2 * n, (1.0,) * 2 * n, ("b",) * n + ("a",) * n)
    check = namespace_check(d, T, 10)
    assert check.status is Status.PASS
    assert check.message == (
        "worst namespace 'a': target recall@10 1.000 (needs ≥ 0.980), overlap 0.950 (needs ≥ 0.900) over 10 queries; "
        "2 of 2 namespaces judged"
    )


def test_equal_figures_over_different_query_counts_still_name_the_first_namespace() -> None:
    d = data((1.0,) * 21, (1.0,) * 21, (1.0,) * 21, (1.0,) * 21, ("b",) * 11 + ("a",) * 10)
    assert namespace_check(d, T, 10).details["worst"] == "a"


def test_every_failing_namespace_is_named_and_the_worst_figures_to_four_places() -> None:
    n = 10
    rt = (0.987654,) * n + (0.5,) * n + (0.6,) * n
    d = data((0.987654,) * 3 * n, rt, (1.0,) * 3 * n, (1.0,) * 3 * n, ("a",) * n + ("b",) * n + ("c",) * n)
    check = namespace_check(d, T, 10)
    assert (check.id, check.status, check.observed, check.expected) == ("quality.namespaces", Status.FAIL, 0.5, 0.9677)
    assert check.message.endswith("; 3 of 3 namespaces judged; failing: 'b', 'c'")
    fine = namespace_check(data((0.987654,) * n, (0.987654,) * n, (1.0,) * n, (1.0,) * n, ("a",) * n), T, 10)
    assert (fine.status, fine.observed, fine.expected) == (Status.PASS, 0.9877, 0.9677)


def test_a_namespace_of_exactly_namespace_min_queries_is_judged() -> None:
    d = data((1.0,) * 3, (0.5,) * 3, (1.0,) * 3, (1.0,) * 3, ("x",) * 3)
    assert namespace_check(d, Thresholds(namespace_min_queries=3), 10).status is Status.FAIL
    assert namespace_check(d, Thresholds(namespace_min_queries=4), 10).status is Status.SKIP


def test_no_namespace_large_enough_lists_them_and_skips() -> None:
    check = namespace_check(data((1.0,) * 3, (1.0,) * 3, (1.0,) * 3, (1.0,) * 3, ("x", "y", "y")), T, 10)
    assert check.to_dict() == {
        "id": "quality.namespaces",
        "status": "skip",
        "observed": None,
        "expected": 10,
        "message": "no namespace has 10 queries to judge (namespace_min_queries); 2 listed",
        "details": {
            "namespaces": [
                {"namespace": "x", **policy(), "status": "skip", "judged": False},
                {"namespace": "y", **policy(queries=2), "status": "skip", "judged": False},
            ]
        },
    }


def test_queries_that_all_span_every_namespace_skip_the_namespace_check() -> None:
    check = namespace_check(data((1.0,) * 12, (0.0,) * 12, (0.0,) * 12, (1.0,) * 12, (None,) * 12), T, 10)
    assert (check.id, check.status, check.observed, check.expected) == ("quality.namespaces", Status.SKIP, None, None)
    assert check.message == (
        "not applicable: the queries are not asked per namespace (the source has no namespaces, or the queries span "
        "all of them)"
    )


# -- the worst queries and skipped checks -------------------------------------------------------------------------
def test_the_worst_queries_are_the_lowest_target_recall_then_overlap() -> None:
    d = data((0.9, 0.8, 0.8, 0.7), (0.5, 0.9, 0.9, 0.95), (0.3, 0.4, 0.2, 0.1), (1, 1, 1, 1))
    worst = worst_queries(d, [["t0"], ["t1"], ["t2"], ["t3"]], [("a",), ("b",), ("c",), ("d",)], 3)
    assert worst == [
        {
            "query": "q0",
            "recall_target": 0.5,
            "recall_source": 0.9,
            "overlap": 0.3,
            "expected": ["t0"],
            "target": ["a"],
        },
        {
            "query": "q2",
            "recall_target": 0.9,
            "recall_source": 0.8,
            "overlap": 0.2,
            "expected": ["t2"],
            "target": ["c"],
        },
        {
            "query": "q1",
            "recall_target": 0.9,
            "recall_source": 0.8,
            "overlap": 0.4,
            "expected": ["t1"],
            "target": ["b"],
        },
    ]
    rounded = worst_queries(data((0.123456,), (0.654321,), (0.333333,), (1.0,)), [[1]], [(2,)], 5)
    assert rounded == [
        {
            "query": "q0",
            "recall_target": 0.6543,
            "recall_source": 0.1235,
            "overlap": 0.3333,
            "expected": [1],
            "target": [2],
        }
    ]


def test_skipped_quality_names_every_check_with_the_reason() -> None:
    skipped = skipped_quality("no queries")
    assert [c.id for c in skipped] == list(QUALITY_CHECK_IDS)
    assert all(
        (c.status, c.observed, c.expected, c.message) == (Status.SKIP, None, None, "no queries") for c in skipped
    )
    assert [c.id for c in skipped_quality("r", ("x",))] == ["x"]
    assert QUALITY_CHECK_IDS == (
        "quality.recall_source",
        "quality.recall_target",
        "quality.overlap",
        "quality.noise_floor",
        "quality.namespaces",
        "quality.filtered",
    )


def test_the_distribution_of_no_values_is_empty() -> None:
    assert _distribution(arr()) == {}
    assert _distribution(arr(*range(21))) == {"min": 0.0, "p05": 1.0, "median": 10.0, "mean": 10.0}
