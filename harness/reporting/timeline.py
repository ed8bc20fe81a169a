"""The game-day timeline plot: what the traffic did, what broke, and what the harness decided, over time.

One SVG per scenario, two panels per migration run (a scenario may run a control and a protected
run): on top the read percentage on the target (a step line) over the phases (shaded bands), the
injected faults (one labelled lane each under the axis), the health checks (dots: pass, fail, no data),
the decisions (vertical lines: shift, promote, rollback, blocked, completed) and the alerts (triangles,
named in the legend); below, each cohort's p50 and p99 latency per time bin, a flat step per bin, broken
where no request came. Time 0 is the migration's first transition. Colours are Okabe & Ito's
colour-blind-safe palette (``reporting.palette``). Rendered with ``matplotlib.figure.Figure`` (never
pyplot), text kept as text (``svg.fonttype = "none"``), element ids salted per scenario so many SVGs
share a page.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from harness.redact import redact_uri
from harness.reporting import palette

if TYPE_CHECKING:
    from harness.faults.events import FaultEvent
    from harness.migration.alerts import Alert
    from harness.migration.metrics import InProcessMetrics
    from harness.migration.orchestrator import Orchestrator

__all__ = ["LATENCY_FLOOR_MS", "latency_steps", "migration_summary", "migration_timeline", "timeline_svg"]


# -- what happened, from the journal and the metrics --------------------------------------------------
def migration_summary(
    orchestrator: Orchestrator,
    metrics: InProcessMetrics,
    alerts: Sequence[Alert],
    *,
    label: str,
    harness_queries: int = 0,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """One migration in figures: its (redacted) source and target URIs, final phase and reason, phases in order, read-percentage steps, the
    decisions, health checks (and how many failed, on what), alerts, and user queries the target
    served (``harness_queries`` — warm-up replays through the service — not counted)."""
    transitions = orchestrator.read_percent_timeline()
    phases: list[str] = []
    for _, _, phase in transitions:
        if not phases or phases[-1] != phase:
            phases.append(phase)
    steps: list[float] = []
    for _, percent, _ in transitions:
        if percent > 0 and (not steps or steps[-1] != percent):
            steps.append(percent)
    health = [e.data for e in orchestrator.timeline("health") if e.data.get("check") != "warm_up"]
    state = orchestrator.journal.state()
    target_requests = metrics.totals("target")[0] - harness_queries
    return {
        "label": label,
        "source": redact_uri(orchestrator.config.source),
        "target": redact_uri(orchestrator.config.target),
        "final_phase": state.phase,
        "reason": state.reason,
        "phases": phases,
        "read_percent_steps": steps,
        "max_read_percent": max((p for _, p, _ in transitions), default=0.0),
        "decisions": [str(e.data.get("decision")) for e in orchestrator.timeline("decision")],
        "health_checks": len(health),
        "failed_health_checks": sum(1 for h in health if h.get("counted_as") == "fail"),
        "failed_reasons": sorted({f for h in health for f in h.get("failed", [])}),
        "alerts": [a.title for a in alerts],
        "user_queries_on_target": max(0, target_requests),
        "outbox_pending": orchestrator.journal.outbox.size(),
        **(extra or {}),
    }


def migration_timeline(
    orchestrator: Orchestrator,
    metrics: InProcessMetrics,
    alerts: Sequence[Alert],
    *,
    end: float,
    clock_label: str = "seconds",
    bin_s: float | None = None,
    fault_logs: Mapping[str, Sequence[FaultEvent]] | None = None,
    marks: Sequence[tuple[float, float | None, str]] = (),
    steady_window: Sequence[float] | None = None,
) -> dict[str, Any]:
    """What ``timeline_svg`` plots, as JSON-ready data: transitions ``[at, read %, phase]``, health
    checks, decisions ``[at, decision]``, alerts, faults ``[start, end, kind, count, side]`` (per-call
    faults of ``fault_logs`` merged into spans; ``marks`` are faults a scenario switched itself;
    journaled faults), and per-cohort latency ``[mid-bin s, p50 ms, p99 ms, requests]`` per bin of
    ``bin_s`` seconds (default: the health interval, the period at which a game day sends its load;
    bins without requests are left out, so a gap in the rows is a time without traffic). Times are on
    the migration's clock."""
    bin_s = bin_s or orchestrator.config.canary.health_interval_s
    faults: list[list[Any]] = []
    for side, events in (fault_logs or {}).items():
        faults += _fault_spans(events, side, bin_s)
    faults += [[start, stop if stop is not None else end, label, 0, "scenario"] for start, stop, label in marks]
    faults += [[e.at, e.at, str(e.data.get("fault")), 1, "journal"] for e in orchestrator.timeline("fault")]
    latency: dict[str, list[list[float | int | None]]] = {}
    for cohort in ("source", "target"):
        rows: list[list[float | int | None]] = []
        t = 0.0 if steady_window is None else float(steady_window[0])
        transitions = orchestrator.read_percent_timeline()
        if steady_window is None and transitions:
            t = transitions[0][0]
        while t < end + bin_s:
            w = metrics.window(cohort, t, t + bin_s)
            if w.requests:
                rows.append([round(t + bin_s / 2, 3), w.percentile_ms(50), w.percentile_ms(99), w.requests])
            t += bin_s
        latency[cohort] = rows
    return {
        "clock": clock_label,
        "end": end,
        "transitions": [[at, pct, phase] for at, pct, phase in orchestrator.read_percent_timeline()],
        "health": [_health_row(e.at, e.data) for e in orchestrator.timeline("health")],
        "decisions": [[e.at, str(e.data.get("decision"))] for e in orchestrator.timeline("decision")],
        "alerts": [[a.at, a.severity, a.title] for a in alerts],
        "faults": faults,
        "latency": latency,
        "bin_s": bin_s,
        "steady_state": list(steady_window) if steady_window else None,
    }


