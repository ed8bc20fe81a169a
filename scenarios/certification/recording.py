"""What every family test does with its checks: record them for the verdict and attach them to the report."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from harness.model import Check, Status
from harness.plugin import CheckRecorder
from harness.reporting.html import family_html
from harness.verify import VerificationRun


def record_family(
    title: str,
    checks: Sequence[Check],
    run: VerificationRun,
    harness_checks: CheckRecorder,
    report_extras: list[Any],
    plots: Sequence[str] = (),
) -> list[Check]:
    """Record ``checks`` (and both stores' info) in the verdict, attach their HTML; return the failed ones."""
    for check in checks:
        harness_checks.add(check)
    for side in ("source", "target"):
        harness_checks.describe_side(side, run.side_info(side))
    report_extras.append(
        {
            "name": title,
            "format_type": "html",
            "content": family_html(title, checks, plots),
            "mime_type": None,
            "extension": None,
        }
    )
    return [c for c in checks if c.status is Status.FAIL]


def failure_message(failed: Sequence[Check]) -> str:
    """One line per failed check: its id and what it found."""
    return "\n".join(f"{c.id}: {c.message}" for c in failed)
