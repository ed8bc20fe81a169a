"""Canary health: statistical judgements of a step's evidence, and the per-step failure budget.

The rules (the README's "Canary decisions" explains them with figures):

- **Evidence.** A check judges the interval since the previous check and the step's *evidence*: every
  request since the step began, or since its last failed check, but never more than ``window_s``
  back. A failed check consumes its evidence (the next one starts afresh), so one bad interval is
  counted against the step once, never once per overlapping window.
- **Rates are decided statistically** with a one-sided exact binomial test at ``confidence``: the
  error rate fails a check only when it is above ``error_rate_max`` with that confidence (in the
  interval alone, or in the evidence), and passes only when the evidence shows it below with that
  confidence; in between there is "not enough evidence" and the step's bake extends. The same for the
  cache hit rate (fails below ``cache_hit_rate_min``, passes above), the store-call error rate behind
  the cache, and the p99 gate (the share of requests slower than ``p99_ms_max`` against 1 %).
- **Severe**: an error rate at least ``severe_error_rate`` with confidence (an outage) rolls back at once.
- **Latency against the baseline** (Kayenta): one-sided Mann-Whitney U, failing only beyond an
  effect-size tolerance AND an absolute floor in ms, so neither a 1 % slower canary under heavy
  traffic nor cache hits a few microseconds apart roll back. **Latency against itself**: each cohort's
  store-call latency against its own reference window, so a baseline that slows down cannot hide a
  canary that slows down; a slower baseline raises its own alert and never fails the canary.
- **Failures are counted per step** (``StepBudget``, Flagger's threshold): ``failure_limit`` failed
  checks within one step roll back, consecutive or not.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from harness.migration.config import Thresholds
from harness.migration.metrics import WindowStats

__all__ = [
    "LATENCY_SAMPLE_CAP",
    "P99_SHARE",
    "BaselineResult",
    "HealthResult",
    "LatencyComparison",
    "Outcome",
    "RateTest",
    "StepBudget",
    "compare_latency",
    "evaluate_baseline",
    "evaluate_window",
    "percent",
    "rate_test",
    "requests_to_pass",
]

LATENCY_SAMPLE_CAP = 2000
"""Latencies per side a Mann-Whitney comparison uses at most (evenly spaced in time): thousands of
requests already detect any slowdown worth a rollback, and the test's cost stays bounded."""
P99_SHARE = 0.01
"""The p99 gate as a rate: p99 > limit exactly when more than 1 % of requests are slower than the limit."""


class Outcome(StrEnum):
    """A health check's result: pass, fail, not enough evidence yet, or no data (no canary request)."""

    PASS = "pass"
    FAIL = "fail"
    UNDECIDED = "undecided"
    NO_DATA = "no_data"


def percent(rate: float, significant: int = 2) -> str:
    """A rate as a short percentage with ``significant`` digits: 0.034 → "3.4 %", 0.01 → "1 %",
    0.00042 → "0.042 %", 0.5 → "50 %"; a confidence keeps its digits (0.999 → "99.9 %")."""
    value = rate * 100.0
    if not math.isfinite(value):
        return "n/a"
    if value == 0:
        return "0 %"
    if rate < 1.0 and round(value, 0) == 100.0:  # 0.999 is not 100 %
        significant = max(significant, len(f"{value:.10g}".replace(".", "")))
    shown = f"{value:.{max(significant, len(str(int(abs(value)))))}g}"
    if "e" in shown:
        shown = f"{value:.10f}".rstrip("0").rstrip(".")
    return shown + " %"


def _count(n: int) -> str:
    return f"{n:,}"


