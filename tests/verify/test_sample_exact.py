"""Sampled parity read exactly: the bound against a brute-force search of the same definition, the draw
against the positions the docstring promises, and ``sample_parity``'s checks in full on small pairs where
every record is sampled (so every bound is exact and every figure can be written down).

Seeded throughout; nothing depends on the clock.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import pytest
from scipy.stats import hypergeom

from harness.model import Check, CollectionSchema, Distance, PointId, RecordBatch, Status
from harness.records import RecordId, mapping_for
from harness.stores.base import Cursor, IdPage, iter_batches
from harness.stores.exact import ExactStore
from harness.verify.findings import Finding
from harness.verify.sample import (
    CONFIDENCE,
    ID_PAGE,
    SampleBound,
    sample_ids,
    sample_parity,
    sample_size_for,
    upper_bound,
)
from tests.judges.hostile import HidesFromFetch, ReportsSchema

DIM = 4
METHOD = "exact hypergeometric bound (uniform sample without replacement), scipy.stats.hypergeom"


# -- the bound against its definition ------------------------------------------------------------------------
def defined_bound(findings: int, sampled: int, population: int, confidence: float) -> int:
    """``max{M : P(X ≤ findings) > 1 − confidence}`` by trying every M the sample allows."""
    ms = np.arange(findings, findings + population - sampled + 1)
    held = (ms == findings) | (hypergeom.cdf(findings, population, ms, sampled) > 1.0 - confidence)  # P = 1 at M = k
    return int(ms[held].max())


def defined_size(max_fraction: float, population: int, confidence: float) -> int:
    """The smallest sample that misses ``ceil(max_fraction × population)`` bad records with probability at
    most 1 − confidence, by trying every size."""
    bad = max(1, math.ceil(max_fraction * population))
    sizes = np.arange(1, population + 1)
    return int(sizes[hypergeom.pmf(0, population, bad, sizes) <= 1.0 - confidence].min())


@pytest.mark.parametrize("confidence", [0.5, 0.9, CONFIDENCE])
@pytest.mark.parametrize("population", [1, 2, 7, 40, 301])
def test_the_bound_is_the_largest_count_its_definition_allows(population: int, confidence: float) -> None:
    for sampled in sorted(
        {1, 2, population // 3, population // 2, population - 1, population} & set(range(1, population + 1))
    ):
        for findings in sorted({0, 1, sampled // 4, sampled // 2, sampled} & set(range(sampled + 1))):
            want = defined_bound(findings, sampled, population, confidence)
            assert upper_bound(findings, sampled, population, confidence) == want, (findings, sampled, population)


def test_the_bound_of_nothing_sampled_from_nothing_is_zero_and_the_default_confidence_is_99() -> None:
    assert upper_bound(0, 0, 0) == 0
    assert upper_bound(2, 50, 1_000) == defined_bound(2, 50, 1_000, 0.99)
    assert upper_bound(2, 50, 1_000) != defined_bound(2, 50, 1_000, 0.95)


@pytest.mark.parametrize(
    ("args", "shown"),
    [
        ((-1, 5, 10, 0.99), "-1, 5, 10, 0.99"),
        ((6, 5, 10, 0.99), "6, 5, 10, 0.99"),
        ((0, 11, 10, 0.99), "0, 11, 10, 0.99"),
        ((0, 5, 10, 0.0), "0, 5, 10, 0.0"),
        ((0, 5, 10, 1.0), "0, 5, 10, 1.0"),
        ((0, 5, 10, -0.5), "0, 5, 10, -0.5"),
    ],
)
def test_an_impossible_bound_is_refused_naming_its_arguments(args: tuple[Any, ...], shown: str) -> None:
    with pytest.raises(ValueError, match="need 0 <= findings <= sampled <= population and 0 < confidence < 1") as e:
        upper_bound(*args)
    assert str(e.value).endswith(f"got {shown}")


@pytest.mark.parametrize("confidence", [0.9, CONFIDENCE])
@pytest.mark.parametrize("population", [1, 5, 60, 1_000])
@pytest.mark.parametrize("fraction", [0.0015, 0.02, 0.3, 1.0])
def test_the_sample_size_is_the_smallest_its_definition_allows(
    fraction: float, population: int, confidence: float
) -> None:
    assert sample_size_for(fraction, population, confidence) == defined_size(fraction, population, confidence)


def test_the_sample_size_defaults_to_99_percent_and_rounds_the_bad_records_up() -> None:
    assert sample_size_for(0.01, 2_000) == defined_size(0.01, 2_000, 0.99)
    assert sample_size_for(0.01, 2_000) != defined_size(0.01, 2_000, 0.9)
    # 0.15 % of 1000 is 1.5 records: the sample must catch 2 (fewer are not "0.15 % or more").
    assert sample_size_for(0.0015, 1_000) == defined_size(0.002, 1_000, 0.99) < defined_size(0.001, 1_000, 0.99)


@pytest.mark.parametrize(("fraction", "population"), [(0.0, 10), (-0.1, 10), (1.01, 10), (0.5, 0), (0.5, -3)])
def test_an_impossible_sample_size_is_refused(fraction: float, population: int) -> None:
    with pytest.raises(
        ValueError, match=rf"need 0 < max_fraction <= 1 and population >= 1, got {fraction}, {population}"
    ):
        sample_size_for(fraction, population)


def test_what_a_bound_says() -> None:
    empty = SampleBound.of(0, 0, 0)
    assert empty == SampleBound(0, 0, 0, 0, CONFIDENCE) and empty.max_fraction == 0.0
    assert empty.to_dict() == {
        "sampled": 0,
        "population": 0,
        "findings": 0,
        "max_records": 0,
        "max_fraction": 0.0,
        "confidence": 0.99,
        "method": METHOD,
    }
    bound = SampleBound.of(3, 100, 1_000, 0.9)
    assert bound == SampleBound(100, 1_000, 3, defined_bound(3, 100, 1_000, 0.9), 0.9)
    assert bound.max_fraction == bound.max_records / 1_000
    assert SampleBound.of(3, 100, 1_000).confidence == CONFIDENCE
    assert bound.to_dict() == {
        "sampled": 100,
        "population": 1_000,
        "findings": 3,
        "max_records": bound.max_records,
        "max_fraction": bound.max_records / 1_000,
        "confidence": 0.9,
        "method": METHOD,
    }


@pytest.mark.parametrize(
    ("max_records", "population", "confidence", "said"),
    [
        (0, 1_000, 0.99, "at most 0 % of records missing or different, at 99 % confidence"),
        (500, 1_000, 0.99, "at most 50 % of records missing or different, at 99 % confidence"),
        (10, 1_000, 0.99, "at most 1 % of records missing or different, at 99 % confidence"),
        (12_345, 1_000_000, 0.99, "at most 1.23 % of records missing or different, at 99 % confidence"),
        (99, 10_000, 0.99, "at most 0.99 % of records missing or different, at 99 % confidence"),
        (123, 1_000_000, 0.999, "at most 0.012 % of records missing or different, at 99.9 % confidence"),
    ],
)
def test_a_bound_is_stated_in_percent(max_records: int, population: int, confidence: float, said: str) -> None:
    assert SampleBound(1, population, 0, max_records, confidence).statement() == said


def test_a_bound_names_what_it_bounds() -> None:
    assert SampleBound(1, 100, 0, 2).statement("missing") == "at most 2 % of records missing, at 99 % confidence"


# -- the draw -----------------------------------------------------------------------------------------------
def records(ids: Sequence[PointId], *, shift: float = 0.0, namespaces: Sequence[str] | None = None) -> RecordBatch:
    """A vector of each id's own (component 2 moved by ``shift``) and payload ``{"doc": id}``."""
    base = [float(pid) if isinstance(pid, int) else float(sum(map(ord, pid))) for pid in ids]
    vectors = np.array([[b + 1.0, 1.0, 0.5 + shift, -1.0] for b in base], dtype=np.float32)
    return RecordBatch.build(list(ids), vectors, [{"doc": pid} for pid in ids], namespaces)


