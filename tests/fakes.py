"""Recording fakes for the suite's seams, shared by more than one test module."""

from __future__ import annotations


class SteppingTimer:
    """A fake ``perf_counter``: each request takes the next of ``durations_s`` (start, end, start, …)."""

    def __init__(self, durations_s: list[float], start: float = 0.0) -> None:
        self.durations = iter(durations_s)
        self.now = start
        self.started = False

    def __call__(self) -> float:
        if self.started:
            self.now += next(self.durations)
        self.started = not self.started
        return self.now
