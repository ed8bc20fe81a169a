"""The game-day timeline plot: what the traffic did, what broke, and what the harness decided, over time.

One SVG per scenario, two panels per migration run (a scenario may run a control and a protected
run): on top the read percentage on the target (a step line) over the phases (shaded bands), the
injected faults (bars under the axis), the health checks (dots: pass, fail, no data) and the
decisions (vertical lines: shift, promote, rollback, blocked, completed); below, each cohort's p50
and p99 latency per time bin. Rendered with ``matplotlib.figure.Figure`` (never pyplot), text kept
as text (``svg.fonttype = "none"``), element ids salted per scenario so many SVGs share a page.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from harness.redact import redact_uri

if TYPE_CHECKING:
    from harness.faults.events import FaultEvent
    from harness.migration.alerts import Alert
    from harness.migration.metrics import InProcessMetrics
    from harness.migration.orchestrator import Orchestrator

__all__ = ["migration_summary", "migration_timeline", "timeline_svg"]

_PHASE_COLOURS = {
    "dual_write": "#e8eef7",
    "backfill": "#d6e2f3",
    "verify": "#f3ecd6",
    "shadow": "#efe3f3",
    "warm_up": "#fbe7d4",
    "canary": "#e0f1e0",
    "live": "#cfe8cf",
    "completed": "#bfe0bf",
    "blocked": "#f6d5d5",
    "rolled_back": "#f6d5d5",
}
_COHORT = {"source": "#4c72b0", "target": "#dd8452"}
_OUTCOME = {"pass": "#1a7f37", "fail": "#cf222e", "no_data": "#8c8c8c", "warming": "#bf8700", "settled": "#1a7f37"}
_DECISION = {
    "shift": ("#55a868", ":"),
    "promote": ("#55a868", "-"),
    "rollback": ("#cf222e", "-"),
    "blocked": ("#cf222e", "-"),
    "completed": ("#1a7f37", "-"),
    "verified": ("#4c72b0", ":"),
}
_FAULT_SIDES = {"source": "#4c72b0", "target": "#dd8452", "scenario": "#8172b2", "journal": "#937860"}


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
    ``bin_s`` seconds (default: half the health interval). Times are on the migration's clock."""
    bin_s = bin_s or orchestrator.config.canary.health_interval_s / 2
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
def _phase_bands(ax: Any, transitions: Sequence[Sequence[Any]], end: float) -> list[Any]:
    """Shade each phase; returns legend handles for the phases shown (in order of appearance)."""
    from matplotlib.patches import Patch

    handles: dict[str, Any] = {}
    for i, (at, _, phase) in enumerate(transitions):
        until = transitions[i + 1][0] if i + 1 < len(transitions) else end
        colour = _PHASE_COLOURS.get(str(phase), "#f0f0f0")
        if until > at:
            ax.axvspan(at, until, color=colour, alpha=0.8, linewidth=0)
        handles.setdefault(str(phase), Patch(facecolor=colour, edgecolor="#bbbbbb", label=str(phase)))
    return list(handles.values())


def _start_of(timeline: Mapping[str, Any]) -> float:
    """Where the x axis starts: the migration's start, with the steady state's last tenth of the
    migration's span before it (a migration that blocks in a second stays legible)."""
    transitions = timeline.get("transitions") or []
    end = float(timeline.get("end") or 0.0)
    first = float(transitions[0][0]) if transitions else 0.0
    steady = timeline.get("steady_state")
    if not steady:
        return first
    span = max(end - first, 1e-6)
    return max(float(steady[0]), first - max(0.15 * span, 1e-3))