class CountsPages(ExactStore):
    """An exact store that counts its ids-only pages and refuses ``count`` when told to."""

    pages = 0
    countable = True

    def scroll_ids(self, batch_size: int = 10_000, cursor: Cursor | None = None) -> tuple[IdPage, Cursor | None]:
        self.pages += 1
        return super().scroll_ids(batch_size, cursor)

    def count(self) -> int:
        assert self.countable, "the population was given: count() must not be asked"
        return super().count()


@pytest.fixture
def store(request: pytest.FixtureRequest) -> Iterator[Callable[..., ExactStore]]:
    """``make(*batches, cls=ExactStore)``: an exact DOT collection holding ``batches``; dropped after."""
    made: list[ExactStore] = []

    def make(*batches: RecordBatch, cls: type[ExactStore] = ExactStore) -> ExactStore:
        s = cls(f"sample-exact-{request.node.name}-{len(made)}")
        made.append(s)
        s.create(CollectionSchema(DIM, Distance.DOT))
        for batch in batches:
            s.upsert(batch)
        return s

    yield make
    for s in made:
        s.drop()


def scan_order(s: ExactStore) -> list[RecordId]:
    return [
        RecordId(ns, pid)
        for b in iter_batches(s, 5_000)
        for pid, ns in zip(b.ids, b.namespaces or [""] * len(b), strict=True)
    ]


