"""Verification of a migration target against its source: schema drift, parity, search quality, latency.

``run_verification`` verifies once (queries sampled from the source and scored leave-one-out, or a
``QuerySet`` from ``load_query_file``); ``make_verifier`` builds the orchestrator's verification gate (verify,
then re-check parity's findings: writes in flight settle, real differences stay); ``VerificationRun`` lets
the certification suite run the check families as separate tests on one scan; ``sample_parity`` checks
a uniform sample of records instead of scanning (the CI-speed mode). Imports neither pytest
nor any vendor SDK, nor ``harness.migration``.
"""

from harness.verify.findings import Finding, ParityFindings
from harness.verify.gate import Verifier, make_verifier
from harness.verify.latency import LATENCY_CHECK_IDS
from harness.verify.parity import PARITY_CHECK_IDS, check_parity
from harness.verify.policy import QUALITY_CHECK_IDS
from harness.verify.queries import QuerySet, load_query_file
from harness.verify.recheck import ParityRecheck, recheck_parity
from harness.verify.run import MANDATORY_QUERIES, VerificationRun, run_verification
from harness.verify.sample import SampleBound, SampleResult, sample_parity
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
    "Finding",
    "ParityFindings",
    "ParityRecheck",
    "QuerySet",
    "SampleBound",
    "SampleResult",
    "Thresholds",
    "VerificationRun",
    "Verifier",
    "check_parity",
    "check_schema",
    "load_query_file",
    "load_thresholds",
    "make_verifier",
    "recall_affecting",
    "recheck_parity",
    "run_verification",
    "sample_parity",
]
