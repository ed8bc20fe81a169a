"""What every family test does with its checks: record them for the verdict and attach them to the report."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from harness.model import Check, Status
from harness.plugin import CheckRecorder
from harness.reporting.html import family_html

if TYPE_CHECKING:
    from harness.verify import VerificationRun

PLOTS_KEY = pytest.StashKey[dict[str, list[str]]]()


@dataclass(frozen=True, slots=True)
class Family:
    """One check family's outcome: its checks, what the verdict says of both stores, the gates in force."""

    checks: tuple[Check, ...]
    sides: Mapping[str, dict[str, Any]]
    thresholds: dict[str, Any]


def record_family(
    title: str,
    family: Family,
    harness_checks: CheckRecorder,
    report_extras: list[Any],
    plots: Sequence[str] = (),
) -> list[Check]:
    """Record the family's checks (and both stores' info) in the verdict, attach their HTML; return the failed ones."""
    for check in family.checks:
        harness_checks.add(check)
    for side, info in family.sides.items():
        harness_checks.describe_side(side, info)
    harness_checks.describe_run(thresholds=family.thresholds)
    report_extras.append(
        {
            "name": title,
            "format_type": "html",
            "content": family_html(title, family.checks, plots),
            "mime_type": None,
            "extension": None,
        }
    )
    return [c for c in family.checks if c.status is Status.FAIL]


def failure_message(failed: Sequence[Check]) -> str:
    """One line per failed check: its id and what it found."""
    return "\n".join(f"{c.id}: {c.message}" for c in failed)


def family_plots(config: pytest.Config, run: VerificationRun, family: str) -> list[str]:
    """The plots of ``family`` ("quality" or "latency") as inline SVG, when an HTML report is being
    written (pytest-html's ``--html``), else none: rendered once per session, for the family's section
    and again at the top of the report."""
    if config.getoption("htmlpath", None) is None:
        return []
    rendered = config.stash.setdefault(PLOTS_KEY, {})
    if family not in rendered:
        from harness.reporting.plots import latency_plots, quality_plots  # matplotlib: only a report needs it

        data = run.plot_data()
        if family == "quality":
            rendered[family] = quality_plots(data, run.k)
        else:
            rendered[family] = latency_plots(data, run.thresholds.p99_ms_max)
    return rendered[family]
