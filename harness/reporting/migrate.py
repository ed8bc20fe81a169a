"""The reports of ``ragmig migrate``: a self-contained HTML page and JUnit XML, rendered from its verdict.

Rendering only (the command is ``harness.migration.run.migrate_command``). Every piece of text is
redacted; HTML escapes it, and XML is built with ElementTree, which escapes attributes and text.
"""

from __future__ import annotations

import html
import xml.etree.ElementTree as ET

from harness.model import Status, Verdict
from harness.redact import redact_text
from harness.reporting.html import check_samples, summary_html, text

__all__ = ["migrate_html", "migrate_junit"]


def migrate_html(verdict: Verdict) -> str:
    """The HTML report: the verdict banner, both stores, every check with its samples."""
    notes = []
    if verdict.incomplete:
        notes.append(f"<p><b>ERROR</b>: {text(verdict.incomplete)}</p>")
    into = verdict.target.get("into_existing")
    if isinstance(into, dict):
        notes.append(
            f"<p>Copied into an existing target (--into-existing) that held {text(into.get('records_before'))} "
            "records before the copy; records with the same ids were overwritten.</p>"
        )
    stamps = f"<p>started {text(verdict.started_at)}, finished {text(verdict.finished_at)}</p>"
    samples = "".join(check_samples(c) for c in verdict.checks)
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>ragmig migrate</title></head><body>'
        f"<h1>ragmig migrate: {html.escape(str(verdict.verdict).upper())}</h1>{stamps}{''.join(notes)}"
        f'{summary_html(verdict)}<div class="ragmig">{samples}</div></body></html>\n'
    )


def migrate_junit(verdict: Verdict) -> str:
    """JUnit XML with one testcase per check id (an incomplete run adds an errored ``migrate`` case)."""
    suite = ET.Element("testsuite", name="ragmig-migrate", time=f"{verdict.duration_s:.3f}")
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    cases = [(c.id, c.status, f"{c.message} (observed {c.observed}, expected {c.expected})") for c in verdict.checks]
    if verdict.incomplete or not verdict.checks:
        cases.append(("migrate", Status.ERROR, verdict.incomplete or "no checks ran"))
    for case_id, status, message in cases:
        case = ET.SubElement(suite, "testcase", classname="ragmig.migrate", name=case_id, time="0")
        message = redact_text(" ".join(str(message).split()))
        counts["tests"] += 1
        if status is Status.FAIL:
            ET.SubElement(case, "failure", message=message).text = message
            counts["failures"] += 1
        elif status is Status.ERROR:
            ET.SubElement(case, "error", message=message).text = message
            counts["errors"] += 1
        elif status is Status.SKIP:
            ET.SubElement(case, "skipped", message=message)
            counts["skipped"] += 1
        elif status is Status.WARN:
            ET.SubElement(case, "system-out").text = f"warn: {message}"
    for key, value in counts.items():
        suite.set(key, str(value))
    root = ET.Element("testsuites")
    root.append(suite)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
