"""``ragmig gameday``: run the game-day scenarios as a pytest session and report what the harness decided.

The suite (``scenarios.gameday``, marker ``gameday``) runs in a child ``python -m pytest`` with its
own throwaway ini file and rootdir, like ``ragmig certify``: a clean interpreter, and a ``pytest.ini``
in the user's working directory cannot change what a game day means. Its output streams through, so
the scenarios show as they run. Each scenario records one check ``gameday.<scenario>``; a scenario
that crashed before recording its check (an exception, an interrupted run) is reported as an ``error``
check naming the error — it decided nothing, so it neither passed nor failed. The command exits 0 when
every scenario met its expectation, 1 otherwise.

Reports: the JSON verdict (design.md's shape; ``source``/``target`` name the embedded stack's stores
each scenario migrated between), JUnit XML (one testcase per scenario) and a self-contained HTML page
with, per scenario, its verdict, the decisions and figures of each run, the locust load where there was
one, and a timeline SVG (read percentage, phases, faults, health checks, decisions; latency per cohort).
Every piece of text is redacted and escaped; every file is checked writable before the run and written
atomically after it. With ``-q`` the scenarios' pytest output is not shown, with ``-v`` it lists each test.
"""

from __future__ import annotations

import dataclasses
import html
import json
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness import console
from harness.errors import UsageError
from harness.model import Check, Status, Verdict
from harness.outputs import check_writable, write_text_atomic
from harness.redact import redact_text
from harness.reporting.junit import write_junit
from harness.reporting.session import child_env, child_pytest_args

__all__ = ["SCENARIOS", "check_section_html", "gameday_command", "gameday_html", "report_page", "select_scenarios"]

SCENARIOS = (
    "schema_drift",
    "missed_writes",
    "cold_cache",
    "orphaned_writes",
    "canary_error_spike",
    "latency_regression",
    "healthy_migration",
    "target_outage",
    "pinecone_rate_limits",
    "namespace_collision",
    "silent_data_loss",
    "error_flapping",
    "error_burst",
    "healthy_error_rate",
    "cache_hidden_errors",
    "baseline_degradation",
)
"""Every game-day scenario, in report order (one module ``scenarios/gameday/test_<name>.py`` each)."""


def select_scenarios(names: Sequence[str]) -> list[str]:
    """The scenarios to run (all when ``names`` is empty), in report order; ``UsageError`` for an unknown name."""
    for name in names:
        if name not in SCENARIOS:
            raise UsageError(f"unknown scenario {name!r}; choose from {', '.join(SCENARIOS)}")
    return [s for s in SCENARIOS if not names or s in names]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def gameday_command(scenarios: list[str], html: Path | None, json_path: Path | None, junit: Path | None = None) -> int:
    """Run the selected scenarios (all by default); write the JSON verdict, JUnit XML and the HTML
    report when asked.

    Returns 0 when every scenario met its expectation, 1 otherwise (an unknown scenario name or an
    output path that cannot be written is a ``UsageError``: the CLI's exit 2).
    """
    selected = select_scenarios(scenarios)
    for path, option in ((json_path, "--json"), (junit, "--junit"), (html, "--html")):
        if path is not None:
            check_writable(path, option)
    started_at = _now()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="ragmig-gameday-") as workdir:
        verdict_path = Path(workdir) / "verdict.json"
        junit_path = Path(workdir) / "junit.xml"
        args = [
            *child_pytest_args(Path(workdir), "scenarios.gameday"),
            "-m",
            "ragmig_gameday",
            "--ragmig-verdict-json",
            str(verdict_path),
            "--junitxml",
            str(junit_path),
        ]
        if len(selected) < len(SCENARIOS):
            args += ["-k", " or ".join(selected)]
        if console.verbosity() >= console.VERBOSE:
            args.append("-vv")  # the child runs with -q: -vv lists each test
        sys.stdout.flush()
        quiet = console.verbosity() <= console.QUIET
        subprocess.run(
            args,
            cwd=workdir,
            env=child_env(console.child_env()),
            stdout=subprocess.DEVNULL if quiet else None,
            check=False,
        )
        recorded = json.loads(verdict_path.read_text()) if verdict_path.exists() else {"checks": []}
        crashes = _crashes(junit_path)
    verdict = _complete(Verdict.from_dict(recorded), selected, crashes, time.monotonic() - started)
    verdict = dataclasses.replace(
        verdict,
        started_at=started_at,
        finished_at=_now(),
        source=_stack_stores(verdict.checks, "source"),
        target=_stack_stores(verdict.checks, "target"),
    )
    if json_path is not None:
        write_text_atomic(json_path, verdict.to_json() + "\n")
    if junit is not None:
        write_junit(junit, verdict, "ragmig-gameday")
    if html is not None:
        write_text_atomic(html, gameday_html(verdict))
    _print_summary(verdict, [p for p in (json_path, junit, html) if p is not None])
    return 0 if verdict.passed else 1


