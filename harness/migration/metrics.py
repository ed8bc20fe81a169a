"""The ``MetricsSource`` seam: per-cohort windows of requests, errors, latency and cache hits.

The default implementation records in process (the query service feeds it): its windows carry one
latency per request. ``harness.migration.metrics_prometheus.PrometheusMetrics`` serves real
deployments from the Prometheus HTTP API: its windows carry counts, window quantiles computed by
Prometheus from histogram buckets, and a per-interval quantile series (``latency_kind =
"interval_quantiles"``), which the health check compares Kayenta-style.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

LatencyKind = Literal["requests", "interval_quantiles"]


@dataclass(frozen=True, slots=True)
class WindowStats:
    """What one cohort did in one time window. Latencies in ms.

    ``latencies_ms`` holds one latency per request (``latency_kind="requests"``) or, from a source that
    only has histograms, one latency quantile per evaluation interval (``"interval_quantiles"``).
    ``quantiles_ms`` maps a percentile (0–100) to the window's value when the source computed it (e.g.
    Prometheus' ``histogram_quantile``). ``note`` says why a window is empty when the source knows
    (a series absent, the source unreachable).
    """

    cohort: str
    start: float
    end: float
    requests: int
    errors: int
    cache_hits: int
    latencies_ms: npt.NDArray[np.float64]
    latency_kind: LatencyKind = "requests"
    quantiles_ms: Mapping[float, float] = field(default_factory=dict)
    note: str = ""

    @property
    def error_rate(self) -> float | None:
        """Errors ÷ requests (fraction 0–1), or None for an idle window (never a division by zero)."""
        return self.errors / self.requests if self.requests else None

    @property
    def cache_hit_rate(self) -> float | None:
        """Cache hits ÷ requests (fraction 0–1), or None for an idle window."""
        return self.cache_hits / self.requests if self.requests else None

    def percentile_ms(self, q: float) -> float | None:
        """The ``q``-th latency percentile in ms (q in 0–100): the source's own figure when it gave one,
        else from per-request latencies; None without either."""
        if q in self.quantiles_ms:
            return float(self.quantiles_ms[q])
        if self.latency_kind == "requests" and self.latencies_ms.size:
            return float(np.percentile(self.latencies_ms, q))
        return None

    @property
    def errors_per_minute(self) -> float:
        """Errors in this window scaled to one minute (per window, never cumulative)."""
        span = self.end - self.start
        return self.errors * 60.0 / span if span > 0 else float(self.errors)


@runtime_checkable
class MetricsSource(Protocol):
    """Windows of per-cohort request metrics ("source" = baseline, "target" = canary)."""

    def window(self, cohort: str, start: float, end: float) -> WindowStats:
        """Requests of ``cohort`` with ``start <= t < end`` (seconds on the harness clock)."""
        ...


class InProcessMetrics:
    """A thread-safe recorder that is also a ``MetricsSource``; events are kept in time order per cohort."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: dict[str, tuple[list[float], list[float], list[bool], list[bool]]] = {}

    def record(self, cohort: str, at: float, latency_ms: float, error: bool = False, cache_hit: bool = False) -> None:
        """Record one request of ``cohort`` at time ``at`` (seconds) that took ``latency_ms``."""
        with self._lock:
            times, lats, errs, hits = self._events.setdefault(cohort, ([], [], [], []))
            pos = len(times) if not times or at >= times[-1] else bisect.bisect_right(times, at)
            times.insert(pos, at)
            lats.insert(pos, latency_ms)
            errs.insert(pos, error)
            hits.insert(pos, cache_hit)

    def window(self, cohort: str, start: float, end: float) -> WindowStats:
        """Stats of ``cohort`` for ``start <= t < end``."""
        with self._lock:
            times, lats, errs, hits = self._events.get(cohort, ([], [], [], []))
            lo, hi = bisect.bisect_left(times, start), bisect.bisect_left(times, end)
            return WindowStats(
                cohort=cohort,
                start=start,
                end=end,
                requests=hi - lo,
                errors=sum(errs[lo:hi]),
                cache_hits=sum(hits[lo:hi]),
                latencies_ms=np.asarray(lats[lo:hi], dtype=np.float64),
            )

    def totals(self, cohort: str) -> tuple[int, int, int]:
        """(requests, errors, cache hits) of ``cohort`` since the start."""
        with self._lock:
            _, _, errs, hits = self._events.get(cohort, ([], [], [], []))
            return len(errs), sum(errs), sum(hits)
