"""The shared JUnit writer: one testcase per check id, each status mapped, all text escaped and
redacted, an incomplete run visible as an error, the file replaced atomically."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness.model import Check, Status, Verdict
from harness.reporting.junit import junit_xml, write_junit

SECRET = "pcsk_junitsecret0123456789abcdef"
HOSTILE = "</failure><script>alert(1)</script> ]]> & \x00\x1b[31m \ud800"


def cases(xml: str) -> dict[str, ET.Element]:
    root = ET.fromstring(xml.encode("utf-8"))
    return {c.get("name", ""): c for c in root.iter("testcase")}


def test_one_testcase_per_check_with_each_status_mapped() -> None:
    verdict = Verdict(
        checks=(
            Check("parity.ids", Status.FAIL, observed=3, expected=0, message="3 ids missing"),
            Check("parity.count", Status.PASS, observed=10, expected=10),
            Check("schema.hnsw", Status.WARN, message="m differs (accepted)"),
            Check("quality.filtered", Status.SKIP, message="no payload index"),
            Check("latency.p99", Status.ERROR, message="store died"),
        ),
        duration_s=1.25,
        started_at="2026-01-02T03:04:05+00:00",
    )
    xml = junit_xml(verdict, "ragmig-certify")
    root = ET.fromstring(xml)
    suite = root.find("testsuite")
    assert suite is not None
    assert suite.get("name") == "ragmig-certify" and suite.get("timestamp") == "2026-01-02T03:04:05+00:00"
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors"), suite.get("skipped")) == (
        "5",
        "1",
        "1",
        "1",
    )
    assert suite.get("time") == "1.250"
    by_id = cases(xml)
    assert list(by_id) == [c.id for c in verdict.checks]
    failure = by_id["parity.ids"].find("failure")
    assert failure is not None and failure.get("message") == "3 ids missing"
    assert "expected: 0" in (failure.text or "") and "observed: 3" in (failure.text or "")
    assert list(by_id["parity.count"]) == []
    warn = by_id["schema.hnsw"].find("properties/property")
    assert warn is not None and (warn.get("name"), warn.get("value")) == ("warn", "m differs (accepted)")
    assert by_id["schema.hnsw"].find("failure") is None
    assert by_id["quality.filtered"].find("skipped") is not None
    assert by_id["latency.p99"].find("error") is not None
    assert by_id["parity.ids"].get("classname") == "ragmig-certify.parity"
    [prop] = [p for p in suite.iter("property") if p.get("name") == "verdict"]
    assert prop.get("value") == "error"


@pytest.mark.parametrize(
    ("verdict", "why"),
    [
        (Verdict(checks=()), "the run recorded no check"),
        (Verdict(checks=(Check("parity.ids", Status.PASS),), incomplete="checks quality.* did not run"), "quality"),
    ],
)
def test_an_error_verdict_without_an_erroring_check_gets_a_run_error(verdict: Verdict, why: str) -> None:
    xml = junit_xml(verdict, "ragmig-migrate")
    run = cases(xml)["run"]
    error = run.find("error")
    assert error is not None and why in (error.get("message") or "")
    assert ET.fromstring(xml).find("testsuite").get("errors") == "1"  # type: ignore[union-attr]


def test_a_passing_verdict_has_no_run_testcase() -> None:
    xml = junit_xml(Verdict(checks=(Check("parity.ids", Status.PASS),)), "s")
    assert list(cases(xml)) == ["parity.ids"]


def test_hostile_text_is_escaped_redacted_and_stays_well_formed() -> None:
    check = Check(
        "parity.payloads",
        Status.FAIL,
        observed={"k": HOSTILE},
        expected="api_key=" + SECRET,
        message=f"{HOSTILE} api_key={SECRET}",
    )
    xml = junit_xml(Verdict(checks=(check,)), "ragmig")
    assert SECRET not in xml
    assert "<script>" not in xml and "\x00" not in xml and "\x1b" not in xml
    failure = cases(xml)["parity.payloads"].find("failure")
    assert failure is not None
    assert "</failure><script>alert(1)</script> ]]> &" in (failure.get("message") or "")


def test_the_testcases_match_the_json_verdict_one_to_one() -> None:
    checks = tuple(Check(f"gameday.s{i}", Status.PASS if i % 3 else Status.FAIL) for i in range(7))
    verdict = Verdict(checks=checks)
    ids = [c["id"] for c in json.loads(verdict.to_json())["checks"]]
    assert list(cases(junit_xml(verdict, "ragmig-gameday"))) == ids


def test_write_junit_replaces_the_file_atomically(tmp_path: Path) -> None:
    out = tmp_path / "junit.xml"
    out.write_text("old")
    write_junit(out, Verdict(checks=(Check("parity.ids", Status.PASS),)), "ragmig")
    assert out.read_text().startswith('<?xml version="1.0" encoding="utf-8"?>')
    assert [p.name for p in tmp_path.iterdir()] == ["junit.xml"]  # no temporary sibling left
