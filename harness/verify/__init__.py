"""Verification of a migration target against its source: schema drift, parity, search quality, latency.

``run_verification`` is what the orchestrator's verify phase calls; ``VerificationRun`` lets the
certification suite run the check families as separate tests on one scan. Imports neither pytest
nor any vendor SDK.
"""

from harness.verify.latency import LATENCY_CHECK_IDS
from harness.verify.parity import PARITY_CHECK_IDS, check_parity
from harness.verify.quality import QUALITY_CHECK_IDS
from harness.verify.run import MANDATORY_QUERIES, VerificationRun, run_verification
from harness.verify.schema import SCHEMA_CHECK_IDS, check_schema, recall_affecting
from harness.verify.thresholds import Thresholds, load_thresholds

CHECK_IDS = SCHEMA_CHECK_IDS + PARITY_CHECK_IDS + QUALITY_CHECK_IDS + LATENCY_CHECK_IDS
"""Every stable check id of a certification verdict, in verdict order."""

__all__ = [
    "CHECK_IDS",
    "LATENCY_CHECK_IDS",
    "MANDATORY_QUERIES",
    "PARITY_CHECK_IDS",
    "QUALITY_CHECK_IDS",
    "SCHEMA_CHECK_IDS",
    "Thresholds",
    "VerificationRun",
    "check_parity",
    "check_schema",
    "load_thresholds",
    "recall_affecting",
    "run_verification",
]
