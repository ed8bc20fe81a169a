"""``WebhookAlertSink``: alerts as a JSON POST (Slack/Teams/PagerDuty-style incoming webhooks).

Standard library only (no HTTP client to import on the orchestrator's path). A delivery failure is
logged, never raised: an alert that cannot be delivered must not stop a rollback.
"""

from __future__ import annotations

import json
import logging
import os
import urllib.error
import urllib.request
from collections.abc import Sequence
from urllib.parse import urlsplit

from harness.migration.alerts import Alert, AlertSink, LogAlertSink
from harness.migration.config import AlertSinkConfig
from harness.redact import redact_text, redact_uri

__all__ = ["TOKEN_ENV", "WebhookAlertSink", "build_alert_sinks", "webhook_label"]

log = logging.getLogger("harness.alerts")
TOKEN_ENV = "RAGMIG_WEBHOOK_TOKEN"
"""A bearer token for the webhook, read from the environment (never from the config file)."""


def webhook_label(url: str) -> str:
    """``url`` without its path and query: incoming-webhook paths are often the secret (Slack, Teams)."""
    parts = urlsplit(redact_uri(url))
    return f"{parts.scheme}://{parts.hostname or ''}{f':{parts.port}' if parts.port else ''}/…"


class WebhookAlertSink:
    """POSTs ``Alert.to_dict()`` as JSON to ``url``; ``timeout_s`` bounds each delivery (seconds)."""

    def __init__(self, url: str, timeout_s: float = 5.0) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"webhook url must start with http:// or https://, got {webhook_label(url)!r}")
        self.url = url
        self.timeout_s = timeout_s
        self.failures = 0

    def send(self, alert: Alert) -> None:
        """Deliver ``alert``; on failure log one line and count it in ``failures``."""
        headers = {"Content-Type": "application/json", "User-Agent": "ragmig-alerts"}
        token = os.environ.get(TOKEN_ENV)
        if token:
            headers["Authorization"] = f"Bearer {token}"
        body = json.dumps(alert.to_dict(), default=str).encode()
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                response.read()
        except (urllib.error.URLError, OSError, ValueError) as exc:
            self.failures += 1
            log.error("alert webhook %s failed: %s", webhook_label(self.url), redact_text(str(exc)))


def build_alert_sinks(specs: Sequence[AlertSinkConfig]) -> list[AlertSink]:
    """Sinks from the config's ``[[alerts]]`` entries: type "log", or "webhook" with ``url``."""
    sinks: list[AlertSink] = []
    for spec in specs:
        if spec.type == "webhook" and spec.url:
            sinks.append(WebhookAlertSink(spec.url))
        else:
            sinks.append(LogAlertSink())
    return sinks