@dataclass(frozen=True, slots=True)
class RateTest:
    """A rate judged against a gate with a one-sided exact binomial test.

    ``fail_when``: "above" (errors: failing when the rate is above ``gate`` with ``confidence``) or
    "below" (cache hits). ``result``: "fail", "pass" (on the good side of the gate with confidence) or
    "undecided". ``lower``/``upper``: one-sided Clopper-Pearson bounds at ``confidence`` (None without trials).
    """

    metric: str
    count: int
    trials: int
    gate: float
    confidence: float
    fail_when: Literal["above", "below"]
    result: Literal["fail", "pass", "undecided"]
    lower: float | None
    upper: float | None
    unit: str = "requests"

    @property
    def rate(self) -> float | None:
        """count ÷ trials, or None without trials."""
        return self.count / self.trials if self.trials else None

    def describe(self) -> str:
        """The judgement in words with its figures, e.g. "error rate 3.4 % > 1 % at 99 % confidence over
        1,210 requests"."""
        conf = percent(self.confidence)
        if not self.trials:
            return f"{self.metric}: no {self.unit}"
        rate = percent(self.rate or 0.0)
        gate = percent(self.gate)
        over = f"over {_count(self.trials)} {self.unit}"
        if self.result == "undecided":
            return (
                f"{self.metric} {rate} {over}: not enough evidence against {gate} at {conf} confidence "
                f"(between {percent(self.lower or 0.0)} and {percent(self.upper or 0.0)})"
            )
        bad_side = ">" if self.fail_when == "above" else "<"
        good_side = "<" if self.fail_when == "above" else ">"
        side = bad_side if self.result == "fail" else good_side
        return f"{self.metric} {rate} {side} {gate} at {conf} confidence {over}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "metric": self.metric,
            "count": self.count,
            "trials": self.trials,
            "rate": self.rate,
            "gate": self.gate,
            "confidence": self.confidence,
            "result": self.result,
            "lower": self.lower,
            "upper": self.upper,
        }


def rate_test(
    metric: str,
    count: int,
    trials: int,
    gate: float,
    confidence: float,
    *,
    fail_when: Literal["above", "below"] = "above",
    unit: str = "requests",
) -> RateTest:
    """Judge ``count`` of ``trials`` against ``gate`` (see ``RateTest``).

    "above": fail when P(X ≥ count | gate) ≤ 1 − confidence; pass when P(X ≤ count | gate) ≤ 1 −
    confidence. "below" mirrors it. Exact (scipy's binomial distribution), so small samples are neither
    over- nor under-trusted: one error in 20 requests is not evidence of a rate above 1 %.

    Counts from separate counters (errors and requests scraped from Prometheus a moment apart, each
    extrapolated by ``increase``) can disagree by a few: a count above its trials is read as all of them,
    one below 0 as none, so the test and its bounds stay defined.
    """
    from scipy.special import bdtr, bdtrc, betaincinv  # scipy is heavy; only a canary check needs it

    count = min(max(int(count), 0), max(int(trials), 0))
    if trials <= 0:
        return RateTest(metric, count, 0, gate, confidence, fail_when, "undecided", None, None, unit)
    alpha = 1.0 - confidence
    # The binomial distribution's tails and the Clopper-Pearson bounds as scipy's special functions
    # (what scipy.stats.binom and beta.ppf compute, without their per-call overhead).
    above = 1.0 if count <= 0 else float(bdtrc(count - 1, trials, gate))  # P(X >= count) under the gate
    below = float(bdtr(count, trials, gate))  # P(X <= count) under the gate
    lower = 0.0 if count == 0 else float(betaincinv(count, trials - count + 1, alpha))
    upper = 1.0 if count >= trials else float(betaincinv(count + 1, trials - count, 1.0 - alpha))
    if fail_when == "above":
        result: Literal["fail", "pass", "undecided"] = (
            "fail" if above <= alpha else "pass" if below <= alpha else "undecided"
        )
    else:
        result = "fail" if below <= alpha else "pass" if above <= alpha else "undecided"
    return RateTest(metric, count, trials, gate, confidence, fail_when, result, lower, upper, unit)


