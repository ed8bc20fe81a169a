"""Fault injection for game days: a ``VectorStore`` wrapper with timed schedules, and a loopback TCP/HTTP fault proxy."""

from harness.faults.events import FaultEvent, FaultKind
from harness.faults.proxy import FaultProxy, Toxics
from harness.faults.schedule import FaultSchedule, Segment
from harness.faults.store import FaultPlan, FaultyStore, OpKind

__all__ = [
    "FaultEvent",
    "FaultKind",
    "FaultPlan",
    "FaultProxy",
    "FaultSchedule",
    "FaultyStore",
    "OpKind",
    "Segment",
    "Toxics",
]
