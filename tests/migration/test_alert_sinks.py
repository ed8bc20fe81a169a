"""Alert payloads in the shapes their receivers accept: Alertmanager API v2, Slack, PagerDuty Events v2.

Posted to a loopback receiver that records them (the real Alertmanager routes one in tests/e2e).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest

from harness.errors import ConfigError
from harness.migration.alerts import Alert, LogAlertSink
from harness.migration.config import AlertSinkConfig, parse_config
from harness.migration.webhook import AlertmanagerSink, PagerDutySink, SlackSink, WebhookAlertSink, build_alert_sinks

FIRING = Alert("critical", "migration rolled back", "error rate 20% > 1%", at=5.0, key="rolled_back", phase="canary")
CLEARED = Alert(
    "critical",
    "migration rolled back",
    "the condition cleared",
    at=9.0,
    key="rolled_back",
    phase="verify",
    resolved=True,
)


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[tuple[str, Any]]]]:
    received: list[tuple[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append((self.path, json.loads(self.rfile.read(int(self.headers["Content-Length"])))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", received
    server.shutdown()
    server.server_close()


def test_alertmanager_gets_api_v2_alerts_and_the_resolution_with_the_labels_it_fired_with(receiver: Any) -> None:
    url, received = receiver
    sink = AlertmanagerSink(url, migration="rag-docs", labels={"team": "search"})
    sink.send(FIRING)
    sink.send(CLEARED)
    (path1, [fired]), (path2, [resolved]) = received
    assert path1 == path2 == "/api/v2/alerts"
    assert fired["labels"] == {
        "team": "search",
        "alertname": "RagmigRolledBack",
        "severity": "critical",
        "migration": "rag-docs",
        "phase": "canary",
    }
    assert fired["annotations"] == {"summary": "migration rolled back", "description": "error rate 20% > 1%"}
    assert "endsAt" not in fired
    # Same labels (the phase it fired in), so Alertmanager resolves that alert; endsAt after startsAt.
    assert resolved["labels"] == fired["labels"] and resolved["startsAt"] == fired["startsAt"]
    assert datetime.fromisoformat(resolved["endsAt"]) >= datetime.fromisoformat(resolved["startsAt"])
    assert sink.failures == 0


def test_slack_gets_text(receiver: Any) -> None:
    url, received = receiver
    sink = SlackSink(f"{url}/services/T0/B0/secret", migration="rag-docs")
    sink.send(FIRING)
    sink.send(CLEARED)
    (_, fired), (_, resolved) = received
    assert set(fired) == {"text"}
    assert fired["text"] == "[CRITICAL] migration rolled back (migration rag-docs, phase canary)\nerror rate 20% > 1%"
    assert resolved["text"].startswith("[RESOLVED] migration rolled back")


def test_pagerduty_triggers_and_resolves_by_dedup_key_with_the_key_from_the_environment(
    receiver: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, received = receiver
    monkeypatch.setenv("RAGMIG_TEST_PD_KEY", "R0UT1NG")
    sink = PagerDutySink(f"{url}/v2/enqueue", migration="rag-docs", routing_key_env="RAGMIG_TEST_PD_KEY")
    sink.send(FIRING)
    sink.send(CLEARED)
    (_, trigger), (_, resolve) = received
    assert trigger["routing_key"] == "R0UT1NG" and trigger["event_action"] == "trigger"
    assert trigger["payload"]["severity"] == "critical" and trigger["payload"]["source"] == "ragmig/rag-docs"
    assert trigger["payload"]["summary"].startswith("migration rolled back: error rate")
    assert resolve == {"routing_key": "R0UT1NG", "event_action": "resolve", "dedup_key": trigger["dedup_key"]}


def test_pagerduty_without_a_routing_key_sends_nothing_and_counts_a_failure(
    receiver: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    url, received = receiver
    monkeypatch.delenv("RAGMIG_TEST_PD_KEY", raising=False)
    sink = PagerDutySink(url, migration="m", routing_key_env="RAGMIG_TEST_PD_KEY")
    sink.send(FIRING)
    assert received == [] and sink.failures == 1 and "RAGMIG_TEST_PD_KEY" in caplog.text


def test_the_generic_webhook_stays_alert_to_dict(receiver: Any) -> None:
    url, received = receiver
    WebhookAlertSink(url).send(FIRING)
    ((_, body),) = received
    assert body == FIRING.to_dict()


def test_sinks_from_the_config_and_their_mistakes() -> None:
    sinks = build_alert_sinks(
        [
            AlertSinkConfig(type="alertmanager", url="http://127.0.0.1:9093"),
            AlertSinkConfig(type="slack", url="https://hooks.slack.com/services/T/B/X"),
            AlertSinkConfig(type="pagerduty"),
            AlertSinkConfig(type="log"),
        ],
        migration="m",
    )
    assert [type(s) for s in sinks] == [AlertmanagerSink, SlackSink, PagerDutySink, LogAlertSink]
    for bad in ({"type": "alertmanager"}, {"type": "slack", "url": "ftp://x"}):
        with pytest.raises(ConfigError, match="alerts"):
            parse_config({"source": "exact://a", "target": "exact://b", "alerts": [bad]})
