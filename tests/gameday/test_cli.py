"""``ragmig gameday`` from the command line: exit codes, the JSON verdict's shape, JUnit, the HTML report."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from datetime import datetime
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # one real scenario under locust load (about 30 s)


def ragmig(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", *args], cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )


def test_gameday_healthy_migration_writes_a_passing_verdict_and_report(tmp_path: Path) -> None:
    out = tmp_path / "gd.json"
    page = tmp_path / "gd.html"
    junit = tmp_path / "gd.xml"
    proc = ragmig(
        "gameday", "--scenario", "healthy_migration", "--json", str(out), "--html", str(page), "--junit", str(junit),
        cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    verdict = json.loads(out.read_text())
    assert {"schema_version", "tool", "verdict", "source", "target", "checks", "duration_s"} <= set(verdict)
    assert verdict["verdict"] == "pass"
    started, finished = (datetime.fromisoformat(verdict[k]) for k in ("started_at", "finished_at"))
    assert started <= finished and (finished - started).total_seconds() >= verdict["duration_s"] - 1
    # The stores the scenario migrated between, not empty objects.
    [source_uri] = verdict["source"]["stores"]["healthy_migration"]
    [target_uri] = verdict["target"]["stores"]["healthy_migration"]
    assert source_uri.startswith("exact://") and target_uri.startswith("qdrant-edge://")
    assert verdict["target"]["schemes"] == ["qdrant-edge"]
    [case] = ET.parse(junit).getroot().iter("testcase")
    assert case.get("name") == "gameday.healthy_migration" and list(case) == []
    [check] = verdict["checks"]
    assert check["id"] == "gameday.healthy_migration" and check["status"] == "pass"
    assert set(check) == {"id", "status", "observed", "expected", "message", "details"}
    load = check["details"]["load"]
    # locust's counts are in the verdict, and /metrics agrees with them up to the requests in flight.
    assert load["requests"] > 0 and load["failures"] == 0
    [queries] = [e for e in load["endpoints"] if e["name"] == "/query"]
    assert 0 <= load["service_user_queries"] - queries["requests"] <= load["in_flight_bound"]
    assert load["upserts_acknowledged"] == load["load_records_on_target"] > 0
    assert check["details"]["runs"][0]["read_percent_steps"] == [5.0, 25.0, 50.0, 100.0]
    html = page.read_text()
    assert html.count('<figure class="timeline"') == 1
    assert "locust requests" in html and "/metrics ragmig_requests_total" in html
    assert "PASS gameday.healthy_migration" in proc.stdout


def test_unknown_scenario_is_one_line_and_exit_2(tmp_path: Path) -> None:
    proc = ragmig("gameday", "--scenario", "cold_caches", cwd=tmp_path)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("ragmig: error: unknown scenario 'cold_caches'; choose from schema_drift")
    assert "Traceback" not in proc.stderr


def test_quiet_gameday_prints_only_the_verdict_line_and_junit_has_one_testcase_per_scenario(tmp_path: Path) -> None:
    junit = tmp_path / "gd.xml"
    out = tmp_path / "gd.json"
    proc = subprocess.run(
        [sys.executable, "-m", "harness.cli", "-q", "gameday", "--scenario", "schema_drift", "--scenario",
         "namespace_collision", "--junit", str(junit), "--json", str(out)],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    [line] = proc.stdout.strip().splitlines()
    assert line.startswith("game day: 2/2 scenarios met their expectation in ")
    ids = [c["id"] for c in json.loads(out.read_text())["checks"]]
    assert [c.get("name") for c in ET.parse(junit).getroot().iter("testcase")] == ids
    assert ids == ["gameday.schema_drift", "gameday.namespace_collision"]


def test_an_unwritable_junit_path_is_one_line_and_exit_2_before_any_scenario_runs(tmp_path: Path) -> None:
    proc = ragmig("gameday", "--scenario", "schema_drift", "--junit", str(tmp_path), cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"ragmig: error: --junit path {tmp_path} is a directory; give a file name"
    ]
    assert proc.stdout == ""
