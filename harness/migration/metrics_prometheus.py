"""``PrometheusMetrics``: the canary's health windows from the Prometheus HTTP API (real deployments).

What it asks Prometheus, per cohort (the ``backend`` label by default; every name configurable in
``[metrics]``), for a window ``[start, end)`` of ``span`` seconds:

- requests, errors, cache hits: ``sum(increase(<counter>{<cohort>, <selector>}[span]))`` at ``end``
  (an instant query), rounded to whole requests; errors add ``<outcome label>="<error outcome>"``.
- the window's p99: ``histogram_quantile(0.99, sum by (le) (increase(<histogram>_bucket{...}[span])))``.
- the latency series Kayenta compares: the same ``histogram_quantile`` at ``series_quantile`` over
  ``[step]``, as a range query from ``end - (n-1)·step`` to ``end`` (one point per interval).
- the store calls behind the cache: ``sum(increase(<backend calls>{<cohort>}[span]))`` (and with the
  error outcome), and the same quantile series of the store-call latency histogram. An application
  that does not export them leaves the store-call figures empty (None), never a failure.

Counters are turned into window counts by Prometheus itself (``increase`` handles restarts), and a
window shorter than two scrape intervals is no data rather than a guess: Prometheus needs two samples
in a range. A series that is absent, or a Prometheus that cannot be reached, gives an empty window
with a ``note`` saying so: the health check's no-data policy decides, never a crash.

Standard library only (urllib). A bearer token comes from ``RAGMIG_PROMETHEUS_TOKEN``, never the config.
"""

from __future__ import annotations

import json
import math
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from harness.clock import Clock, SystemClock
from harness.migration.metrics import WindowStats
from harness.redact import redact_text

if TYPE_CHECKING:
    from harness.migration.config import MetricsConfig

__all__ = ["TOKEN_ENV", "PromQL", "PrometheusError", "PrometheusMetrics", "duration"]

TOKEN_ENV = "RAGMIG_PROMETHEUS_TOKEN"
WINDOW_QUANTILES = (50.0, 99.0)
"""Percentiles (0–100) of each window that Prometheus computes from the histogram."""


class PrometheusError(Exception):
    """Prometheus answered with an error, or could not be reached (the message says which)."""


def duration(seconds: float) -> str:
    """A PromQL range duration: whole milliseconds (``1.5`` → ``"1500ms"``), at least 1 ms."""
    return f"{max(1, round(seconds * 1000))}ms"


def _label_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