def _stack_stores(checks: Sequence[Check], side: str) -> dict[str, Any]:
    """The verdict's ``source`` or ``target``: the embedded stack, and per scenario the (redacted) URIs
    of the stores its migration runs used on that side (each run's summary names them)."""
    stores: dict[str, list[str]] = {}
    for check in checks:
        runs = [r for r in check.details.get("runs", []) if isinstance(r, Mapping)]
        uris = sorted({str(r[side]) for r in runs if r.get(side)})
        if uris:
            stores[check.id.removeprefix("gameday.")] = uris
    schemes = sorted({uri.split(":", 1)[0] for uris in stores.values() for uri in uris})
    return {"stack": "embedded (scenarios.gameday.stack.GameDayStack)", "schemes": schemes, "stores": stores}


def _crashes(junit_path: Path) -> dict[str, str]:
    """scenario → first line of the error of a test that failed or errored (from the JUnit XML)."""
    if not junit_path.exists():
        return {}
    found: dict[str, str] = {}
    for case in ET.parse(junit_path).getroot().iter("testcase"):
        for problem in [*case.findall("failure"), *case.findall("error")]:
            name = case.get("name", "").removeprefix("test_")
            found.setdefault(name, (problem.get("message") or problem.text or "failed").strip().splitlines()[0])
    return found


def _complete(recorded: Verdict, selected: Sequence[str], crashes: Mapping[str, str], duration_s: float) -> Verdict:
    """The recorded checks in report order, plus an ``error`` check for each scenario that recorded none
    (it crashed, or never ran: it decided nothing)."""
    by_id = {c.id: c for c in recorded.checks}
    checks = []
    for scenario in selected:
        check = by_id.get(f"gameday.{scenario}")
        if check is None:
            error = crashes.get(scenario, "no check recorded (collection error or interrupted run)")
            check = Check(
                f"gameday.{scenario}",
                Status.ERROR,
                observed="crashed",
                expected="the scenario's decision",
                message=f"the scenario did not complete: {redact_text(error)}",
            )
        checks.append(check)
    return Verdict(checks=tuple(checks), duration_s=duration_s)


def _print_summary(verdict: Verdict, written: Sequence[Path]) -> None:
    console.say()
    for check in verdict.checks:
        console.say(f"  {str(check.status).upper():4} {check.id}: {redact_text(check.message)}")
    for path in written:
        console.say(f"wrote {path}")
    passed = sum(1 for c in verdict.checks if c.status is Status.PASS)
    crashed = sum(1 for c in verdict.checks if c.status is Status.ERROR)
    console.verdict_line(
        f"game day: {passed}/{len(verdict.checks)} scenarios met their expectation in {verdict.duration_s:.1f} s"
        + (f"; {crashed} did not complete (error)" if crashed else "")
    )


