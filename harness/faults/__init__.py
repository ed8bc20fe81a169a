"""Fault injection for game days: a ``VectorStore`` wrapper and a loopback TCP/HTTP fault proxy."""

from harness.faults.events import FaultEvent, FaultKind
from harness.faults.proxy import FaultProxy, Toxics
from harness.faults.store import FaultPlan, FaultyStore, OpKind

__all__ = ["FaultEvent", "FaultKind", "FaultPlan", "FaultProxy", "FaultyStore", "OpKind", "Toxics"]