def test_the_sample_is_the_records_at_the_seeded_positions_across_pages(store: Callable[..., ExactStore]) -> None:
    total = ID_PAGE * 2 + 500
    s = store(records(range(total)), cls=CountsPages)
    order = scan_order(s)
    for seed, n in ((0, 3_000), (7, 40)):
        picked, population = sample_ids(s, n, seed=seed)
        positions = np.sort(np.random.default_rng(seed).choice(total, size=n, replace=False))
        assert population == total and picked == [order[p] for p in positions.tolist()]


def test_the_draw_stops_reading_ids_once_it_has_its_sample(store: Callable[..., ExactStore]) -> None:
    s = store(records(range(ID_PAGE + 10)), cls=CountsPages)
    assert isinstance(s, CountsPages)
    s.countable = False
    picked, population = sample_ids(s, 10, seed=3, population=10)  # the first 10 positions: page one holds them
    assert population == 10 and picked == scan_order(s)[:10] and s.pages == 1


@pytest.mark.parametrize("n", [0, -5])
def test_no_sample_for_a_size_below_one(store: Callable[..., ExactStore], n: int) -> None:
    assert sample_ids(store(records(range(20))), n) == ([], 20)


def test_sampled_records_keep_their_namespaces_with_or_without_an_ids_only_scan(
    store: Callable[..., ExactStore],
) -> None:
    s = store(records(["a", "b", "c", "d"], namespaces=["x", "", "y", ""]))
    want = [RecordId("x", "a"), RecordId("", "b"), RecordId("y", "c"), RecordId("", "d")]
    assert sample_ids(s, 10)[0] == want
    assert sample_ids(HidesFromFetch(s, []), 10)[0] == want  # a wrapper: scrolled in full


# -- sample_parity, every record sampled ------------------------------------------------------------------------
def bound(findings: int, compared: int, population: int) -> dict[str, Any]:
    return SampleBound.of(findings, compared, population).to_dict()