def _health_row(at: float, data: Mapping[str, Any]) -> dict[str, Any]:
    """One health check (or warm-up round) as the report shows it."""
    outcome = data.get("counted_as") or ("settled" if data.get("settled") else "warming")
    return {
        "at": at,
        "check": data.get("check"),
        "outcome": str(outcome),
        "failed": list(data.get("failed", [])),
        "requests": data.get("requests"),
        "p99_ms": data.get("p99_ms"),
        "cache_hit_rate": data.get("cache_hit_rate"),
        "error_rate": data.get("error_rate"),
        "canary_median_ms": data.get("canary_median_ms"),
        "baseline_median_ms": data.get("baseline_median_ms"),
        "mann_whitney_p": data.get("mann_whitney_p"),
    }


def _fault_spans(events: Sequence[FaultEvent], side: str, gap_s: float) -> list[list[Any]]:
    """Injected faults merged into spans per kind: ``[start, end, kind, count, side]`` (events closer
    than ``gap_s`` apart join one span), so thousands of per-call faults plot as a few bars."""
    spans: list[list[Any]] = []
    open_span: dict[str, list[Any]] = {}
    for event in events:
        kind = str(event.kind)
        span = open_span.get(kind)
        if span is not None and event.at - span[1] <= gap_s:
            span[1] = event.at
            span[3] += 1
            continue
        span = [event.at, event.at, kind, 1, side]
        open_span[kind] = span
        spans.append(span)
    return spans


# -- the plot -----------------------------------------------------------------------------------------
LATENCY_FLOOR_MS = 0.1
"""Latencies below this (cache hits; exactly 0 ms on a ManualClock) are drawn on it, labelled "≤0.1":
a logarithmic axis has no zero, and a line falling off the chart would look like missing data."""
_LANE_STEP = 9.0  # read-% units between fault lanes, under the 0 % line
_LANE_TOP = -12.0  # the first fault lane
_LABEL_CHARS = 32
_MAX_ALERTS_IN_LEGEND = 4


