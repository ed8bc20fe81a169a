"""The canary's error-rate gate through ``evaluate_window``, just inside and just outside, in both directions.

``tests/migration/test_health.py`` pins the binomial test itself (``rate_test``) at its boundaries; here
the same boundaries are reached through a whole health check, so a check that judged the users' error
rate against a looser gate than ``error_rate_max`` (a canary with 1.5 % errors passing a 1 % gate) fails.

At the defaults (gate 1 %, confidence 99 %), over 4,000 requests: 56 errors are evidence of a rate above
the gate (P(X ≥ 56 | 1 %) ≤ 0.01) and 55 are not; 25 errors are evidence of a rate below it and 26 are
not. Over a last interval of 1,000 requests, 19 errors are evidence and 18 are not. Every figure is exact.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binom

from harness.migration.config import Thresholds
from harness.migration.health import Outcome, evaluate_window
from harness.migration.metrics import WindowStats

GATE, CONFIDENCE = Thresholds().error_rate_max, Thresholds().confidence


def window(requests: int, errors: int, *, start: float = 0.0) -> WindowStats:
    """A canary window of ``requests`` with ``errors``, every request a cache hit at 50 ms (nothing but the
    error rate can fail it)."""
    return WindowStats("target", start, 60.0, requests, errors, requests, np.full(requests, 50.0))


def test_the_boundaries_are_the_binomials_own() -> None:
    assert binom.sf(56 - 1, 4000, GATE) <= 1 - CONFIDENCE < binom.sf(55 - 1, 4000, GATE)
    assert binom.cdf(25, 4000, GATE) <= 1 - CONFIDENCE < binom.cdf(26, 4000, GATE)
    assert binom.sf(19 - 1, 1000, GATE) <= 1 - CONFIDENCE < binom.sf(18 - 1, 1000, GATE)


@pytest.mark.parametrize(("errors", "outcome"), [(56, Outcome.FAIL), (55, Outcome.UNDECIDED)])
def test_the_error_gate_just_inside_and_outside_evidence(errors: int, outcome: Outcome) -> None:
    result = evaluate_window(window(4000, errors), None, Thresholds(), at=60.0)
    assert result.outcome is outcome
    assert result.failed == (("error_rate",) if outcome is Outcome.FAIL else ())
    assert result.tests["error_rate"].result == ("fail" if outcome is Outcome.FAIL else "undecided")
    assert result.tests["error_rate"].gate == GATE


def test_a_canary_with_1_5_percent_errors_fails_a_1_percent_gate() -> None:
    result = evaluate_window(window(4000, 60), None, Thresholds(), at=60.0)
    assert result.outcome is Outcome.FAIL and result.failed == ("error_rate",)
    # The interval defaults to the whole evidence: both tests fail, the interval's is the one named.
    assert result.tests["error_rate"].result == result.tests["interval_error_rate"].result == "fail"
    assert result.reasons == ("error rate in the last interval 1.5 % > 1 % at 99 % confidence over 4,000 requests",)


@pytest.mark.parametrize(("errors", "outcome"), [(25, Outcome.PASS), (26, Outcome.UNDECIDED)])
def test_a_step_passes_only_with_evidence_below_the_gate(errors: int, outcome: Outcome) -> None:
    # A gate read looser passes 26 errors of 4,000 (0.65 %), which are no evidence of a rate below 1 %.
    result = evaluate_window(window(4000, errors), None, Thresholds(), at=60.0)
    assert result.outcome is outcome and result.failed == ()
    assert result.tests["error_rate"].result == ("pass" if outcome is Outcome.PASS else "undecided")


@pytest.mark.parametrize(("errors", "fails"), [(19, True), (18, False)])
def test_the_last_interval_just_inside_and_outside_evidence(errors: int, fails: bool) -> None:
    # The step's 5,000 requests hold only the interval's errors (0.38 %: below the gate with confidence);
    # the last interval's 1,000 requests are judged alone.
    evidence = window(5000, errors)
    interval = window(1000, errors, start=50.0)
    result = evaluate_window(evidence, None, Thresholds(), at=60.0, interval=interval)
    assert result.tests["error_rate"].result == "pass"
    assert result.tests["interval_error_rate"].result == ("fail" if fails else "undecided")
    assert result.failed == (("error_rate",) if fails else ())
    assert (result.outcome is Outcome.FAIL) is fails
    if fails:
        assert result.reasons[0] == "error rate in the last interval 1.9 % > 1 % at 99 % confidence over 1,000 requests"
