"""The canary's health judgement pinned to exact figures, so a one-line bug in ``migration/health.py`` fails
a test (``make mutation``): every reason and warning word for word, every figure of ``to_dict()`` (what
the journal and the game-day timeline keep), each statistical gate exactly at its significance level,
the per-step budget's no-data clock, and ``requests_to_pass`` against the README's table.

Windows are built from fixed arrays (``np.linspace``/``np.full``), never from a random generator or a
clock: each figure below is what the rules give for these inputs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pytest
from scipy.stats import beta, binom

from harness.migration.config import Thresholds, evidence_floor
from harness.migration.health import (
    HealthResult,
    LatencyComparison,
    Outcome,
    StepBudget,
    _thin,
    compare_latency,
    evaluate_baseline,
    evaluate_window,
    percent,
    rate_test,
    requests_to_pass,
)
from harness.migration.metrics import WindowStats

T = Thresholds()
REFERENCE = np.linspace(2.0, 3.0, 500)  # median 2.5 ms


def window(
    requests: int,
    errors: int = 0,
    hits: int | None = None,
    latencies: Sequence[float] | np.ndarray | None = None,
    *,
    cohort: str = "target",
    start: float = 0.0,
    end: float = 60.0,
    calls: int | None = None,
    call_errors: int = 0,
    call_latencies: Sequence[float] | np.ndarray | None = None,
    kind: str = "requests",
    quantiles: Mapping[float, float] | None = None,
    note: str = "",
) -> WindowStats:
    """A window of ``requests`` (latencies evenly spread over 10–30 ms unless given), ``errors``, ``hits``
    (default all), and ``calls`` store calls (latencies 2–3 ms unless given) of which ``call_errors`` failed."""
    lat = np.linspace(10.0, 30.0, requests) if latencies is None else np.asarray(latencies, dtype=np.float64)
    backend = np.linspace(2.0, 3.0, calls or 0) if call_latencies is None else np.asarray(call_latencies, dtype=float)
    return WindowStats(
        cohort,
        start,
        end,
        requests,
        errors,
        requests if hits is None else hits,
        lat,
        latency_kind=kind,  # type: ignore[arg-type]
        quantiles_ms=dict(quantiles or {}),
        note=note,
        backend_calls=calls,
        backend_errors=call_errors if calls is not None else None,
        backend_latencies_ms=backend,
    )


def assert_close(actual: Any, expected: Any, path: str = "") -> None:
    """Equal, floats to 1e-9 relative (scipy's last digits may move between versions), recursively."""
    if isinstance(expected, float) and isinstance(actual, float):
        assert math.isclose(actual, expected, rel_tol=1e-9, abs_tol=1e-15), f"{path}: {actual!r} != {expected!r}"
    elif isinstance(expected, Mapping):
        assert isinstance(actual, Mapping) and list(actual) == list(expected), f"{path}: keys {list(actual)}"
        for key in expected:
            assert_close(actual[key], expected[key], f"{path}.{key}")
    elif isinstance(expected, list | tuple):
        assert isinstance(actual, type(expected)) and len(actual) == len(expected), f"{path}: {actual!r}"
        for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
            assert_close(a, e, f"{path}[{i}]")
    else:
        assert actual == expected and type(actual) is type(expected), f"{path}: {actual!r} != {expected!r}"


# -- one check, every figure ------------------------------------------------------------------------------------
def test_a_passing_check_with_hidden_store_call_errors_keeps_every_figure() -> None:
    # Users see 0.3 % errors (12 of 4,000: below the 1 % gate with 99 % confidence); the store calls behind
    # the cache fail 3 % (12 of 400): a warning, never a failure, by default.
    canary = window(4000, 12, 3600, calls=400, call_errors=12)
    interval = window(500, 1, start=50.0)
    baseline = window(4000, 8, cohort="source", latencies=np.linspace(10.0, 31.0, 4000))
    result = evaluate_window(canary, baseline, T, at=60.0, interval=interval, reference=REFERENCE)
    assert result.reference == LatencyComparison(400, 500, 2.5, 2.5, 1.0, None, False)
    assert_close(
        result.to_dict(),
        {
            "at": 60.0,
            "window": [0.0, 60.0],
            "interval": [50.0, 60.0],
            "outcome": "pass",
            "evidence_outcome": "pass",
            "severe": False,
            "requests": 4000,
            "errors": 12,
            "interval_requests": 500,
            "interval_errors": 1,
            "error_rate": 0.003,
            "p99_ms": 29.8,
            "cache_hit_rate": 0.9,
            "backend_calls": 400,
            "backend_errors": 12,
            "baseline_requests": 4000,
            "baseline_p99_ms": 30.79,
            "canary_median_ms": 20.0,
            "baseline_median_ms": 20.5,
            "median_ratio": 20.0 / 20.5,
            "mann_whitney_p": None,
            "latency_regressed": False,
            "reference_median_ms": 2.5,
            "store_call_median_ms": 2.5,
            "reference_regressed": False,
            "tests": {
                "error_rate": {
                    "metric": "error rate",
                    "count": 12,
                    "trials": 4000,
                    "rate": 0.003,
                    "gate": 0.01,
                    "confidence": 0.99,
                    "result": "pass",
                    "lower": 0.0013579915040121237,
                    "upper": 0.005697494960440577,
                },
                "interval_error_rate": {
                    "metric": "error rate in the last interval",
                    "count": 1,
                    "trials": 500,
                    "rate": 0.002,
                    "gate": 0.01,
                    "confidence": 0.99,
                    "result": "undecided",
                    "lower": 2.0100469689854925e-05,
                    "upper": 0.013202093192910089,
                },
                "p99": {
                    "metric": "share of requests slower than 500 ms",
                    "count": 0,
                    "trials": 4000,
                    "rate": 0.0,
                    "gate": 0.01,
                    "confidence": 0.99,
                    "result": "pass",
                    "lower": 0.0,
                    "upper": 0.0011506300634948504,
                },
                "cache_hit_rate": {
                    "metric": "cache hit rate",
                    "count": 3600,
                    "trials": 4000,
                    "rate": 0.9,
                    "gate": 0.3,
                    "confidence": 0.99,
                    "result": "pass",
                    "lower": 0.8884406775749705,
                    "upper": 0.9107593353044078,
                },
                "backend_error_rate": {
                    "metric": "store-call error rate",
                    "count": 12,
                    "trials": 400,
                    "rate": 0.03,
                    "gate": 0.01,
                    "confidence": 0.99,
                    "result": "fail",
                    "lower": 0.01366615236598704,
                    "upper": 0.05628190689542703,
                },
            },
            "failed": [],
            "reasons": ["error rate 0.3 % < 1 % at 99 % confidence over 4,000 requests"],
            "warnings": ["store-call error rate 3 % > 1 % at 99 % confidence over 400 store calls (users saw 0.3 %)"],
        },
    )
    assert result.tests["cache_hit_rate"].fail_when == "below" and result.tests["error_rate"].fail_when == "above"
    assert result.tests["backend_error_rate"].unit == "store calls"


def test_store_calls_failing_behind_a_clean_cache_warn_with_the_users_zero_rate() -> None:
    result = evaluate_window(window(600, 0, calls=100, call_errors=10), None, T, at=60.0)
    assert result.outcome is Outcome.PASS and result.failed == ()
    assert result.warnings == (
        "store-call error rate 10 % > 1 % at 99 % confidence over 100 store calls (users saw 0 %)",
    )
    gated = evaluate_window(window(600, 0, calls=100, call_errors=10), None, Thresholds(backend_errors="gate"), at=60)
    assert gated.failed == ("backend_error_rate",) and gated.warnings == ()
    assert gated.reasons == (
        "store-call error rate 10 % > 1 % at 99 % confidence over 100 store calls (users saw 0 %)",
    )


def test_store_calls_within_the_gate_neither_warn_nor_hold_the_step() -> None:
    # 0 failed of 600 store calls passes the store-call gate: no warning, and "gate" does not wait on it.
    for mode in ("warn", "gate"):
        result = evaluate_window(window(600, calls=600), None, Thresholds(backend_errors=mode), at=60.0)  # type: ignore[arg-type]
        assert result.tests["backend_error_rate"].result == "pass"
        assert (result.outcome, result.warnings) == (Outcome.PASS, ())
        assert result.reasons == ("error rate 0 % < 1 % at 99 % confidence over 600 requests",)
        assert result.reference is None  # no reference window given: nothing compared


def test_an_undecided_step_says_which_gates_lack_evidence() -> None:
    # Errors pass (0 of 600); the cache hit rate (33 % of 600 against 30 %) and the store calls (0 of 100,
    # fewer than the 459 a 1 % gate needs at 99 %) are not shown good yet: the step waits on both.
    result = evaluate_window(window(600, 0, 200, calls=100), None, Thresholds(backend_errors="gate"), at=60.0)
    assert (result.outcome, result.evidence_outcome, result.failed, result.warnings) == (
        Outcome.UNDECIDED,
        Outcome.UNDECIDED,
        (),
        (),
    )
    assert result.reasons == (
        "cache hit rate 33 % over 600 requests: not enough evidence against 30 % at 99 % confidence "
        "(between 29 % and 38 %)",
        "store-call error rate 0 % over 100 store calls: not enough evidence against 1 % at 99 % confidence "
        "(between 0 % and 4.5 %)",
    )
    # No baseline: nothing to compare with, and no made-up zero median.
    assert result.latency == LatencyComparison(600, 0, 20.0, None, None, None, None)
    assert result.to_dict()["baseline_requests"] == 0 and result.to_dict()["baseline_p99_ms"] is None


def test_evidence_exactly_at_min_requests_is_enough() -> None:
    at_floor = evaluate_window(window(600), None, Thresholds(min_requests=600), at=60.0)
    assert at_floor.outcome is Outcome.PASS
    below = evaluate_window(window(599), None, Thresholds(min_requests=600), at=60.0)
    assert below.outcome is Outcome.UNDECIDED and below.reasons == ("599 requests of evidence, fewer than 600",)


def test_a_cache_gate_of_zero_is_no_cache_test_at_all() -> None:
    result = evaluate_window(window(600, hits=0), None, Thresholds(cache_hit_rate_min=0.0), at=60.0)
    assert result.outcome is Outcome.PASS and "cache_hit_rate" not in result.tests
    assert list(result.tests) == ["error_rate", "interval_error_rate", "p99"]


def test_an_idle_interval_names_its_cause_when_the_source_knows_it() -> None:
    evidence = window(600)
    noted = evaluate_window(
        evidence, None, T, at=120.0, interval=window(0, start=60.0, end=120.0, note="series absent")
    )
    assert (noted.outcome, noted.evidence_outcome) == (Outcome.NO_DATA, Outcome.PASS)
    assert noted.reasons == (
        "no canary request in the last interval (series absent)",
        "error rate 0 % < 1 % at 99 % confidence over 600 requests",
    )
    plain = evaluate_window(evidence, None, T, at=120.0, interval=window(0, start=60.0, end=120.0))
    assert plain.reasons[0] == "no canary request in the last interval"


def test_an_idle_canary_is_not_compared_with_its_baseline() -> None:
    result = evaluate_window(window(0), window(600, cohort="source"), T, at=60.0)
    assert result.latency == LatencyComparison(0, 0, None, None, None, None, None)
    assert result.evidence_outcome is Outcome.NO_DATA
    assert (result.to_dict()["baseline_requests"], result.to_dict()["baseline_p99_ms"]) == (600, 29.8)


def test_every_gate_failing_at_once_is_named_in_order_with_its_figures() -> None:
    slow = np.full(600, 40.0)
    slow[:30] = 900.0  # 5 % slower than 500 ms
    canary = window(600, 30, 60, slow, calls=540, call_errors=40, call_latencies=np.full(540, 9.0))
    baseline = window(600, cohort="source", latencies=np.full(600, 20.0))
    result = evaluate_window(canary, baseline, T, at=60.0, reference=REFERENCE)
    assert result.failed == ("error_rate", "p99", "cache_hit_rate", "latency_regression", "latency_reference")
    assert result.reasons == (
        "error rate in the last interval 5 % > 1 % at 99 % confidence over 600 requests",
        "p99 900.0 ms > 500 ms: share of requests slower than 500 ms 5 % > 1 % at 99 % confidence over 600 requests",
        "cache hit rate 10 % < 30 % at 99 % confidence over 600 requests",
        "canary slower than baseline: median 40.00 ms vs 20.00 ms (ratio 2.00 > 1.10, +20.00 ms > 5 ms), "
        "Mann-Whitney p=5.6e-257 < 0.02 over 600 and 600 samples",
        "canary store calls slower than their reference window: median 9.00 ms vs 2.50 ms (ratio 3.60 > 1.10, "
        "+6.50 ms > 5 ms), Mann-Whitney p=4.6e-199 < 0.02 over 540 and 500 samples",
    )
    # The store calls fail too (40 of 540), but users see the errors already: no second word on it.
    assert result.tests["backend_error_rate"].result == "fail" and result.warnings == ()
    assert not result.severe and result.outcome is Outcome.FAIL


def test_a_severe_breach_names_the_window_that_showed_it() -> None:
    outage = evaluate_window(window(100, 100), None, T, at=60.0)
    assert outage.failed == ("error_rate",) and outage.severe
    assert outage.reasons == (
        "severe: error rate in the last interval 100 % > 50 % at 99 % confidence over 100 requests (severe from 50 %)",
    )
    # The last interval (3 requests, none failing) shows nothing; the step's evidence (200 of 300) does.
    evidence = evaluate_window(window(300, 200), None, T, at=60.0, interval=window(3, start=55.0))
    assert evidence.failed == ("error_rate",) and evidence.severe
    assert evidence.reasons == (
        "severe: error rate 67 % > 50 % at 99 % confidence over 300 requests (severe from 50 %)",
    )


def test_a_window_p99_is_judged_from_exactly_min_samples_requests() -> None:
    # A histogram-only source: the window's p99 (600 ms) against 500 ms, once min_samples (50) requests came.
    at_min = window(50, latencies=np.full(50, 30.0), kind="interval_quantiles", quantiles={99: 600.0})
    result = evaluate_window(at_min, None, T, at=60.0)
    assert result.failed == ("p99",) and result.reasons == ("p99 600.0 ms > 500 ms over 50 requests",)
    too_few = window(49, latencies=np.full(49, 30.0), kind="interval_quantiles", quantiles={99: 600.0})
    assert evaluate_window(too_few, None, T, at=60.0).failed == ()


def test_interval_quantiles_are_compared_from_min_interval_points_on() -> None:
    # One latency quantile per interval: five points a side (min_interval_points) decide, where
    # per-request latencies would need min_samples (50).
    canary = window(
        600,
        latencies=[30.0, 31.0, 32.0, 33.0, 34.0],
        kind="interval_quantiles",
        calls=100,
        call_latencies=[9.0, 9.1, 9.2, 9.3, 9.4],
    )
    baseline = window(600, cohort="source", latencies=[10.0, 11.0, 12.0, 13.0, 14.0], kind="interval_quantiles")
    reference = np.array([2.0, 2.1, 2.2, 2.3, 2.4])
    result = evaluate_window(canary, baseline, T, at=60.0, reference=reference)
    p = 1 / 252  # the exact one-sided Mann-Whitney p of 5 values all above 5 others: 1 / C(10, 5)
    assert result.latency == LatencyComparison(5, 5, 32.0, 12.0, pytest.approx(32 / 12), pytest.approx(p), True)  # type: ignore[arg-type]
    assert result.reference == LatencyComparison(5, 5, 9.2, 2.2, pytest.approx(9.2 / 2.2), pytest.approx(p), True)  # type: ignore[arg-type]
    assert result.reasons == (
        "canary slower than baseline: median 32.00 ms vs 12.00 ms (ratio 2.67 > 1.10, +20.00 ms > 5 ms), "
        "Mann-Whitney p=0.004 < 0.02 over 5 and 5 samples",
        "canary store calls slower than their reference window: median 9.20 ms vs 2.20 ms (ratio 4.18 > 1.10, "
        "+7.00 ms > 5 ms), Mann-Whitney p=0.004 < 0.02 over 5 and 5 samples",
    )
    # The same five points as per-request latencies are too few to judge.
    few = window(600, latencies=[30.0, 31.0, 32.0, 33.0, 34.0])
    assert evaluate_window(few, window(600, latencies=[10.0, 11, 12, 13, 14]), T, at=60.0).latency.regressed is None


def test_the_absolute_effect_floor_of_the_thresholds_reaches_the_comparison() -> None:
    # Medians 23 vs 20 ms: 15 % slower and significant, but +3 ms is under the 5 ms floor.
    canary, baseline = window(100, latencies=np.full(100, 23.0)), window(100, latencies=np.full(100, 20.0))
    assert evaluate_window(canary, baseline, T, at=60.0).latency.regressed is False
    floor_off = evaluate_window(canary, baseline, Thresholds(latency_min_effect_ms=0.0), at=60.0)
    assert floor_off.latency.regressed is True and floor_off.failed == ("latency_regression",)


# -- the baseline on its own ------------------------------------------------------------------------------------
def test_a_baseline_without_requests_is_neither_healthy_nor_degraded() -> None:
    result = evaluate_baseline(window(0, cohort="source"), T)
    assert (result.requests, result.error_test, result.reference, result.reasons) == (0, None, None, ())
    assert not result.healthy and not result.degraded
    assert result.to_dict() == {
        "requests": 0,
        "error_rate": None,
        "reference_median_ms": None,
        "store_call_median_ms": None,
        "degraded": False,
        "reasons": [],
    }


def test_a_baseline_is_compared_with_its_reference_only_with_one_and_store_call_latencies() -> None:
    no_reference = evaluate_baseline(window(600, cohort="source", calls=100), T, reference=None)
    assert no_reference.reference is None and no_reference.healthy
    assert no_reference.error_test is not None and no_reference.error_test.metric == "source error rate"
    assert no_reference.to_dict() == {
        "requests": 600,
        "error_rate": 0.0,
        "reference_median_ms": None,
        "store_call_median_ms": None,
        "degraded": False,
        "reasons": [],
    }
    no_calls = evaluate_baseline(window(600, cohort="source"), T, reference=REFERENCE)
    assert no_calls.reference is None and no_calls.healthy
    switched_off = evaluate_baseline(
        window(600, cohort="source", calls=100), Thresholds(latency_reference=False), REFERENCE
    )
    assert switched_off.reference is None


def test_a_baseline_slower_than_its_reference_in_interval_quantiles_is_degraded() -> None:
    baseline = window(
        600,
        cohort="source",
        latencies=np.full(5, 20.0),
        kind="interval_quantiles",
        calls=100,
        call_latencies=[9.0, 9.1, 9.2, 9.3, 9.4],
    )
    result = evaluate_baseline(baseline, T, reference=np.array([2.0, 2.1, 2.2, 2.3, 2.4]))
    reason = (
        "source store calls slower than their reference window: median 9.20 ms vs 2.20 ms (ratio 4.18 > 1.10, "
        "+7.00 ms > 5 ms), Mann-Whitney p=0.004 < 0.02 over 5 and 5 samples"
    )
    assert result.reasons == (reason,) and result.degraded and not result.healthy
    assert result.requests == 600 and result.error_test is not None and result.error_test.result == "pass"
    assert result.to_dict() == {
        "requests": 600,
        "error_rate": 0.0,
        "reference_median_ms": 2.2,
        "store_call_median_ms": 9.2,
        "degraded": True,
        "reasons": [reason],
    }


# -- the binomial test at its significance level exactly ---------------------------------------------------------
@pytest.mark.parametrize(
    ("count", "fail_when", "result"),
    [(1, "above", "fail"), (1, "below", "pass"), (0, "above", "pass"), (0, "below", "fail")],
)
def test_a_tail_probability_equal_to_alpha_decides(count: int, fail_when: str, result: str) -> None:
    # One request against a 50 % gate at 50 % confidence: each tail is exactly 0.5 = alpha ("≤ alpha" decides).
    test = rate_test("e", count, 1, 0.5, 0.5, fail_when=fail_when)  # type: ignore[arg-type]
    assert test.result == result


@pytest.mark.parametrize(("count", "trials"), [(0, 100), (1, 100), (12, 1210), (99, 100), (7, 40)])
def test_the_bounds_are_clopper_pearson(count: int, trials: int) -> None:
    test = rate_test("e", count, trials, 0.01, 0.99)
    lower = 0.0 if count == 0 else beta.ppf(0.01, count, trials - count + 1)
    upper = beta.ppf(0.99, count + 1, trials - count)
    assert test.lower == pytest.approx(lower, rel=1e-9, abs=1e-15)
    assert test.upper == pytest.approx(upper, rel=1e-9) and test.upper < 1.0
    above = binom.sf(count - 1, trials, 0.01)
    assert (test.result == "fail") == (above <= 0.01)


def test_no_trials_is_undecided_without_bounds_whatever_the_count() -> None:
    test = rate_test("store-call error rate", 5, 0, 0.01, 0.99, unit="store calls")
    assert test == type(test)(
        "store-call error rate", 0, 0, 0.01, 0.99, "above", "undecided", None, None, "store calls"
    )
    assert test.describe() == "store-call error rate: no store calls"
    assert test.to_dict() == {
        "metric": "store-call error rate",
        "count": 0,
        "trials": 0,
        "rate": None,
        "gate": 0.01,
        "confidence": 0.99,
        "result": "undecided",
        "lower": None,
        "upper": None,
    }
    single = rate_test("e", 0, 1, 0.01, 0.99)
    assert (single.trials, single.lower, single.upper) == (1, 0.0, pytest.approx(0.99))  # 1 − 0.01^(1/1)


def test_descriptions_put_the_rate_on_the_side_it_was_judged() -> None:
    assert rate_test("error rate", 0, 600, 0.01, 0.99).describe() == (
        "error rate 0 % < 1 % at 99 % confidence over 600 requests"
    )
    assert rate_test("error rate", 0, 100, 0.01, 0.99).describe() == (
        "error rate 0 % over 100 requests: not enough evidence against 1 % at 99 % confidence (between 0 % and 4.5 %)"
    )
    assert rate_test("cache hit rate", 60, 100, 0.3, 0.99, fail_when="below").describe() == (
        "cache hit rate 60 % > 30 % at 99 % confidence over 100 requests"
    )
    assert rate_test("cache hit rate", 10, 100, 0.3, 0.99, fail_when="below").describe() == (
        "cache hit rate 10 % < 30 % at 99 % confidence over 100 requests"
    )


@pytest.mark.parametrize(
    ("rate", "shown"),
    [
        (0.999, "99.9 %"),  # a confidence keeps its digits
        (0.9994999999999, "99.95 %"),  # up to ten significant digits
        (0.99949999999, "99.95 %"),
        (0.99999999999, "100 %"),
        (1.004, "100 %"),
        (1e-7, "0.00001 %"),  # never in exponent notation
        (1e-13, "0 %"),
        (0.12345, "12 %"),
    ],
)
def test_percentages_as_shown_in_reasons(rate: float, shown: str) -> None:
    assert percent(rate) == shown


# -- latency comparisons at their edges -----------------------------------------------------------------------
def test_a_median_exactly_at_the_tolerance_is_not_slower() -> None:
    result = compare_latency(np.full(60, 110.0), np.full(60, 100.0), alpha=0.02, tolerance=0.1, min_samples=50)
    assert result == LatencyComparison(60, 60, 110.0, 100.0, 1.1, None, False)
    beyond = compare_latency(np.full(60, 110.5), np.full(60, 100.0), alpha=0.02, tolerance=0.1, min_samples=50)
    assert beyond.regressed is True


def test_an_effect_exactly_at_the_floor_is_not_large() -> None:
    at = compare_latency(
        np.full(60, 105.0), np.full(60, 100.0), alpha=0.02, tolerance=0.01, min_samples=50, min_effect_ms=5.0
    )
    assert at == LatencyComparison(60, 60, 105.0, 100.0, 1.05, None, False)
    # Without a floor (the default), half a millisecond against a 0 ms baseline is infinitely slower.
    half = compare_latency(np.full(60, 0.5), np.zeros(60), alpha=0.02, tolerance=0.1, min_samples=50)
    assert half.regressed is True and half.median_ratio is None


def test_too_few_samples_keeps_the_figures_it_has() -> None:
    result = compare_latency(np.full(10, 30.0), np.full(60, 20.0), alpha=0.02, tolerance=0.1, min_samples=50)
    assert result == LatencyComparison(10, 60, 30.0, 20.0, 1.5, None, None)


def test_the_regression_text_has_each_condition_with_its_figure() -> None:
    # Fully separated samples of 3,000 (thinned to 2,000) a side: p underflows to 0.
    bad = compare_latency(
        np.linspace(200.0, 300.0, 3000), np.linspace(10.0, 20.0, 3000), alpha=0.02, tolerance=0.1, min_samples=50,
        min_effect_ms=5.0,
    )  # fmt: skip
    assert bad == LatencyComparison(3000, 3000, 250.0, 15.0, pytest.approx(250 / 15), 0.0, True)  # type: ignore[arg-type]
    assert bad.describe("canary", "baseline", T) == (
        "canary slower than baseline: median 250.00 ms vs 15.00 ms (ratio 16.67 > 1.10, +235.00 ms > 5 ms), "
        "Mann-Whitney p=0 < 0.02 over 3,000 and 3,000 samples"
    )
    zero = compare_latency(np.full(60, 8.0), np.zeros(60), alpha=0.02, tolerance=0.1, min_samples=50, min_effect_ms=5.0)
    assert zero.describe("canary", "baseline", Thresholds(latency_tolerance=0.25)) == (
        "canary slower than baseline: median 8.00 ms vs 0.00 ms (ratio inf > 1.25, +8.00 ms > 5 ms), "
        "Mann-Whitney p=5.4e-28 < 0.02 over 60 and 60 samples"
    )


def test_thinning_keeps_evenly_spaced_values_from_first_to_last() -> None:
    assert _thin(np.arange(10.0), 4).tolist() == [0.0, 3.0, 6.0, 9.0]
    assert _thin(np.arange(4.0), 4).tolist() == [0.0, 1.0, 2.0, 3.0]
    thinned = _thin(np.arange(4001.0), 2000)
    assert thinned.size == 2000 and thinned[0] == 0.0 and thinned[-1] == 4000.0


# -- the per-step budget ---------------------------------------------------------------------------------------
def _result(
    outcome: Outcome, at: float, reasons: tuple[str, ...] = ("r",), *, interval_start: float | None
) -> HealthResult:
    return HealthResult(
        at=at,
        window_start=0.0,
        window_end=at,
        outcome=outcome,
        requests=0,
        errors=0,
        error_rate=None,
        p99_ms=None,
        cache_hit_rate=None,
        baseline_requests=0,
        baseline_p99_ms=None,
        latency=LatencyComparison(0, 0, None, None, None, None, None),
        reasons=reasons,
        interval_start=interval_start,
        interval_end=at,
        evidence_outcome=Outcome.NO_DATA if outcome is Outcome.NO_DATA else outcome,
    )


def test_the_no_data_clock_runs_from_the_later_of_the_interval_and_the_step_and_restarts() -> None:
    budget = StepBudget(Thresholds(no_data_policy="hold", max_hold_s=100))
    assert (budget.no_data_for, budget.no_data_since, budget.held_too_long) == (0.0, None, False)
    budget.observe(_result(Outcome.NO_DATA, 180.0, interval_start=120.0), since=100.0)
    assert (budget.no_data_since, budget.no_data_for) == (120.0, 60.0)
    budget.observe(_result(Outcome.NO_DATA, 219.0, interval_start=180.0), since=100.0)
    assert budget.no_data_for == 99.0 and not budget.held_too_long
    budget.observe(_result(Outcome.NO_DATA, 220.0, interval_start=219.0), since=100.0)
    assert budget.no_data_for == 100.0 and budget.held_too_long  # at max_hold_s exactly
    budget.observe(_result(Outcome.PASS, 240.0, interval_start=220.0))
    assert (budget.no_data_for, budget.no_data_since, budget.held_too_long) == (0.0, None, False)
    budget.observe(_result(Outcome.NO_DATA, 300.0, interval_start=240.0), since=100.0)
    assert (budget.no_data_since, budget.no_data_for) == (240.0, 60.0)
    # A result without an interval start counts from its own time (the step's start when later).
    fresh = StepBudget(Thresholds(no_data_policy="hold"))
    fresh.observe(_result(Outcome.NO_DATA, 50.0, interval_start=None))
    assert (fresh.no_data_since, fresh.no_data_for) == (50.0, 0.0)


def test_failure_reasons_join_a_checks_reasons_and_say_no_data_for_an_idle_one() -> None:
    budget = StepBudget(Thresholds(no_data_policy="fail", failure_limit=5))
    assert budget.observe(_result(Outcome.FAIL, 60.0, ("a", "b"), interval_start=0.0)) is Outcome.FAIL
    assert budget.observe(_result(Outcome.NO_DATA, 120.0, ("idle",), interval_start=60.0)) is Outcome.FAIL
    assert budget.failure_reasons == ["at 60 s: a; b", "at 120 s: no data"] and budget.failures == 2


# -- how much traffic a step needs ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("gate", "confidence", "typical", "half"),
    [(0.01, 0.99, 1736, 3924), (0.01, 0.95, 1049, 2546), (0.02, 0.99, 866, 1959), (0.05, 0.99, 344, 755)],
)
def test_requests_to_pass_match_the_readme_table(gate: float, confidence: float, typical: int, half: int) -> None:
    assert requests_to_pass(gate, confidence, 0.3 * gate) == typical
    assert requests_to_pass(gate, confidence, 0.5 * gate) == half
    assert requests_to_pass(gate, confidence, 0.0) == evidence_floor(gate, confidence)


