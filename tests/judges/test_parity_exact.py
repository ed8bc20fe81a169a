"""Full parity (``verify.parity``) read exactly where its other tests look only at statuses: records that
change under the exact comparison, the sample limits, the findings the re-check reads, messages and
clipped values at their limits, and the table lookups quality and the re-check use.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Sequence

import numpy as np
import pytest

from harness.model import CollectionSchema, Distance, PointId, RecordBatch, SparseVectorParams, Status
from harness.records import Comparison, RecordId
from harness.stores.exact import ExactStore
from harness.verify import Thresholds
from harness.verify.findings import Finding
from harness.verify.parity import VALUE_CLIP, DigestTableBuilder, check_parity, parity_outcome, point_keys
from tests.judges.hostile import HidesFromFetch

DIM = 4
SPARSE = {"s": SparseVectorParams()}


def records(
    ids: Sequence[int],
    *,
    shift: float = 0.0,
    payload: Callable[[int], dict[str, object]] | None = None,
    sparse: bool = False,
) -> RecordBatch:
    vectors = np.array([[float(i) + 1.0, 1.0, 0.5 + shift, -1.0] for i in ids], dtype=np.float32)
    payloads = [payload(i) if payload else {"doc": f"d{i}"} for i in ids]
    rows = [([i % 50, 100], [1.0, 0.5 + shift]) for i in ids] if sparse else None
    return RecordBatch.build(list(ids), vectors, payloads, sparse={"s": rows} if rows is not None else None)


@pytest.fixture
def store(request: pytest.FixtureRequest) -> Iterator[Callable[..., ExactStore]]:
    made: list[ExactStore] = []

    def make(*batches: RecordBatch, sparse: bool = False) -> ExactStore:
        s = ExactStore(f"parity-exact-{request.node.name}-{len(made)}")
        made.append(s)
        s.create(CollectionSchema(DIM, Distance.DOT, sparse_vectors=SPARSE if sparse else {}))
        for batch in batches:
            s.upsert(batch)
        return s

    yield make
    for s in made:
        s.drop()


def by_id(checks: Sequence[object]) -> dict[str, object]:
    return {c.id: c for c in checks}  # type: ignore[attr-defined]


# -- records that change under the exact comparison -------------------------------------------------------------
@pytest.mark.parametrize("side", ["target", "source"])
def test_a_suspect_record_gone_when_fetched_counts_as_different_everywhere(
    store: Callable[..., ExactStore], side: str
) -> None:
    source = store(records(range(10), sparse=True), sparse=True)
    target = store(records(range(10), sparse=True), records([7], shift=0.5, sparse=True), sparse=True)
    if side == "target":
        target = HidesFromFetch(target, [7])  # type: ignore[assignment]
    else:
        source = HidesFromFetch(source, [7])  # type: ignore[assignment]
    outcome = parity_outcome(source, target)
    checks = by_id(outcome.checks)
    vectors, payloads, sparse = checks["parity.vectors"], checks["parity.payloads"], checks["parity.sparse"]
    assert vectors.status is Status.FAIL and vectors.details["mismatched"] == [7]  # type: ignore[attr-defined]
    (entry,) = vectors.details["sample"]  # type: ignore[attr-defined]
    assert entry["id"] == 7 and np.isnan(entry["max_abs_diff"]) and "named_vectors" not in entry
    assert payloads.status is Status.FAIL and payloads.details["mismatched"] == [7]  # type: ignore[attr-defined]
    assert payloads.details["sample"] == []  # type: ignore[attr-defined]  # nothing to show field by field
    assert sparse.status is Status.FAIL  # type: ignore[attr-defined]
    missing_side = {"target": (10, None), "source": (None, 10)}[side]
    assert sparse.details["sample"] == [  # type: ignore[attr-defined]
        {"id": 7, "vectors": ["*"], "source_entries": missing_side[0] and 2, "target_entries": missing_side[1] and 2}
    ]
    r = RecordId("", 7)
    assert set(outcome.findings.findings) == {
        Finding("parity.vectors", "vectors", r, r, 7),
        Finding("parity.payloads", "payloads", r, r, 7),
        Finding("parity.sparse", "sparse", r, r, 7),
    }


def test_a_vanished_record_without_sparse_vectors_is_no_sparse_finding(store: Callable[..., ExactStore]) -> None:
    source = store(records(range(10)))
    target = HidesFromFetch(store(records(range(10)), records([7], shift=0.5)), [7])
    checks = by_id(check_parity(source, target))  # type: ignore[arg-type]
    assert checks["parity.sparse"].status is Status.SKIP  # type: ignore[attr-defined]
    assert checks["parity.vectors"].details["mismatched"] == [7]  # type: ignore[attr-defined]


# -- the sample limits and the findings --------------------------------------------------------------------------
def test_counts_are_exact_and_samples_stop_at_the_sample_size(store: Callable[..., ExactStore]) -> None:
    source = store(records(range(10), sparse=True), sparse=True)
    changed = [2, 4, 6]
    target = store(
        records(range(10), sparse=True),
        records(changed, shift=0.5, payload=lambda i: {"doc": f"d{i}", "extra": i}, sparse=True),
        sparse=True,
    )
    outcome = parity_outcome(source, target, Thresholds(sample_size=2))
    checks = by_id(outcome.checks)
    vectors, payloads, sparse = checks["parity.vectors"], checks["parity.payloads"], checks["parity.sparse"]
    assert vectors.observed == 3 and vectors.details["mismatch_count"] == 3  # type: ignore[attr-defined]
    assert vectors.details["rechecked_exactly"] == 3  # type: ignore[attr-defined]
    assert [e["id"] for e in vectors.details["sample"]] == [2, 4]  # type: ignore[attr-defined]
    assert [e["max_abs_diff"] for e in vectors.details["sample"]] == [0.5, 0.5]  # type: ignore[attr-defined]
    assert payloads.observed == 3 and payloads.details["mismatched"] == [2, 4]  # type: ignore[attr-defined]
    assert payloads.details["sample"] == [  # type: ignore[attr-defined]
        {"id": 2, "field": "extra", "change": payloads.details["sample"][0]["change"], "source": None, "target": 2},  # type: ignore[attr-defined]
        {"id": 4, "field": "extra", "change": payloads.details["sample"][1]["change"], "source": None, "target": 4},  # type: ignore[attr-defined]
    ]
    assert sparse.observed == 3 and [e["id"] for e in sparse.details["sample"]] == [2, 4]  # type: ignore[attr-defined]
    assert sparse.details["sample"][0] == {"id": 2, "vectors": ["s"], "source_entries": 2, "target_entries": 2}  # type: ignore[attr-defined]
    rs = [RecordId("", i) for i in changed]
    assert set(outcome.findings.findings) == {
        *(Finding("parity.vectors", "vectors", r, r, r.id) for r in rs),
        *(Finding("parity.payloads", "payloads", r, r, r.id) for r in rs),
        *(Finding("parity.sparse", "sparse", r, r, r.id) for r in rs),
    }


@pytest.mark.parametrize(("source_n", "target_n", "said"), [(10, 12, " (+2)"), (10, 9, " (-1)"), (10, 10, "")])
def test_the_count_check_says_the_difference_with_its_sign(
    store: Callable[..., ExactStore], source_n: int, target_n: int, said: str
) -> None:
    source, target = store(records(range(source_n))), store(records(range(target_n)))
    count = by_id(check_parity(source, target))["parity.count"]
    assert count.message == f"target holds {target_n} records, source {source_n}{said}"  # type: ignore[attr-defined]
    assert count.details == {"source_scanned": source_n, "target_scanned": target_n}  # type: ignore[attr-defined]
    assert count.status is (Status.PASS if source_n == target_n else Status.FAIL)  # type: ignore[attr-defined]


@pytest.mark.parametrize(("bad", "named"), [(5, "ids 0, 1, 2, 3, 4)"), (6, "ids 0, 1, 2, 3, 4, …)")])
def test_at_most_five_ids_are_named_in_a_message(
    store: Callable[..., ExactStore], monkeypatch: pytest.MonkeyPatch, bad: int, named: str
) -> None:
    monkeypatch.setattr("harness.stores.exact.validate_batch", lambda batch, dimension: None)
    source = store(records(range(10)))
    broken = records(range(bad))
    target = store(
        records(range(10)), RecordBatch.build(list(range(bad)), np.full((bad, DIM), np.nan), broken.payloads)
    )
    message = by_id(check_parity(source, target))["parity.vectors"].message  # type: ignore[attr-defined]
    assert message.endswith(f"non-finite values (NaN or ±Inf) in the vectors of {bad} target records ({named}")


# -- a payload value clipped for the report --------------------------------------------------------------------------
@pytest.mark.parametrize("length", [VALUE_CLIP - 2, VALUE_CLIP - 1])
def test_a_long_payload_value_is_shown_whole_up_to_the_clip_and_clipped_beyond(
    store: Callable[..., ExactStore], length: int
) -> None:
    value = "x" * length  # its JSON form is 2 characters longer
    source = store(records([1], payload=lambda i: {"doc": value, "nested": {"b": 1, "a": "y" * VALUE_CLIP}}))
    target = store(records([1], payload=lambda i: {"doc": "short", "nested": {"b": 2, "a": "y" * VALUE_CLIP}}))
    sample = by_id(check_parity(source, target))["parity.payloads"].details["sample"]  # type: ignore[attr-defined]
    shown = {e["field"]: e for e in sample}
    assert shown["doc"]["source"] == (value if length + 2 <= VALUE_CLIP else f'"{value}'[:VALUE_CLIP] + "…")
    assert shown["doc"]["target"] == "short"
    nested = shown["nested"]["source"]
    assert nested == '{"a": "' + "y" * (VALUE_CLIP - 7) + "…"  # sorted keys, clipped


# -- the tables' lookups ------------------------------------------------------------------------------------------
def table(ids: list[PointId]) -> object:
    builder = DigestTableBuilder(Comparison(), target_side=False)
    if ids:
        builder.add(RecordBatch.build(ids, np.ones((len(ids), DIM), np.float32)))
    return builder.finish()


def test_a_table_finds_the_scan_position_of_each_key_and_minus_one_for_others() -> None:
    ids: list[PointId] = [30, 10, 20]
    t = table(ids)
    absent = list(range(1000, 1100))
    asked = point_keys([20, *absent, 30, 10])
    assert int(point_keys(absent).max()) > int(point_keys(ids).max())  # a key past the last one is asked too
    got = t.positions(asked)  # type: ignore[attr-defined]
    assert got.dtype == np.int64 and got.tolist() == [2, *([-1] * 100), 0, 1]
    nothing = table([]).positions(point_keys([1, 2]))  # type: ignore[attr-defined]
    assert nothing.tolist() == [-1, -1] and nothing.dtype == np.int64
    one = table([5])
    assert one.positions(point_keys([5, 6])).tolist() == [0, -1]  # type: ignore[attr-defined]


def test_a_table_without_digests_keeps_what_lookups_need() -> None:
    t = table([3, 1, 2])
    slim = t.without_digests()  # type: ignore[attr-defined]
    assert slim.vector_digests.shape == (0, 2) and slim.vector_digests.dtype == np.uint64
    assert slim.payload_digests.shape == (0, 2) and slim.payload_digests.dtype == np.uint64
    assert (slim.keys is t.keys) and (slim.order is t.order) and (slim.ids is t.ids)  # type: ignore[attr-defined]
    assert slim.duplicates == t.duplicates and slim.non_finite is t.non_finite  # type: ignore[attr-defined]
    assert slim.sparse_entries == t.sparse_entries and slim.audit is None  # type: ignore[attr-defined]
    assert slim.named_digests is None and slim.sparse_digests is None
    assert slim.positions(point_keys([2])).tolist() == [2]
    zeros = slim.named_at(np.array([0, 2]))
    assert zeros.shape == (2, 2) and zeros.dtype == np.uint64 and not zeros.any()
    zeros = slim.sparse_at(np.array([1]))
    assert zeros.shape == (1, 2) and zeros.dtype == np.uint64 and not zeros.any()


def test_namespaced_records_are_paired_with_their_namespace(store: Callable[..., ExactStore]) -> None:
    batch = dataclasses.replace(records([1, 2, 3]), namespaces=("x", "y", "x"))
    moved = dataclasses.replace(records([2], shift=0.5), namespaces=("y",))
    source, target = store(batch), store(batch, moved)
    vectors = by_id(check_parity(source, target))["parity.vectors"]
    assert vectors.details["sample"] == [{"id": 2, "max_abs_diff": 0.5}]  # type: ignore[attr-defined]
    assert vectors.details["rechecked_exactly"] == 1  # type: ignore[attr-defined]


def test_a_mapped_record_is_shown_by_its_source_and_target_ids(store: Callable[..., ExactStore]) -> None:
    from harness.records import mapping_for
    from tests.judges.hostile import ReportsSchema

    mapping = mapping_for("pinecone", "qdrant-edge")
    batch = RecordBatch.build(["a", "b"], records([1, 2]).vectors, [{"n": 1}, {"n": 2}], ["", ""])
    source = ReportsSchema(store(batch), backend="pinecone")
    target_store = store(mapping.records(batch))
    point = mapping.target_record(RecordId("", "b")).id
    target_store.upsert(
        RecordBatch.build([point], records([2], shift=0.5).vectors, [{"n": 3, "__id__": "b", "__namespace__": ""}])
    )
    outcome = parity_outcome(source, ReportsSchema(target_store, backend="qdrant-edge"))
    checks = by_id(outcome.checks)
    shown = {"source": "b", "target": point}
    assert checks["parity.vectors"].details["sample"] == [{"id": shown, "max_abs_diff": 0.5}]  # type: ignore[attr-defined]
    assert checks["parity.payloads"].details["mismatched"] == ["b"]  # type: ignore[attr-defined]
    assert checks["parity.payloads"].details["sample"][0]["id"] == shown  # type: ignore[attr-defined]
    sid, tid = RecordId("", "b"), RecordId("", point)
    assert Finding("parity.vectors", "vectors", sid, tid, shown) in outcome.findings.findings
    assert Finding("parity.payloads", "payloads", sid, tid, "b") in outcome.findings.findings


# -- every check in full ----------------------------------------------------------------------------------------
def nan_free(details: dict[str, object]) -> dict[str, object]:
    """``details`` with each sample's NaN max_abs_diff written "nan" (NaN never equals itself)."""
    out = dict(details)
    if "sample" in out:
        out["sample"] = [
            {k: ("nan" if isinstance(v, float) and np.isnan(v) else v) for k, v in entry.items()}
            for entry in out["sample"]  # type: ignore[attr-defined]
        ]
    return out


