"""The runbook is true: its PromQL is what the MetricsSource runs, its metric names are what the query
service exports on /metrics, config text cannot break its Markdown, and short durations print as such."""

from __future__ import annotations

import json
import re
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import httpx
import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from harness.clock import ManualClock
from harness.migration.config import MigrationConfig, parse_config
from harness.migration.flags_openfeature import InMemoryFlags
from harness.migration.metrics import InProcessMetrics
from harness.migration.metrics_prometheus import PrometheusMetrics, PromQL
from harness.model import CollectionSchema, Distance, RecordBatch
from harness.reporting.runbook import evidence_table, health_queries, render_runbook
from harness.service import QueryService, serve_in_thread
from harness.stores.exact import ExactStore


def _config(**changes: Any) -> MigrationConfig:
    data: dict[str, Any] = {
        "source": "exact://runbook-src",
        "target": "exact://runbook-tgt",
        "canary": {"health_interval_s": 30.0, "window_s": 300.0},
        "flags": {"provider": "flagd-file", "path": "/var/lib/ragmig/flags.json"},
        "metrics": {"provider": "prometheus", "url": "http://127.0.0.1:9090", "selector": 'job="rag-api"'},
    }
    data.update(changes)
    return parse_config(data)


@pytest.fixture
def prometheus() -> Iterator[str]:
    """A stand-in for Prometheus' HTTP API answering every query with one sample."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            range_query = urllib.parse.urlsplit(self.path).path.endswith("query_range")
            result = [{"metric": {}, "values": [[0, "0.01"]]}] if range_query else [{"metric": {}, "value": [0, "10"]}]
            body = json.dumps({"status": "success", "data": {"result": result}}).encode()
            self.send_response(200)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_the_runbooks_promql_is_what_the_metrics_source_runs(prometheus: str) -> None:
    config = _config()
    text = render_runbook(config, "migration.toml")
    clock = ManualClock(5000.0)
    source = PrometheusMetrics(
        prometheus,
        PromQL.from_config(config.metrics),
        clock=clock,
        scrape_interval_s=config.metrics.scrape_interval_s,
        step_s=config.canary.health_interval_s,
        series_quantile=config.metrics.series_quantile,
    )
    source.window("target", 5000.0 - config.canary.window_s, 5000.0)
    assert len(source.queries_run) == 9
    for query in source.queries_run:
        if "0.5," in query and "histogram_quantile" in query and "[300000ms]" in query:
            continue  # the window's median: computed, not a rollback trigger the runbook lists
        assert query in text, query
    assert set(health_queries(config).values()) <= set(source.queries_run)


def test_the_runbooks_metric_names_and_labels_are_what_the_service_exports() -> None:
    source, target = ExactStore("runbook-svc-src"), ExactStore("runbook-svc-tgt")
    for store in (source, target):
        store.create(CollectionSchema(dimension=4, distance=Distance.COSINE))
        store.upsert(RecordBatch.build([1, 2, 3], np.eye(3, 4), None))
    service = QueryService(
        source, target, flags=InMemoryFlags(read_percent=50), metrics=InProcessMetrics(), writer=source
    )
    try:
        with serve_in_thread(service) as endpoint:
            for user in range(20):
                httpx.post(f"{endpoint.url}/query", json={"user_id": f"u{user}", "vector": [1, 0, 0, 0], "k": 2})
            exposition = httpx.get(f"{endpoint.url}/metrics").text
    finally:
        source.drop()
        target.drop()
    exported: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            exported.setdefault(sample.name, set()).update(sample.labels)
    text = render_runbook(_config(metrics={"provider": "prometheus", "url": "http://p:9090"}), "m.toml")
    queries = re.findall(r"`((?:sum|histogram_quantile)\(.*?)`", text)
    assert len(queries) == 8
    for query in queries:
        for name, matchers in re.findall(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^}]*)\}", query):
            assert name in exported, f"{name} is not on /metrics"
            labels = {m.split("=")[0].strip() for m in matchers.split(",")}
            assert labels <= exported[name], f"{name}{{{matchers}}}: /metrics has labels {exported[name]}"


def test_config_text_cannot_break_the_runbooks_markdown() -> None:
    config = _config(
        journal="/tmp/j`ou|rnal.sqlite",
        runbook={"escalation": "<script>alert(1)</script> | *page* [me](x)", "dashboards": {"a|b": "https://g/x>y"}},
    )
    text = render_runbook(config, "migration.toml")
    assert "<script>" not in text and "\\<script\\>" in text
    row = next(line for line in text.splitlines() if line.startswith("| journal"))
    # Exactly three unescaped pipes: the row keeps its two cells.
    assert len(re.findall(r"(?<!\\)\|", row)) == 3
    assert "``/tmp/j`ou\\|rnal.sqlite``" in row
    assert "https://g/x%3Ey" in text


def test_durations_below_a_second_and_fractions_print_as_such() -> None:
    config = _config(
        canary={"health_interval_s": 0.5, "window_s": 2.0, "bake_time_s": 2.5, "live_bake_s": 1.0},
        metrics={"provider": "prometheus", "url": "http://127.0.0.1:9090", "scrape_interval_s": 0.25},
    )
    text = render_runbook(config, "m.toml")
    assert "every 0.5 s: the interval since the previous check and the step's evidence (at most the last 2 s)" in text
    assert "| 2.5 s |" in text and not re.search(r"(?<![0-9.])0 s", text)


def test_the_runbook_prints_the_evidence_each_step_needs_for_the_config_at_hand() -> None:
    config = _config(
        canary={"steps": [5.0, 100.0], "bake_time_s": [600.0, 300.0], "health_interval_s": 60.0, "window_s": 300.0}
    )
    text = render_runbook(config, "m.toml")
    # 1 % at 99 %: 459 clean requests; 1,736 for a 90 % chance at 0.3 % errors; spread over the step's share
    # of the traffic and min(bake, window) = 300 s.
    assert "| ≥ 459 canary requests; ≈ 1,736 at 0.3 % errors | ≥ 115.7 requests/s in total |" in text
    assert "| ≥ 459 canary requests; ≈ 1,736 at 0.3 % errors | ≥ 5.8 requests/s in total |" in text
    strict = render_runbook(_config(thresholds={"error_rate_max": 0.001, "confidence": 0.999}), "m.toml")
    assert "≥ 6,905 canary requests" in strict and "0.1 % with 99.9 % confidence" in strict
    rows = evidence_table(config)
    assert [r["floor"] for r in rows] == [459, 459] and rows[0]["total_rps"] == pytest.approx(1736 / (0.05 * 300))