@dataclass(frozen=True, slots=True)
class PromQL:
    """The PromQL the source runs: metric names and labels (defaults: what ``harness.service`` exports)."""

    requests_metric: str = "ragmig_requests_total"
    cache_hits_metric: str = "ragmig_cache_hits_total"
    latency_histogram: str = "ragmig_query_latency_seconds"
    backend_calls_metric: str = "ragmig_backend_calls_total"
    backend_latency_histogram: str = "ragmig_backend_latency_seconds"
    cohort_label: str = "backend"
    outcome_label: str = "outcome"
    error_outcome: str = "error"
    selector: str = ""
    """Extra label matchers for every query, e.g. ``job="rag-api"``."""
    cohorts: Mapping[str, str] | None = None
    """Label value per cohort ("source" = baseline, "target" = canary); default: the cohort names."""

    @classmethod
    def from_config(cls, config: MetricsConfig) -> PromQL:
        """The queries of a config's ``[metrics]`` section."""
        return cls(
            requests_metric=config.requests_metric,
            cache_hits_metric=config.cache_hits_metric,
            latency_histogram=config.latency_histogram,
            backend_calls_metric=config.backend_calls_metric,
            backend_latency_histogram=config.backend_latency_histogram,
            cohort_label=config.cohort_label,
            outcome_label=config.outcome_label,
            error_outcome=config.error_outcome,
            selector=config.selector,
            cohorts={"source": config.source_cohort, "target": config.target_cohort},
        )

    def matchers(self, cohort: str, *extra: str) -> str:
        """The label matchers of ``cohort`` (plus ``extra`` ones and the selector)."""
        value = (self.cohorts or {}).get(cohort, cohort)
        parts = [f'{self.cohort_label}="{_label_value(value)}"', *extra]
        if self.selector.strip():
            parts.append(self.selector.strip())
        return ", ".join(parts)

    def requests(self, cohort: str, range_s: float) -> str:
        """Requests of ``cohort`` in the last ``range_s`` seconds."""
        return f"sum(increase({self.requests_metric}{{{self.matchers(cohort)}}}[{duration(range_s)}]))"

    def errors(self, cohort: str, range_s: float) -> str:
        """Failed requests of ``cohort`` in the last ``range_s`` seconds."""
        outcome = f'{self.outcome_label}="{_label_value(self.error_outcome)}"'
        return f"sum(increase({self.requests_metric}{{{self.matchers(cohort, outcome)}}}[{duration(range_s)}]))"

    def cache_hits(self, cohort: str, range_s: float) -> str:
        """Requests of ``cohort`` answered from the cache in the last ``range_s`` seconds."""
        return f"sum(increase({self.cache_hits_metric}{{{self.matchers(cohort)}}}[{duration(range_s)}]))"

    def latency_quantile(self, quantile: float, cohort: str, range_s: float, *, histogram: str | None = None) -> str:
        """The ``quantile`` (0–1) of ``cohort``'s latency (seconds) over the last ``range_s`` seconds (of
        ``histogram``, default the request latency)."""
        return (
            f"histogram_quantile({quantile:g}, sum by (le) (increase("
            f"{histogram or self.latency_histogram}_bucket{{{self.matchers(cohort)}}}[{duration(range_s)}])))"
        )

    def backend_calls(self, cohort: str, range_s: float) -> str:
        """Store calls of ``cohort`` behind the cache in the last ``range_s`` seconds."""
        return f"sum(increase({self.backend_calls_metric}{{{self.matchers(cohort)}}}[{duration(range_s)}]))"

    def backend_errors(self, cohort: str, range_s: float) -> str:
        """Failed store calls of ``cohort`` in the last ``range_s`` seconds."""
        outcome = f'{self.outcome_label}="{_label_value(self.error_outcome)}"'
        return f"sum(increase({self.backend_calls_metric}{{{self.matchers(cohort, outcome)}}}[{duration(range_s)}]))"

    def metric_names(self) -> tuple[str, ...]:
        """The series names the queries read (as a ``/metrics`` exposition names its samples)."""
        return (
            self.requests_metric,
            self.cache_hits_metric,
            f"{self.latency_histogram}_bucket",
            self.backend_calls_metric,
            f"{self.backend_latency_histogram}_bucket",
        )


