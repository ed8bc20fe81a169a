"""Every verification gate just inside and just outside, in both directions, through the public API.

- parity: the vector tolerance (a component off by 0.9× and 1.1× the tolerance, up and down; 5× on the
  orchestrator's gate, whose re-check must not loosen it), the payload float tolerance (relative 1e-12),
  extra target ids;
- quality: the recall floor, the allowed drop below the source, the overlap floor and the noise-floor
  rule, on result lists with an exactly known number of misses (``hostile.DisplacedResults``);
- schema: an ef_construct-only or quantization-only drift warns and makes the quality checks mandatory,
  even when no queries were asked for.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from harness.clock import ManualClock
from harness.model import Distance, HnswConfig, RecordBatch, Status
from harness.records import FLOAT_REL_TOLERANCE
from harness.verify import MANDATORY_QUERIES, Thresholds, VerificationRun, make_verifier, run_verification
from tests.judges.hostile import DisplacedResults, ReportsSchema
from tests.judges.pairs import DECOY_IDS, QUERIES, K, N, Pair, failing, query_vectors

TOLERANCE = Thresholds().vector_tolerance


def component_moved(row: int, by: float) -> Callable[..., None]:
    def edit(ids: list[int], vectors: np.ndarray, payloads: list[dict[str, Any]]) -> None:
        vectors[row, 2] += by

    return edit


# -- parity: vectors ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("distance", [Distance.DOT, Distance.EUCLID], ids=str)
@pytest.mark.parametrize(
    ("times", "equal"), [(0.9, True), (-0.9, True), (1.1, False), (-1.1, False)], ids=lambda v: f"{v}"
)
def test_a_vector_component_just_inside_or_just_outside_the_tolerance(
    exact_pair: Callable[..., Pair], distance: Distance, times: float, equal: bool
) -> None:
    source, target = exact_pair(distance, component_moved(4, times * TOLERANCE))
    verdict = run_verification(source, target, queries=0, measure_latency=False)
    assert failing(verdict) == (set() if equal else {"parity.vectors"})
    if not equal:
        vectors = verdict.check("parity.vectors")
        assert vectors.details["mismatched"] == [4]
        assert vectors.details["sample"][0]["max_abs_diff"] == pytest.approx(abs(times) * TOLERANCE, rel=1e-3)


@pytest.mark.parametrize(("times", "equal"), [(0.9, True), (5.0, False), (-5.0, False)])
def test_the_gates_recheck_keeps_the_vector_tolerance(
    exact_pair: Callable[..., Pair], times: float, equal: bool
) -> None:
    # The orchestrator's gate re-checks parity's findings: the re-check must compare as strictly as parity.
    source, target = exact_pair(Distance.DOT, component_moved(11, times * TOLERANCE))
    verdict = make_verifier(queries=0, clock=ManualClock(), rounds=2, measure_latency=False)(source, target)
    assert failing(verdict) == (set() if equal else {"parity.vectors"})
    if not equal:
        assert verdict.check("parity.vectors").details["recheck"]["still_differing"] == [11]


def test_a_tighter_tolerance_from_the_thresholds_file_is_applied(exact_pair: Callable[..., Pair]) -> None:
    source, target = exact_pair(Distance.DOT, component_moved(4, 0.9 * TOLERANCE))
    tight = Thresholds(vector_tolerance=0.8 * TOLERANCE)
    assert failing(run_verification(source, target, queries=0, thresholds=tight, measure_latency=False)) == {
        "parity.vectors"
    }


# -- parity: payload floats -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("times", "equal"), [(0.9, True), (-0.9, True), (1.1, False), (-1.1, False)], ids=lambda v: f"{v}"
)
def test_a_payload_float_just_inside_or_just_outside_the_relative_tolerance(
    exact_pair: Callable[..., Pair], times: float, equal: bool
) -> None:
    value = 1234.5678
    moved = value * (1 + times * FLOAT_REL_TOLERANCE)
    source, target = exact_pair(Distance.COSINE)
    vector = source.fetch([6]).vectors
    source.upsert(RecordBatch.build([6], vector, [{"ratio": value, "nested": [value]}]))
    target.upsert(RecordBatch.build([6], vector, [{"ratio": moved, "nested": [moved]}]))
    verdict = run_verification(source, target, queries=0, measure_latency=False)
    assert failing(verdict) == (set() if equal else {"parity.payloads"})
    if not equal:
        payload = verdict.check("parity.payloads")
        assert payload.details["mismatched"] == [6]
        assert {d["field"] for d in payload.details["sample"]} == {"ratio", "nested"}


# -- parity: ids ------------------------------------------------------------------------------------------------
def test_extra_target_ids_fail_parity_ids(exact_pair: Callable[..., Pair]) -> None:
    def edit(ids: list[int], vectors: np.ndarray, payloads: list[dict[str, Any]]) -> None:
        ids[-3:] = [5000, 5001, 5002]  # three source records replaced by three the source never had

    source, target = exact_pair(Distance.COSINE, edit)
    verdict = run_verification(source, target, queries=0, measure_latency=False)
    assert failing(verdict) == {"parity.ids"}  # same count: only the ids tell
    ids = verdict.check("parity.ids")
    assert ids.observed == {"missing": 3, "extra": 3}
    assert sorted(ids.details["extra"]) == [5000, 5001, 5002]


def test_only_extra_target_ids_fail_parity_ids_and_count(exact_pair: Callable[..., Pair]) -> None:
    def edit(ids: list[int], vectors: np.ndarray, payloads: list[dict[str, Any]]) -> None:
        ids[-1] = 7000  # the last decoy becomes a record the source does not have...

    source, target = exact_pair(Distance.COSINE, edit)
    source.delete([DECOY_IDS[-1]])  # ...and the source never had that decoy: the target holds one extra
    verdict = run_verification(source, target, queries=0, measure_latency=False)
    assert failing(verdict) == {"parity.ids", "parity.count"}
    assert verdict.check("parity.ids").observed == {"missing": 0, "extra": 1}
    assert verdict.check("parity.ids").details["extra"] == [7000]


# -- quality: floors --------------------------------------------------------------------------------------------
def one_miss_in_half_the_queries(q: int) -> int:
    return 1 if q < QUERIES // 2 else 0  # recall and overlap 0.95 exactly


def quality_verdict(pair: Pair, thresholds: Thresholds, displaced: Callable[[int], int] = one_miss_in_half_the_queries):
    source, target = pair
    return run_verification(
        source,
        DisplacedResults(target, displaced, DECOY_IDS),
        k=K,
        query_vectors=query_vectors(),
        thresholds=thresholds,
        measure_latency=False,
    )


@pytest.mark.parametrize(
    ("recall_target_min", "passes"), [(0.949, True), (0.95, True), (0.951, False)], ids=lambda v: f"{v}"
)
def test_the_recall_floor_just_inside_and_outside(
    exact_pair: Callable[..., Pair], recall_target_min: float, passes: bool
) -> None:
    limits = Thresholds(recall_target_min=recall_target_min, recall_max_drop=0.5, overlap_min=0.5)
    verdict = quality_verdict(exact_pair(Distance.COSINE), limits)
    assert verdict.check("quality.recall_target").observed == pytest.approx(0.95)
    assert failing(verdict) == (set() if passes else {"quality.recall_target"})


@pytest.mark.parametrize(("recall_max_drop", "passes"), [(0.051, True), (0.049, False)], ids=lambda v: f"{v}")
def test_the_allowed_drop_below_the_source_just_inside_and_outside(
    exact_pair: Callable[..., Pair], recall_max_drop: float, passes: bool
) -> None:
    # The exact source recalls 1.0; the target 0.95, a drop of 0.05.
    limits = Thresholds(recall_target_min=0.5, recall_max_drop=recall_max_drop, overlap_min=0.5)
    verdict = quality_verdict(exact_pair(Distance.DOT), limits)
    assert failing(verdict) == (set() if passes else {"quality.recall_target"})
    assert verdict.check("quality.recall_target").expected == pytest.approx(1.0 - recall_max_drop)


@pytest.mark.parametrize(("overlap_min", "passes"), [(0.949, True), (0.951, False)], ids=lambda v: f"{v}")
def test_the_overlap_floor_just_inside_and_outside(
    exact_pair: Callable[..., Pair], overlap_min: float, passes: bool
) -> None:
    limits = Thresholds(recall_target_min=0.5, recall_max_drop=0.5, overlap_min=overlap_min)
    verdict = quality_verdict(exact_pair(Distance.EUCLID), limits)
    assert verdict.check("quality.overlap").observed == pytest.approx(0.95)
    assert failing(verdict) == (set() if passes else {"quality.overlap"})


def two_or_three_misses(q: int) -> int:
    return 3 if q < 4 else 2  # 44 of 200 results: overlap 0.78


@pytest.mark.parametrize(("noise_slack", "passes"), [(0.021, True), (0.019, False)], ids=lambda v: f"{v}")
def test_the_noise_floor_relaxes_the_overlap_gate_by_no_more_than_the_slack(
    exact_pair: Callable[..., Pair], noise_slack: float, passes: bool
) -> None:
    # A source that agrees with itself at 0.8 on a re-run: the overlap gate is min(0.9, 0.8 − slack).
    source, target = exact_pair(Distance.COSINE)
    unstable = DisplacedResults(source, lambda q: 2, DECOY_IDS, on_repeat=True)
    limits = Thresholds(recall_target_min=0.5, recall_max_drop=0.5, overlap_min=0.9, noise_slack=noise_slack)
    verdict = run_verification(
        unstable,
        DisplacedResults(target, two_or_three_misses, DECOY_IDS),
        k=K,
        query_vectors=query_vectors(),
        thresholds=limits,
        measure_latency=False,
    )
    assert verdict.check("quality.noise_floor").observed == pytest.approx(0.8)
    assert verdict.check("quality.noise_floor").status is Status.WARN
    assert verdict.check("quality.overlap").observed == pytest.approx(0.78)
    assert failing(verdict) == (set() if passes else {"quality.overlap"})


def test_a_stable_source_does_not_relax_the_overlap_gate(exact_pair: Callable[..., Pair]) -> None:
    limits = Thresholds(recall_target_min=0.5, recall_max_drop=0.5)
    verdict = quality_verdict(exact_pair(Distance.COSINE), limits, two_or_three_misses)
    assert verdict.check("quality.noise_floor").observed == 1.0
    assert failing(verdict) == {"quality.overlap"}
    assert verdict.check("quality.overlap").expected == pytest.approx(Thresholds().overlap_min)


# -- schema: drift that makes the quality checks mandatory -------------------------------------------------------
INDEXED = HnswConfig(m=16, ef_construct=100, full_scan_threshold=10_000)


@pytest.mark.parametrize(
    ("source_changes", "target_changes", "check_id"),
    [
        ({"hnsw": INDEXED}, {"hnsw": HnswConfig(16, 64, 10_000)}, "schema.hnsw"),
        ({}, {"quantization": "scalar"}, "schema.quantization"),
        ({"hnsw": INDEXED}, {"hnsw": INDEXED, "quantization": "binary"}, "schema.quantization"),
    ],
    ids=["ef_construct alone", "quantization added", "quantization added under HNSW"],
)
def test_recall_affecting_drift_warns_and_runs_the_quality_checks_with_no_queries_asked(
    exact_pair: Callable[..., Pair], source_changes: dict[str, Any], target_changes: dict[str, Any], check_id: str
) -> None:
    source, target = exact_pair(Distance.COSINE)
    with VerificationRun(
        ReportsSchema(source, **source_changes), ReportsSchema(target, **target_changes), queries=0,
        measure_latency=False,
    ) as run:  # fmt: skip
        verdict = run.verdict()
    warned = {c.id for c in verdict.checks if c.status is Status.WARN}
    assert warned == {check_id} and failing(verdict) == set()
    quality = verdict.check("quality.recall_target")
    assert quality.status is Status.PASS
    assert quality.details["queries"] == min(MANDATORY_QUERIES, N + len(DECOY_IDS))


def test_without_drift_no_queries_means_no_quality_checks(exact_pair: Callable[..., Pair]) -> None:
    source, target = exact_pair(Distance.COSINE)
    same = {"hnsw": INDEXED}
    verdict = run_verification(
        ReportsSchema(source, **same), ReportsSchema(target, **same), queries=0, measure_latency=False
    )
    assert {verdict.check(cid).status for cid in ("quality.recall_target", "quality.overlap")} == {Status.SKIP}
