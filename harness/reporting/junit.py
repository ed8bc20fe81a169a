"""JUnit XML of a verdict: one testcase per check id, for CI systems that read JUnit.

Each check becomes ``<testcase classname="SUITE.FAMILY" name="CHECK_ID">``: a failed check carries a
``<failure>``, a check in error an ``<error>``, a skipped one ``<skipped>``, and a warning a
``<property name="warn">`` (a warn does not fail a build). A verdict that is ``error`` without any
check in error (the run was incomplete, or recorded no check) gets one more testcase, ``SUITE.run``,
with an ``<error>`` naming why, so a CI that only counts testcases still sees the run did not complete.
Text is redacted; characters XML 1.0 cannot carry are replaced; the file is written atomically.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path
from typing import Any

from harness.model import Check, Status, Verdict
from harness.outputs import write_text_atomic
from harness.redact import redact_text

__all__ = ["junit_xml", "write_junit"]

_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
"""Characters XML 1.0 does not allow, even escaped (control characters, lone surrogates, U+FFFE/F)."""
_MESSAGE_CHARS = 500


def _text(value: Any) -> str:
    """``value`` as redacted text XML can carry (JSON for anything that is not a string)."""
    shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return _NOT_XML.sub("\N{REPLACEMENT CHARACTER}", redact_text(shown))


def _body(check: Check) -> str:
    return f"{_text(check.message)}\nexpected: {_text(check.expected)}\nobserved: {_text(check.observed)}"


def _testcase(parent: ET.Element, suite: str, check: Check) -> None:
    family = check.id.split(".", 1)[0]
    case = ET.SubElement(parent, "testcase", classname=f"{suite}.{family}", name=_text(check.id))
    message = _text(check.message)[:_MESSAGE_CHARS]
    if check.status is Status.FAIL:
        ET.SubElement(case, "failure", message=message, type="fail").text = _body(check)
    elif check.status is Status.ERROR:
        ET.SubElement(case, "error", message=message, type="error").text = _body(check)
    elif check.status is Status.SKIP:
        ET.SubElement(case, "skipped", message=message)
    elif check.status is Status.WARN:
        properties = ET.SubElement(case, "properties")
        ET.SubElement(properties, "property", name="warn", value=message)


def junit_xml(verdict: Verdict, suite: str) -> str:
    """The verdict as a JUnit XML document: one ``<testsuite name=suite>`` with a testcase per check."""
    checks = list(verdict.checks)
    counts = Counter(c.status for c in checks)
    run_error = verdict.verdict is Status.ERROR and not counts[Status.ERROR]
    attrs = {
        "name": suite,
        "tests": str(len(checks) + run_error),
        "failures": str(counts[Status.FAIL]),
        "errors": str(counts[Status.ERROR] + run_error),
        "skipped": str(counts[Status.SKIP]),
        "time": f"{float(verdict.duration_s):.3f}",
    }
    root = ET.Element("testsuites", attrs)
    testsuite = ET.SubElement(root, "testsuite", attrs)
    if verdict.started_at:
        testsuite.set("timestamp", verdict.started_at)
    properties = ET.SubElement(testsuite, "properties")
    ET.SubElement(properties, "property", name="verdict", value=str(verdict.verdict))
    if verdict.incomplete:
        ET.SubElement(properties, "property", name="incomplete", value=_text(verdict.incomplete))
    for check in checks:
        _testcase(testsuite, suite, check)
    if run_error:
        why = verdict.incomplete or "the run recorded no check"
        case = ET.SubElement(testsuite, "testcase", classname=f"{suite}.run", name="run")
        ET.SubElement(case, "error", message=_text(why)[:_MESSAGE_CHARS], type="incomplete").text = _text(why)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write_junit(path: Path, verdict: Verdict, suite: str) -> None:
    """Write ``junit_xml(verdict, suite)`` to ``path`` atomically (a temporary sibling renamed over it)."""
    write_text_atomic(path, junit_xml(verdict, suite))
