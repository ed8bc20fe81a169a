"""Certifying with what users ask (issue 12's "done when"): real queries, leave-one-out, direction.

- A query file of questions that do not lie on the passages' manifold (as real questions do not)
  fails a weak HNSW target that queries sampled from the source — the old way, each finding itself —
  pass.
- Sampled queries scored leave-one-out agree with the recall of held-out queries from the same data.
- An upgrade (weak source → strong target) passes with a warning that says the results moved toward
  the exact answers; the downgrade fails.

Qdrant Edge draws HNSW levels at random, so recall moves from one build to the next, single-threaded
builds included (sampled recall 0.970–0.996 over three builds of m=16, ef_construct=40), and more under
load: with questions at noise 1.25 the same m=16, ef_construct=64 target measured 0.927–0.946 on an
idle machine and 0.950–0.976 with both cores busy (CI saw 0.9757, 0.0043 from the 0.98 gate). At
noise 2.0 (a question's cosine to its topic ≈ 0.45, as real questions to their passages) it measured
0.993–1.000 sampled and 0.814–0.869 with the questions over six builds, three of them with both cores
busy: the margins to the 0.98 gate are wider than that spread.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from harness.datasets import synthetic_corpus, synthetic_queries
from harness.model import Check, CollectionSchema, Distance, RecordBatch, Status
from harness.stores import open_store
from harness.stores.base import VectorStore
from harness.stores.exact import ExactStore
from harness.vectormath import normalise
from harness.verify import VerificationRun, run_verification
from harness.verify.queries import load_query_file
from tests.verify.conftest import DIM, SEED, build_edge

PLAUSIBLE = "?m=16&ef_construct=64&full_scan_threshold=1"  # full_scan_threshold=1: the graph is really used
OFF_MANIFOLD = 2.0  # noise added to each question, relative to a unit vector


def quality(run: VerificationRun) -> dict[str, Check]:
    return {c.id: c for c in run.quality_checks()}


@pytest.fixture(scope="module")
def plausible_edge(tmp_path_factory: pytest.TempPathFactory, corpus: list[RecordBatch]) -> Iterator[VectorStore]:
    directory = build_edge(tmp_path_factory.mktemp("edge") / "plausible", corpus, PLAUSIBLE, optimize=True)
    store = open_store(f"qdrant-edge://{directory}")
    yield store
    store.close()


@pytest.fixture(scope="module")
def questions(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """300 questions as a .jsonl query file: drawn from the corpus's topics, then pushed off its manifold."""
    rng = np.random.default_rng(1)
    base = normalise(synthetic_queries(300, DIM, seed=SEED))
    vectors = base + OFF_MANIFOLD * rng.standard_normal(base.shape).astype(np.float32) / np.sqrt(DIM)
    path = tmp_path_factory.mktemp("queries") / "questions.jsonl"
    path.write_text("".join(json.dumps({"id": f"q{i}", "vector": v.tolist()}) + "\n" for i, v in enumerate(vectors)))
    return path


def test_a_query_file_fails_a_weak_target_that_sampled_queries_pass(
    exact_cosine: ExactStore, plausible_edge: VectorStore, questions: Path
) -> None:
    with VerificationRun(
        exact_cosine, plausible_edge, queries=300, measure_latency=False, seed=3, leave_one_out=False
    ) as run:
        sampled = quality(run)["quality.recall_target"]
    with VerificationRun(
        exact_cosine, plausible_edge, query_vectors=load_query_file(questions), measure_latency=False
    ) as run:
        asked = quality(run)["quality.recall_target"]
    assert sampled.status is Status.PASS, sampled.message
    assert sampled.observed >= 0.985
    assert "each finding itself (not left out: recall is overstated)" in sampled.message
    assert asked.status is Status.FAIL, asked.message
    assert asked.observed <= 0.93
    assert "over 300 queries query file questions.jsonl" in asked.message
    assert asked.details["leave_one_out"] is False and asked.details["queries_sampled_from_source"] is False
    assert asked.details["worst_queries"][0]["query"].startswith("q")


# -- leave-one-out against held-out queries of the same data ----------------------------------------------
HELD_OUT = 2000
AGREEING = "?m=16&ef_construct=32&full_scan_threshold=1"


