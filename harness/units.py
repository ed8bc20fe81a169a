"""How durations read to people: ``ragmig``'s progress lines, certify's verdict line and the runbook use
``duration``. (The game-day, demo, migrate-copy and controller lines still print seconds with one
decimal; PromQL ranges have their own syntax, ``migration.metrics_prometheus.duration``.)"""

from __future__ import annotations

__all__ = ["duration"]


def duration(seconds: float) -> str:
    """``0.0123`` → "12 ms", ``0.5`` → "500 ms", ``2.5`` → "2.5 s", ``90`` → "1 min 30 s", ``3600`` → "1 h".

    Below a second in milliseconds (below half a millisecond: "< 1 ms"); from a second on in h/min/s,
    seconds to the millisecond.
    """
    value = float(seconds)
    if value < 1.0:
        return "< 1 ms" if value < 0.0005 else f"{round(value * 1000):d} ms"
    total = round(value, 3)
    hours, rest = divmod(int(total), 3600)
    minutes, whole = divmod(rest, 60)
    secs = round(whole + (total - int(total)), 3)
    parts = [f"{hours} h" if hours else "", f"{minutes} min" if minutes else "", f"{secs:g} s" if secs else ""]
    return " ".join(p for p in parts if p)
