"""Schema drift: breaking differences fail; recall-affecting ones warn and make the quality checks mandatory."""

from typing import Any

import pytest

from harness.plugin import CheckRecorder
from harness.verify import SCHEMA_CHECK_IDS
from scenarios.certification.recording import Family, failure_message, record_family


@pytest.mark.ragmig_certification(checks=SCHEMA_CHECK_IDS)
def test_schema(family: Family, harness_checks: CheckRecorder, report_extras: list[Any]) -> None:
    failed = record_family("Schema drift", family, harness_checks, report_extras)
    assert not [c.id for c in failed], failure_message(failed)
