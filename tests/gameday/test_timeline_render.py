"""The timelines as a person sees them: rendered by headless Chromium, checked by the boxes and paths
of the rendered page.

Three timelines: a migration timeline as ``ragmig demo`` draws it (a real orchestrated migration, no
steady state), a game day's (the canary error spike: steady state, faults, alerts, a rollback), and
report data built to be nasty (many long fault lanes and alerts, a gap, samples of 0 ms and None, a
decision on the right edge). For each: the x axis starts at 0 at the plot's left edge, no latency line
crosses an interval without data or dips under the ≤0.1 ms floor, no legend is overlapped by any
other text, marker or plot area, and no two texts overlap. A screenshot of each page is kept in the
test's temporary directory for a person to look at.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from harness.model import Check, Status
from harness.reporting.gameday import check_section_html
from harness.reporting.timeline import LATENCY_FLOOR_MS
from scenarios.gameday.stack import GameDayStack, gameday_check
from scenarios.gameday.test_canary_error_spike import run_canary_error_spike

BOXES_SCRIPT = """<script>
(() => {
  const box = e => { const r = e.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; };
  const out = [];
  for (const svg of document.querySelectorAll("figure svg")) {
    const fig = {scenario: svg.closest("figure").dataset.scenario, svg: box(svg), texts: [], legends: {},
                 axes: {}, markers: []};
    for (const t of svg.querySelectorAll("text")) {
      const legend = t.closest('g[id$="-legend"]');
      fig.texts.push({text: t.textContent, box: box(t), legend: legend ? legend.id : null});
    }
    for (const g of svg.querySelectorAll('g[id$="-legend"]')) fig.legends[g.id] = box(g);
    for (const g of svg.querySelectorAll('g[id$="-traffic"], g[id$="-latency"]')) {
      const patch = g.querySelector(':scope > g[id^="patch"] > path');
      const ticks = [...g.querySelectorAll('g[id^="xtick"]')].map(x => {
        const b = box(x.querySelector("use"));
        const label = x.querySelector("text");
        return {x: (b[0] + b[2]) / 2, label: label ? label.textContent : null};
      });
      const yticks = [...g.querySelectorAll('g[id^="ytick"]')].map(y => {
        const b = box(y.querySelector("use"));
        const label = y.querySelector("text");
        return {y: (b[1] + b[3]) / 2, label: label ? label.textContent : null};
      });
      fig.axes[g.id] = {area: box(patch), ticks: ticks, yticks: yticks};
    }
    for (const u of svg.querySelectorAll("use")) {
      if (!u.closest('g[id$="-legend"]') && !u.closest('g[id^="xtick"], g[id^="ytick"]')) fig.markers.push(box(u));
    }
    out.push(fig);
  }
  const pre = document.createElement("pre");
  pre.id = "boxes";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();
</script>"""


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if found is None:
        pytest.skip("no chromium binary on PATH (CI installs the Debian 'chromium' package)")
    return found


def browse(page: Path, *mode: str) -> subprocess.CompletedProcess[str]:
    profile = page.parent / f"{page.stem}-chromium-profile"
    return subprocess.run(
        [
            chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            *mode,
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def render(section: str, directory: Path, name: str) -> tuple[list[dict[str, Any]], str, Path]:
    """Render one report section in Chromium: the boxes the page measured, the DOM, and a screenshot."""
    page = directory / f"{name}.html"
    page.write_text(
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"></head><body style="margin:8px">'
        f"{section}{BOXES_SCRIPT}</body></html>",
        encoding="utf-8",
    )
    dumped = browse(page, "--dump-dom")
    assert dumped.returncode == 0, dumped.stderr[-2000:]
    found = re.search(r'<pre id="boxes">(.*?)</pre>', dumped.stdout, re.DOTALL)
    assert found, "the measuring script did not run"
    shot = directory / f"{name}.png"
    taken = browse(page, f"--screenshot={shot}", "--window-size=1100,1300")
    assert taken.returncode == 0 and shot.stat().st_size > 20_000, taken.stderr[-2000:]
    return json.loads(html.unescape(found.group(1))), dumped.stdout, shot


# -- geometry ------------------------------------------------------------------------------------------
def overlap(a: Sequence[float], b: Sequence[float], tolerance: float = 0.75) -> bool:
    """True when boxes ``[left, top, right, bottom]`` share more than ``tolerance`` px both ways."""
    return min(a[2], b[2]) - max(a[0], b[0]) > tolerance and min(a[3], b[3]) - max(a[1], b[1]) > tolerance


def empty(box: Sequence[float]) -> bool:
    return box[2] - box[0] <= 0 or box[3] - box[1] <= 0


def subpaths(d: str) -> list[list[tuple[float, float]]]:
    """The absolute M/L subpaths of a matplotlib SVG path (a NaN in the data starts a new ``M``)."""
    out: list[list[tuple[float, float]]] = []
    for command, x, y in re.findall(r"([ML])\s*(-?[\d.]+)\s+(-?[\d.]+)", d):
        if command == "M":
            out.append([])
        out[-1].append((float(x), float(y)))
    return out


def covered(rows: Sequence[Sequence[Any]], column: int, bin_s: float, origin: float) -> list[tuple[float, float]]:
    """The intervals (plot seconds) that have a value in ``column``: bins merged where they touch."""
    spans: list[tuple[float, float]] = []
    for row in sorted(rows, key=lambda r: float(r[0])):
        if row[column] is None:
            continue
        start, stop = float(row[0]) - bin_s / 2 - origin, float(row[0]) + bin_s / 2 - origin
        if spans and start - spans[-1][1] <= bin_s * 0.01:
            spans[-1] = (spans[-1][0], stop)
        else:
            spans.append((start, stop))
    return spans


def svg_group(dom: str, gid: str) -> str:
    start = dom.index(f'<g id="{gid}"')
    return dom[start : start + 200_000]


def axes_extent(dom: str, gid: str) -> tuple[float, float, float, float]:
    """``(left, right, top, bottom)`` of the axes ``gid`` in SVG units (its background patch)."""
    patch = re.search(r'<g id="patch_\d+">\s*<path d="([^"]+)"', svg_group(dom, gid))
    assert patch, gid
    points = [(float(x), float(y)) for x, y in re.findall(r"(-?[\d.]+)\s+(-?[\d.]+)", patch.group(1))]
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    return min(xs), max(xs), min(ys), max(ys)


# -- the checks ----------------------------------------------------------------------------------------
def check_rendered(
    figures: list[dict[str, Any]], dom: str, runs_by_figure: Mapping[str, Sequence[Mapping[str, Any]]]
) -> int:
    """Every check of the module docstring on every rendered figure; returns the number of line breaks
    (subpaths beyond the first) seen, so a caller can insist that a gap was really drawn as one."""
    breaks = 0
    assert [f["scenario"] for f in figures] == list(runs_by_figure)
    for figure in figures:
        scenario = figure["scenario"]
        runs = runs_by_figure[scenario]
        assert len(figure["axes"]) == 2 * len(runs)
        # The x axis starts at 0, at the plot's left edge (both panels of every run).
        for gid, axes in figure["axes"].items():
            first = min(axes["ticks"], key=lambda t: t["x"])
            assert abs(first["x"] - axes["area"][0]) <= 1.0, f"{gid}: the first x tick is not at the left edge"
            if gid.endswith("-latency"):
                assert first["label"] in ("0", "0.0"), f"{gid}: the x axis starts at {first['label']}"
        # No legend is overlapped, and every legend is on the page.
        for legend_id, legend in figure["legends"].items():
            assert not empty(legend) and legend[2] <= figure["svg"][2] + 1 and legend[3] <= figure["svg"][3] + 1
            for text in figure["texts"]:
                if text["legend"] != legend_id and not empty(text["box"]):
                    assert not overlap(text["box"], legend), f"{text['text']!r} overprints {legend_id}"
            for gid, axes in figure["axes"].items():
                assert not overlap(axes["area"], legend), f"{legend_id} lies over the plot area {gid}"
            for marker in figure["markers"]:
                assert not overlap(marker, legend), f"a marker at {marker} lies on {legend_id}"
        # No two texts overlap (fault lane labels, alert names, decision labels, ticks, titles).
        texts = [t for t in figure["texts"] if t["text"].strip() and not empty(t["box"])]
        for i, a in enumerate(texts):
            for b in texts[i + 1 :]:
                assert not overlap(a["box"], b["box"]), f"{a['text']!r} overlaps {b['text']!r} in {scenario}"
        # Latency lines: never across an interval without data, never under the floor.
        for i, run in enumerate(runs):
            timeline = run["timeline"]
            origin = float(timeline["transitions"][0][0])
            span = float(timeline["end"]) - origin
            gid = f"timeline-{scenario}-{i}-latency"
            left, right, _, _ = axes_extent(dom, gid)
            bin_s = float(timeline["bin_s"])
            for cohort, rows in timeline["latency"].items():
                for column, name in ((1, "p50"), (2, "p99")):
                    d = line_path(dom, f"{gid}-{cohort}-{name}")
                    spans = covered(rows, column, bin_s, origin)
                    if not spans:
                        assert d is None, f"{gid}: a {cohort} {name} line drawn without any data"
                        continue
                    assert d is not None, f"{gid}: the {cohort} {name} line is missing"
                    pieces = subpaths(d)
                    breaks += len(pieces) - 1
                    for piece in pieces:
                        xs = [(x - left) / (right - left) * span for x, _ in piece]
                        lo, hi = max(min(xs), 0.0), min(max(xs), span)
                        if hi <= lo:
                            continue  # wholly left of 0 (before the migration): clipped away
                        tolerance = span * 0.003
                        assert any(s - tolerance <= lo and hi <= e + tolerance for s, e in spans), (
                            f"{gid}: the {cohort} {name} line runs over [{lo:.2f}, {hi:.2f}] s, "
                            f"outside the intervals with data {spans}"
                        )
    return breaks


def line_path(dom: str, gid: str) -> str | None:
    """The ``d`` of the line whose group id is ``gid``, None when no such line was drawn."""
    if f'<g id="{gid}"' not in dom:
        return None
    found = re.search(r'<path d="([^"]+)"', svg_group(dom, gid))
    assert found, gid
    return found.group(1)


def floor_y(dom: str, gid: str) -> float:
    """The SVG y of the ≤0.1 ms tick of the latency axes ``gid``."""
    for chunk in svg_group(dom, gid).split('<g id="ytick_')[1:]:
        if f">≤{LATENCY_FLOOR_MS:g}<" in chunk.split('<g id="ytick_')[0]:
            found = re.search(r'<use [^>]*\by="(-?[\d.]+)"', chunk)
            assert found, chunk[:300]
            return float(found.group(1))
    raise AssertionError(f"{gid}: no ≤{LATENCY_FLOOR_MS:g} tick")


def check_floor(dom: str, gid: str, lines: Sequence[str]) -> None:
    """No plotted latency point lies below the ≤0.1 ms floor (missing data is a break, never a 0)."""
    floor = floor_y(dom, gid)
    for line in lines:
        d = line_path(dom, f"{gid}-{line}")
        assert d is not None, line
        lowest = max(y for piece in subpaths(d) for _, y in piece)  # SVG y grows downwards
        assert lowest <= floor + 0.5, f"{gid}-{line} dips below the ≤{LATENCY_FLOOR_MS:g} ms floor"


# -- the timelines -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def real_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A plain orchestrated migration (as the demo draws it: no steady state) and the canary error
    spike game day, both on the embedded stack."""
    with GameDayStack(tmp_path_factory.mktemp("timeline-stack")) as stack:
        source, uri = stack.exact_source()
        run = stack.run_to_edge("exact → Qdrant Edge", source, uri)
        run.migrate_under_load()
        migration = gameday_check(
            "migration", True, observed=str(run.phase), expected="completed", message="", runs=[run]
        )
        spike = run_canary_error_spike(stack)
    return {"migration": migration, "canary_error_spike": spike}


def nasty_timeline() -> dict[str, Any]:
    """Report data built to be hard to lay out (it is data, not a stand-in for a component)."""
    t0 = 250.0  # a clock that does not start at 0, like the demo's monotonic clock
    phases = ["dual_write", "backfill", "verify", "shadow", "warm_up", "canary", "canary", "live", "rolled_back"]
    transitions = [
        [t0 + 10 * i, pct, phase]
        for i, (phase, pct) in enumerate(zip(phases, [0, 0, 0, 0, 0, 5, 25, 100, 0], strict=True))
    ]
    kinds = [f"fault kind {i} with a rather long description of what was injected" for i in range(6)]
    faults = [
        [t0 + 5 + 7 * i, t0 + 30 + 7 * i, kinds[i], 10, side]
        for i, side in enumerate(["source", "target", "scenario", "journal", "target", "source"])
    ]
    faults += [
        [t0 + 62, t0 + 63, kinds[1], 2, "target"],
        [t0 + 66, t0 + 67, kinds[1], 2, "target"],
    ]  # one lane, 3 spans
    alerts = [
        [t0 + 80 + i, "critical", f"alert number {i}: the canary's error rate exceeded its threshold badly"]
        for i in range(6)
    ]
    bin_s = 2.0
    target = [[t0 + 51 + 2 * i, 0.0 if i % 4 == 0 else 3.0 + i, 5.0 * (i + 1), 4] for i in range(8)]  # 0 ms: cache hits
    target += [
        [t0 + 75 + 2 * i, None if i == 2 else 2.0, 40_000.0 if i == 1 else 8.0, 3] for i in range(6)
    ]  # gap, None
    source = [[t0 + 1 + 2 * i, 1.0, 2.5, 10] for i in range(20)] + [[t0 + 61 + 2 * i, 1.0, 2.0, 10] for i in range(10)]
    return {
        "clock": "seconds",
        "end": t0 + 90.0,
        "transitions": transitions,
        "health": [
            {"at": t0 + 50 + 3 * i, "check": "canary", "outcome": ("pass", "fail", "no_data")[i % 3]} for i in range(12)
        ],
        "decisions": [[t0 + 50, "shift"], [t0 + 60, "shift"], [t0 + 70, "promote"], [t0 + 89.9, "rollback"]],
        "alerts": alerts,
        "faults": faults,
        "latency": {"source": source, "target": target},
        "bin_s": bin_s,
        "steady_state": None,
    }


def test_a_migration_and_a_game_day_timeline_render_legibly(real_runs: dict[str, Any], tmp_path: Path) -> None:
    sections = {name: check_section_html(check, name) for name, check in real_runs.items()}
    figures, dom, shot = render("".join(sections.values()), tmp_path, "timelines")
    runs = {name: check.details["runs"] for name, check in real_runs.items()}
    check_rendered(figures, dom, runs)
    for name, check_runs in runs.items():
        for i, run in enumerate(check_runs):
            drawn = [
                f"{cohort}-{n}" for cohort, rows in run["timeline"]["latency"].items() if rows for n in ("p50", "p99")
            ]
            assert drawn, f"{name}: no latency at all"
            check_floor(dom, f"timeline-{name}-{i}-latency", drawn)
    assert shot.exists()


def test_a_nasty_timeline_still_renders_legibly(tmp_path: Path) -> None:
    run = {"label": "nasty data", "final_phase": "rolled_back", "timeline": nasty_timeline()}
    check = Check(
        "gameday.nasty", Status.FAIL, message="report data built to be hard to lay out", details={"runs": [run]}
    )
    figures, dom, _ = render(check_section_html(check, "nasty"), tmp_path, "nasty")
    breaks = check_rendered(figures, dom, {"nasty": [run]})
    # The source gap (40-60 s), the target gap (67-75 s) and the None sample each break a line.
    assert breaks >= 3
    check_floor(dom, "timeline-nasty-0-latency", ["target-p50", "target-p99", "source-p50", "source-p99"])