def requests_to_pass(gate: float, confidence: float, true_rate: float, power: float = 0.9) -> int | None:
    """The fewest requests at which a target whose errors run at ``true_rate`` passes the error gate
    (below ``gate`` with ``confidence``) with probability at least ``power``; None beyond 200 / gate."""
    from scipy.stats import binom

    alpha = 1.0 - confidence
    ns = np.arange(1, int(200 / gate) + 1)
    k = binom.ppf(alpha, ns, gate)  # smallest k with P(X <= k) >= alpha under the gate
    k = np.where(binom.cdf(k, ns, gate) <= alpha, k, k - 1)  # the largest count that still passes
    chance = np.where(k >= 0, binom.cdf(k, ns, true_rate), 0.0)
    enough = np.flatnonzero(chance >= power)
    return int(ns[enough[0]]) if enough.size else None


@dataclass(frozen=True, slots=True)
class LatencyComparison:
    """One latency sample against another. ``regressed`` is None when either side had too few samples."""

    canary_samples: int
    baseline_samples: int
    canary_median_ms: float | None
    baseline_median_ms: float | None
    median_ratio: float | None
    p_value: float | None
    regressed: bool | None

    def describe(self, subject: str, against: str, thresholds: Thresholds) -> str:
        """Why it regressed, with the figures of each condition."""
        diff = (self.canary_median_ms or 0.0) - (self.baseline_median_ms or 0.0)
        ratio = self.median_ratio if self.median_ratio is not None else float("inf")
        return (
            f"{subject} slower than {against}: median {self.canary_median_ms or 0.0:.2f} ms vs "
            f"{self.baseline_median_ms or 0.0:.2f} ms (ratio {ratio:.2f} > {1 + thresholds.latency_tolerance:.2f}, "
            f"+{diff:.2f} ms > {thresholds.latency_min_effect_ms:g} ms), Mann-Whitney p={self.p_value or 0.0:.2g} < "
            f"{thresholds.mann_whitney_alpha:g} over {_count(self.canary_samples)} and "
            f"{_count(self.baseline_samples)} samples"
        )


def _thin(values: npt.NDArray[np.float64], cap: int) -> npt.NDArray[np.float64]:
    """At most ``cap`` values, evenly spaced (deterministic)."""
    if values.size <= cap:
        return values
    return values[np.linspace(0, values.size - 1, cap).astype(np.intp)]


def compare_latency(
    canary_ms: npt.NDArray[np.float64],
    baseline_ms: npt.NDArray[np.float64],
    *,
    alpha: float,
    tolerance: float,
    min_samples: int,
    min_effect_ms: float = 0.0,
) -> LatencyComparison:
    """One-sided Mann-Whitney U ("canary slower than baseline"). Regressed when p < ``alpha`` AND
    median(canary) > (1 + ``tolerance``) × median(baseline) AND median(canary) − median(baseline) >
    ``min_effect_ms`` (ms). Undecided (None) below ``min_samples`` a side. The test runs only when the
    medians show an effect that large (``p_value`` None otherwise: not regressed), on at most
    ``LATENCY_SAMPLE_CAP`` values a side."""
    n_c, n_b = int(canary_ms.size), int(baseline_ms.size)
    med_c = float(np.median(canary_ms)) if n_c else None
    med_b = float(np.median(baseline_ms)) if n_b else None
    ratio = med_c / med_b if med_c is not None and med_b else None
    if n_c < min_samples or n_b < min_samples:
        return LatencyComparison(n_c, n_b, med_c, med_b, ratio, None, None)
    slower = ratio is not None and ratio > 1.0 + tolerance
    if ratio is None and med_c is not None and med_c > 0:
        slower = True  # a zero baseline median: any positive canary median is infinitely slower
    # Significance and a relative effect are not enough: under heavy traffic a microsecond is significant.
    large = med_c is not None and med_b is not None and med_c - med_b > min_effect_ms
    if not (slower and large):
        return LatencyComparison(n_c, n_b, med_c, med_b, ratio, None, False)  # no effect worth testing
    from scipy.stats import mannwhitneyu  # scipy is heavy; only a canary check needs it

    a, b = _thin(canary_ms, LATENCY_SAMPLE_CAP), _thin(baseline_ms, LATENCY_SAMPLE_CAP)
    p_value = float(mannwhitneyu(a, b, alternative="greater").pvalue)
    if not np.isfinite(p_value):
        p_value = 1.0
    return LatencyComparison(n_c, n_b, med_c, med_b, ratio, p_value, bool(p_value < alpha))