def test_every_check_of_a_fully_sampled_pair_in_full(store: Callable[..., ExactStore]) -> None:
    source = store(records(range(2, 20)), records([0, 1], namespaces=["x", "y"]))
    target = store(records(range(3, 20)))
    target.upsert(records([7], shift=0.5))  # a vector moved
    target.upsert(RecordBatch.build([8], records([8]).vectors, [{"doc": 8.0}]))  # 8 → 8.0
    result = sample_parity(source, target, 50, seed=4)
    checks = {c.id: c for c in result.checks}
    scope = {"sampled": 20, "population": 20, "seed": 4}
    assert [r.id for r in result.missing] == [2, 0, 1] or sorted(r.id for r in result.missing) == [0, 1, 2]
    missing = [r.id for r in result.missing]
    namespaces = [r.namespace for r in result.missing]
    assert sorted(namespaces) == ["", "x", "y"]
    assert checks["parity.count"] == Check(
        "parity.count",
        Status.FAIL,
        17,
        20,
        "target holds 17 records, source 20 (-3)",
        {"mode": "exact counts (sampled parity)"},
    )
    assert checks["parity.ids"] == Check(
        "parity.ids",
        Status.FAIL,
        {"missing": 3},
        {"missing": 0},
        f"3 of 20 sampled source records missing on the target (ids {', '.join(map(str, missing))}): at most 15 % of "
        "records missing, at 99 % confidence; the counts differ, so extra target records may exist beyond the "
        "missing ones (parity.count)",
        {
            "mode": "sampled",
            "missing_count": 3,
            "missing": missing,
            "missing_namespaces": namespaces,
            "compared": 20,
            "bound": bound(3, 20, 20),
            **scope,
        },
    )
    assert checks["parity.vectors"] == Check(
        "parity.vectors",
        Status.FAIL,
        1,
        0,
        "1 of 20 sampled source records have vectors that differ (ids 7): at most 5 % of records with vectors that "
        "differ, at 99 % confidence",
        {
            "mode": "sampled",
            "mismatch_count": 1,
            "mismatched": [7],
            "sample": [{"id": 7, "max_abs_diff": 0.5}],
            "compared": 20,
            "bound": bound(1, 20, 20),
            **scope,
            "tolerance": 1e-3,
            "normalised": False,
        },
    )
    assert checks["parity.payloads"] == Check(
        "parity.payloads",
        Status.FAIL,
        1,
        0,
        "1 of 20 sampled source records have payloads that differ (ids 8): at most 5 % of records with payloads that "
        "differ, at 99 % confidence",
        {
            "mode": "sampled",
            "mismatch_count": 1,
            "mismatched": [8],
            "sample": [{"id": 8, "fields": ["doc"]}],
            "compared": 20,
            "bound": bound(1, 20, 20),
            **scope,
        },
    )
    assert checks["parity.mapping"] == Check(
        "parity.mapping",
        Status.SKIP,
        None,
        None,
        "no id mapping between these stores: records keep their ids",
        {"mode": "sampled"},
    )
    assert checks["parity.sparse"].status is Status.SKIP
    assert not result.passed
    assert result.bound == SampleBound.of(5, 20, 20) and result.seed == 4
    assert result.different == {
        "parity.vectors": [RecordId("", 7)],
        "parity.payloads": [RecordId("", 8)],
        "parity.sparse": [],
        "parity.mapping": [],
    }
    assert result.findings.counts == (20, 17) and result.findings.unrecheckable == {}
    assert set(result.findings.findings) == {
        *(Finding("parity.ids", "missing", r, r, r.id) for r in result.missing),
        Finding("parity.vectors", "vectors", RecordId("", 7), RecordId("", 7), 7),
        Finding("parity.payloads", "payloads", RecordId("", 8), RecordId("", 8), 8),
    }


@pytest.mark.parametrize(("gone", "shown"), [(5, "ids 1, 2, 3, 4, 5"), (6, "ids 1, 2, 3, 4, 5, …")])
def test_at_most_five_ids_are_named_in_a_message(store: Callable[..., ExactStore], gone: int, shown: str) -> None:
    source = store(records(range(1, 31)))
    kept = range(gone + 1, 31)
    target = store(records(kept), records(range(101, 101 + gone), shift=1.0) if gone else records([]))
    target.upsert(records(kept[:gone], shift=1.0))  # as many vectors moved as records lost
    checks = {c.id: c for c in sample_parity(source, target, 100).checks}
    assert checks["parity.count"].status is Status.PASS
    ids = checks["parity.ids"]
    assert f"{gone} of 30 sampled source records missing on the target ({shown}):" in ids.message
    assert ids.message.endswith("; with equal counts the target holds exactly as many extra records as missing ones")
    assert "missing_namespaces" not in ids.details
    moved = ", ".join(map(str, kept[:5])) + (", …" if gone > 5 else "")
    assert (
        f"{gone} of 30 sampled source records have vectors that differ (ids {moved}):"
        in checks["parity.vectors"].message
    )


