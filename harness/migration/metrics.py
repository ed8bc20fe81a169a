"""The ``MetricsSource`` seam: per-cohort windows of requests, errors, latency and cache hits.

Two views of the same traffic, because a cache between users and the store can hide a failing store:

- **at the user**: every request a cohort served (``requests``, ``errors``, ``cache_hits``,
  ``latencies_ms``): what users saw, cache hits included;
- **at the store call** (behind the cache): every call the serving path made to the cohort's store
  (``backend_calls``, ``backend_errors``, ``backend_latencies_ms``). A store failing 3 % of its calls
  behind a cache that answers 90 % of requests shows users 0.3 %; the store calls show the 3 %.

The default implementation records in process (the query service feeds it): its windows carry one
latency per request and per store call. ``harness.migration.metrics_prometheus.PrometheusMetrics``
serves real deployments from the Prometheus HTTP API: its windows carry counts, window quantiles
computed by Prometheus from histogram buckets, and a per-interval quantile series (``latency_kind =
"interval_quantiles"``), which the health check compares Kayenta-style.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

__all__ = ["InProcessMetrics", "LatencyKind", "MetricsSource", "WindowStats"]

LatencyKind = Literal["requests", "interval_quantiles"]
_EMPTY = np.zeros(0, dtype=np.float64)


@dataclass(frozen=True, slots=True)
class WindowStats:
    """What one cohort did in one time window. Latencies in ms.

    ``latencies_ms`` holds one latency per request (``latency_kind="requests"``) or, from a source that
    only has histograms, one latency quantile per evaluation interval (``"interval_quantiles"``).
    ``quantiles_ms`` maps a percentile (0–100) to the window's value when the source computed it (e.g.
    Prometheus' ``histogram_quantile``). ``note`` says why a window is empty when the source knows
    (a series absent, the source unreachable).

    The store-call view: ``backend_calls`` and ``backend_errors`` (None when the source does not
    measure store calls), ``backend_latencies_ms`` of the same ``latency_kind``.
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
    backend_calls: int | None = None
    backend_errors: int | None = None
    backend_latencies_ms: npt.NDArray[np.float64] = field(default_factory=lambda: _EMPTY)

    @property
    def error_rate(self) -> float | None:
        """Errors ÷ requests (fraction 0–1), or None for an idle window (never a division by zero)."""
        return self.errors / self.requests if self.requests else None

    @property
    def cache_hit_rate(self) -> float | None:
        """Cache hits ÷ requests (fraction 0–1), or None for an idle window."""
        return self.cache_hits / self.requests if self.requests else None

    @property
    def backend_error_rate(self) -> float | None:
        """Failed store calls ÷ store calls (fraction 0–1), or None without store calls (or their measure)."""
        if not self.backend_calls or self.backend_errors is None:
            return None
        return self.backend_errors / self.backend_calls

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


class _Series:
    """Time-ordered columns of one cohort's events in growable numpy arrays (amortised appends)."""

    __slots__ = ("columns", "size")

    def __init__(self, dtypes: Mapping[str, type]) -> None:
        self.size = 0
        self.columns: dict[str, np.ndarray] = {name: np.zeros(64, dtype=dtype) for name, dtype in dtypes.items()}

    def _reserve(self, extra: int) -> None:
        need = self.size + extra
        capacity = len(self.columns["t"])
        if need <= capacity:
            return
        grown = max(need, 2 * capacity)
        for name, column in self.columns.items():
            bigger = np.zeros(grown, dtype=column.dtype)
            bigger[: self.size] = column[: self.size]
            self.columns[name] = bigger

    def append(self, values: Mapping[str, npt.ArrayLike]) -> None:
        times = np.atleast_1d(np.asarray(values["t"], dtype=np.float64))
        n = len(times)
        if n == 0:
            return
        ordered = bool(n == 1 or np.all(np.diff(times) >= 0))
        tail_ok = self.size == 0 or times[0] >= self.columns["t"][self.size - 1]
        if ordered and tail_ok:
            self._reserve(n)
            for name, column in self.columns.items():
                column[self.size : self.size + n] = values[name]
            self.size += n
            return
        if n == 1:
            # One late event (concurrent recorders): insert it after every event at or before its time.
            pos = int(np.searchsorted(self.columns["t"][: self.size], times[0], "right"))
            self._reserve(1)
            for name, column in self.columns.items():
                column[pos + 1 : self.size + 1] = column[pos : self.size].copy()
                column[pos] = np.atleast_1d(values[name])[0]
            self.size += 1
            return
        # A batch out of order: merge and re-sort stably.
        merged = {
            name: np.concatenate([column[: self.size], np.broadcast_to(values[name], (n,))])
            for name, column in self.columns.items()
        }
        order = np.argsort(merged["t"], kind="stable")
        self.size = 0
        self._reserve(len(order))
        for name, column in self.columns.items():
            column[: len(order)] = merged[name][order]
        self.size = len(order)

    def span(self, start: float, end: float) -> tuple[int, int]:
        times = self.columns["t"][: self.size]
        return int(np.searchsorted(times, start, "left")), int(np.searchsorted(times, end, "left"))

    def column(self, name: str, lo: int, hi: int) -> np.ndarray:
        return self.columns[name][lo:hi]


