"""``PrometheusMetrics`` against a recording stand-in for Prometheus' HTTP API (the real one runs in
tests/e2e), and the health judgement on what Prometheus supplies: counts, window quantiles and a
per-interval quantile series compared by Mann-Whitney U."""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import numpy as np
import pytest

from harness.clock import ManualClock
from harness.migration.config import Thresholds
from harness.migration.health import Outcome, evaluate_window
from harness.migration.metrics import WindowStats
from harness.migration.metrics_prometheus import PrometheusMetrics, PromQL

Answer = Callable[[str, dict[str, str]], Any]


@pytest.fixture
def prometheus() -> Iterator[Callable[[Answer], str]]:
    """A stand-in answering each query with ``answer(path, params)`` (a result list, or an int status)."""
    servers: list[HTTPServer] = []

    def start(answer: Answer) -> str:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urllib.parse.urlsplit(self.path)
                params = dict(urllib.parse.parse_qsl(parts.query))
                result = answer(parts.path, params)
                if isinstance(result, int):
                    self.send_response(result)
                    self.end_headers()
                    self.wfile.write(json.dumps({"status": "error", "error": "bad query"}).encode())
                    return
                body = json.dumps({"status": "success", "data": {"resultType": "vector", "result": result}})
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body.encode())

            def log_message(self, *args: Any) -> None:
                pass

        server = HTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def _vector(value: str) -> list[dict[str, Any]]:
    return [{"metric": {}, "value": [0, value]}]


def _matrix(*values: str) -> list[dict[str, Any]]:
    return [{"metric": {}, "values": [[i, v] for i, v in enumerate(values)]}]


def _typical(path: str, params: dict[str, str]) -> Any:
    query = params["query"]
    if path.endswith("query_range"):
        return _matrix("0.010", "NaN", "0.012", "0.011")
    if query.startswith("histogram_quantile(0.99"):
        return _vector("0.040")
    if query.startswith("histogram_quantile(0.5"):
        return _vector("0.011")
    if "backend_calls" in query:
        return _vector("0.8" if 'outcome="error"' in query else "47.3")
    if 'outcome="error"' in query:
        return _vector("2.4")
    if "cache_hits" in query:
        return _vector("61.2")
    return _vector("119.6")


def test_a_window_is_counts_window_quantiles_and_an_interval_series(prometheus: Any) -> None:
    url = prometheus(_typical)
    clock = ManualClock(1000.0)
    source = PrometheusMetrics(url, PromQL(selector='job="rag-api"'), clock=clock, scrape_interval_s=1, step_s=2)
    stats = source.window("target", 994.0, 1000.0)
    assert (stats.requests, stats.errors, stats.cache_hits) == (120, 2, 61)
    assert stats.percentile_ms(99) == pytest.approx(40.0) and stats.percentile_ms(50) == pytest.approx(11.0)
    assert stats.latency_kind == "interval_quantiles"
    assert stats.latencies_ms.tolist() == pytest.approx([10.0, 12.0, 11.0])  # NaN intervals dropped
    assert stats.percentile_ms(95) is None  # not computed by Prometheus, never guessed from the series
    assert source.queries_run[:3] == [
        'sum(increase(ragmig_requests_total{backend="target", job="rag-api"}[6000ms]))',
        'sum(increase(ragmig_requests_total{backend="target", outcome="error", job="rag-api"}[6000ms]))',
        'sum(increase(ragmig_cache_hits_total{backend="target", job="rag-api"}[6000ms]))',
    ]
    assert (
        'histogram_quantile(0.5, sum by (le) (increase(ragmig_query_latency_seconds_bucket{backend="target", '
        'job="rag-api"}[2000ms])))'
    ) in source.queries_run
    # The store calls behind the cache: counts and their own latency series.
    assert (stats.backend_calls, stats.backend_errors) == (47, 1)
    assert stats.backend_latencies_ms.tolist() == pytest.approx([10.0, 12.0, 11.0])
    assert source.queries_run[-3:] == [
        'sum(increase(ragmig_backend_calls_total{backend="target", job="rag-api"}[6000ms]))',
        'sum(increase(ragmig_backend_calls_total{backend="target", outcome="error", job="rag-api"}[6000ms]))',
        'histogram_quantile(0.5, sum by (le) (increase(ragmig_backend_latency_seconds_bucket{backend="target", '
        'job="rag-api"}[2000ms])))',
    ]


