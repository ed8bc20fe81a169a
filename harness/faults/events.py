"""What a fault injector records: one ``FaultEvent`` per injected fault, for the game-day timeline."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["FaultEvent", "FaultKind"]


class FaultKind(StrEnum):
    """What was injected."""

    # FaultyStore
    LATENCY = "latency"
    SPIKE = "spike"
    COLD = "cold"
    ERROR = "error"
    OUTAGE = "outage"
    DROP = "drop"
    DEFERRED = "deferred"
    STALE_READ = "stale_read"
    PARTIAL_BATCH = "partial_batch"
    # FaultProxy
    RESET = "reset"
    TIMEOUT = "timeout"
    HTTP_ERROR = "http_error"


@dataclass(frozen=True, slots=True)
class FaultEvent:
    """One injected fault: when (seconds on the injector's clock), on which operation, what, a short detail.

    ``op`` is a store method name (``"upsert"``) for ``FaultyStore`` and ``"METHOD /path"`` (or
    ``"tcp"``) for ``FaultProxy``.
    """

    at: float
    op: str
    kind: FaultKind
    detail: str = ""
