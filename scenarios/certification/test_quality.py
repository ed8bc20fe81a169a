"""Search quality: recall@k against exact ground truth, overlap@k with the source, judged after the noise floor."""

from typing import Any

import pytest

from harness.plugin import CheckRecorder
from harness.verify import QUALITY_CHECK_IDS, VerificationRun
from scenarios.certification.recording import Family, failure_message, family_plots, record_family


@pytest.mark.ragmig_certification(checks=QUALITY_CHECK_IDS)
def test_quality(
    family: Family,
    verification_run: VerificationRun,
    harness_checks: CheckRecorder,
    report_extras: list[Any],
    request: pytest.FixtureRequest,
) -> None:
    plots = family_plots(request.config, verification_run, "quality")
    failed = record_family("Search quality", family, harness_checks, report_extras, plots)
    assert not [c.id for c in failed], failure_message(failed)
