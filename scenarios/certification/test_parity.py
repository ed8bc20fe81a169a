"""Data parity: same count, same ids, same vectors (within tolerance) and same payloads on both sides."""

from typing import Any

import pytest

from harness.plugin import CheckRecorder
from harness.verify import VerificationRun
from scenarios.certification.recording import failure_message, record_family


@pytest.mark.certification
def test_parity(verification_run: VerificationRun, harness_checks: CheckRecorder, report_extras: list[Any]) -> None:
    failed = record_family(
        "Data parity", verification_run.parity_checks(), verification_run, harness_checks, report_extras
    )
    assert not [c.id for c in failed], failure_message(failed)