def test_requests_to_pass_is_the_first_n_with_the_power_and_none_past_200_over_the_gate() -> None:
    # At a 50 % gate and 90 % confidence the count that still passes steps up at n = 401, one past the
    # 200 / gate = 400 searched: the chance at 401 (0.7607) beats every n up to 400 (at most 0.7581).
    assert requests_to_pass(0.5, 0.9, 0.45, 0.7595) is None
    assert requests_to_pass(0.5, 0.9, 0.45, 0.758) == 399
    assert requests_to_pass(0.01, 0.99, 0.01) is None  # a target at the gate passes no more often than alpha
    assert requests_to_pass(0.01, 0.99, 0.003, 0.5) == 838


def test_requests_to_pass_at_the_edges_of_its_tests() -> None:
    # One request against a 50 % gate at 50 % confidence: P(X <= 0) = 0.5 = alpha exactly, so 0 errors
    # pass; a target that never errs passes it for certain (a chance of 1 meets a power of 1).
    assert requests_to_pass(0.5, 0.5, 0.0) == 1
    assert requests_to_pass(0.5, 0.5, 0.0, 1.0) == 1
    assert requests_to_pass(0.01, 0.99, 0.0, 1.0) == 459
    assert requests_to_pass(0.01, 0.99, 0.003, 0.0) == 1  # any chance at all: the first request


def test_a_result_without_evidence_outcome_keeps_it_empty_in_its_record() -> None:
    result = _result(Outcome.PASS, 60.0, interval_start=0.0)
    bare = HealthResult(**{**{f: getattr(result, f) for f in result.__slots__}, "evidence_outcome": None})  # type: ignore[arg-type]
    assert bare.to_dict()["evidence_outcome"] is None
    assert result.to_dict()["evidence_outcome"] == "pass"
