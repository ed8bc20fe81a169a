"""Alert sinks from the config: the webhook POSTs JSON (to a loopback server here), and never raises."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest

from harness.migration.alerts import Alert, LogAlertSink
from harness.migration.config import AlertSinkConfig
from harness.migration.webhook import WebhookAlertSink, build_alert_sinks, webhook_label


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append({"body": json.loads(body), "type": self.headers["Content-Type"]})
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:  # keep test output quiet
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hooks/T0/B0/secret", received
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def test_webhook_posts_the_alert_as_json(receiver: tuple[str, list[dict[str, Any]]]) -> None:
    url, received = receiver
    sink = WebhookAlertSink(url)
    sink.send(Alert("critical", "migration rolled back", "error rate 20% > 1%", at=12.0, details={"step": 2}))
    (got,) = received
    assert got["type"] == "application/json"
    assert got["body"]["title"] == "migration rolled back" and got["body"]["details"] == {"step": 2}
    assert sink.failures == 0


def test_an_unreachable_webhook_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    sink = WebhookAlertSink("http://127.0.0.1:9/hooks/secret-path", timeout_s=0.5)
    sink.send(Alert("critical", "t", "m", at=0.0))
    assert sink.failures == 1
    assert "alert webhook http://127.0.0.1:9/… failed" in caplog.text and "secret-path" not in caplog.text


def test_sinks_are_built_from_the_config() -> None:
    sinks = build_alert_sinks([AlertSinkConfig(type="log"), AlertSinkConfig(type="webhook", url="https://h.example/x")])
    assert isinstance(sinks[0], LogAlertSink) and isinstance(sinks[1], WebhookAlertSink)
    assert webhook_label("https://hooks.slack.com/services/T/B/XYZ") == "https://hooks.slack.com/…"