_REQUEST_COLUMNS = {"t": np.float64, "latency": np.float64, "error": np.bool_, "hit": np.bool_}
_CALL_COLUMNS = {"t": np.float64, "latency": np.float64, "error": np.bool_}


class InProcessMetrics:
    """A thread-safe recorder that is also a ``MetricsSource``; events are kept in time order per cohort.

    ``record`` takes one user request and, when the request called the store (a cache miss), that store
    call's latency and outcome; ``record_many`` takes a batch of requests at once (load generators).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: dict[str, _Series] = {}
        self._calls: dict[str, _Series] = {}

    def record(
        self,
        cohort: str,
        at: float,
        latency_ms: float,
        error: bool = False,
        cache_hit: bool = False,
        *,
        backend_ms: float | None = None,
        backend_error: bool = False,
    ) -> None:
        """Record one request of ``cohort`` completed at ``at`` (seconds) that took ``latency_ms``; when it
        called the store, ``backend_ms`` is that call's latency and ``backend_error`` whether it failed."""
        with self._lock:
            series = self._requests.get(cohort)
            if series is None:
                series = self._requests[cohort] = _Series(_REQUEST_COLUMNS)
            series.append({"t": at, "latency": latency_ms, "error": error, "hit": cache_hit})
            if backend_ms is not None:
                calls = self._calls.get(cohort)
                if calls is None:
                    calls = self._calls[cohort] = _Series(_CALL_COLUMNS)
                calls.append({"t": at, "latency": backend_ms, "error": backend_error})

    def record_many(
        self,
        cohort: str,
        at: npt.ArrayLike,
        latency_ms: npt.ArrayLike,
        errors: npt.ArrayLike,
        cache_hits: npt.ArrayLike,
        *,
        backend_ms: npt.ArrayLike | None = None,
        backend_errors: npt.ArrayLike | None = None,
    ) -> None:
        """Record a batch of requests (arrays of one length). ``backend_ms`` holds each request's store-call
        latency, NaN where it made none (a cache hit); ``backend_errors`` whether that call failed."""
        times = np.asarray(at, dtype=np.float64)
        with self._lock:
            series = self._requests.get(cohort)
            if series is None:
                series = self._requests[cohort] = _Series(_REQUEST_COLUMNS)
            series.append({"t": times, "latency": latency_ms, "error": errors, "hit": cache_hits})
            if backend_ms is not None:
                calls_ms = np.asarray(backend_ms, dtype=np.float64)
                made = ~np.isnan(calls_ms)
                failed = (
                    np.zeros(len(times), dtype=bool) if backend_errors is None else np.asarray(backend_errors, bool)
                )
                calls = self._calls.get(cohort)
                if calls is None:
                    calls = self._calls[cohort] = _Series(_CALL_COLUMNS)
                calls.append({"t": times[made], "latency": calls_ms[made], "error": failed[made]})

    def window(self, cohort: str, start: float, end: float) -> WindowStats:
        """Stats of ``cohort`` for ``start <= t < end``."""
        with self._lock:
            series = self._requests.get(cohort)
            if series is None:
                requests = errors = hits = 0
                latencies = _EMPTY
            else:
                lo, hi = series.span(start, end)
                requests = hi - lo
                errors = int(np.count_nonzero(series.column("error", lo, hi)))
                hits = int(np.count_nonzero(series.column("hit", lo, hi)))
                latencies = series.column("latency", lo, hi).copy()
            calls = self._calls.get(cohort)
            if calls is None:
                backend_calls = backend_errors = 0
                backend_latencies = _EMPTY
            else:
                lo, hi = calls.span(start, end)
                backend_calls = hi - lo
                backend_errors = int(np.count_nonzero(calls.column("error", lo, hi)))
                backend_latencies = calls.column("latency", lo, hi).copy()
        return WindowStats(
            cohort=cohort,
            start=start,
            end=end,
            requests=requests,
            errors=errors,
            cache_hits=hits,
            latencies_ms=latencies,
            backend_calls=backend_calls,
            backend_errors=backend_errors,
            backend_latencies_ms=backend_latencies,
        )

    def totals(self, cohort: str) -> tuple[int, int, int]:
        """(requests, errors, cache hits) of ``cohort`` since the start."""
        with self._lock:
            series = self._requests.get(cohort)
            if series is None:
                return 0, 0, 0
            return (
                series.size,
                int(np.count_nonzero(series.column("error", 0, series.size))),
                int(np.count_nonzero(series.column("hit", 0, series.size))),
            )