class PrometheusMetrics:
    """A ``MetricsSource`` over the Prometheus HTTP API at ``url`` (see the module docstring).

    Window times are on ``clock`` (the orchestrator's); they are turned into Unix time by the offset
    between ``clock.now()`` and ``time.time()`` at the moment of the query. ``step_s`` is the series
    resolution (s, at least two scrape intervals), ``series_quantile`` the quantile (0–1) of each
    interval that the Mann-Whitney comparison uses, ``timeout_s`` the bound of each HTTP request.
    """

    def __init__(
        self,
        url: str,
        promql: PromQL | None = None,
        *,
        clock: Clock | None = None,
        scrape_interval_s: float = 15.0,
        step_s: float = 30.0,
        series_quantile: float = 0.5,
        timeout_s: float = 5.0,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"Prometheus url must start with http:// or https://, got {url!r}")
        self.url = url.rstrip("/")
        self.promql = promql or PromQL()
        self.clock = clock or SystemClock()
        self.scrape_interval_s = scrape_interval_s
        self.step_s = max(step_s, 2 * scrape_interval_s)
        self.series_quantile = series_quantile
        self.timeout_s = timeout_s
        self.queries_run: list[str] = []
        """Every PromQL expression sent, in order (for the runbook test and for debugging)."""

    # -- HTTP ------------------------------------------------------------------------------------------
    def _get(self, path: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        self.queries_run.append(str(params["query"]))
        query = urllib.parse.urlencode(params)
        request = urllib.request.Request(f"{self.url}{path}?{query}", headers={"User-Agent": "ragmig"})
        token = os.environ.get(TOKEN_ENV)
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                body = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            try:
                detail = json.loads(exc.read()).get("error", "")
            except (ValueError, OSError):
                detail = ""
            raise PrometheusError(f"Prometheus answered HTTP {exc.code}: {detail or exc.reason}") from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise PrometheusError(f"Prometheus at {self.url} unreachable: {redact_text(str(exc))}") from None
        if body.get("status") != "success":
            raise PrometheusError(f"Prometheus query failed: {body.get('error', body)}")
        result = body.get("data", {}).get("result", [])
        return result if isinstance(result, list) else []

    def instant(self, query: str, at_unix: float) -> float | None:
        """The value of a one-series ``query`` at ``at_unix``; None when absent or not a number."""
        result = self._get("/api/v1/query", {"query": query, "time": f"{at_unix:.3f}"})
        if not result:
            return None
        value = float(result[0]["value"][1])
        return value if math.isfinite(value) else None

    def series(self, query: str, start_unix: float, end_unix: float, step_s: float) -> list[float]:
        """The finite values of a one-series ``query`` from ``start_unix`` to ``end_unix`` every ``step_s``."""
        params = {"query": query, "start": f"{start_unix:.3f}", "end": f"{end_unix:.3f}", "step": duration(step_s)}
        result = self._get("/api/v1/query_range", params)
        if not result:
            return []
        values = [float(v) for _, v in result[0]["values"]]
        return [v for v in values if math.isfinite(v)]

    # -- the seam --------------------------------------------------------------------------------------
    def window(self, cohort: str, start: float, end: float) -> WindowStats:
        """Requests of ``cohort`` with ``start <= t < end`` (seconds on the orchestrator's clock)."""
        span = end - start
        empty = WindowStats(cohort, start, end, 0, 0, 0, np.zeros(0), latency_kind="interval_quantiles")
        if span < 2 * self.scrape_interval_s:
            note = f"the window ({span:g} s) is shorter than two scrape intervals ({self.scrape_interval_s:g} s each)"
            return _with_note(empty, note)
        end_unix = time.time() - (self.clock.now() - end)
        q = self.promql
        try:
            requests = self.instant(q.requests(cohort, span), end_unix)
            if requests is None:
                return _with_note(empty, f"no {q.requests_metric} series for {q.matchers(cohort)} in Prometheus")
            errors = self.instant(q.errors(cohort, span), end_unix) or 0.0
            hits = self.instant(q.cache_hits(cohort, span), end_unix) or 0.0
            quantiles: dict[float, float] = {}
            for pct in WINDOW_QUANTILES:
                seconds = self.instant(q.latency_quantile(pct / 100.0, cohort, span), end_unix)
                if seconds is not None:
                    quantiles[pct] = seconds * 1000.0
            points = max(1, int(span // self.step_s))
            first = end_unix - (points - 1) * self.step_s
            series = self.series(
                q.latency_quantile(self.series_quantile, cohort, self.step_s), first, end_unix, self.step_s
            )
            calls = self.instant(q.backend_calls(cohort, span), end_unix)
            failed = self.instant(q.backend_errors(cohort, span), end_unix) if calls is not None else None
            call_series = (
                self.series(
                    q.latency_quantile(
                        self.series_quantile, cohort, self.step_s, histogram=q.backend_latency_histogram
                    ),
                    first,
                    end_unix,
                    self.step_s,
                )
                if calls
                else []
            )
        except PrometheusError as exc:
            return _with_note(empty, str(exc))
        return WindowStats(
            cohort=cohort,
            start=start,
            end=end,
            requests=round(requests),
            errors=round(errors),
            cache_hits=round(hits),
            latencies_ms=np.asarray(series, dtype=np.float64) * 1000.0,
            latency_kind="interval_quantiles",
            quantiles_ms=quantiles,
            backend_calls=round(calls) if calls is not None else None,
            backend_errors=round(failed or 0.0) if calls is not None else None,
            backend_latencies_ms=np.asarray(call_series, dtype=np.float64) * 1000.0,
        )


def _with_note(stats: WindowStats, note: str) -> WindowStats:
    return WindowStats(
        stats.cohort, stats.start, stats.end, 0, 0, 0, stats.latencies_ms, latency_kind=stats.latency_kind, note=note
    )