def _traffic_panel(ax: Any, timeline: Mapping[str, Any]) -> None:
    transitions = timeline.get("transitions") or []
    end = float(timeline.get("end") or 0.0)
    start = _start_of(timeline)
    steady = timeline.get("steady_state")
    if steady:
        ax.axvspan(steady[0], steady[1], color="#f4f4f4", linewidth=0)
        ax.annotate(
            "steady state", (max(start, steady[0]), 1.0), xycoords=("data", "axes fraction"), fontsize=6, va="top"
        )
    phases = _phase_bands(ax, transitions, end)
    if phases:
        ax.legend(handles=phases, loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=6, frameon=False)
    if transitions:
        xs = [float(t[0]) for t in transitions] + [end]
        ys = [float(t[1]) for t in transitions] + [float(transitions[-1][1])]
        ax.step(xs, ys, where="post", color="#222222", linewidth=1.6, label="read % on target")
    for row in timeline.get("health") or []:
        outcome = str(row.get("outcome"))
        ax.plot(
            row["at"],
            -6 if row.get("check") == "warm_up" else 104,
            marker="o",
            markersize=3.5,
            color=_OUTCOME.get(outcome, "#8c8c8c"),
            linestyle="none",
        )
    for at, decision in timeline.get("decisions") or []:
        colour, style = _DECISION.get(str(decision), ("#999999", ":"))
        ax.axvline(at, color=colour, linestyle=style, linewidth=0.9, alpha=0.9)
        if decision in ("rollback", "blocked", "completed"):
            ax.annotate(str(decision), (at, 55), fontsize=7, color=colour, rotation=90, ha="right")
    faults = timeline.get("faults") or []
    lanes: dict[str, int] = {}
    for t0, t1, kind, _count, side in faults:
        lane = lanes.setdefault(f"{side}:{kind}", len(lanes))
        y = -14 - 6 * lane
        colour = _FAULT_SIDES.get(str(side), "#937860")
        ax.plot([t0, max(float(t1), float(t0) + (end - start) * 0.004)], [y, y], color=colour, linewidth=4)
        ax.annotate(f"{side}: {kind}", (t0, y + 1.2), fontsize=6, color=colour)
    for at, _severity, title in timeline.get("alerts") or []:
        ax.plot(at, 112, marker="v", color="#cf222e", markersize=5, linestyle="none")
        ax.annotate(str(title), (at, 114), fontsize=6, color="#cf222e")
    ax.set_ylim(-20 - 6 * max(1, len(lanes)), 125)
    ax.set_yticks([0, 25, 50, 75, 100])
    ax.set_ylabel("read % on target")
    ax.set_xlim(start, max(end, start + 1e-6))
    ax.grid(axis="y", alpha=0.25)


def _latency_panel(ax: Any, timeline: Mapping[str, Any], clock: str) -> None:
    plotted = False
    ax.set_xlim(_start_of(timeline), max(float(timeline.get("end") or 0.0), _start_of(timeline) + 1e-6))
    for cohort, rows in (timeline.get("latency") or {}).items():
        rows = [r for r in rows if r[2] is not None]
        if not rows:
            continue
        xs = [r[0] for r in rows]
        colour = _COHORT.get(cohort, "#555555")
        ax.plot(xs, [r[1] for r in rows], color=colour, linewidth=1, linestyle="--", label=f"{cohort} p50")
        ax.plot(xs, [r[2] for r in rows], color=colour, linewidth=1.4, label=f"{cohort} p99")
        plotted = True
    if plotted:
        # Linear below 1 ms (cache hits cost ~0), logarithmic above (a cold miss costs seconds).
        ax.set_yscale("symlog", linthresh=1.0)
        ax.legend(loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=6, frameon=False)
    ax.set_ylabel("latency (ms)")
    ax.set_xlabel(clock)
    ax.grid(alpha=0.25)


def timeline_svg(scenario: str, runs: Sequence[Mapping[str, Any]]) -> str:
    """The scenario's timeline as one ``<svg>``: per run, traffic/decisions on top, latency below.

    Each run is an entry of a game-day check's ``details["runs"]`` (a summary with a ``timeline``).
    """
    from matplotlib.figure import Figure  # matplotlib is heavy; only rendering needs it

    shown = [r for r in runs if isinstance(r.get("timeline"), Mapping)] or [{"label": "no run", "timeline": {}}]
    fig = Figure(figsize=(9.5, 3.6 * len(shown)))
    axes = fig.subplots(2 * len(shown), 1, gridspec_kw={"height_ratios": [2.2, 1.0] * len(shown)}, squeeze=False)
    for i, run in enumerate(shown):
        timeline = run["timeline"]
        top, bottom = axes[2 * i][0], axes[2 * i + 1][0]
        _traffic_panel(top, timeline)
        top.set_title(f"{scenario} — {run.get('label', '')}: {run.get('final_phase', '')}", fontsize=9, loc="left")
        _latency_panel(bottom, timeline, str(timeline.get("clock", "seconds")))
    fig.tight_layout()
    from harness.reporting.plots import figure_svg

    return figure_svg(fig, f"timeline-{scenario}")
