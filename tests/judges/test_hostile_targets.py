"""Hostile targets through the public verification API: each must fail exactly the check it breaks.

The stores are exact (in-process) pairs holding the same records; a wrapper from ``hostile`` breaks one
promise of the target. Query vectors are given, never sampled, and latency is not measured: every
outcome is a pure function of the data.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from harness.clock import ManualClock
from harness.model import Distance, Status
from harness.stores.base import VectorStore
from harness.verify import VerificationRun, make_verifier, recheck_parity, run_verification
from tests.judges.hostile import GhostResults, HidesFromFetch, RepeatsTopResult, Rescaled, ShortResults
from tests.judges.pairs import DECOY_IDS, K, N, Pair, failing, query_vectors

DISTANCES = [Distance.COSINE, Distance.DOT, Distance.EUCLID]
GHOSTS = [10**9 + i for i in range(K)]  # ids neither store holds

RESULT_LISTS: dict[str, tuple[Callable[[VectorStore], VectorStore], float]] = {
    "faithful": (lambda store: store, 1.0),
    "top result repeated k times": (RepeatsTopResult, 1 / K),
    "2 of 10 results": (lambda store: ShortResults(store, keep=2), 2 / K),
    "ids that no longer exist": (lambda store: GhostResults(store, GHOSTS), 0.0),
}


@pytest.mark.parametrize("distance", DISTANCES, ids=str)
@pytest.mark.parametrize("name", list(RESULT_LISTS))
def test_broken_result_lists_fail_recall_and_overlap(
    exact_pair: Callable[..., Pair], distance: Distance, name: str
) -> None:
    wrap, expected = RESULT_LISTS[name]
    source, target = exact_pair(distance)
    verdict = run_verification(source, wrap(target), k=K, query_vectors=query_vectors(), measure_latency=False)
    broken = expected < 1.0
    assert failing(verdict) == ({"quality.recall_target", "quality.overlap"} if broken else set())
    assert verdict.check("quality.recall_target").observed == pytest.approx(expected)
    assert verdict.check("quality.overlap").observed == pytest.approx(expected)
    assert verdict.check("quality.recall_source").observed == 1.0  # the exact source is the reference
    assert verdict.verdict is (Status.FAIL if broken else Status.PASS)


@pytest.mark.parametrize(
    ("distance", "fails"),
    [(Distance.COSINE, False), (Distance.DOT, True), (Distance.EUCLID, True)],
    ids=str,
)
def test_every_vector_doubled_fails_on_dot_and_euclid_and_passes_on_cosine(
    exact_pair: Callable[..., Pair], distance: Distance, fails: bool
) -> None:
    # Cosine ranks by direction only (Qdrant stores cosine vectors normalised); dot and euclid rank by
    # the raw vectors, so a target that doubled them answers differently.
    source, target = exact_pair(distance)
    verdict = run_verification(source, Rescaled(target, 2.0), queries=0, measure_latency=False)
    assert failing(verdict) == ({"parity.vectors"} if fails else set())
    vectors = verdict.check("parity.vectors")
    assert vectors.details["mismatch_count"] == (N + len(DECOY_IDS) if fails else 0)
    assert vectors.details["normalised"] is (distance is Distance.COSINE)


def _vector_changed(row: int, by: float) -> Callable[..., None]:
    def edit(ids: list[int], vectors: np.ndarray, payloads: list[dict[str, object]]) -> None:
        vectors[row, 1] += by

    return edit


def test_a_differing_record_that_cannot_be_fetched_back_stays_a_finding(exact_pair: Callable[..., Pair]) -> None:
    source, target = exact_pair(Distance.DOT, _vector_changed(7, 0.5))
    verify = make_verifier(queries=0, clock=ManualClock(), measure_latency=False, rounds=3)
    verdict = verify(source, HidesFromFetch(target, [7]))
    assert failing(verdict) == {"parity.vectors", "parity.payloads"}
    recheck = verdict.check("parity.vectors").details["recheck"]
    assert recheck["still_differing"] == [7] and recheck["settled"] == []
    assert verdict.check("parity.payloads").details["recheck"]["still_differing"] == [7]


def test_a_differing_record_deleted_from_the_target_before_the_recheck_still_fails(
    exact_pair: Callable[..., Pair],
) -> None:
    source, target = exact_pair(Distance.DOT, _vector_changed(9, 0.5))
    with VerificationRun(source, target, queries=0, measure_latency=False) as run:
        verdict, findings = run.verdict(), run.parity_findings()
    assert failing(verdict) == {"parity.vectors"}
    target.delete([9])  # vanishes between the scan and the re-check
    rechecked, report = recheck_parity(verdict, findings, source, target, clock=ManualClock(), rounds=2)
    assert failing(rechecked) == {"parity.vectors"}
    assert report.still_differing == {"parity.vectors": [9]} and report.rounds == 2


def test_a_record_deleted_from_both_sides_before_the_recheck_settles(exact_pair: Callable[..., Pair]) -> None:
    # A delete dual-written while verification ran: both sides agree a moment later.
    source, target = exact_pair(Distance.DOT, _vector_changed(9, 0.5))
    with VerificationRun(source, target, queries=0, measure_latency=False) as run:
        verdict, findings = run.verdict(), run.parity_findings()
    source.delete([9])
    target.delete([9])
    rechecked, report = recheck_parity(verdict, findings, source, target, clock=ManualClock(), rounds=2)
    assert failing(rechecked) == set()
    assert report.settled == {"parity.vectors": [9]} and report.rounds == 1