@pytest.fixture(scope="module")
def split(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ExactStore, VectorStore, np.ndarray]]:
    """20,000 records in an exact source and an Edge target; 2,000 more of the same corpus held out as queries."""
    every = RecordBatch.concat(list(synthetic_corpus(20_000 + HELD_OUT, DIM, seed=SEED, batch_size=2000)))
    order = np.random.default_rng(5).permutation(len(every))
    held, kept = order[:HELD_OUT], np.sort(order[HELD_OUT:])
    stored = every.take(kept)
    batches = [stored.slice(start, start + 2000) for start in range(0, len(stored), 2000)]
    source = open_store("exact://verify-held-out-source")
    assert isinstance(source, ExactStore)
    source.create(CollectionSchema(DIM, Distance.COSINE))
    for batch in batches:
        source.upsert(batch)
    directory = build_edge(tmp_path_factory.mktemp("edge") / "held-out", batches, AGREEING, optimize=True)
    target = open_store(f"qdrant-edge://{directory}")
    yield source, target, every.vectors[held]
    target.close()
    source.drop()


def test_leave_one_out_agrees_with_held_out_queries_within_0_01(
    split: tuple[ExactStore, VectorStore, np.ndarray],
) -> None:
    source, target, held_out = split
    with VerificationRun(source, target, queries=HELD_OUT, measure_latency=False, seed=7) as run:
        sampled = quality(run)["quality.recall_target"]
    with VerificationRun(source, target, query_vectors=held_out, measure_latency=False) as run:
        asked = quality(run)["quality.recall_target"]
    assert sampled.details["leave_one_out"] is True
    assert "each scored leave-one-out" in sampled.message
    assert 0.9 < asked.observed < 1.0  # a target that really misses neighbours, or agreement proves nothing
    assert abs(sampled.observed - asked.observed) <= 0.01, (sampled.observed, asked.observed)


def test_leave_one_out_removes_each_querys_own_record_from_truth_and_results() -> None:
    # Every vector twice at a distance: a query sampled from one twin must find the *other* twin first.
    rng = np.random.default_rng(2)
    base = rng.standard_normal((300, 8)).astype(np.float32)
    vectors = np.concatenate([base, base + 1e-3])
    source, target = ExactStore("loo-src"), ExactStore("loo-tgt")
    try:
        for store in (source, target):
            store.create(CollectionSchema(8, Distance.EUCLID))
            store.upsert(RecordBatch.build(range(600), vectors))
        with VerificationRun(source, target, queries=50, k=1, measure_latency=False, seed=1) as run:
            checks = quality(run)
            details = checks["quality.recall_target"].details
        assert checks["quality.recall_target"].observed == 1.0
        for worst in details["worst_queries"]:
            twin = (worst["query"] + 300) % 600
            assert worst["expected"] == [twin] and worst["target"] == [twin]
    finally:
        source.drop()
        target.drop()


# -- direction ----------------------------------------------------------------------------------------------
def test_weak_source_to_strong_target_passes_with_a_warning_that_says_which_way(
    weak_edge: VectorStore, edge_copy: Callable[[str], VectorStore]
) -> None:
    strong = edge_copy("strong")
    verdict = run_verification(weak_edge, strong, queries=100, measure_latency=False, seed=4)
    assert verdict.passed, [(c.id, c.message) for c in verdict.checks if c.status is Status.FAIL]
    overlap = verdict.check("quality.overlap")
    assert overlap.status is Status.WARN
    assert overlap.message.startswith("results changed: overlap@10 of target with source")
    assert (
        "the target is clearly better than the source — its answers moved toward the exact answers" in overlap.message
    )
    assert overlap.details["policy"]["upgrade"] is True
    assert verdict.check("quality.recall_source").status is Status.WARN  # the source is the weak one
    assert verdict.check("quality.recall_target").observed >= 0.99


def test_strong_source_to_weak_target_fails(weak_edge: VectorStore, edge_copy: Callable[[str], VectorStore]) -> None:
    strong = edge_copy("strong")
    verdict = run_verification(strong, weak_edge, queries=100, measure_latency=False, seed=4)
    assert not verdict.passed
    assert verdict.check("quality.recall_target").status is Status.FAIL
    overlap = verdict.check("quality.overlap")
    assert overlap.status is Status.FAIL and "away from the exact answers" in overlap.message
