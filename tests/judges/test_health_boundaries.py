"""The canary health rules that stay put, each just inside and just outside its threshold: p99, and the
latency comparison (Mann-Whitney's alpha, the effect-size tolerance, the absolute effect floor, a 0 ms
baseline). The statistical error-rate and cache-hit gates have their boundaries in
tests/migration/test_health.py.

Latency samples are fixed arrays (no randomness): Mann-Whitney's p depends only on their ranks, so each
figure below is exact and known.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from harness.migration.config import Thresholds
from harness.migration.health import LatencyComparison, Outcome, compare_latency, evaluate_window
from harness.migration.metrics import WindowStats

SAMPLES = 60
BASELINE = np.linspace(100.0, 300.0, SAMPLES)  # median 200 ms
SLOWER = BASELINE + 30.0  # median 230 ms (+15 %, +30 ms); one-sided Mann-Whitney p ≈ 0.0065 at n = 60 a side


def window(latencies: np.ndarray, *, p99: float | None = None, cohort: str = "target") -> WindowStats:
    """A healthy window (no errors, every request a cache hit) with these latencies (and this p99)."""
    n = len(latencies)
    return WindowStats(
        cohort, 0.0, 60.0, n, 0, n, np.asarray(latencies, dtype=np.float64), quantiles_ms={99: p99} if p99 else {}
    )


# -- p99 ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("p99", "fails"), [(499.9, False), (500.0, False), (500.1, True)])
def test_a_window_p99_just_inside_and_outside_the_gate(p99: float, fails: bool) -> None:
    # A source with histograms only (latencies as one quantile per interval): the window's p99 is judged.
    stats = dataclasses.replace(window(np.full(SAMPLES, 50.0), p99=p99), latency_kind="interval_quantiles")
    result = evaluate_window(stats, None, Thresholds(), at=60.0)
    assert result.p99_ms == p99
    assert result.failed == (("p99",) if fails else ())
    assert (result.outcome is Outcome.FAIL) is fails


@pytest.mark.parametrize(("slow", "fails"), [(12, False), (13, True)])
def test_the_share_of_slow_requests_just_inside_and_outside_evidence(slow: int, fails: bool) -> None:
    # Per-request latencies: p99 > limit means more than 1 % of requests slower than it, judged at 99 %
    # confidence. Of 600 requests, 13 slow ones are evidence (P(X >= 13 | 1 %) = 0.0085 <= 0.01); 12 are
    # not (P = 0.0195): twelve could be an unlucky window of a target within the gate.
    latencies = np.full(600, 50.0)
    latencies[:slow] = 2000.0
    result = evaluate_window(window(latencies), None, Thresholds(p99_ms_max=500.0), at=60.0)
    assert ("p99" in result.failed) is fails
    assert result.tests["p99"].result == ("fail" if fails else "undecided")


@pytest.mark.parametrize(("latency", "fails"), [(500.0, False), (500.1, True)])
def test_a_request_at_the_limit_is_not_slow(latency: float, fails: bool) -> None:
    latencies = np.full(600, 50.0)
    latencies[:13] = latency
    result = evaluate_window(window(latencies), None, Thresholds(p99_ms_max=500.0), at=60.0)
    assert ("p99" in result.failed) is fails


# -- Mann-Whitney ---------------------------------------------------------------------------------------------
def compare(canary: np.ndarray, baseline: np.ndarray = BASELINE, **limits: float) -> LatencyComparison:
    thresholds = Thresholds(**limits)
    return compare_latency(
        canary,
        baseline,
        alpha=thresholds.mann_whitney_alpha,
        tolerance=thresholds.latency_tolerance,
        min_samples=thresholds.min_samples,
        min_effect_ms=thresholds.latency_min_effect_ms,
    )


def test_a_15_percent_slowdown_at_p_0_007_with_60_samples_is_a_regression_at_the_defaults() -> None:
    result = compare(SLOWER)
    assert result.p_value == pytest.approx(0.00647, abs=5e-5)
    assert result.median_ratio == pytest.approx(1.15)
    assert result.regressed is True
    health = evaluate_window(window(SLOWER), window(BASELINE, cohort="source"), Thresholds(), at=60.0)
    assert health.failed == ("latency_regression",) and health.outcome is Outcome.FAIL


def test_alpha_just_above_and_just_below_the_p_value() -> None:
    p = compare(SLOWER).p_value
    assert p is not None
    assert compare(SLOWER, mann_whitney_alpha=p * 1.01).regressed is True
    assert compare(SLOWER, mann_whitney_alpha=p).regressed is False  # p < alpha, strictly
    assert compare(SLOWER, mann_whitney_alpha=p * 0.99).regressed is False


@pytest.mark.parametrize(("tolerance", "regressed"), [(0.149, True), (0.151, False)])
def test_the_effect_size_tolerance_just_inside_and_outside(tolerance: float, regressed: bool) -> None:
    # median ratio 1.15: a slowdown beyond (1 + tolerance) regresses, one within it does not.
    assert compare(SLOWER, latency_tolerance=tolerance).regressed is regressed


def test_a_31_percent_slowdown_regresses_and_a_9_percent_one_does_not() -> None:
    assert compare(BASELINE * 1.31).regressed is True
    slight = compare(BASELINE * 1.09)
    # A 9 % slower median is within the 10 % tolerance: no test runs (p None), nothing regressed.
    assert slight.median_ratio == pytest.approx(1.09) and slight.p_value is None and slight.regressed is False


@pytest.mark.parametrize(("min_effect_ms", "regressed"), [(29.9, True), (30.1, False)])
def test_the_absolute_effect_floor_just_inside_and_outside(min_effect_ms: float, regressed: bool) -> None:
    # medians 230 vs 200 ms: +30 ms
    assert compare(SLOWER, latency_min_effect_ms=min_effect_ms).regressed is regressed


def test_too_few_samples_on_either_side_is_undecided() -> None:
    for canary, baseline in ((SLOWER[:49], BASELINE), (SLOWER, BASELINE[:49])):
        result = compare(canary, baseline)
        assert result.regressed is None and result.p_value is None
    assert compare(SLOWER[:50], BASELINE[:50]).regressed is not None  # min_samples = 50 is enough


def test_a_canary_against_a_0_ms_baseline() -> None:
    zeros = np.zeros(SAMPLES)
    slow = compare(np.full(SAMPLES, 8.0), zeros)
    assert slow.median_ratio is None and slow.regressed is True  # infinitely slower, and +8 ms > 5 ms
    assert compare(np.full(SAMPLES, 4.0), zeros).regressed is False  # +4 ms is under the 5 ms floor
    assert compare(zeros, zeros).regressed is False
    health = evaluate_window(window(np.full(SAMPLES, 8.0)), window(zeros, cohort="source"), Thresholds(), at=60.0)
    assert health.failed == ("latency_regression",)
    assert "inf" in health.reasons[0]


# -- counters that disagree ------------------------------------------------------------------------------------
def test_more_errors_than_requests_reads_as_all_of_them_and_stays_defined() -> None:
    # Errors and requests come from two Prometheus counters scraped a moment apart: 12 "errors" of 10
    # requests is every request failing, never NaN bounds (which crashed the reasons' percentages).
    from harness.migration.health import percent, rate_test

    test = rate_test("error rate", 12, 10, 0.01, 0.99)
    assert (test.count, test.trials, test.result) == (10, 10, "fail")
    assert test.lower is not None and 0.0 < test.lower < 1.0 and test.upper == 1.0
    assert "100 %" in test.describe()
    below = rate_test("error rate", -2, 500, 0.01, 0.99)
    assert (below.count, below.result) == (0, "pass")
    assert percent(float("nan")) == "n/a" and percent(float("inf")) == "n/a"
