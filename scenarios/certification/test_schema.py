"""Schema drift: breaking differences fail; recall-affecting ones warn and make the quality checks mandatory."""

from typing import Any

import pytest

from harness.plugin import CheckRecorder
from harness.verify import VerificationRun
from scenarios.certification.recording import failure_message, record_family


@pytest.mark.certification
def test_schema(verification_run: VerificationRun, harness_checks: CheckRecorder, report_extras: list[Any]) -> None:
    failed = record_family(
        "Schema drift", verification_run.schema_checks(), verification_run, harness_checks, report_extras
    )
    assert not [c.id for c in failed], failure_message(failed)