# -- HTML ---------------------------------------------------------------------------------------------
_STYLE = """<style>
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;font-size:13px;margin:18px;color:#222}
table{border-collapse:collapse;margin:6px 0 10px 0}
th,td{border:1px solid #ddd;padding:3px 7px;text-align:left;vertical-align:top}
th{background:#f4f4f4}
.status{font-weight:600;text-transform:uppercase}.s-pass{color:#1a7f37}.s-fail{color:#cf222e}.s-error{color:#9a6700}
.banner{padding:10px 14px;border-radius:6px;font-size:18px;font-weight:600;margin:4px 0 12px 0}
.banner.pass{background:#dafbe1;color:#1a7f37;border:1px solid #1a7f37}
.banner.fail{background:#ffebe9;color:#cf222e;border:1px solid #cf222e}
.banner.error{background:#fff8c5;color:#9a6700;border:1px solid #9a6700}
section.scenario{border-top:2px solid #eee;padding-top:8px;margin-top:16px}
figure.timeline{margin:6px 0}figure.timeline svg{max-width:100%;height:auto}
pre{background:#f6f8fa;padding:8px;overflow:auto;max-height:360px;font-size:11px}
</style>"""
_RUN_FIELDS = (
    ("source", "source"),
    ("target", "target"),
    ("final_phase", "final phase"),
    ("phases", "phases"),
    ("read_percent_steps", "read % steps"),
    ("decisions", "decisions"),
    ("health_checks", "health checks"),
    ("failed_health_checks", "failed checks"),
    ("failed_reasons", "failed on"),
    ("alerts", "alerts"),
    ("user_queries_on_target", "user queries on target"),
    ("acknowledged_writes", "acknowledged writes"),
    ("reason", "reason"),
)
_LOAD_FIELDS = (
    ("requests", "locust requests"),
    ("failures", "locust failures"),
    ("rps", "requests/s"),
    ("p50_ms", "p50 (ms)"),
    ("p95_ms", "p95 (ms)"),
    ("p99_ms", "p99 (ms)"),
    ("users", "users"),
    ("run_time_s", "run time (s)"),
    ("service_requests_total", "/metrics ragmig_requests_total"),
    ("harness_queries", "of which harness (warm-up)"),
    ("service_user_queries", "/metrics user queries"),
    ("in_flight_at_stop", "in flight at stop"),
    ("upserts_acknowledged", "upserts acknowledged"),
    ("load_records_on_target", "load records on target"),
)


def _e(value: Any) -> str:
    """``value`` as redacted, escaped text (JSON for containers, 4 significant digits for floats)."""
    if value is None:
        return "—"
    if isinstance(value, float):
        shown = f"{value:.4g}"
    elif isinstance(value, str):
        shown = value
    elif isinstance(value, list) and all(isinstance(v, str | int | float) for v in value):
        shown = " → ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value) if value else "—"
    else:
        shown = json.dumps(value, ensure_ascii=False, default=str)
    return html.escape(redact_text(shown))


def _status(status: Status | str) -> str:
    word = html.escape(str(status))
    return f'<span class="status s-{word}">{word}</span>'


def _runs_table(runs: Sequence[Mapping[str, Any]]) -> str:
    head = "<tr><th></th>" + "".join(f"<th>{_e(r.get('label'))}</th>" for r in runs) + "</tr>"
    rows = "".join(
        f"<tr><th>{html.escape(title)}</th>" + "".join(f"<td>{_e(r.get(key))}</td>" for r in runs) + "</tr>"
        for key, title in _RUN_FIELDS
    )
    return f"<table>{head}{rows}</table>"


def _load_table(load: Mapping[str, Any]) -> str:
    title = (
        f"Locust load{': ' + str(load['stage']) if load.get('stage') else ''} (real HTTP requests to the query service)"
    )
    rows = "".join(f"<tr><th>{html.escape(title)}</th><td>{_e(load.get(key))}</td></tr>" for key, title in _LOAD_FIELDS)
    endpoints = "".join(
        f"<tr><td>{_e(e.get('method'))} {_e(e.get('name'))}</td><td>{_e(e.get('requests'))}</td>"
        f"<td>{_e(e.get('failures'))}</td><td>{_e(e.get('p50_ms'))}</td><td>{_e(e.get('p95_ms'))}</td>"
        f"<td>{_e(e.get('p99_ms'))}</td></tr>"
        for e in load.get("endpoints", [])
    )
    return (
        f"<h4>{_e(title)}</h4>"
        f"<table>{rows}</table>"
        "<table><tr><th>endpoint</th><th>requests</th><th>failures</th><th>p50 ms</th><th>p95 ms</th>"
        f"<th>p99 ms</th></tr>{endpoints}</table>"
    )