def test_a_clean_sample_names_no_ids(store: Callable[..., ExactStore]) -> None:
    source, target = store(records(range(10))), store(records(range(10)))
    result = sample_parity(source, target, 10)
    assert result.passed and all(c.status is not Status.FAIL for c in result.checks)
    checks = {c.id: c for c in result.checks}
    assert checks["parity.ids"].message.startswith("0 of 10 sampled source records missing on the target: at most 0 %")
    assert checks["parity.vectors"].message.startswith("0 of 10 sampled source records have vectors that differ: ")
    assert checks["parity.count"].message == "target holds 10 records, source 10"


def test_a_record_deleted_on_the_source_after_the_draw_is_not_a_finding(store: Callable[..., ExactStore]) -> None:
    source = store(records(range(12)))
    target = store(records(range(12)))
    target.delete([5])
    gone = HidesFromFetch(source, [5])  # listed by the draw, gone when fetched
    result = sample_parity(gone, target, 50)
    checks = {c.id: c for c in result.checks}
    assert len(result.sampled) == 12 and result.missing == []
    assert checks["parity.ids"].status is Status.PASS and checks["parity.ids"].details["compared"] == 11
    assert result.bound == SampleBound.of(0, 11, 12)


def test_a_pinecone_to_qdrant_pair_checks_the_mapping_of_the_sample(store: Callable[..., ExactStore]) -> None:
    mapping = mapping_for("pinecone", "qdrant-edge")
    batch = records(["a", "b", "c", "d"], namespaces=["", "", "x", ""])
    source_store = store(batch)
    target_store = store(mapping.records(batch))
    point_b = mapping.target_record(RecordId("", "b")).id
    point_d = mapping.target_record(RecordId("", "d")).id
    # b's point names record c; d's vector moved.
    target_store.upsert(
        RecordBatch.build([point_b], records(["b"]).vectors, [{"doc": "b", "__id__": "c", "__namespace__": "x"}])
    )
    target_store.upsert(mapping.records(records(["d"], shift=0.25)))
    source = ReportsSchema(source_store, backend="pinecone")
    target = ReportsSchema(target_store, backend="qdrant-edge")
    result = sample_parity(source, target, 10)
    checks = {c.id: c for c in result.checks}
    mapped = checks["parity.mapping"]
    assert mapped.status is Status.FAIL and mapped.observed == 1
    assert mapped.details["sample"] == [
        {"id": {"source": "b", "target": point_b}, "names": {"id": "c", "namespace": "x"}}
    ]
    assert mapped.message.startswith("1 of 4 sampled source records have mapping fields that differ (ids ")
    assert checks["parity.vectors"].details["mismatched"] == [{"source": "d", "target": point_d}]
    assert result.different["parity.mapping"] == [RecordId("", "b")]
    assert result.findings.unrecheckable == {"parity.mapping": "points that name another record"}
    assert (
        Finding("parity.mapping", "unknown", RecordId("", "b"), RecordId("", point_b), point_b)
        in result.findings.findings
    )
    assert (
        Finding(
            "parity.vectors", "vectors", RecordId("", "d"), RecordId("", point_d), {"source": "d", "target": point_d}
        )
        in result.findings.findings
    )
    # the mapping fields are parity.mapping's business, not a payload difference
    assert checks["parity.payloads"].details["mismatched"] == []


def test_a_faithful_mapped_copy_passes_every_sampled_check(store: Callable[..., ExactStore]) -> None:
    mapping = mapping_for("pinecone", "qdrant-edge")
    batch = records(["a", "b", "c"], namespaces=["", "x", ""])
    source = ReportsSchema(store(batch), backend="pinecone")
    target = ReportsSchema(store(mapping.records(batch)), backend="qdrant-edge")
    result = sample_parity(source, target, 3)
    assert result.passed and result.findings.findings == () and result.findings.unrecheckable == {}
    assert {c.id: c.status for c in result.checks}["parity.mapping"] is Status.PASS
