"""The reports of ``ragmig migrate``: a self-contained HTML page and JUnit XML, rendered from its verdict.

Rendering only (the command is ``harness.migration.run.migrate_command``). Every piece of text is
redacted; HTML escapes it, and XML is built with ElementTree, which escapes attributes and text.
"""

from __future__ import annotations

import html

from harness.model import Verdict
from harness.reporting.html import check_samples, summary_html, text
from harness.reporting.junit import junit_xml

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
        f'{summary_html(verdict, heading="Migration verification")}<div class="ragmig">{samples}</div></body></html>\n'
    )


def migrate_junit(verdict: Verdict) -> str:
    """JUnit XML with one testcase per check id (``harness.reporting.junit``, suite ``ragmig-migrate``)."""
    return junit_xml(verdict, "ragmig-migrate")
