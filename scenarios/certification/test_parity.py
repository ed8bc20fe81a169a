"""Data parity: same count, same ids, same vectors (within tolerance) and same payloads on both sides."""

from typing import Any

import pytest

from harness.plugin import CheckRecorder
from harness.verify import PARITY_CHECK_IDS
from scenarios.certification.recording import Family, failure_message, record_family


@pytest.mark.ragmig_certification(checks=PARITY_CHECK_IDS)
def test_parity(family: Family, harness_checks: CheckRecorder, report_extras: list[Any]) -> None:
    failed = record_family("Data parity", family, harness_checks, report_extras)
    assert not [c.id for c in failed], failure_message(failed)