def test_an_application_without_store_call_metrics_leaves_them_unmeasured(prometheus: Any) -> None:
    def no_store_calls(path: str, params: dict[str, str]) -> Any:
        return [] if "backend_" in params["query"] else _typical(path, params)

    stats = PrometheusMetrics(prometheus(no_store_calls), clock=ManualClock(100.0), scrape_interval_s=1).window(
        "target", 90.0, 100.0
    )
    assert stats.requests == 120 and stats.backend_calls is None and stats.backend_error_rate is None
    result = evaluate_window(stats, None, Thresholds(), at=100.0)
    assert "backend_error_rate" not in result.tests


def test_an_absent_series_is_no_data_with_its_reason(prometheus: Any) -> None:
    url = prometheus(lambda path, params: [])
    stats = PrometheusMetrics(url, clock=ManualClock(100.0), scrape_interval_s=1).window("target", 90.0, 100.0)
    assert stats.requests == 0 and "no ragmig_requests_total series" in stats.note
    result = evaluate_window(stats, None, Thresholds(min_samples=5), at=100.0)
    assert result.outcome is Outcome.NO_DATA and "no ragmig_requests_total series" in result.reasons[0]


@pytest.mark.parametrize("status", [400, 503])
def test_a_prometheus_error_is_no_data_never_a_crash(prometheus: Any, status: int) -> None:
    url = prometheus(lambda path, params: status)
    stats = PrometheusMetrics(url, clock=ManualClock(100.0), scrape_interval_s=1).window("target", 90.0, 100.0)
    assert stats.requests == 0 and f"HTTP {status}" in stats.note


def test_an_unreachable_prometheus_is_no_data() -> None:
    stats = PrometheusMetrics("http://127.0.0.1:9", clock=ManualClock(100.0), scrape_interval_s=1, timeout_s=0.5)
    window = stats.window("target", 90.0, 100.0)
    assert window.requests == 0 and "unreachable" in window.note


@pytest.mark.parametrize(("span", "queried"), [(1.99, False), (2.0, True)])
def test_a_window_shorter_than_two_scrapes_is_no_data_without_asking(
    prometheus: Any, span: float, queried: bool
) -> None:
    source = PrometheusMetrics(prometheus(_typical), clock=ManualClock(100.0), scrape_interval_s=1)
    stats = source.window("target", 100.0 - span, 100.0)
    assert bool(source.queries_run) is queried and (stats.requests > 0) is queried


def _series_window(cohort: str, series_ms: list[float], requests: int = 500) -> WindowStats:
    return WindowStats(
        cohort,
        0.0,
        60.0,
        requests,
        0,
        requests,
        np.asarray(series_ms, dtype=np.float64),
        latency_kind="interval_quantiles",
        quantiles_ms={99.0: max(series_ms, default=0.0)},
    )


@pytest.mark.parametrize(("points", "decided"), [(4, False), (5, True)])
def test_a_slower_canary_series_is_a_regression_only_with_enough_intervals(points: int, decided: bool) -> None:
    thresholds = Thresholds(min_samples=20, min_interval_points=5, cache_hit_rate_min=0.0)
    canary = _series_window("target", [40.0 + i for i in range(points)])
    baseline = _series_window("source", [10.0 + i for i in range(points)])
    result = evaluate_window(canary, baseline, thresholds, at=60.0)
    assert result.latency.regressed is (True if decided else None)
    assert (result.outcome is Outcome.FAIL) is decided
    assert result.p99_ms == pytest.approx(40.0 + points - 1)  # Prometheus' window quantile, not the series'


def test_equal_series_pass_and_few_requests_are_not_enough_evidence_whatever_the_series() -> None:
    thresholds = Thresholds(min_samples=20, cache_hit_rate_min=0.0)
    same = [10.0, 11.0, 12.0, 10.5, 11.5, 12.5]
    assert (
        evaluate_window(_series_window("target", same), _series_window("source", same), thresholds, 60.0).outcome
        is Outcome.PASS
    )
    few = _series_window("target", same, requests=19)
    result = evaluate_window(few, _series_window("source", same), thresholds, 60.0)
    assert result.outcome is Outcome.UNDECIDED and "not enough evidence" in result.reasons[0]
