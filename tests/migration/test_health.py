"""Health checks: exact binomial judgements at a confidence, evidence vs interval, the per-step budget,
severe breaches, latency against the baseline and against a reference, store calls behind the cache."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import binom

from harness.migration.config import Thresholds, evidence_floor
from harness.migration.health import (
    HealthResult,
    Outcome,
    StepBudget,
    compare_latency,
    evaluate_baseline,
    evaluate_window,
    percent,
    rate_test,
)
from harness.migration.metrics import InProcessMetrics, WindowStats


def window(
    requests: int,
    errors: int = 0,
    hits: int | None = None,
    latency_ms: float = 20.0,
    *,
    start: float = 0.0,
    end: float = 60.0,
    calls: int | None = None,
    call_errors: int = 0,
    seed: int = 0,
) -> WindowStats:
    """A canary window of ``requests`` with ``errors`` and ``hits`` (default: all hits), latencies
    around ``latency_ms``; ``calls`` store calls of which ``call_errors`` failed."""
    rng = np.random.default_rng(seed)
    return WindowStats(
        "target",
        start,
        end,
        requests,
        errors,
        requests if hits is None else hits,
        latency_ms * (1 + 0.2 * rng.random(requests)),
        backend_calls=calls,
        backend_errors=call_errors if calls is not None else None,
        backend_latencies_ms=latency_ms * (1 + 0.2 * rng.random(calls or 0)),
    )


# -- the binomial judgement -----------------------------------------------------------------------------
def test_evidence_floor_is_the_fewest_clean_requests_below_the_gate() -> None:
    assert evidence_floor(0.01, 0.99) == 459 and evidence_floor(0.01, 0.95) == 299
    for gate, conf in [(0.01, 0.99), (0.05, 0.9), (0.001, 0.999), (0.2, 0.5)]:
        n = evidence_floor(gate, conf)
        assert (1 - gate) ** n <= 1 - conf < (1 - gate) ** (n - 1)
        assert rate_test("e", 0, n, gate, conf).result == "pass"
        assert rate_test("e", 0, n - 1, gate, conf).result == "undecided"


@pytest.mark.parametrize(
    ("errors", "requests", "expected"),
    [
        (1, 20, "undecided"),  # one error in 20 requests is no evidence of a rate above 1 %
        (1, 99, "undecided"),
        (0, 458, "undecided"),  # just below the floor
        (0, 459, "pass"),  # the floor
        (34, 1210, "fail"),  # 2.8 % over 1,210
        (3, 1210, "pass"),
        (12, 1210, "undecided"),  # right at the gate
        (2, 10, "fail"),  # 2 of 10 is above 1 % with 99 % confidence
        (10, 10, "fail"),
    ],
)
def test_error_rate_is_judged_with_an_exact_one_sided_binomial_test(errors: int, requests: int, expected: str) -> None:
    test = rate_test("error rate", errors, requests, 0.01, 0.99)
    assert test.result == expected
    above, below = binom.sf(errors - 1, requests, 0.01), binom.cdf(errors, requests, 0.01)
    assert (test.result == "fail") == (above <= 0.01)
    assert (test.result == "pass") == (below <= 0.01 and above > 0.01)
    assert test.lower is not None and test.upper is not None and test.lower <= errors / requests <= test.upper


def test_the_threshold_just_inside_and_just_outside() -> None:
    # Over 1,000 requests at a 1 % gate and 99 % confidence: the largest count that fails and the
    # smallest that passes are the binomial's own quantiles.
    n = 1000
    fail_from = min(k for k in range(n) if binom.sf(k - 1, n, 0.01) <= 0.01)
    pass_up_to = max(k for k in range(n) if binom.cdf(k, n, 0.01) <= 0.01)
    assert rate_test("e", fail_from, n, 0.01, 0.99).result == "fail"
    assert rate_test("e", fail_from - 1, n, 0.01, 0.99).result == "undecided"
    assert rate_test("e", pass_up_to, n, 0.01, 0.99).result == "pass"
    assert rate_test("e", pass_up_to + 1, n, 0.01, 0.99).result == "undecided"


def test_a_rate_with_no_trials_is_undecided_and_says_so() -> None:
    test = rate_test("error rate", 0, 0, 0.01, 0.99)
    assert test.result == "undecided" and test.rate is None and "no requests" in test.describe()


def test_cache_hit_rate_fails_below_and_passes_above_the_minimum() -> None:
    assert rate_test("hits", 10, 100, 0.3, 0.99, fail_when="below").result == "fail"
    assert rate_test("hits", 60, 100, 0.3, 0.99, fail_when="below").result == "pass"
    assert rate_test("hits", 30, 100, 0.3, 0.99, fail_when="below").result == "undecided"


def test_reasons_name_the_rule_and_its_figures() -> None:
    assert rate_test("error rate", 41, 1210, 0.01, 0.99).describe() == (
        "error rate 3.4 % > 1 % at 99 % confidence over 1,210 requests"
    )
    assert "not enough evidence against 1 % at 99 % confidence" in rate_test("error rate", 1, 50, 0.01, 0.99).describe()
    assert [percent(r) for r in (0.00042, 0.5, 0.0, 0.01, 0.034, 0.1, 1.0)] == [
        "0.042 %",
        "50 %",
        "0 %",
        "1 %",
        "3.4 %",
        "10 %",
        "100 %",
    ]


# -- one check: interval and evidence ---------------------------------------------------------------
def test_an_idle_interval_is_no_data_not_a_division_by_zero() -> None:
    idle = window(0)
    result = evaluate_window(idle, None, Thresholds(), at=60.0)
    assert result.outcome is Outcome.NO_DATA and result.evidence_outcome is Outcome.NO_DATA
    assert result.error_rate is None and result.p99_ms is None and result.cache_hit_rate is None
    assert "no canary request in the last interval" in result.reasons[0]


def test_a_healthy_window_with_enough_evidence_passes_and_one_without_is_undecided() -> None:
    passed = evaluate_window(window(600), None, Thresholds(), at=60.0)
    assert passed.outcome is Outcome.PASS, passed.reasons
    assert passed.requests == 600 and passed.error_rate == 0.0 and passed.cache_hit_rate == 1.0
    few = evaluate_window(window(100), None, Thresholds(), at=60.0)
    assert few.outcome is Outcome.UNDECIDED and "not enough evidence" in few.reasons[0]


def test_min_requests_raises_the_bar_but_cannot_lower_the_tests_own_need() -> None:
    assert Thresholds(min_requests=2000).error_min_requests == 2000
    assert Thresholds(min_requests=20).error_min_requests == 459
    undecided = evaluate_window(window(600), None, Thresholds(min_requests=2000), at=60.0)
    assert undecided.outcome is Outcome.UNDECIDED and "fewer than 2,000" in undecided.reasons[0]


@pytest.mark.parametrize(
    ("kwargs", "failed"),
    [
        ({"requests": 600, "errors": 20}, "error_rate"),  # 3.3 %
        ({"requests": 600, "latency_ms": 900.0}, "p99"),
        ({"requests": 600, "hits": 60}, "cache_hit_rate"),
    ],
)
def test_each_gate_fails_its_check(kwargs: dict[str, float], failed: str) -> None:
    result = evaluate_window(window(**kwargs), None, Thresholds(), at=60.0)  # type: ignore[arg-type]
    assert result.outcome is Outcome.FAIL and failed in result.failed


def test_p99_fails_on_the_share_of_slow_requests_not_on_one_slow_request() -> None:
    w = window(1000)
    latencies = w.latencies_ms.copy()
    latencies[:5] = 900.0  # 0.5 % slower than 500 ms: p99 still fine
    few_slow = WindowStats("target", 0, 60, 1000, 0, 1000, latencies)
    assert "p99" not in evaluate_window(few_slow, None, Thresholds(), at=60).failed
    latencies[:40] = 900.0  # 4 %
    many_slow = WindowStats("target", 0, 60, 1000, 0, 1000, latencies)
    result = evaluate_window(many_slow, None, Thresholds(), at=60)
    assert "p99" in result.failed and "slower than 500 ms" in result.reasons[0]


def test_an_interval_above_the_gate_fails_even_when_the_evidence_dilutes_it() -> None:
    evidence = window(5000, errors=30)  # 0.6 % over the step
    interval = window(100, errors=8, start=50.0)  # 8 % in the last interval
    result = evaluate_window(evidence, None, Thresholds(), at=60.0, interval=interval)
    assert result.outcome is Outcome.FAIL and "in the last interval" in result.reasons[0]


def test_a_severe_breach_is_flagged_and_a_burst_below_it_is_not() -> None:
    thresholds = Thresholds()  # severe from min(50 x 1 %, 90 %) = 50 %
    outage = evaluate_window(window(100, errors=100), None, thresholds, at=60.0)
    assert outage.severe and outage.reasons[0].startswith("severe:")
    burst = evaluate_window(window(500, errors=200), None, thresholds, at=60.0)  # 40 %: bad, not an outage
    assert burst.outcome is Outcome.FAIL and not burst.severe
    few = evaluate_window(window(4, errors=4), None, thresholds, at=60.0)  # 4 of 4: too little to act at once
    assert not few.severe
    assert Thresholds(error_rate_max=0.05).severe_error_rate == 0.9


def test_store_call_errors_behind_the_cache_warn_by_default_and_gate_when_told() -> None:
    hidden = window(4000, errors=12, hits=3600, calls=400, call_errors=12)  # users 0.3 %, store calls 3 %
    warned = evaluate_window(hidden, None, Thresholds(), at=60.0)
    assert warned.outcome is Outcome.PASS and warned.warnings and "users saw 0.3 %" in warned.warnings[0]
    gated = evaluate_window(hidden, None, Thresholds(backend_errors="gate"), at=60.0)
    assert gated.outcome is Outcome.FAIL and "backend_error_rate" in gated.failed
    off = evaluate_window(hidden, None, Thresholds(backend_errors="off"), at=60.0)
    assert off.outcome is Outcome.PASS and not off.warnings


# -- latency ------------------------------------------------------------------------------------------
def test_latency_regression_needs_significance_and_effect_size() -> None:
    rng = np.random.default_rng(3)
    baseline = rng.lognormal(3.0, 0.3, 5000)
    slightly = baseline * 1.03  # significant with 5000 samples, but inside the 10 % tolerance
    clearly = rng.lognormal(3.0, 0.3, 5000) * 1.5
    ok = compare_latency(slightly, baseline, alpha=0.02, tolerance=0.1, min_samples=50)
    assert ok.regressed is False and ok.p_value is None  # no effect worth testing
    bad = compare_latency(clearly, baseline, alpha=0.02, tolerance=0.1, min_samples=50)
    assert bad.regressed is True and bad.p_value is not None and bad.p_value < 0.02
    assert bad.median_ratio is not None and bad.median_ratio > 1.4
    few = compare_latency(clearly[:10], baseline, alpha=0.02, tolerance=0.1, min_samples=50)
    assert few.regressed is None and few.p_value is None
    noise = compare_latency(
        rng.lognormal(3.0, 0.3, 60) * 1.2, rng.lognormal(3.0, 2.0, 60), alpha=0.02, tolerance=0.1, min_samples=50
    )
    assert noise.regressed is not True


def test_a_target_slower_than_its_own_reference_fails_even_when_the_baseline_is_slower_still() -> None:
    rng = np.random.default_rng(5)
    reference = 2.0 * (1 + 0.2 * rng.random(500))  # the target's store calls at the start of the canary
    canary = window(1000, latency_ms=22.0, calls=300)  # +20 ms: 10x its normal
    baseline = WindowStats(
        "source", 0, 60, 1000, 0, 1000, 42.0 * (1 + 0.2 * rng.random(1000)), backend_calls=300, backend_errors=0
    )
    result = evaluate_window(canary, baseline, Thresholds(), at=60.0, reference=reference)
    assert result.latency.regressed is False  # faster than a baseline that slowed by 40 ms
    assert result.outcome is Outcome.FAIL and result.failed == ("latency_reference",)
    assert "their reference window" in result.reasons[0]
    unjudged = evaluate_window(canary, baseline, Thresholds(latency_reference=False), at=60.0, reference=reference)
    assert "latency_reference" not in unjudged.failed


def test_a_degrading_baseline_is_reported_on_its_own() -> None:
    rng = np.random.default_rng(9)
    reference = 2.0 * (1 + 0.2 * rng.random(500))
    slow = WindowStats(
        "source",
        0,
        60,
        2000,
        100,
        1000,
        np.full(2000, 40.0),
        backend_calls=1000,
        backend_errors=100,
        backend_latencies_ms=40.0 * (1 + 0.2 * rng.random(1000)),
    )
    result = evaluate_baseline(slow, Thresholds(), reference)
    assert result.degraded and len(result.reasons) == 2
    assert result.reasons[0].startswith("source error rate 5 % > 1 %")
    fine = evaluate_baseline(window(2000, calls=1000, latency_ms=2.0), Thresholds(), reference)
    assert not fine.degraded


# -- the per-step budget ------------------------------------------------------------------------------
def _result(
    outcome: Outcome, at: float, reasons: tuple[str, ...] = ("r",), evidence: Outcome | None = None
) -> HealthResult:
    empty = compare_latency(np.zeros(0), np.zeros(0), alpha=0.02, tolerance=0.1, min_samples=1)
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
        latency=empty,
        reasons=reasons,
        interval_start=at - 60.0,
        interval_end=at,
        evidence_outcome=evidence if evidence is not None else outcome,
    )


def test_failures_count_within_the_step_consecutive_or_not() -> None:
    budget = StepBudget(Thresholds(failure_limit=3))
    for outcome in (Outcome.FAIL, Outcome.PASS, Outcome.FAIL, Outcome.UNDECIDED, Outcome.PASS):
        budget.observe(_result(outcome, 60.0))
    assert budget.failures == 2 and not budget.exhausted
    budget.observe(_result(Outcome.FAIL, 60.0, ("error rate 5 % > 1 %",)))
    assert budget.exhausted and "error rate 5 % > 1 %" in budget.failure_reasons[-1]


@pytest.mark.parametrize(
    ("policy", "counted", "failures"), [("fail", "fail", 1), ("pass", "pass", 0), ("hold", "no_data", 0)]
)
def test_no_data_policy_decides_what_an_idle_interval_counts_as(policy: str, counted: str, failures: int) -> None:
    budget = StepBudget(Thresholds(no_data_policy=policy, max_hold_s=300))  # type: ignore[arg-type]
    assert str(budget.observe(_result(Outcome.NO_DATA, 60.0, evidence=Outcome.NO_DATA))) == counted
    assert budget.failures == failures


def test_under_pass_an_idle_interval_counts_as_what_the_evidence_says() -> None:
    budget = StepBudget(Thresholds(no_data_policy="pass"))
    assert budget.observe(_result(Outcome.NO_DATA, 60.0, evidence=Outcome.UNDECIDED)) is Outcome.UNDECIDED


def test_hold_ends_the_step_after_max_hold_of_nothing_but_no_data() -> None:
    budget = StepBudget(Thresholds(no_data_policy="hold", max_hold_s=120))
    held = []
    for i in range(1, 4):
        budget.observe(_result(Outcome.NO_DATA, 60.0 * i), since=0.0)
        held.append(budget.held_too_long)
    assert held == [False, True, True] and math.isclose(budget.no_data_for, 180.0)
    budget.observe(_result(Outcome.PASS, 240.0))
    assert not budget.held_too_long


def test_in_process_windows_keep_per_request_and_per_store_call_figures() -> None:
    metrics = InProcessMetrics()
    metrics.record("target", 1.0, 0.1, cache_hit=True)
    metrics.record("target", 2.0, 7.0, backend_ms=6.5)
    metrics.record("target", 3.0, 9.0, error=True, backend_ms=8.5, backend_error=True)
    metrics.record("target", 0.5, 3.0, backend_ms=2.5)  # late: kept in time order
    w = metrics.window("target", 0.0, 10.0)
    assert (w.requests, w.errors, w.cache_hits, w.backend_calls, w.backend_errors) == (4, 1, 1, 3, 1)
    assert list(w.latencies_ms) == [3.0, 0.1, 7.0, 9.0] and list(w.backend_latencies_ms) == [2.5, 6.5, 8.5]
    assert w.backend_error_rate == pytest.approx(1 / 3)
    assert metrics.window("target", 1.5, 3.0).requests == 1