def _compare(
    canary: npt.NDArray[np.float64], other: npt.NDArray[np.float64], thresholds: Thresholds, *, series: bool
) -> LatencyComparison:
    return compare_latency(
        canary,
        other,
        alpha=thresholds.mann_whitney_alpha,
        tolerance=thresholds.latency_tolerance,
        min_samples=thresholds.min_interval_points if series else thresholds.min_samples,
        min_effect_ms=thresholds.latency_min_effect_ms,
    )


_UNDECIDED = LatencyComparison(0, 0, None, None, None, None, None)


@dataclass(frozen=True, slots=True)
class HealthResult:
    """One health check of the canary: the interval ``[interval_start, interval_end)`` since the previous
    check and the step's evidence ``[window_start, window_end)`` (harness-clock seconds).

    Counts and rates are the evidence's (fractions 0–1, latencies ms; None without requests);
    ``interval_requests``/``interval_errors`` the last interval's. ``failed`` names the failed gates:
    error_rate, p99, cache_hit_rate, latency_regression, latency_reference, backend_error_rate;
    ``severe`` is True for a breach that rolls back at once. ``reasons`` say why it failed, why it is
    not decided yet, or why it passed; ``warnings`` what is reported without failing the check.
    """

    at: float
    window_start: float
    window_end: float
    outcome: Outcome
    requests: int
    errors: int
    error_rate: float | None
    p99_ms: float | None
    cache_hit_rate: float | None
    baseline_requests: int
    baseline_p99_ms: float | None
    latency: LatencyComparison
    failed: tuple[str, ...] = ()
    reasons: tuple[str, ...] = field(default_factory=tuple)
    interval_start: float | None = None
    interval_end: float | None = None
    interval_requests: int = 0
    interval_errors: int = 0
    evidence_outcome: Outcome | None = None
    severe: bool = False
    tests: dict[str, RateTest] = field(default_factory=dict)
    reference: LatencyComparison | None = None
    backend_calls: int | None = None
    backend_errors: int | None = None
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form with every figure (for the journal and the game-day timeline)."""
        return {
            "at": self.at,
            "window": [self.window_start, self.window_end],
            "interval": [self.interval_start, self.interval_end],
            "outcome": str(self.outcome),
            "evidence_outcome": str(self.evidence_outcome) if self.evidence_outcome is not None else None,
            "severe": self.severe,
            "requests": self.requests,
            "errors": self.errors,
            "interval_requests": self.interval_requests,
            "interval_errors": self.interval_errors,
            "error_rate": self.error_rate,
            "p99_ms": self.p99_ms,
            "cache_hit_rate": self.cache_hit_rate,
            "backend_calls": self.backend_calls,
            "backend_errors": self.backend_errors,
            "baseline_requests": self.baseline_requests,
            "baseline_p99_ms": self.baseline_p99_ms,
            "canary_median_ms": self.latency.canary_median_ms,
            "baseline_median_ms": self.latency.baseline_median_ms,
            "median_ratio": self.latency.median_ratio,
            "mann_whitney_p": self.latency.p_value,
            "latency_regressed": self.latency.regressed,
            "reference_median_ms": self.reference.baseline_median_ms if self.reference else None,
            "store_call_median_ms": self.reference.canary_median_ms if self.reference else None,
            "reference_regressed": self.reference.regressed if self.reference else None,
            "tests": {name: test.to_dict() for name, test in self.tests.items()},
            "failed": list(self.failed),
            "reasons": list(self.reasons),
            "warnings": list(self.warnings),
        }


def evaluate_window(
    canary: WindowStats,
    baseline: WindowStats | None,
    thresholds: Thresholds,
    at: float,
    *,
    interval: WindowStats | None = None,
    reference: npt.NDArray[np.float64] | None = None,
) -> HealthResult:
    """Judge a canary's evidence ``canary`` (and its last ``interval``, default the same window) against
    ``thresholds``: its rates statistically, its latency against ``baseline``'s and against
    ``reference`` (earlier store-call latencies of the same cohort). See the module docstring."""
    interval = interval if interval is not None else canary
    series = canary.latency_kind == "interval_quantiles"
    baseline_ms = baseline.latencies_ms if baseline is not None else np.zeros(0)
    latency = _compare(canary.latencies_ms, baseline_ms, thresholds, series=series) if canary.requests else _UNDECIDED
    conf = thresholds.confidence
    tests: dict[str, RateTest] = {}
    failed: list[str] = []
    reasons: list[str] = []
    warnings: list[str] = []
    common: dict[str, Any] = {
        "at": at,
        "window_start": canary.start,
        "window_end": canary.end,
        "interval_start": interval.start,
        "interval_end": interval.end,
        "requests": canary.requests,
        "errors": canary.errors,
        "interval_requests": interval.requests,
        "interval_errors": interval.errors,
        "error_rate": canary.error_rate,
        "p99_ms": canary.percentile_ms(99),
        "cache_hit_rate": canary.cache_hit_rate,
        "backend_calls": canary.backend_calls,
        "backend_errors": canary.backend_errors,
        "baseline_requests": baseline.requests if baseline is not None else 0,
        "baseline_p99_ms": baseline.percentile_ms(99) if baseline is not None else None,
        "latency": latency,
    }

    # -- errors: the interval alone and the evidence, each at the confidence; severe at once ----------
    gate = thresholds.error_rate_max
    tests["error_rate"] = rate_test("error rate", canary.errors, canary.requests, gate, conf)
    tests["interval_error_rate"] = rate_test(
        "error rate in the last interval", interval.errors, interval.requests, gate, conf
    )
    severe_rate = thresholds.severe_error_rate
    severe_tests = [
        rate_test(name, w.errors, w.requests, severe_rate, conf)
        for name, w in (("error rate in the last interval", interval), ("error rate", canary))
    ]
    severe = next((t for t in severe_tests if t.result == "fail"), None)
    error_fail = next((tests[k] for k in ("interval_error_rate", "error_rate") if tests[k].result == "fail"), None)
    if severe is not None:
        failed.append("error_rate")
        reasons.append(f"severe: {severe.describe()} (severe from {percent(severe_rate)})")
    elif error_fail is not None:
        failed.append("error_rate")
        reasons.append(error_fail.describe())

    # -- p99: the share of slow requests against 1 % (per-request latencies), else the window's p99 ----
    p99 = common["p99_ms"]
    if not series and canary.latencies_ms.size:
        slow = int(np.count_nonzero(canary.latencies_ms > thresholds.p99_ms_max))
        share = rate_test(
            f"share of requests slower than {thresholds.p99_ms_max:g} ms",
            slow,
            int(canary.latencies_ms.size),
            P99_SHARE,
            conf,
        )
        tests["p99"] = share
        if share.result == "fail":
            failed.append("p99")
            reasons.append(f"p99 {p99:.1f} ms > {thresholds.p99_ms_max:g} ms: {share.describe()}")
    elif p99 is not None and canary.requests >= thresholds.min_samples and p99 > thresholds.p99_ms_max:
        failed.append("p99")
        reasons.append(f"p99 {p99:.1f} ms > {thresholds.p99_ms_max:g} ms over {_count(canary.requests)} requests")

    # -- cache hit rate: fails below the minimum with confidence, passes above it ---------------------
    if thresholds.cache_hit_rate_min > 0:
        tests["cache_hit_rate"] = rate_test(
            "cache hit rate",
            canary.cache_hits,
            canary.requests,
            thresholds.cache_hit_rate_min,
            conf,
            fail_when="below",
        )
        if tests["cache_hit_rate"].result == "fail":
            failed.append("cache_hit_rate")
            reasons.append(tests["cache_hit_rate"].describe())

    # -- latency against the baseline, and against the canary's own reference ------------------------
    if latency.regressed:
        failed.append("latency_regression")
        reasons.append(latency.describe("canary", "baseline", thresholds))
    reference_cmp = None
    if reference is not None and thresholds.latency_reference and canary.backend_latencies_ms.size:
        reference_cmp = _compare(canary.backend_latencies_ms, reference, thresholds, series=series)
        if reference_cmp.regressed:
            failed.append("latency_reference")
            reasons.append(reference_cmp.describe("canary store calls", "their reference window", thresholds))

    # -- store calls behind the cache -----------------------------------------------------------------
    if thresholds.backend_errors != "off" and canary.backend_calls and canary.backend_errors is not None:
        backend = rate_test(
            "store-call error rate", canary.backend_errors, canary.backend_calls, gate, conf, unit="store calls"
        )
        tests["backend_error_rate"] = backend
        if backend.result == "fail" and "error_rate" not in failed:  # users see it already: no news
            hidden = f"{backend.describe()} (users saw {percent(canary.error_rate or 0.0)})"
            if thresholds.backend_errors == "gate":
                failed.append("backend_error_rate")
                reasons.append(hidden)
            else:
                warnings.append(hidden)

    # -- the outcome ----------------------------------------------------------------------------------
    if failed:
        evidence = Outcome.FAIL
    else:
        missing: list[str] = []
        if tests["error_rate"].result != "pass":
            missing.append(tests["error_rate"].describe())
        elif canary.requests < thresholds.error_min_requests:
            missing.append(
                f"{_count(canary.requests)} requests of evidence, fewer than {_count(thresholds.error_min_requests)}"
            )
        cache = tests.get("cache_hit_rate")
        if cache is not None and cache.result != "pass":
            missing.append(cache.describe())
        calls = tests.get("backend_error_rate")
        if thresholds.backend_errors == "gate" and calls is not None and calls.result != "pass":
            missing.append(calls.describe())
        evidence = Outcome.UNDECIDED if missing else Outcome.PASS
        reasons.extend(missing if missing else [tests["error_rate"].describe()])
    outcome = evidence
    if interval.requests == 0:
        outcome = Outcome.NO_DATA
        note = f" ({interval.note})" if interval.note else ""
        reasons.insert(0, f"no canary request in the last interval{note}")
    return HealthResult(
        outcome=outcome,
        evidence_outcome=evidence if canary.requests else Outcome.NO_DATA,
        failed=tuple(failed),
        reasons=tuple(reasons),
        warnings=tuple(warnings),
        severe=severe is not None,
        tests=tests,
        reference=reference_cmp,
        **common,
    )


@dataclass(frozen=True, slots=True)
class BaselineResult:
    """The baseline (source cohort) judged on its own: its error rate against the gate and its store-call
    latency against its own reference. ``degraded`` says it should be alerted, never that the canary failed."""

    requests: int
    error_test: RateTest | None
    reference: LatencyComparison | None
    reasons: tuple[str, ...]

    @property
    def degraded(self) -> bool:
        """True when the baseline's error rate or latency got worse (an alert, not a canary failure)."""
        return bool(self.reasons)

    @property
    def healthy(self) -> bool:
        """True when the evidence shows the baseline well: its error rate below the gate with confidence,
        and its store calls not slower than its reference (where one was compared)."""
        errors_fine = self.error_test is not None and self.error_test.result == "pass"
        return errors_fine and (self.reference is None or self.reference.regressed is False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "requests": self.requests,
            "error_rate": self.error_test.rate if self.error_test else None,
            "reference_median_ms": self.reference.baseline_median_ms if self.reference else None,
            "store_call_median_ms": self.reference.canary_median_ms if self.reference else None,
            "degraded": self.degraded,
            "reasons": list(self.reasons),
        }