def check_section_html(check: Check, name: str | None = None) -> str:
    """One check's section: verdict, expected/observed, its runs' figures, its locust load (a mapping or
    a list of them in ``details["load"]``), its timeline SVG, and the rest of its details as evidence."""
    from harness.reporting.timeline import timeline_svg

    scenario = name or check.id.removeprefix("gameday.")
    details = dict(check.details)
    runs = [r for r in details.pop("runs", []) if isinstance(r, Mapping)]
    raw_load = details.get("load")
    loads = [raw_load] if isinstance(raw_load, Mapping) else [x for x in raw_load or [] if isinstance(x, Mapping)]
    evidence = json.dumps(details, indent=1, ensure_ascii=False, default=str)
    parts = [
        f'<section class="scenario" id="{html.escape(scenario)}">',
        f"<h2>{html.escape(scenario)} {_status(check.status)}</h2>",
        f"<p>{_e(check.message)}</p>",
        f"<table><tr><th>expected</th><td>{_e(check.expected)}</td></tr>"
        f"<tr><th>observed</th><td>{_e(check.observed)}</td></tr></table>",
    ]
    if runs:
        parts.append(_runs_table(runs))
    for load in loads:
        if load:
            parts.append(_load_table(load))
    parts.append(
        f'<figure class="timeline" data-scenario="{html.escape(scenario)}">{timeline_svg(scenario, runs)}'
        f"<figcaption>Timeline of {html.escape(scenario)}, from the migration's start (0 s): read % on the "
        "target over the phases, injected faults (one lane each, below 0 %), health checks (dots: green pass, "
        "vermillion fail, sky blue not enough evidence yet, grey no data; just below 0 %: warm-up rounds), decisions (vertical lines), alerts "
        "(triangles, named in the legend). Below: latency p50/p99 per cohort, one step per time bin, broken where "
        "no request came; latencies under 0.1 ms (cache hits) sit on the ≤0.1 line.</figcaption></figure>"
    )
    parts.append(f"<details><summary>evidence</summary><pre>{html.escape(redact_text(evidence))}</pre></details>")
    parts.append("</section>")
    return "".join(parts)


def report_page(title: str, banner: str, passed: bool, checks: Sequence[Check], sections: Sequence[str]) -> str:
    """A self-contained HTML page: ``title``, a pass/fail/error ``banner`` (error when a check is in
    error), a table of ``checks`` (linked to their sections by anchor), then ``sections`` (HTML this
    module built)."""
    word = "pass" if passed else "error" if any(c.status is Status.ERROR for c in checks) else "fail"
    rows = "".join(
        f'<tr><td><a href="#{html.escape(c.id.removeprefix("gameday."))}">{html.escape(c.id)}</a></td>'
        f"<td>{_status(c.status)}</td><td>{_e(c.message)}</td></tr>"
        for c in checks
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title>"
        f"{_STYLE}</head><body><h1>{html.escape(title)}</h1>"
        f'<div class="banner {word}">{word.upper()}: {_e(banner)}</div>'
        f"<table><tr><th>check</th><th>status</th><th>message</th></tr>{rows}</table>"
        f"{''.join(sections)}</body></html>\n"
    )


def gameday_html(verdict: Verdict) -> str:
    """The self-contained HTML report of a game-day verdict (inline SVG, no external resource)."""
    met = sum(1 for c in verdict.checks if c.status is Status.PASS)
    banner = f"{met}/{len(verdict.checks)} scenarios met their expectation ({verdict.duration_s:.1f} s)"
    sections = [check_section_html(c) for c in verdict.checks]
    return report_page("ragmig game day", banner, verdict.passed and bool(verdict.checks), verdict.checks, sections)
