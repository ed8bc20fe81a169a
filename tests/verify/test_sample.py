"""Sampled parity: the bound it states, the uniform draw, and ``sample_parity`` against targets that must
fail and must pass. Seeded throughout; nothing depends on the clock."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pytest
from scipy.stats import beta

from harness.model import CollectionSchema, Distance, PointId, RecordBatch, SparseVectorParams, Status
from harness.stores import open_store
from harness.stores.base import VectorStore
from harness.stores.exact import ExactStore
from harness.verify.parity import PARITY_CHECK_IDS
from harness.verify.sample import (
    CONFIDENCE,
    SampleBound,
    sample_ids,
    sample_parity,
    sample_size_for,
    upper_bound,
)


def _exact(n: int, *, dim: int = 4, seed: int = 0, sparse: bool = False, name: str = "") -> ExactStore:
    schema = CollectionSchema(dim, Distance.DOT, sparse_vectors={"s": SparseVectorParams()} if sparse else {})
    store = open_store(f"exact://sample-{name or uuid.uuid4().hex[:8]}")
    assert isinstance(store, ExactStore)
    store.create(schema)
    rng = np.random.default_rng(seed)
    for start in range(0, n, 20_000):
        stop = min(n, start + 20_000)
        rows = [([i % 1000, 1000 + i % 7], [1.0, 0.5]) for i in range(start, stop)] if sparse else None
        store.upsert(
            RecordBatch.build(
                list(range(start, stop)),
                rng.normal(size=(stop - start, dim)),
                [{"i": i} for i in range(start, stop)],
                sparse={"s": rows} if rows is not None else None,
            )
        )
    return store


@pytest.fixture
def stores() -> Iterator[list[ExactStore]]:
    made: list[ExactStore] = []
    yield made
    for store in made:
        store.drop()


# -- the bound ----------------------------------------------------------------------------------------------
def test_the_bound_of_a_clean_sample_matches_clopper_pearson_and_is_never_looser() -> None:
    for n, population in ((10_000, 1_000_000), (4_499, 100_000), (100, 10**8)):
        exact = upper_bound(0, n, population)
        binomial = beta.ppf(CONFIDENCE, 1, n) * population  # Clopper-Pearson's one-sided bound for k = 0
        assert exact <= binomial + 1
        assert exact >= 0.9 * binomial  # sampling without replacement barely helps at n << N


def test_the_bound_grows_with_findings_and_a_full_sample_bounds_exactly() -> None:
    bounds = [upper_bound(k, 1000, 50_000) for k in range(0, 20)]
    assert bounds == sorted(bounds) and len(set(bounds)) == len(bounds)
    assert upper_bound(7, 500, 500) == 7  # every record was looked at
    assert upper_bound(0, 1, 10) == 9  # one clean record proves almost nothing
    assert SampleBound.of(0, 0, 0).max_fraction == 0.0
    with pytest.raises(ValueError):
        upper_bound(5, 4, 10)


@pytest.mark.parametrize("bad", [0, 1, 100, 2_000])
def test_the_bound_covers_the_truth_at_the_stated_confidence(bad: int) -> None:
    # 20,000 seeded hypergeometric draws (what a uniform sample sees): the stated bound must be at least
    # the true number of bad records in at least 99 % of them (minus three standard errors).
    population, n, trials = 100_000, 3_000, 20_000
    seen = np.random.default_rng(bad).hypergeometric(bad, population - bad, n, size=trials)
    bound_of = {k: upper_bound(int(k), n, population) for k in np.unique(seen).tolist()}
    covered = np.mean([bound_of[k] >= bad for k in seen.tolist()])
    assert covered >= CONFIDENCE - 3 * np.sqrt(CONFIDENCE * (1 - CONFIDENCE) / trials)


def test_the_sample_size_for_a_fraction_is_the_smallest_that_bounds_it() -> None:
    n = sample_size_for(0.001, 100_000)
    assert upper_bound(0, n, 100_000) < 100 <= upper_bound(0, n - 1, 100_000)
    assert sample_size_for(1.0, 10) == 1 and sample_size_for(0.5, 1) == 1


# -- the draw -----------------------------------------------------------------------------------------------
class _NoFullScroll(ExactStore):
    """An exact store whose full scroll must not be used (sampling lists ids only)."""

    def scroll(self, batch_size: int = 1000, cursor: str | None = None) -> Any:
        raise AssertionError("sampling read vectors and payloads of every record")


class _Wrapped:
    """A store wrapper without ``scroll_ids`` (as fault or instrumentation wrappers are)."""

    def __init__(self, inner: VectorStore) -> None:
        self.inner, self.uri, self.scrolled = inner, inner.uri, 0

    def count(self) -> int:
        return self.inner.count()

    def scroll(self, batch_size: int = 1000, cursor: str | None = None) -> tuple[RecordBatch, str | None]:
        self.scrolled += 1
        return self.inner.scroll(batch_size, cursor)

    def fetch(self, ids: Sequence[PointId]) -> RecordBatch:
        return self.inner.fetch(ids)

    def describe(self) -> CollectionSchema:
        return self.inner.describe()


def test_the_sample_lists_ids_only_and_is_uniform(stores: list[ExactStore]) -> None:
    base = _exact(1000, name=f"uniform-{uuid.uuid4().hex[:6]}")
    stores.append(base)
    store = _NoFullScroll(base.name)
    hits = np.zeros(1000)
    for seed in range(400):
        picked, population = sample_ids(store, 100, seed=seed)
        assert population == 1000 and len({r.id for r in picked}) == 100  # without replacement
        hits[[r.id for r in picked]] += 1
    # Each id is drawn with probability 0.1: 40 times in 400 draws, standard deviation 6.
    assert abs(hits.mean() - 40) < 1e-9 and hits.min() > 40 - 5 * 6 and hits.max() < 40 + 5 * 6
    assert abs(np.corrcoef(np.arange(1000), hits)[0, 1]) < 0.15  # no drift along the scan order


def test_a_store_without_an_ids_only_scan_is_scrolled_instead(stores: list[ExactStore]) -> None:
    base = _exact(300)
    stores.append(base)
    wrapped = _Wrapped(base)
    picked, _ = sample_ids(wrapped, 50, seed=1)  # type: ignore[arg-type]
    assert len(picked) == 50 and wrapped.scrolled >= 1


def test_a_sample_larger_than_the_collection_takes_every_record(stores: list[ExactStore]) -> None:
    store = _exact(30)
    stores.append(store)
    picked, population = sample_ids(store, 1000)
    assert sorted(r.id for r in picked) == list(range(30)) and population == 30


# -- sample_parity ------------------------------------------------------------------------------------------
def _copy(source: ExactStore, stores: list[ExactStore], sparse: bool = False) -> ExactStore:
    target = open_store(f"exact://sample-copy-{uuid.uuid4().hex[:8]}")
    assert isinstance(target, ExactStore)
    target.create(source.describe())
    cursor = None
    while True:
        batch, cursor = source.scroll(5000, cursor)
        target.upsert(batch)
        if cursor is None:
            break
    stores.append(target)
    return target


def test_a_faithful_copy_passes_and_states_what_the_sample_proves(stores: list[ExactStore]) -> None:
    source = _exact(20_000, sparse=True)
    stores.append(source)
    target = _copy(source, stores)

    result = sample_parity(source, target, 2_000, seed=3)

    assert [c.id for c in result.checks] == list(PARITY_CHECK_IDS)
    assert result.passed and not result.missing and not any(result.different.values())
    statuses = {c.id: c.status for c in result.checks}
    assert statuses["parity.mapping"] is Status.SKIP and statuses["parity.sparse"] is Status.PASS
    assert result.bound.findings == 0 and result.bound.sampled == 2_000 and result.bound.population == 20_000
    assert result.bound.statement() == "at most 0.21 % of records missing or different, at 99 % confidence"
    ids = next(c for c in result.checks if c.id == "parity.ids")
    assert "0 of 2000 sampled source records missing" in ids.message and "at 99 % confidence" in ids.message
    assert ids.details["bound"]["method"].startswith("exact hypergeometric")


def test_missing_and_different_records_in_the_sample_are_found_and_named(stores: list[ExactStore]) -> None:
    source = _exact(2_000, sparse=True)
    stores.append(source)
    target = _copy(source, stores)
    target.delete([10, 20, 30])
    changed = source.fetch([40, 41])
    target.upsert(RecordBatch(changed.ids, changed.vectors + 1.0, changed.payloads, sparse=changed.sparse))
    target.upsert(source.fetch([50]).with_columns(sparse={}))
    payload = source.fetch([60])
    target.upsert(RecordBatch(payload.ids, payload.vectors, ({"i": 60.0},), sparse=payload.sparse))

    result = sample_parity(source, target, 5_000)  # more than the collection: every record is sampled

    assert sorted(r.id for r in result.missing) == [10, 20, 30]
    assert sorted(r.id for r in result.different["parity.vectors"]) == [40, 41]
    assert [r.id for r in result.different["parity.sparse"]] == [50]
    assert [r.id for r in result.different["parity.payloads"]] == [60]
    checks = {c.id: c for c in result.checks}
    assert checks["parity.count"].status is Status.FAIL  # 1997 vs 2000
    assert checks["parity.ids"].details["missing"] == [10, 20, 30]
    assert "the counts differ" in checks["parity.ids"].message
    assert checks["parity.sparse"].details["mismatched"] == [50]
    assert result.bound.findings == 7 and result.bound.max_records == 7  # every record looked at
    assert {f.check for f in result.findings.findings} == {
        "parity.ids",
        "parity.vectors",
        "parity.payloads",
        "parity.sparse",
    }


def test_an_empty_source_samples_nothing_and_a_bad_size_is_refused(stores: list[ExactStore]) -> None:
    source, target = _exact(0), _exact(0)
    stores += [source, target]
    result = sample_parity(source, target, 100)
    assert result.passed and result.sampled == [] and result.bound.population == 0
    with pytest.raises(ValueError):
        sample_parity(source, target, 0)


def test_one_in_a_thousand_missing_is_detected_in_at_least_99_of_100_seeded_trials(stores: list[ExactStore]) -> None:
    population, missing = 100_000, 100  # 0.1 %
    n = sample_size_for(missing / population, population)  # the bound: a clean sample of n proves < 0.1 %
    source = _exact(population, dim=2)
    stores.append(source)
    target = _copy(source, stores)
    gone = np.random.default_rng(2024).choice(population, size=missing, replace=False)
    target.delete(gone.tolist())

    detected = covered = 0
    for seed in range(100):
        result = sample_parity(source, target, n, seed=seed)
        ids = next(c for c in result.checks if c.id == "parity.ids")
        detected += ids.status is Status.FAIL
        assert {r.id for r in result.missing} <= set(gone.tolist())
        covered += result.bound.max_records >= missing  # the stated bound holds the truth
    assert detected >= 99 and covered >= 99, (detected, covered, n)