def evaluate_baseline(
    baseline: WindowStats, thresholds: Thresholds, reference: npt.NDArray[np.float64] | None = None
) -> BaselineResult:
    """The baseline's own health over the same evidence span (see ``BaselineResult``)."""
    reasons: list[str] = []
    error_test = None
    if baseline.requests:
        error_test = rate_test(
            "source error rate", baseline.errors, baseline.requests, thresholds.error_rate_max, thresholds.confidence
        )
        if error_test.result == "fail":
            reasons.append(error_test.describe())
    comparison = None
    if reference is not None and thresholds.latency_reference and baseline.backend_latencies_ms.size:
        series = baseline.latency_kind == "interval_quantiles"
        comparison = _compare(baseline.backend_latencies_ms, reference, thresholds, series=series)
        if comparison.regressed:
            reasons.append(comparison.describe("source store calls", "their reference window", thresholds))
    return BaselineResult(baseline.requests, error_test, comparison, tuple(reasons))


class StepBudget:
    """Failed checks within one step (Flagger's threshold): ``failure_limit`` of them roll back,
    consecutive or not. No data counts by the policy: "fail" as a failed check, "pass" by the evidence
    (a step without any canary request passes), "hold" as neither — until ``max_hold_s`` of nothing but
    no data, which ends the step (``held_too_long``)."""

    def __init__(self, thresholds: Thresholds, failures: int = 0) -> None:
        self.thresholds = thresholds
        self.failures = failures
        self.failure_reasons: list[str] = []
        self.no_data_since: float | None = None
        self.no_data_for: float = 0.0

    def observe(self, result: HealthResult, *, since: float | None = None) -> Outcome:
        """Count ``result``; returns how it counted: PASS, FAIL, UNDECIDED or NO_DATA (held).
        ``since``: when the no-data stretch began at the latest (the step's start)."""
        outcome = result.outcome
        if outcome is Outcome.NO_DATA:
            if self.no_data_since is None:
                self.no_data_since = result.interval_start if result.interval_start is not None else result.at
                if since is not None:
                    self.no_data_since = max(self.no_data_since, since)
            self.no_data_for = result.at - self.no_data_since
            policy = self.thresholds.no_data_policy
            if policy == "fail":
                outcome = Outcome.FAIL
            elif policy == "pass":
                evidence = result.evidence_outcome
                outcome = Outcome.PASS if evidence in (None, Outcome.NO_DATA) else evidence
            else:
                return Outcome.NO_DATA
        else:
            self.no_data_since = None
            self.no_data_for = 0.0
        if outcome is Outcome.FAIL:
            self.failures += 1
            reason = "; ".join(result.reasons) if result.outcome is not Outcome.NO_DATA else "no data"
            self.failure_reasons.append(f"at {result.at:g} s: {reason}")
        return outcome

    @property
    def exhausted(self) -> bool:
        """True when the step's failed checks reached ``failure_limit``: roll back."""
        return self.failures >= self.thresholds.failure_limit

    @property
    def held_too_long(self) -> bool:
        """True when "hold" has seen no data for longer than ``max_hold_s``: roll back."""
        return (
            self.thresholds.no_data_policy == "hold"
            and self.no_data_since is not None
            and self.no_data_for >= self.thresholds.max_hold_s
        )
