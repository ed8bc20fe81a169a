"""Alert sinks that POST JSON: a generic webhook, Alertmanager (API v2), Slack, PagerDuty Events v2.

Standard library only (no HTTP client to import on the orchestrator's path). A delivery failure is
logged and counted in ``failures``, never raised: an alert that cannot be delivered must not stop a
rollback. Secrets never come from the config file: a webhook bearer token from ``RAGMIG_WEBHOOK_TOKEN``,
a PagerDuty routing key from the environment variable the config names; incoming-webhook paths (often
the secret themselves) are cut from every log line.

Payload shapes:
- ``webhook``: ``Alert.to_dict()`` (severity, title, message, at, details, key, phase, resolved).
- ``alertmanager``: ``POST {url}/api/v2/alerts`` with ``[{"labels": {"alertname", "severity", "migration",
  "phase"}, "annotations": {"summary", "description"}, "startsAt", "endsAt"?}]``; a resolved alert is
  posted again with the labels it fired with and ``endsAt`` = now.
- ``slack``: ``{"text": "..."}`` (a Slack incoming webhook; Teams and Mattermost accept it too).
- ``pagerduty``: ``{"routing_key", "event_action": "trigger"|"resolve", "dedup_key", "payload": {"summary",
  "source", "severity", "timestamp", "custom_details"}}`` to the Events API v2.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import urllib.error
import urllib.request
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from harness.migration.alerts import Alert, AlertSink, LogAlertSink
from harness.migration.config import AlertSinkConfig
from harness.redact import redact_text, redact_uri

__all__ = [
    "PAGERDUTY_EVENTS_URL",
    "TOKEN_ENV",
    "AlertmanagerSink",
    "PagerDutySink",
    "SlackSink",
    "WebhookAlertSink",
    "build_alert_sinks",
    "webhook_label",
]

log = logging.getLogger("harness.alerts")
TOKEN_ENV = "RAGMIG_WEBHOOK_TOKEN"
"""A bearer token for the generic webhook, read from the environment (never from the config file)."""
PAGERDUTY_EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
_PAGERDUTY_SEVERITY = {"critical": "critical", "error": "error", "warning": "warning", "info": "info"}


def webhook_label(url: str) -> str:
    """``url`` without its path and query: incoming-webhook paths are often the secret (Slack, Teams)."""
    parts = urlsplit(redact_uri(url))
    return f"{parts.scheme}://{parts.hostname or ''}{f':{parts.port}' if parts.port else ''}/…"


def _timestamp(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _alert_name(alert: Alert) -> str:
    """``RagmigRolledBack`` from key ``rolled_back`` (the title when there is no key)."""
    words = (alert.key or alert.title).replace("-", " ").replace("_", " ").split()
    return "Ragmig" + "".join(w[:1].upper() + w[1:] for w in words)


class _JsonPost:
    """POSTs JSON to ``url`` within ``timeout_s``; failures are logged (path cut) and counted."""

    kind = "webhook"

    def __init__(self, url: str, timeout_s: float = 5.0) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"alert url must start with http:// or https://, got {webhook_label(url)!r}")
        self.url = url
        self.timeout_s = timeout_s
        self.failures = 0

    def _post(self, body: Any, url: str | None = None, headers: dict[str, str] | None = None) -> bool:
        target = url or self.url
        sent = {"Content-Type": "application/json", "User-Agent": "ragmig-alerts", **(headers or {})}
        data = json.dumps(body, default=str).encode()
        request = urllib.request.Request(target, data=data, headers=sent, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                response.read()
        except (urllib.error.URLError, OSError, ValueError) as exc:
            self.failures += 1
            log.error("alert %s %s failed: %s", self.kind, webhook_label(target), redact_text(str(exc)))
            return False
        return True


class WebhookAlertSink(_JsonPost):
    """POSTs ``Alert.to_dict()`` as JSON to ``url``; ``timeout_s`` bounds each delivery (seconds)."""

    def send(self, alert: Alert) -> None:
        """Deliver ``alert``; on failure log one line and count it in ``failures``."""
        token = os.environ.get(TOKEN_ENV)
        self._post(alert.to_dict(), headers={"Authorization": f"Bearer {token}"} if token else None)


class AlertmanagerSink(_JsonPost):
    """Alerts into Alertmanager's API v2 at ``url`` (its base, e.g. ``http://127.0.0.1:9093``).

    Labels: ``alertname`` (from the alert's key), ``severity``, ``migration``, ``phase``, plus ``labels``;
    annotations: ``summary`` (title) and ``description`` (message). Firing alerts carry no ``endsAt``
    (Alertmanager's resolve_timeout applies); a resolved alert is re-posted with the labels it fired
    with and ``endsAt`` = now, so Alertmanager sends its resolved notification.
    """

    kind = "alertmanager"

    def __init__(
        self, url: str, *, migration: str, labels: dict[str, str] | None = None, timeout_s: float = 5.0
    ) -> None:
        super().__init__(url, timeout_s)
        self.endpoint = self.url.rstrip("/") + "/api/v2/alerts"
        self.migration = migration
        self.labels = dict(labels or {})
        self._firing: dict[str, tuple[dict[str, str], str]] = {}
        self._lock = threading.Lock()

    def payload(self, alert: Alert, now: datetime | None = None) -> list[dict[str, Any]]:
        """The API v2 body for ``alert`` (a list of one postable alert)."""
        now = now or datetime.now(UTC)
        name = _alert_name(alert)
        with self._lock:
            if alert.resolved:
                labels, starts = self._firing.pop(name, (None, None))
                if labels is None or starts is None:
                    labels = self._labels(alert, name)
                    starts = _timestamp(now - timedelta(seconds=1))
                return [
                    {
                        "labels": labels,
                        "annotations": {"summary": redact_text(alert.title), "description": redact_text(alert.message)},
                        "startsAt": starts,
                        "endsAt": _timestamp(now),
                    }
                ]
            labels = self._labels(alert, name)
            self._firing[name] = (labels, _timestamp(now))
        return [
            {
                "labels": labels,
                "annotations": {"summary": redact_text(alert.title), "description": redact_text(alert.message)},
                "startsAt": _timestamp(now),
            }
        ]

    def _labels(self, alert: Alert, name: str) -> dict[str, str]:
        return {
            **self.labels,
            "alertname": name,
            "severity": alert.severity,
            "migration": self.migration,
            "phase": alert.phase or "unknown",
        }

    def send(self, alert: Alert) -> None:
        """Post ``alert`` (firing or resolved); failures are logged and counted."""
        self._post(self.payload(alert), url=self.endpoint)


class SlackSink(_JsonPost):
    """A Slack incoming webhook: ``{"text": ...}`` with severity, title, migration, phase and message."""

    kind = "slack"

    def __init__(self, url: str, *, migration: str, timeout_s: float = 5.0) -> None:
        super().__init__(url, timeout_s)
        self.migration = migration

    def payload(self, alert: Alert) -> dict[str, str]:
        """The message body for ``alert``."""
        state = "RESOLVED" if alert.resolved else alert.severity.upper()
        where = f"migration {self.migration}" + (f", phase {alert.phase}" if alert.phase else "")
        text = f"[{state}] {redact_text(alert.title)} ({where})"
        if not alert.resolved:
            text += f"\n{redact_text(alert.message)}"
        return {"text": text}

    def send(self, alert: Alert) -> None:
        """Post ``alert``; failures are logged and counted."""
        self._post(self.payload(alert))


class PagerDutySink(_JsonPost):
    """PagerDuty Events API v2: trigger on an alert, resolve by the same ``dedup_key`` when it clears.

    The routing key comes from the environment variable ``routing_key_env`` (never from the config);
    without it nothing is sent and each alert is logged as a failure.
    """

    kind = "pagerduty"

    def __init__(
        self,
        url: str = PAGERDUTY_EVENTS_URL,
        *,
        migration: str,
        routing_key_env: str = "PAGERDUTY_ROUTING_KEY",
        timeout_s: float = 5.0,
    ) -> None:
        super().__init__(url, timeout_s)
        self.migration = migration
        self.routing_key_env = routing_key_env

    def payload(self, alert: Alert, routing_key: str, now: datetime | None = None) -> dict[str, Any]:
        """The Events v2 body for ``alert``."""
        body: dict[str, Any] = {
            "routing_key": routing_key,
            "event_action": "resolve" if alert.resolved else "trigger",
            "dedup_key": f"ragmig/{self.migration}/{alert.key or alert.title}",
        }
        if not alert.resolved:
            body["payload"] = {
                "summary": redact_text(f"{alert.title}: {alert.message}")[:1024],
                "source": f"ragmig/{self.migration}",
                "severity": _PAGERDUTY_SEVERITY.get(alert.severity, "warning"),
                "timestamp": _timestamp(now or datetime.now(UTC)),
                "custom_details": {"phase": alert.phase, **alert.to_dict()["details"]},
            }
        return body

    def send(self, alert: Alert) -> None:
        """Post ``alert``; a missing routing key or a failed delivery is logged and counted."""
        routing_key = os.environ.get(self.routing_key_env)
        if not routing_key:
            self.failures += 1
            log.error("alert pagerduty: no routing key in $%s; alert not sent", self.routing_key_env)
            return
        self._post(self.payload(alert, routing_key))


def build_alert_sinks(specs: Sequence[AlertSinkConfig], *, migration: str = "migration") -> list[AlertSink]:
    """Sinks from the config's ``[[alerts]]`` entries (``migration`` names the migration in labels)."""
    sinks: list[AlertSink] = []
    for spec in specs:
        if spec.type == "webhook" and spec.url:
            sinks.append(WebhookAlertSink(spec.url))
        elif spec.type == "alertmanager" and spec.url:
            sinks.append(AlertmanagerSink(spec.url, migration=migration, labels=dict(spec.labels)))
        elif spec.type == "slack" and spec.url:
            sinks.append(SlackSink(spec.url, migration=migration))
        elif spec.type == "pagerduty":
            sinks.append(
                PagerDutySink(
                    spec.url or PAGERDUTY_EVENTS_URL, migration=migration, routing_key_env=spec.routing_key_env
                )
            )
        else:
            sinks.append(LogAlertSink())
    return sinks