def _origin(timeline: Mapping[str, Any]) -> float:
    """Time zero of the plot: the migration's first transition (dual-write begins)."""
    transitions = timeline.get("transitions") or []
    if transitions:
        return float(transitions[0][0])
    steady = timeline.get("steady_state")
    return float(steady[1]) if steady else 0.0


def _short(text: str, limit: int = _LABEL_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _phase_bands(ax: Any, transitions: Sequence[Sequence[Any]], end: float, origin: float) -> list[Any]:
    """Shade each phase; returns legend handles for the phases shown (in order of appearance)."""
    from matplotlib.patches import Patch

    handles: dict[str, Any] = {}
    for i, (at, _, phase) in enumerate(transitions):
        until = float(transitions[i + 1][0]) if i + 1 < len(transitions) else end
        colour, alpha = palette.PHASE.get(str(phase), (palette.OKABE_ITO["grey"], 0.15))
        if until > float(at):
            ax.axvspan(float(at) - origin, until - origin, facecolor=colour, alpha=alpha, linewidth=0)
        label = str(phase).replace("_", " ")
        handles.setdefault(str(phase), Patch(facecolor=colour, alpha=alpha, edgecolor="none", label=label))
    return list(handles.values())


def _fault_lanes(ax: Any, faults: Sequence[Sequence[Any]], origin: float, span: float) -> list[tuple[float, str, str]]:
    """One horizontal lane per ``side: kind`` under the 0 % line, a bar per span; returns ``(y, label,
    colour)`` per lane for the y axis (labels sit once per lane on the axis, never over the bars)."""
    lanes: dict[str, tuple[float, str]] = {}
    for t0, t1, kind, _count, side in faults:
        start, stop = float(t0) - origin, float(t1) - origin
        if stop < 0 or start > span:
            continue  # wholly outside the migration
        key = f"{side}: {kind}"
        colour = palette.FAULT_SIDE.get(str(side), palette.OKABE_ITO["grey"])
        if key not in lanes:
            lanes[key] = (_LANE_TOP - _LANE_STEP * len(lanes), colour)
        y = lanes[key][0]
        ax.plot(
            [max(start, 0.0), max(stop, start + span * 0.004)], [y, y], color=colour, linewidth=4, solid_capstyle="butt"
        )
    return [(y, key, colour) for key, (y, colour) in lanes.items()]


def _traffic_panel(ax: Any, timeline: Mapping[str, Any], origin: float, span: float, gid: str) -> None:
    from matplotlib.lines import Line2D

    transitions = timeline.get("transitions") or []
    handles = _phase_bands(ax, transitions, origin + span, origin)
    if transitions:
        xs = [float(t[0]) - origin for t in transitions] + [span]
        ys = [float(t[1]) for t in transitions] + [float(transitions[-1][1])]
        ax.step(xs, ys, where="post", color=palette.OKABE_ITO["black"], linewidth=1.6)
        handles.insert(0, Line2D([], [], color=palette.OKABE_ITO["black"], linewidth=1.6, label="read % on target"))
    outcomes: dict[str, Any] = {}
    for row in timeline.get("health") or []:
        outcome = str(row.get("outcome"))
        colour = palette.OUTCOME.get(outcome, palette.OKABE_ITO["grey"])
        warm_up = row.get("check") == "warm_up"
        ax.plot(
            float(row["at"]) - origin,
            -5 if warm_up else 106,
            marker="o",
            markersize=3.5,
            color=colour,
            linestyle="none",
        )
        name = f"warm-up: {outcome}" if warm_up else f"health: {outcome.replace('_', ' ')}"
        outcomes.setdefault(
            name, Line2D([], [], marker="o", markersize=3.5, color=colour, linestyle="none", label=name)
        )
    handles += list(outcomes.values())
    for at, decision in timeline.get("decisions") or []:
        x = float(at) - origin
        colour, style = palette.DECISION.get(str(decision), (palette.OKABE_ITO["grey"], ":"))
        ax.axvline(x, color=colour, linestyle=style, linewidth=0.9, alpha=0.9)
        if decision in ("rollback", "blocked", "completed"):
            side = "left" if x < span * 0.05 else "right"
            ax.annotate(str(decision), (x, 55), fontsize=7, color=colour, rotation=90, ha=side, va="center")
    lanes = _fault_lanes(ax, timeline.get("faults") or [], origin, span)
    alerts: dict[str, Any] = {}
    for at, _severity, title in timeline.get("alerts") or []:
        ax.plot(
            float(at) - origin, 114, marker="v", color=palette.OKABE_ITO["vermillion"], markersize=5, linestyle="none"
        )
        label = f"alert: {_short(str(title))}"
        alerts.setdefault(
            label,
            Line2D(
                [], [], marker="v", color=palette.OKABE_ITO["vermillion"], markersize=5, linestyle="none", label=label
            ),
        )
    shown = list(alerts.values())[:_MAX_ALERTS_IN_LEGEND]
    if len(alerts) > len(shown):
        shown.append(Line2D([], [], linestyle="none", label=f"+{len(alerts) - len(shown)} more alerts"))
    handles += shown
    bottom = (lanes[-1][0] - _LANE_STEP / 2) if lanes else -10.0
    ax.set_ylim(bottom, 119)
    ticks = [0, 25, 50, 75, 100] + [y for y, _, _ in lanes]
    ax.set_yticks(ticks, ["0", "25", "50", "75", "100"] + [_short(label) for _, label, _ in lanes])
    for tick, (_, _, colour) in zip(ax.get_yticklabels()[5:], lanes, strict=True):
        tick.set_color(colour)
        tick.set_fontsize(6)
    ax.set_ylabel("read % on target")
    ax.set_xlim(0, span)
    ax.grid(axis="y", alpha=0.25)
    if handles:
        ncols = 1 if len(handles) <= 11 else 2
        legend = ax.legend(
            handles=handles,
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
            fontsize=6.5,
            frameon=False,
            borderaxespad=0,
            ncols=ncols,
        )
        legend.set_gid(f"{gid}-legend")


def _bin_width(rows: Sequence[Sequence[Any]]) -> float:
    """The bin width of latency rows that predate ``bin_s`` in the data: the smallest step between bins."""
    mids = sorted({float(r[0]) for r in rows})
    steps = [b - a for a, b in itertools.pairwise(mids) if b > a]
    return min(steps) if steps else 1.0


def latency_steps(
    rows: Sequence[Sequence[Any]], column: int, bin_s: float, origin: float = 0.0
) -> tuple[list[float], list[float]]:
    """One latency column of ``migration_timeline`` rows as a step line: each bin a flat segment over
    its own interval, a NaN (a break in the line) wherever bins are missing (no traffic) or the value
    is (None: no sample), values under ``LATENCY_FLOOR_MS`` drawn on it. Never a line across a gap."""
    xs: list[float] = []
    ys: list[float] = []
    previous_stop: float | None = None
    for row in sorted(rows, key=lambda r: float(r[0])):
        value = row[column]
        start = float(row[0]) - bin_s / 2 - origin
        stop = start + bin_s
        if value is None or not math.isfinite(float(value)):
            previous_stop = None
            xs.append(math.nan)
            ys.append(math.nan)
            continue
        if previous_stop is not None and start - previous_stop > bin_s * 0.01:
            xs.append(math.nan)
            ys.append(math.nan)
        y = max(float(value), LATENCY_FLOOR_MS)
        xs += [start, stop]
        ys += [y, y]
        previous_stop = stop
    return xs, ys


def _latency_ticks(top_ms: float) -> list[float]:
    """Decades from the floor up to the first at or above ``top_ms`` (with the 3× marks between them
    when there are three decades or fewer); every other decade past six."""
    decades = [LATENCY_FLOOR_MS]
    while decades[-1] < top_ms:
        decades.append(decades[-1] * 10)
    if len(decades) <= 3:
        return sorted({*decades, *(d * 3 for d in decades)})
    return decades if len(decades) <= 6 else decades[:: math.ceil(len(decades) / 6)]


def _latency_panel(ax: Any, timeline: Mapping[str, Any], origin: float, span: float, gid: str) -> None:
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    latency = timeline.get("latency") or {}
    bin_s = float(timeline.get("bin_s") or _bin_width([r for rows in latency.values() for r in rows]))
    top = LATENCY_FLOOR_MS * 10
    for cohort, rows in latency.items():
        colour = palette.COHORT.get(cohort, palette.OKABE_ITO["grey"])
        for column, style, width, name in ((1, "--", 1.0, "p50"), (2, "-", 1.5, "p99")):
            xs, ys = latency_steps(rows, column, bin_s, origin)
            finite = [y for y in ys if math.isfinite(y)]
            if not finite:
                continue
            (line,) = ax.plot(xs, ys, color=colour, linestyle=style, linewidth=width, label=f"{cohort} {name}")
            line.set_gid(f"{gid}-{cohort}-{name}")
            top = max(top, *finite)
    ax.set_xlim(0, span)
    ax.set_yscale("log")
    ceiling = top * 1.8
    ax.set_ylim(LATENCY_FLOOR_MS / 1.5, ceiling)
    ax.yaxis.set_major_locator(FixedLocator([t for t in _latency_ticks(top) if t <= ceiling]))
    ax.yaxis.set_minor_locator(NullLocator())
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"≤{v:g}" if v <= LATENCY_FLOOR_MS * 1.001 else f"{v:g}"))
    if ax.get_lines():
        legend = ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=6.5, frameon=False, borderaxespad=0)
        legend.set_gid(f"{gid}-legend")
    else:
        ax.text(
            0.5, 0.5, "no queries during the migration", transform=ax.transAxes, ha="center", va="center", fontsize=8
        )
    steady = timeline.get("steady_state")
    after = f" (after a {float(steady[1]) - float(steady[0]):.0f} s steady-state window)" if steady else ""
    ax.set_ylabel("latency (ms)")
    ax.set_xlabel(f"{timeline.get('clock', 'seconds')} since the migration began{after}")
    ax.grid(alpha=0.25)


