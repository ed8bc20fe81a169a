"""Query latency per store (one query per request); the target's p99 is gated."""

from typing import Any

import pytest

from harness.plugin import CheckRecorder
from harness.reporting.plots import latency_plots
from harness.verify import LATENCY_CHECK_IDS, VerificationRun
from scenarios.certification.recording import Family, failure_message, record_family


@pytest.mark.ragmig_certification(checks=LATENCY_CHECK_IDS)
def test_latency(
    family: Family, verification_run: VerificationRun, harness_checks: CheckRecorder, report_extras: list[Any]
) -> None:
    plots = latency_plots(verification_run.plot_data(), verification_run.thresholds.p99_ms_max)
    failed = record_family("Query latency", family, harness_checks, report_extras, plots)
    assert not [c.id for c in failed], failure_message(failed)
