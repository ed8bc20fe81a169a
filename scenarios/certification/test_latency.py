"""Query latency per store (one query per request); the target's p99 is gated."""

from typing import Any

import pytest

from harness.plugin import CheckRecorder
from harness.verify import LATENCY_CHECK_IDS, VerificationRun
from scenarios.certification.recording import Family, failure_message, family_plots, record_family


@pytest.mark.ragmig_certification(checks=LATENCY_CHECK_IDS)
def test_latency(
    family: Family,
    verification_run: VerificationRun,
    harness_checks: CheckRecorder,
    report_extras: list[Any],
    request: pytest.FixtureRequest,
) -> None:
    plots = family_plots(request.config, verification_run, "latency")
    failed = record_family("Query latency", family, harness_checks, report_extras, plots)
    assert not [c.id for c in failed], failure_message(failed)