def timeline_svg(scenario: str, runs: Sequence[Mapping[str, Any]]) -> str:
    """The scenario's timeline as one ``<svg>``: per run, traffic/decisions on top, latency below.

    Each run is an entry of a game-day check's ``details["runs"]`` (a summary with a ``timeline``).
    Time 0 is the run's first transition; elements carry ids ``timeline-<scenario>-<run>-traffic`` /
    ``-latency`` (axes) and ``…-legend`` (their legends), ``…-latency-<cohort>-p99`` (lines).
    """
    from matplotlib.figure import Figure  # matplotlib is heavy; only rendering needs it

    from harness.reporting.plots import figure_svg

    shown = [r for r in runs if isinstance(r.get("timeline"), Mapping)] or [{"label": "no run", "timeline": {}}]
    fig = Figure(figsize=(10, 4.2 * len(shown)), layout="constrained")
    subfigures = fig.subfigures(len(shown), 1, squeeze=False)
    for i, run in enumerate(shown):
        timeline = run["timeline"]
        origin = _origin(timeline)
        span = max(float(timeline.get("end") or origin) - origin, 1e-3)
        top, bottom = subfigures[i][0].subplots(2, 1, height_ratios=[2.4, 1.4], sharex=True)
        gid = f"timeline-{scenario}-{i}"
        top.set_gid(f"{gid}-traffic")
        bottom.set_gid(f"{gid}-latency")
        _traffic_panel(top, timeline, origin, span, f"{gid}-traffic")
        top.set_title(f"{scenario} — {run.get('label', '')}: {run.get('final_phase', '')}", fontsize=9, loc="left")
        _latency_panel(bottom, timeline, origin, span, f"{gid}-latency")
    return figure_svg(fig, f"timeline-{scenario}")
