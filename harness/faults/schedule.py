"""Timed fault schedules: which ``FaultPlan`` is in force when — bursts, flapping, ramps.

A ``FaultSchedule`` is a tuple of segments ``[start, end)`` in seconds *relative to when the schedule
is started* (``FaultyStore.follow(schedule)`` starts it at the store's clock's now, or at ``start``).
Outside every segment the store's own plan (``set_faults``) is in force; where segments overlap, the
last one listed wins. Schedules compose: ``a + b`` lists both, ``s.shifted(10)`` starts ``s`` 10 s later.

    FaultSchedule.burst(FaultPlan(search_error_rate=0.5), at=0, duration=10)      # one 10 s burst
    FaultSchedule.flapping(FaultPlan(search_error_rate=0.2), period=20, on=10)    # 10 s bad, 10 s good, ...
    FaultSchedule.ramp("latency_ms", 0.0, 40.0, duration=60, steps=6)              # +8 ms every 10 s
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from harness.errors import ConfigError
from harness.faults.store import NO_FAULTS, FaultPlan

__all__ = ["FaultSchedule", "Segment"]


@dataclass(frozen=True, slots=True)
class Segment:
    """``plan`` in force for ``start <= t < end`` (seconds after the schedule's start); with ``every``,
    again for the same length every ``every`` seconds until ``until``."""

    start: float
    end: float
    plan: FaultPlan
    every: float | None = None
    until: float = math.inf

    def __post_init__(self) -> None:
        if not (math.isfinite(self.start) and self.start < self.end):
            raise ConfigError(
                f"fault schedule: a segment is [start, end) with start < end, got [{self.start}, {self.end})"
            )
        if self.every is not None and not self.end - self.start < self.every:
            raise ConfigError(f"fault schedule: a repeating segment must be shorter than its period {self.every}")

    def active(self, t: float) -> bool:
        """True when ``plan`` is in force ``t`` seconds after the schedule's start."""
        if self.every is None:
            return self.start <= t < self.end
        return self.start <= t < self.until and (t - self.start) % self.every < self.end - self.start

    def shifted(self, by: float) -> Segment:
        """The same segment ``by`` seconds later."""
        return Segment(self.start + by, self.end + by, self.plan, self.every, self.until + by)


@dataclass(frozen=True, slots=True)
class FaultSchedule:
    """Fault plans over time (see the module docstring)."""

    segments: tuple[Segment, ...] = ()

    def plan_at(self, t: float) -> FaultPlan | None:
        """The plan in force ``t`` seconds after the start, or None outside every segment."""
        found = None
        for segment in self.segments:
            if segment.active(t):
                found = segment.plan
        return found

    @property
    def end(self) -> float:
        """When the last segment ends (s after the start; inf for an open-ended schedule)."""
        return max((s.end if s.every is None else s.until for s in self.segments), default=0.0)

    def shifted(self, by: float) -> FaultSchedule:
        """The same schedule, ``by`` seconds later."""
        return FaultSchedule(tuple(s.shifted(by) for s in self.segments))

    def __add__(self, other: FaultSchedule) -> FaultSchedule:
        return FaultSchedule(self.segments + other.segments)

    # -- shapes ---------------------------------------------------------------------------------------
    @classmethod
    def burst(cls, plan: FaultPlan, *, at: float = 0.0, duration: float) -> FaultSchedule:
        """``plan`` for ``duration`` seconds from ``at``."""
        return cls((Segment(at, at + duration, plan),))

    @classmethod
    def flapping(
        cls, plan: FaultPlan, *, period: float, on: float, start: float = 0.0, cycles: int | None = None
    ) -> FaultSchedule:
        """``plan`` for the first ``on`` seconds of every ``period`` from ``start`` (``cycles`` times, or
        until the store stops following it)."""
        if not 0 < on < period:
            raise ConfigError(f"fault schedule: flapping needs 0 < on < period, got on={on}, period={period}")
        until = start + cycles * period if cycles is not None else math.inf
        return cls((Segment(start, start + on, plan, every=period, until=until),))

    @classmethod
    def ramp(
        cls,
        field: str,
        begin: float,
        finish: float,
        *,
        duration: float,
        steps: int,
        base: FaultPlan = NO_FAULTS,
        start: float = 0.0,
        hold: bool = True,
    ) -> FaultSchedule:
        """``base`` with ``field`` moving from ``begin`` to ``finish`` in ``steps`` equal steps over
        ``duration`` seconds from ``start`` (``begin`` + one step in the first, ``finish`` in the last);
        with ``hold`` the last value stays in force afterwards."""
        if steps < 1:
            raise ConfigError(f"fault schedule: a ramp needs at least one step, got {steps}")
        if field not in {f.name for f in dataclasses.fields(FaultPlan)}:
            raise ConfigError(f"fault schedule: FaultPlan has no field {field!r}")
        width = duration / steps
        segments = []
        for i in range(steps):
            value: Any = begin + (finish - begin) * (i + 1) / steps
            end = math.inf if hold and i == steps - 1 else start + (i + 1) * width
            segments.append(Segment(start + i * width, end, dataclasses.replace(base, **{field: value})))
        return cls(tuple(segments))
