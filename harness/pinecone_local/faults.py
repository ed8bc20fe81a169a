"""Game-day fault hooks for one index: added latency, seeded 429/503 answers, read-after-write lag.

Off by default. Set per index name at run time (``Engine.set_faults`` or
``POST /_admin/indexes/{name}/faults``); the setting outlives a delete and re-create of the index.
"""

from __future__ import annotations

import random
import threading
from dataclasses import asdict, dataclass, fields
from typing import Any

ERROR_STATUSES = (429, 503)
# Upper bounds of the timed settings: a fault is a rehearsal, so none may hang requests for hours
# (``latency_ms: 1e300`` once held every request until shutdown).
FAULT_LIMITS = {
    "latency_ms": 60_000.0,
    "jitter_ms": 60_000.0,
    "retry_after_s": 3600.0,
    "visibility_lag_ms": 3_600_000.0,
}


@dataclass(frozen=True, slots=True)
class FaultConfig:
    """What to inject into one index's data plane.

    ``latency_ms`` + uniform(0, ``jitter_ms``) is added to every data-plane request;
    ``error_rate`` (fraction 0–1, drawn from a ``seed``-ed generator) of requests are answered
    ``error_status`` (429 or 503) with ``Retry-After: retry_after_s``; a write becomes visible to
    reads only ``visibility_lag_ms`` after it was accepted.
    """

    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    error_rate: float = 0.0
    error_status: int = 429
    retry_after_s: float = 0.0
    visibility_lag_ms: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        for name, limit in FAULT_LIMITS.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= limit:
                raise ValueError(f"{name} must be a number between 0 and {limit:g}, got {value!r}")
        if isinstance(self.error_rate, bool) or not isinstance(self.error_rate, int | float):
            raise ValueError(f"error_rate must be a fraction between 0 and 1, got {self.error_rate!r}")
        if not 0.0 <= self.error_rate <= 1.0:
            raise ValueError(f"error_rate must be a fraction between 0 and 1, got {self.error_rate!r}")
        if self.error_status not in ERROR_STATUSES:
            raise ValueError(f"error_status must be one of {ERROR_STATUSES}, got {self.error_status!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed < 2**64:
            raise ValueError(f"seed must be an integer between 0 and 2**64 - 1, got {self.seed!r}"[:200])

    @classmethod
    def from_mapping(cls, values: dict[str, Any]) -> FaultConfig:
        """Build from a JSON object; unknown keys are an error (a typo must not silently do nothing)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown fault setting(s) {unknown}; known: {sorted(known)}")
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of the admin endpoint."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class FaultDecision:
    """What to do to one request: wait ``delay_s`` seconds, then answer ``error_status`` (or serve it)."""

    delay_s: float
    error_status: int | None
    retry_after_s: float


class FaultInjector:
    """One index's fault setting and its seeded generator (thread-safe)."""

    def __init__(self, config: FaultConfig) -> None:
        self.config = config
        self._rng = random.Random(config.seed)
        self._lock = threading.Lock()
        self.requests = 0  # data-plane requests seen since the setting was made
        self.injected_errors = 0  # of which answered with error_status

    def decide(self) -> FaultDecision:
        """Draw the fault for the next data-plane request."""
        c = self.config
        with self._lock:
            jitter = self._rng.uniform(0.0, c.jitter_ms) if c.jitter_ms > 0 else 0.0
            fail = c.error_rate > 0 and self._rng.random() < c.error_rate
            self.requests += 1
            self.injected_errors += int(fail)
        return FaultDecision(
            delay_s=(c.latency_ms + jitter) / 1000.0,
            error_status=c.error_status if fail else None,
            retry_after_s=c.retry_after_s,
        )
