"""Canary health: one judgement per window, and the consecutive-failure rule that triggers a rollback.

Fixes to the chapter's sketch: rates are per window (never errors summed since the start), an idle
window is "no data" judged by an explicit policy (never a division by zero), a window needs a minimum
number of requests before its rates mean anything, and latency is compared with the baseline
statistically (Kayenta's Mann-Whitney U) instead of on a single percentile. A significant slowdown
fails only beyond an effect-size tolerance AND an absolute floor in ms, so neither a 1 % slower canary
under heavy traffic nor cache hits a few microseconds apart (0.0086 vs 0.0064 ms) roll back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np
import numpy.typing as npt

from harness.migration.config import Thresholds
from harness.migration.metrics import WindowStats

__all__ = [
    "FailureStreak",
    "HealthResult",
    "LatencyComparison",
    "Outcome",
    "compare_latency",
    "evaluate_window",
]


class Outcome(StrEnum):
    """A health check's result: pass, fail, or no data (too few requests to judge)."""

    PASS = "pass"
    FAIL = "fail"
    NO_DATA = "no_data"


@dataclass(frozen=True, slots=True)
class LatencyComparison:
    """Canary vs baseline latency. ``regressed`` is None when either side had too few samples."""

    canary_samples: int
    baseline_samples: int
    canary_median_ms: float | None
    baseline_median_ms: float | None
    median_ratio: float | None
    p_value: float | None
    regressed: bool | None


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
    ``min_effect_ms`` (ms). Undecided (None) below ``min_samples`` a side."""
    n_c, n_b = int(canary_ms.size), int(baseline_ms.size)
    med_c = float(np.median(canary_ms)) if n_c else None
    med_b = float(np.median(baseline_ms)) if n_b else None
    ratio = med_c / med_b if med_c is not None and med_b else None
    if n_c < min_samples or n_b < min_samples:
        return LatencyComparison(n_c, n_b, med_c, med_b, ratio, None, None)
    from scipy.stats import mannwhitneyu  # scipy is heavy; only a canary check needs it

    p_value = float(mannwhitneyu(canary_ms, baseline_ms, alternative="greater").pvalue)
    if not np.isfinite(p_value):
        p_value = 1.0
    slower = ratio is not None and ratio > 1.0 + tolerance
    if ratio is None and med_c is not None and med_c > 0:
        slower = True  # a zero baseline median: any positive canary median is infinitely slower
    # Significance and a relative effect are not enough: under heavy traffic a microsecond is significant.
    large = med_c is not None and med_b is not None and med_c - med_b > min_effect_ms
    return LatencyComparison(n_c, n_b, med_c, med_b, ratio, p_value, bool(p_value < alpha and slower and large))


@dataclass(frozen=True, slots=True)
class HealthResult:
    """One health check of the canary window ``[window_start, window_end)`` (harness-clock seconds).

    Rates are fractions 0–1, latencies ms; a figure is None when the window had no requests.
    ``failed`` names the checks that failed: error_rate, p99, cache_hit_rate, latency_regression.
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

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form with every figure (for the journal and the game-day timeline)."""
        return {
            "at": self.at,
            "window": [self.window_start, self.window_end],
            "outcome": str(self.outcome),
            "requests": self.requests,
            "errors": self.errors,
            "error_rate": self.error_rate,
            "p99_ms": self.p99_ms,
            "cache_hit_rate": self.cache_hit_rate,
            "baseline_requests": self.baseline_requests,
            "baseline_p99_ms": self.baseline_p99_ms,
            "canary_median_ms": self.latency.canary_median_ms,
            "baseline_median_ms": self.latency.baseline_median_ms,
            "median_ratio": self.latency.median_ratio,
            "mann_whitney_p": self.latency.p_value,
            "latency_regressed": self.latency.regressed,
            "failed": list(self.failed),
            "reasons": list(self.reasons),
        }


def evaluate_window(
    canary: WindowStats, baseline: WindowStats | None, thresholds: Thresholds, at: float
) -> HealthResult:
    """Judge one canary window against ``thresholds`` (and its latency against ``baseline``'s)."""
    baseline_ms = baseline.latencies_ms if baseline is not None else np.zeros(0)
    # Per-request latencies need min_samples a side; a per-interval quantile series (Prometheus) has
    # one point per interval, so it needs min_interval_points a side instead (Kayenta compares series).
    series = canary.latency_kind == "interval_quantiles"
    latency = compare_latency(
        canary.latencies_ms,
        baseline_ms,
        alpha=thresholds.mann_whitney_alpha,
        tolerance=thresholds.latency_tolerance,
        min_samples=thresholds.min_interval_points if series else thresholds.min_samples,
        min_effect_ms=thresholds.latency_min_effect_ms,
    )
    common: dict[str, Any] = {
        "at": at,
        "window_start": canary.start,
        "window_end": canary.end,
        "requests": canary.requests,
        "errors": canary.errors,
        "error_rate": canary.error_rate,
        "p99_ms": canary.percentile_ms(99),
        "cache_hit_rate": canary.cache_hit_rate,
        "baseline_requests": baseline.requests if baseline is not None else 0,
        "baseline_p99_ms": baseline.percentile_ms(99) if baseline is not None else None,
        "latency": latency,
    }
    if canary.requests < thresholds.min_samples:
        reason = f"{canary.requests} canary requests in the window, fewer than min_samples {thresholds.min_samples}"
        if canary.note:
            reason += f" ({canary.note})"
        return HealthResult(outcome=Outcome.NO_DATA, reasons=(reason,), **common)

    failed: list[str] = []
    reasons: list[str] = []
    error_rate = canary.error_rate or 0.0
    if error_rate > thresholds.error_rate_max:
        failed.append("error_rate")
        reasons.append(f"error rate {error_rate:.2%} > {thresholds.error_rate_max:.2%}")
    p99 = common["p99_ms"]
    if p99 is not None and p99 > thresholds.p99_ms_max:
        failed.append("p99")
        reasons.append(f"p99 {p99:.1f} ms > {thresholds.p99_ms_max:g} ms")
    hit_rate = canary.cache_hit_rate or 0.0
    if hit_rate < thresholds.cache_hit_rate_min:
        failed.append("cache_hit_rate")
        reasons.append(f"cache hit rate {hit_rate:.2f} < {thresholds.cache_hit_rate_min:.2f}")
    if latency.regressed:
        failed.append("latency_regression")
        reasons.append(
            f"canary slower than baseline: median ratio {latency.median_ratio or float('inf'):.2f} > "
            f"{1 + thresholds.latency_tolerance:.2f}, median +"
            f"{(latency.canary_median_ms or 0.0) - (latency.baseline_median_ms or 0.0):.2f} ms > "
            f"{thresholds.latency_min_effect_ms:g} ms, Mann-Whitney p={latency.p_value:.2g} < "
            f"{thresholds.mann_whitney_alpha:g}"
        )
    outcome = Outcome.FAIL if failed else Outcome.PASS
    return HealthResult(outcome=outcome, failed=tuple(failed), reasons=tuple(reasons), **common)


class FailureStreak:
    """Consecutive failed checks (Flagger's failureLimit). A pass resets it; no data counts per policy:
    "fail" as a failure, "pass" as a pass, "hold" as neither — until ``max_hold_s`` of nothing but
    no-data checks, which then counts as a failure."""

    def __init__(self, thresholds: Thresholds, count: int = 0) -> None:
        self.thresholds = thresholds
        self.count = count
        self._hold_since: float | None = None

    def observe(self, result: HealthResult) -> Outcome:
        """Count ``result``; returns how it counted: PASS, FAIL, or NO_DATA (held)."""
        outcome = result.outcome
        if outcome is Outcome.NO_DATA:
            policy = self.thresholds.no_data_policy
            if policy == "pass":
                outcome = Outcome.PASS
            elif policy == "fail":
                outcome = Outcome.FAIL
            else:
                if self._hold_since is None:
                    self._hold_since = result.at
                if result.at - self._hold_since < self.thresholds.max_hold_s:
                    return Outcome.NO_DATA
                outcome = Outcome.FAIL
        else:
            self._hold_since = None
        if outcome is Outcome.PASS:
            self.count = 0
        else:
            self.count += 1
        return outcome

    @property
    def exhausted(self) -> bool:
        """True when the streak reached ``failure_limit``: roll back."""
        return self.count >= self.thresholds.failure_limit
