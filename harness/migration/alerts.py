"""The ``AlertSink`` seam: where rollbacks, orphaned writes and blocked shifts are announced."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from harness.redact import redact_text

log = logging.getLogger("harness.alerts")


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert: ``severity`` is "info", "warning" or "critical"; ``at`` is harness-clock seconds.

    ``key`` names the condition (``rolled_back``, ``blocked``, ``orphaned_writes``, ...): sinks that
    track alerts (Alertmanager, PagerDuty) use it to deduplicate, and an alert with ``resolved=True``
    and the same key says the condition cleared. ``phase`` is the migration's phase when it was sent.
    """

    severity: str
    title: str
    message: str
    at: float
    details: dict[str, Any] = field(default_factory=dict)
    key: str = ""
    phase: str = ""
    resolved: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (credentials redacted)."""
        return {
            "severity": self.severity,
            "title": redact_text(self.title),
            "message": redact_text(self.message),
            "at": self.at,
            "details": self.details,
            "key": self.key,
            "phase": self.phase,
            "resolved": self.resolved,
        }


@runtime_checkable
class AlertSink(Protocol):
    """Receives alerts; must not raise for a delivery failure it can log instead."""

    def send(self, alert: Alert) -> None:
        """Deliver ``alert``."""
        ...


class RecordingAlertSink:
    """Keeps every alert in ``alerts`` (for tests and game days)."""

    def __init__(self) -> None:
        self.alerts: list[Alert] = []

    def send(self, alert: Alert) -> None:
        """Append ``alert``."""
        self.alerts.append(alert)


class LogAlertSink:
    """Writes alerts to the ``harness.alerts`` logger (critical → ERROR level)."""

    def send(self, alert: Alert) -> None:
        """Log ``alert`` on one line."""
        if alert.resolved:
            log.info("resolved: %s", redact_text(alert.title))
            return
        level = logging.ERROR if alert.severity == "critical" else logging.WARNING
        log.log(level, "%s: %s", redact_text(alert.title), redact_text(alert.message))
