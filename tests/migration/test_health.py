"""Health windows: per-window rates, no division by zero, the no-data policy, Mann-Whitney with tolerance."""

from __future__ import annotations

import numpy as np
import pytest

from harness.migration.config import Thresholds
from harness.migration.health import FailureStreak, Outcome, compare_latency, evaluate_window
from harness.migration.metrics import InProcessMetrics, WindowStats


def _window(metrics: InProcessMetrics, cohort: str) -> WindowStats:
    return metrics.window(cohort, 0.0, 60.0)


def _fill(
    metrics: InProcessMetrics,
    cohort: str,
    n: int,
    latency: float = 20.0,
    errors: int = 0,
    hits: float = 1.0,
    seed: int = 0,
) -> None:
    rng = np.random.default_rng(seed)
    for i in range(n):
        metrics.record(cohort, float(i % 60), latency * (1 + 0.2 * rng.random()), i < errors, i < hits * n)


def test_idle_window_is_no_data_not_a_division_by_zero() -> None:
    metrics = InProcessMetrics()
    result = evaluate_window(_window(metrics, "target"), _window(metrics, "source"), Thresholds(), at=60.0)
    assert result.outcome is Outcome.NO_DATA
    assert result.error_rate is None and result.p99_ms is None and result.cache_hit_rate is None
    assert "min_samples" in result.reasons[0]


def test_healthy_window_passes_with_its_figures() -> None:
    metrics = InProcessMetrics()
    _fill(metrics, "target", 200)
    _fill(metrics, "source", 200, seed=1)
    result = evaluate_window(_window(metrics, "target"), _window(metrics, "source"), Thresholds(), at=60.0)
    assert result.outcome is Outcome.PASS, result.reasons
    assert result.requests == 200 and result.error_rate == 0.0 and result.cache_hit_rate == 1.0
    assert result.to_dict()["mann_whitney_p"] is not None


@pytest.mark.parametrize(
    ("kwargs", "failed"),
    [
        ({"errors": 5}, "error_rate"),  # 2.5 % > 1 %
        ({"latency": 900.0}, "p99"),
        ({"hits": 0.1}, "cache_hit_rate"),
    ],
)
def test_each_threshold_fails_its_check(kwargs: dict[str, float], failed: str) -> None:
    metrics = InProcessMetrics()
    _fill(metrics, "target", 200, **kwargs)  # type: ignore[arg-type]
    result = evaluate_window(_window(metrics, "target"), None, Thresholds(), at=60.0)
    assert result.outcome is Outcome.FAIL and failed in result.failed


def test_error_rate_is_per_window_not_cumulative() -> None:
    metrics = InProcessMetrics()
    for i in range(100):
        metrics.record("target", 1.0, 10.0, error=True)  # a burst long ago
        metrics.record("target", 100.0 + i * 0.1, 10.0, cache_hit=True)
    later = evaluate_window(metrics.window("target", 60.0, 120.0), None, Thresholds(), at=120.0)
    assert later.outcome is Outcome.PASS and later.errors == 0


def test_latency_regression_needs_significance_and_effect_size() -> None:
    rng = np.random.default_rng(3)
    baseline = rng.lognormal(3.0, 0.3, 5000)
    slightly = baseline * 1.03  # significant with 5000 samples, but inside the 10 % tolerance
    clearly = rng.lognormal(3.0, 0.3, 5000) * 1.5
    ok = compare_latency(slightly, baseline, alpha=0.02, tolerance=0.1, min_samples=50)
    assert ok.p_value is not None and ok.regressed is False
    bad = compare_latency(clearly, baseline, alpha=0.02, tolerance=0.1, min_samples=50)
    assert bad.regressed is True and bad.p_value is not None and bad.p_value < 0.02
    assert bad.median_ratio is not None and bad.median_ratio > 1.4
    few = compare_latency(clearly[:10], baseline, alpha=0.02, tolerance=0.1, min_samples=50)
    assert few.regressed is None and few.p_value is None


@pytest.mark.parametrize(("policy", "expected"), [("fail", 1), ("pass", 0), ("hold", 0)])
def test_no_data_policy_decides_what_an_idle_window_counts_as(policy: str, expected: int) -> None:
    thresholds = Thresholds(no_data_policy=policy, max_hold_s=300)  # type: ignore[arg-type]
    metrics = InProcessMetrics()
    idle = evaluate_window(_window(metrics, "target"), None, thresholds, at=60.0)
    streak = FailureStreak(thresholds)
    streak.observe(idle)
    assert streak.count == expected


def test_hold_turns_into_failures_after_max_hold() -> None:
    thresholds = Thresholds(no_data_policy="hold", max_hold_s=120, failure_limit=2)
    streak = FailureStreak(thresholds)
    idle = InProcessMetrics().window("target", 0.0, 60.0)
    outcomes = [streak.observe(evaluate_window(idle, None, thresholds, at=60.0 * i)) for i in range(1, 6)]
    assert outcomes[:2] == [Outcome.NO_DATA, Outcome.NO_DATA]
    assert Outcome.FAIL in outcomes and streak.exhausted


def test_a_pass_resets_the_streak() -> None:
    thresholds = Thresholds(failure_limit=3)
    streak = FailureStreak(thresholds)
    bad, good = InProcessMetrics(), InProcessMetrics()
    _fill(bad, "target", 100, errors=50)
    _fill(good, "target", 100)
    for metrics in (bad, bad, good, bad):
        streak.observe(evaluate_window(_window(metrics, "target"), None, thresholds, at=60.0))
    assert streak.count == 1 and not streak.exhausted
