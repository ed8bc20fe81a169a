"""The game-day report: one timeline SVG per scenario, every text escaped, and it renders in a browser."""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from harness.errors import UsageError
from harness.model import Check, Status, Verdict
from harness.reporting.gameday import SCENARIOS, gameday_html, select_scenarios
from scenarios.gameday.stack import GameDayStack
from scenarios.gameday.test_schema_drift import run_schema_drift

EVIL = "<script>alert('gameday')</script>"
SECRET = "pcsk_gamedaysecret0123456789"


@pytest.fixture(scope="module")
def report_verdict(tmp_path_factory: pytest.TempPathFactory) -> Verdict:
    """A verdict of all ten scenarios built from one real scenario run (schema drift), with a hostile
    message, run label and a key-shaped string planted in it."""
    with GameDayStack(tmp_path_factory.mktemp("report")) as stack:
        real = run_schema_drift(stack)
    runs = [dict(r, label=f"{r['label']} {EVIL}") for r in real.details["runs"]]
    checks = []
    for i, scenario in enumerate(SCENARIOS):
        checks.append(
            dataclasses.replace(
                real,
                id=f"gameday.{scenario}",
                status=Status.PASS if i else Status.FAIL,
                message=f"{real.message} {EVIL} api_key={SECRET}",
                details={**real.details, "runs": runs},
            )
        )
    return Verdict(checks=tuple(checks), duration_s=12.5)


@pytest.fixture(scope="module")
def report_page(report_verdict: Verdict) -> str:
    """The HTML report of ``report_verdict`` (rendered once: ten matplotlib figures)."""
    return gameday_html(report_verdict)


def test_scenario_names_match_the_scenario_modules() -> None:
    import importlib

    for scenario in SCENARIOS:
        module = importlib.import_module(f"scenarios.gameday.test_{scenario}")
        assert callable(getattr(module, f"run_{scenario}"))
        assert callable(getattr(module, f"test_{scenario}"))
    listed = {p.stem.removeprefix("test_") for p in Path(module.__file__ or "").parent.glob("test_*.py")}
    assert listed == set(SCENARIOS)


def test_select_scenarios_keeps_report_order_and_rejects_unknown_names() -> None:
    assert select_scenarios([]) == list(SCENARIOS)
    assert select_scenarios(["namespace_collision", "schema_drift"]) == ["schema_drift", "namespace_collision"]
    with pytest.raises(UsageError, match="unknown scenario 'cold_caches'; choose from schema_drift, "):
        select_scenarios(["cold_caches"])


def test_report_has_one_timeline_svg_per_scenario(report_page: str) -> None:
    page = report_page
    figures = re.findall(r'<figure class="timeline" data-scenario="([a-z_]+)"><svg', page)
    assert figures == list(SCENARIOS)
    assert page.count("<svg") == len(SCENARIOS)
    assert 'class="banner fail"' in page and f"{len(SCENARIOS) - 1}/{len(SCENARIOS)} scenarios" in page
    # Self-contained: nothing fetched from anywhere.
    assert not re.search(r'(src|href)="(https?:)?//', page)


def test_report_escapes_and_redacts_everything(report_page: str) -> None:
    page = report_page
    assert "<script" not in page
    assert "&lt;script&gt;alert(&#x27;gameday&#x27;)&lt;/script&gt;" in page
    assert SECRET not in page
    # The hostile run label also reached the SVG titles, as text.
    assert "&lt;script&gt;" in page.split('<figure class="timeline"', 1)[1]


def test_report_renders_in_a_headless_browser_with_one_timeline_per_scenario(report_page: str, tmp_path: Path) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if chromium is None:
        pytest.skip("no chromium binary on PATH (apt-get install chromium) — cannot render the report headless")
    page = tmp_path / "gameday.html"
    page.write_text(report_page, encoding="utf-8")
    profile = tmp_path / "chromium-profile"
    proc = subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={profile}",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    dom = proc.stdout
    rendered = re.findall(r'<figure class="timeline" data-scenario="([a-z_]+)">\s*<svg', dom)
    assert rendered == list(SCENARIOS)
    assert "<script" not in dom.split("<body", 1)[1]


def test_a_scenario_that_crashed_is_reported_as_error_not_fail() -> None:
    from harness.reporting.gameday import _complete

    recorded = Verdict(
        checks=(
            Check("gameday.schema_drift", Status.PASS, message="blocked"),
            Check("gameday.missed_writes", Status.FAIL, message="parity missed the writes"),
        )
    )
    verdict = _complete(
        recorded, ["schema_drift", "missed_writes", "cold_cache"], {"cold_cache": "RuntimeError: boom"}, 1.0
    )
    assert [c.id for c in verdict.checks] == ["gameday.schema_drift", "gameday.missed_writes", "gameday.cold_cache"]
    crashed = verdict.checks[2]
    assert crashed.status is Status.ERROR and "RuntimeError: boom" in crashed.message
    assert verdict.checks[1].status is Status.FAIL  # a scenario that decided wrong stays a failure
    assert not verdict.passed and str(verdict.verdict) == "error"
    page = gameday_html(verdict)
    assert '<div class="banner error">' in page and '<span class="status s-error">error</span>' in page