def test_every_check_of_a_broken_pair_in_full(
    store: Callable[..., ExactStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Record 0 lost, 20 extra, 3 NaN on the source (a zero vector on the target: their digests agree, the
    # NaN must still make 3 a suspect), 4 +Inf on the target, 6's vector and sparse values moved.
    monkeypatch.setattr("harness.stores.exact.validate_batch", lambda batch, dimension: None)
    source = store(records(range(10), sparse=True), sparse=True)
    source.upsert(dataclasses.replace(records([3], sparse=True), vectors=np.full((1, DIM), np.nan, np.float32)))
    target = store(records(range(1, 10), sparse=True), records([20], sparse=True), sparse=True)
    target.upsert(dataclasses.replace(records([3], sparse=True), vectors=np.zeros((1, DIM), np.float32)))
    target.upsert(dataclasses.replace(records([4], sparse=True), vectors=np.full((1, DIM), np.inf, np.float32)))
    target.upsert(records([6], shift=0.5, sparse=True))
    outcome = parity_outcome(source, target, Thresholds(sample_size=2))
    got = {c.id: (c.status, c.observed, c.expected, c.message, nan_free(c.details)) for c in outcome.checks}
    assert got["parity.count"] == (
        Status.PASS,
        10,
        10,
        "target holds 10 records, source 10",
        {"source_scanned": 10, "target_scanned": 10},
    )
    assert got["parity.ids"] == (
        Status.FAIL,
        {"missing": 1, "extra": 1},
        {"missing": 0, "extra": 0},
        "1 source ids missing on the target, 1 extra ids on the target",
        {
            "missing_count": 1,
            "extra_count": 1,
            "missing": [0],
            "extra": [20],
            "sample_size": 2,
            "duplicates": {"source": 0, "target": 0},
        },
    )
    assert got["parity.vectors"] == (
        Status.FAIL,
        3,
        0,
        "3 of 9 common records have vectors that differ by more than 0.001 (max abs component difference); "
        "non-finite values (NaN or ±Inf) in the vectors of 1 source records (ids 3) and 1 target records (ids 4)",
        {
            "mismatch_count": 3,
            "mismatched": [3, 4],
            "sample": [{"id": 3, "max_abs_diff": "nan"}, {"id": 4, "max_abs_diff": "nan"}],
            "compared": 9,
            "rechecked_exactly": 3,
            "tolerance": 0.001,
            "normalised": False,
            "non_finite": {"source_count": 1, "target_count": 1, "source": [3], "target": [4]},
        },
    )
    assert got["parity.payloads"] == (
        Status.PASS,
        0,
        0,
        "0 of 9 common records have payloads that differ (key order does not count; 5 and 5.0, true and 1 differ)",
        {"mismatch_count": 0, "mismatched": [], "sample": [], "compared": 9},
    )
    assert got["parity.sparse"] == (
        Status.FAIL,
        1,
        0,
        "1 of 9 common records have sparse vectors that differ: ids 6 (same indices in any order, values within "
        "0.001; absent equals no entries)",
        {
            "mismatch_count": 1,
            "mismatched": [6],
            "sample": [{"id": 6, "vectors": ["s"], "source_entries": 2, "target_entries": 2}],
            "compared": 9,
            "tolerance": 0.001,
            "sparse_vectors": ["s"],
        },
    )
    r = {i: RecordId("", i) for i in (0, 3, 4, 6, 20)}
    assert outcome.findings.findings == (
        Finding("parity.ids", "missing", r[0], r[0], 0),
        Finding("parity.ids", "extra", r[20], r[20], 20),
        Finding("parity.vectors", "vectors", r[3], r[3], 3),
        Finding("parity.vectors", "vectors", r[4], r[4], 4),
        Finding("parity.vectors", "vectors", r[6], r[6], 6),
        Finding("parity.vectors", "non_finite_source", r[3], r[3], 3),
        Finding("parity.vectors", "non_finite_target", r[4], r[4], 4),
        Finding("parity.sparse", "sparse", r[6], r[6], 6),
    )
    assert outcome.findings.unrecheckable == {} and outcome.findings.counts == (10, 10)


def test_the_non_finite_ids_listed_stop_at_the_sample_size(
    store: Callable[..., ExactStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("harness.stores.exact.validate_batch", lambda batch, dimension: None)
    source = store(records(range(6)))
    target = store(
        records(range(6)), RecordBatch.build([0, 1, 2], np.full((3, DIM), np.nan), records([0, 1, 2]).payloads)
    )
    vectors = by_id(check_parity(source, target, Thresholds(sample_size=2)))["parity.vectors"]
    assert vectors.details["non_finite"] == {"source_count": 0, "target_count": 3, "source": [], "target": [0, 1]}  # type: ignore[attr-defined]
    assert vectors.message.endswith("in the vectors of 3 target records (ids 0, 1, 2)")  # type: ignore[attr-defined]


def test_every_check_of_a_faithful_cosine_pair_in_full(request: pytest.FixtureRequest) -> None:
    schema = CollectionSchema(DIM, Distance.COSINE, sparse_vectors=SPARSE)
    source, target = ExactStore(f"pe-src-{request.node.name}"), ExactStore(f"pe-tgt-{request.node.name}")
    try:
        for s in (source, target):
            s.create(schema)
            s.upsert(records(range(5), sparse=True))
        checks = by_id(check_parity(source, target))
    finally:
        source.drop()
        target.drop()
    got = {cid: (c.status, c.observed, c.expected, c.message) for cid, c in checks.items()}  # type: ignore[attr-defined]
    assert got["parity.ids"] == (
        Status.PASS,
        {"missing": 0, "extra": 0},
        {"missing": 0, "extra": 0},
        "every source id is on the target and no other",
    )
    assert got["parity.vectors"] == (
        Status.PASS,
        0,
        0,
        "0 of 5 common records have vectors that differ by more than 0.001 (unit-normalised (cosine target), max abs "
        "component difference)",
    )
    assert checks["parity.vectors"].details["normalised"] is True  # type: ignore[attr-defined]
    assert got["parity.sparse"] == (
        Status.PASS,
        0,
        0,
        "the sparse vectors of all 5 common records are equal (same indices in any order, values within 0.001; absent "
        "equals no entries)",
    )
    assert checks["parity.sparse"].details == {  # type: ignore[attr-defined]
        "mismatch_count": 0,
        "mismatched": [],
        "sample": [],
        "compared": 5,
        "tolerance": 0.001,
        "sparse_vectors": ["s"],
    }


def test_an_empty_or_tiny_target_misses_every_other_source_record(store: Callable[..., ExactStore]) -> None:
    source = store(records(range(10)))
    for held in ([], [5]):
        target = store(records(held)) if held else store()
        outcome = parity_outcome(source, target)
        ids = by_id(outcome.checks)["parity.ids"]
        missing = [i for i in range(10) if i not in held]
        assert sorted(ids.details["missing"]) == missing and ids.details["extra"] == []  # type: ignore[attr-defined]
        assert {f.listed for f in outcome.findings.findings if f.kind == "missing"} == set(missing)
        assert all(f.target == f.source for f in outcome.findings.findings)


def test_a_target_of_another_dimension_differs_everywhere_without_crashing() -> None:
    from harness.verify.parity import exact_diff

    diff = exact_diff(Comparison(), np.ones((2, 4)), [{"a": 1}, {"a": 1}], np.ones((2, 3)), [{"a": 1}, {"a": 2}])
    assert diff.vectors_equal.tolist() == [False, False] and diff.vectors_equal.dtype == bool
    assert diff.max_abs_diff.tolist() == [np.inf, np.inf]
    assert diff.payload_fields[0] == [] and [name for name, _ in diff.payload_fields[1]] == ["a"]


def test_parity_checks_from_tables_are_the_checks_of_a_scan(store: Callable[..., ExactStore]) -> None:
    from harness.verify.parity import parity_checks, scan_table

    source, target = store(records(range(8))), store(records(range(2, 9)), records([4], shift=0.5))
    comparison = Comparison.for_schemas(source.describe(), target.describe(), Thresholds().vector_tolerance)
    tables = (scan_table(source, comparison, target_side=False), scan_table(target, comparison, target_side=True))
    checks = parity_checks(source, target, *tables, comparison, Thresholds(), (8, 7))
    assert checks == check_parity(source, target)


def test_a_table_that_grows_keeps_the_sparse_digests_of_earlier_batches() -> None:
    # 700 rows fit the first buffer (1,024); 2,500 more need more than twice it.
    batches = [records(range(0, 700), sparse=True), records(range(700, 3_200), sparse=True)]
    comparison = Comparison()  # digests are keyed per comparison: both tables are built by one
    grown, sized = (
        DigestTableBuilder(comparison, target_side=False),
        DigestTableBuilder(comparison, target_side=False, capacity=3_200),
    )
    for builder in (grown, sized):
        for batch in batches:
            builder.add(batch)
    a, b = grown.finish(), sized.finish()
    assert a.sparse_digests is not None and b.sparse_digests is not None
    assert a.sparse_digests.shape == (3_200, 2) and a.sparse_digests.dtype == np.uint64
    for table in (a, b):
        assert table.keys.dtype == np.uint64 and table.vector_digests.dtype == np.uint64
        assert table.payload_digests.dtype == np.uint64 and table.sparse_entries == 6_400
        assert len(table) == 3_200 and table.vector_digests.shape == (3_200, 2)
    np.testing.assert_array_equal(a.sparse_digests, b.sparse_digests)
    np.testing.assert_array_equal(a.vector_digests, b.vector_digests)
    np.testing.assert_array_equal(a.payload_digests, b.payload_digests)
    np.testing.assert_array_equal(a.keys, b.keys)
    assert a.positions(point_keys([3_199, 0])).tolist() == [3_199, 0]


def test_a_mapped_batch_without_namespaces_is_keyed_in_the_default_namespace() -> None:
    mapped = point_keys(["a", "b"], None, pinecone_to_qdrant=True)
    assert mapped.tolist() == point_keys(["a", "b"], ["", ""], pinecone_to_qdrant=True).tolist()
    assert mapped.tolist() != point_keys(["a", "b"], ["x", "x"], pinecone_to_qdrant=True).tolist()


# -- sparse values a digest cannot stand for -----------------------------------------------------------------------
def sparse_records(values: Sequence[float]) -> RecordBatch:
    """Records 0..9 with sparse ``s`` = {3: 1.0, 100: v}: v is ``values[0]``, for record 7 ``values[1]``."""
    ids = list(range(10))
    vectors = np.array([[float(i) + 1.0, 1.0, 0.5, -1.0] for i in ids], dtype=np.float32)
    rows = [([3, 100], [1.0, values[1] if i == 7 and len(values) > 1 else values[0]]) for i in ids]
    return RecordBatch.build(ids, vectors, [{"doc": f"d{i}"} for i in ids], sparse={"s": rows})


@pytest.mark.parametrize(
    ("source_value", "target_value", "different"),
    [
        # NaN and ±Inf cannot be stored (the stores refuse them): tests/judges/test_compare_mutants.py
        # gives them digests that match nothing. A finite value beyond int64 once divided by the
        # tolerance collided with any other such value (and warned on the cast):
        (1e30, 2e30, True),
        (-1e30, 1e30, True),
        (1e30, 1e30, False),  # too large to quantise, compared exactly: equal
        (0.5, 0.5, False),
    ],
)
def test_a_sparse_value_a_digest_cannot_stand_for_is_compared_exactly(
    store: Callable[..., ExactStore], source_value: float, target_value: float, different: bool
) -> None:
    source = store(sparse_records([0.5, source_value]), sparse=True)
    target = store(sparse_records([0.5, target_value]), sparse=True)
    sparse = by_id(check_parity(source, target))["parity.sparse"]  # type: ignore[arg-type]
    if different:
        assert sparse.status is Status.FAIL, sparse.message  # type: ignore[attr-defined]
        assert sparse.observed == 1 and [e["id"] for e in sparse.details["sample"]] == [7]  # type: ignore[attr-defined]
    else:
        assert sparse.status is Status.PASS, sparse.message  # type: ignore[attr-defined]
