"""Search quality: recall@k against exact ground truth, overlap@k with the source, judged after the noise floor."""

from typing import Any

import pytest

from harness.plugin import CheckRecorder
from harness.reporting.plots import quality_plots
from harness.verify import VerificationRun
from scenarios.certification.recording import failure_message, record_family


@pytest.mark.certification
def test_quality(verification_run: VerificationRun, harness_checks: CheckRecorder, report_extras: list[Any]) -> None:
    checks = verification_run.quality_checks()
    plots = quality_plots(verification_run.plot_data(), verification_run.k)
    failed = record_family("Search quality", checks, verification_run, harness_checks, report_extras, plots)
    assert not [c.id for c in failed], failure_message(failed)
