"""Parity's pieces: keys, canonical digests, the id log, and the bulk diff, on small exact stores."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import numpy as np
import numpy.typing as npt
import pytest

from harness.model import CollectionSchema, Distance, Payload, PointId, RecordBatch, Status
from harness.records import Comparison, map_pinecone_batch, mapping_for, qdrant_point_id
from harness.stores.exact import ExactStore
from harness.verify import Thresholds, check_parity
from harness.verify.parity import IdLog, compare_tables, point_keys, scan_table

DIM = 16


def vectors(n: int, seed: int = 0) -> npt.NDArray[np.float32]:
    return np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)


@pytest.fixture
def pair(request: pytest.FixtureRequest) -> Iterator[tuple[ExactStore, ExactStore]]:
    """Two empty exact stores (cosine) named after the test."""
    name = request.node.name
    stores = (ExactStore(f"parity-src-{name}"), ExactStore(f"parity-tgt-{name}"))
    for store in stores:
        store.create(CollectionSchema(DIM, Distance.COSINE))
    yield stores
    for store in stores:
        store.drop()


# -- keys -----------------------------------------------------------------------------------------------
def test_keys_of_the_same_ids_agree_and_differ_across_types_and_namespaces() -> None:
    ids: list[PointId] = [0, 1, 2**63 + 5, "a", "5"]
    keys = point_keys(ids)
    assert len(set(keys.tolist())) == len(ids)  # 5 and "5" are different records
    assert point_keys([2**63 + 5]).tolist() == keys[2:3].tolist()
    assert point_keys(["a"]).tolist() == keys[3:4].tolist()
    in_ns = point_keys(["a", "a"], ["", "ns1"])
    assert in_ns[0] == keys[3] and in_ns[1] != keys[3]


def test_pinecone_keys_are_the_keys_of_the_mapped_qdrant_points() -> None:
    mapped = point_keys(["doc-1", "doc-1"], ["", "ns"], pinecone_to_qdrant=True)
    direct = point_keys([qdrant_point_id("doc-1", ""), qdrant_point_id("doc-1", "ns")])
    assert mapped.tolist() == direct.tolist()
    assert mapped[0] != mapped[1]  # the same id in two namespaces stays two records


def test_id_log_reads_back_ints_strings_and_namespaces() -> None:
    log = IdLog()
    log.append((3, 1, 2), None)
    log.append(("x", "yy", ""), ("", "ns", "ns"))
    log.append((7, "mixed"), None)
    assert len(log) == 8
    assert log.get([0, 2, 3, 4, 5, 6, 7]) == [
        (3, ""),
        (2, ""),
        ("x", ""),
        ("yy", "ns"),
        ("", "ns"),
        (7, ""),
        ("mixed", ""),
    ]


# -- canonical digests ----------------------------------------------------------------------------------
def test_payload_digests_ignore_key_order_but_not_types() -> None:
    canon = Comparison(normalise=False, tolerance=1e-3)
    payloads: list[Payload] = [
        {"year": 2020, "tags": ["a"], "n": {"x": 1}},
        {"n": {"x": 1}, "tags": ["a"], "year": 2020},  # same, other key order
        {"n": {"x": 1.0}, "tags": ["a"], "year": 2020.0},  # floats: a Qdrant filter for 2020 misses them
        {"year": "2020", "tags": ["a"], "n": {"x": 1}},  # int → str: different
        {"year": True, "tags": ["a"], "n": {"x": 1}},  # bool is not 1
        {"year": 2020.5, "tags": ["a"], "n": {"x": 1}},
        {"year": 2020, "tags": ["a"], "n": {"x": float("nan")}},  # NaN is not null
        {"year": 2020, "tags": ["a"], "n": {"x": None}},
    ]
    d = canon.payload_digests(payloads, target_side=False)
    assert (d[0] == d[1]).all()
    for other in (2, 3, 4, 5, 6):
        assert (d[0] != d[other]).any()
    assert (d[6] != d[7]).any()


def test_pinecone_payload_digests_expect_integral_floats_as_ints_on_the_target() -> None:
    canon = Comparison(mapping_for("pinecone", "qdrant-edge"), normalise=False, tolerance=1e-3)
    source = canon.payload_digests([{"year": 2020.0, "n": [1.0, 2.5]}], target_side=False)
    mapped = canon.payload_digests(
        [{"year": 2020, "n": [1, 2.5], "__id__": "a", "__namespace__": ""}], target_side=True
    )
    unmapped = canon.payload_digests([{"year": 2020.0, "n": [1.0, 2.5], "__id__": "a"}], target_side=True)
    assert (source == mapped).all()
    assert (source != unmapped).any()  # the target must hold what the mapping writes


def test_payload_digests_are_the_same_batched_or_alone_even_with_the_separator_inside() -> None:
    canon = Comparison(normalise=False, tolerance=1e-3)
    tricky: list[Payload] = [{"s": '","\x00\x1f\x00",'}, {"s": ["\x00\x1f\x00", 1]}, {"s": "2.0, 3.0]"}, {}, {"x": 1}]
    batched = canon.payload_digests(tricky, target_side=False)
    alone = np.concatenate([canon.payload_digests([p], target_side=False) for p in tricky])
    assert (batched == alone).all()
    assert len({bytes(row) for row in batched}) == len(tricky)


def test_vector_digests_equal_within_tolerance_and_differ_beyond_it() -> None:
    canon = Comparison(normalise=True, tolerance=1e-3)
    v = vectors(50)
    scaled = (v * 3.7).astype(np.float32)  # a cosine target keeps the normalised form of any scaling
    assert (canon.vector_digests(v)[0] == canon.vector_digests(scaled)[0]).all(axis=1).mean() > 0.9
    nudged = v.copy()
    nudged[:, 3] += 0.01 * np.linalg.norm(v, axis=1)
    assert (canon.vector_digests(v)[0] != canon.vector_digests(nudged)[0]).any(axis=1).all()


def test_huge_raw_vectors_are_hashed_without_overflow() -> None:
    canon = Comparison(normalise=False, tolerance=1e-3)
    v = np.array([[1e12, 0.0], [1e20, -3.0], [1.0, 2.0]], dtype=np.float32)
    d, non_finite = canon.vector_digests(v)
    assert len({bytes(row) for row in d}) == 3 and not non_finite.any()
    assert (canon.vector_digests(v[1:2])[0] == d[1:2]).all()  # a row's digest depends on the row alone
    unit = Comparison(normalise=True, tolerance=1e-3)  # squared in float32 these overflow: still told apart
    huge = np.array([[3e19, 1e19], [1e19, 3e19], [np.nan, 1.0], [np.inf, 0.0]], dtype=np.float32)
    d, non_finite = unit.vector_digests(huge)
    assert (d[0] != d[1]).any() and non_finite.tolist() == [False, False, True, True]


# -- whole parity runs on exact stores ------------------------------------------------------------------
def test_exact_copies_with_reordered_payload_keys_pass(pair: tuple[ExactStore, ExactStore]) -> None:
    source, target = pair
    ids = list(range(300))
    payloads: list[Payload] = [{"doc": f"d{i}", "year": 2000 + i % 20, "score": i / 7} for i in ids]
    source.upsert(RecordBatch.build(ids, vectors(300), payloads))
    reordered = [{"score": p["score"], "year": p["year"], "doc": p["doc"]} for p in payloads]
    target.upsert(RecordBatch.build(ids[::-1], vectors(300)[::-1], reordered[::-1]))
    checks = {c.id: c for c in check_parity(source, target, batch_size=64)}
    assert {c.status for c in checks.values()} == {Status.PASS, Status.SKIP}
    assert checks["parity.mapping"].status is Status.SKIP
    assert checks["parity.vectors"].details["compared"] == 300


def test_ints_turned_into_floats_fail_between_qdrant_stores(pair: tuple[ExactStore, ExactStore]) -> None:
    # On Qdrant an exact-match filter for 2020 does not match a stored 2020.0: not the same payload.
    source, target = pair
    ids = list(range(40))
    payloads: list[Payload] = [{"year": 2000 + i} for i in ids]
    source.upsert(RecordBatch.build(ids, vectors(40), payloads))
    floated = [{"year": float(p["year"])} if i % 10 == 0 else p for i, p in enumerate(payloads)]
    target.upsert(RecordBatch.build(ids, vectors(40), floated))
    checks = {c.id: c for c in check_parity(source, target)}
    assert checks["parity.payloads"].status is Status.FAIL
    assert checks["parity.payloads"].details["mismatched"] == [0, 10, 20, 30]
    assert checks["parity.payloads"].details["sample"][0] == {
        "id": 0, "field": "year", "change": "changed", "source": 2000, "target": 2000.0
    }  # fmt: skip


def test_sample_lists_are_capped_while_counts_stay_exact(pair: tuple[ExactStore, ExactStore]) -> None:
    source, target = pair
    source.upsert(RecordBatch.build(range(500), vectors(500)))
    target.upsert(RecordBatch.build(range(200), vectors(500)[:200]))
    ids = next(c for c in check_parity(source, target, Thresholds(sample_size=25)) if c.id == "parity.ids")
    assert ids.details["missing_count"] == 300
    assert ids.details["missing"] == list(range(200, 225))


def test_string_ids_from_a_pinecone_style_source_are_reported_as_such(pair: tuple[ExactStore, ExactStore]) -> None:
    source, target = pair
    ids = [str(uuid.uuid4()) for _ in range(120)]
    source.upsert(RecordBatch.build(ids, vectors(120)))
    target.upsert(RecordBatch.build(ids[:-3], vectors(120)[:-3]))
    checks = {c.id: c for c in check_parity(source, target)}
    assert sorted(checks["parity.ids"].details["missing"]) == sorted(ids[-3:])


def test_mapping_fields_are_stripped_only_for_a_pinecone_source() -> None:
    canon = Comparison(mapping_for("pinecone", "qdrant"), normalise=True, tolerance=1e-3)
    source = RecordBatch.build(["a"], vectors(1), [{"year": 2020.0}], namespaces=["ns"])
    target = map_pinecone_batch(source)
    src_digest = canon.payload_digests(source.payloads, target_side=False)
    tgt_digest = canon.payload_digests(target.payloads, target_side=True)
    assert (src_digest == tgt_digest).all()
    assert point_keys(source.ids, source.namespaces, pinecone_to_qdrant=True)[0] == point_keys(target.ids)[0]


def test_floats_one_ulp_apart_are_equal_but_real_changes_are_not(pair: tuple[ExactStore, ExactStore]) -> None:
    # Qdrant's JSON parsing can round a double by one ulp; that is not a migration error.
    source, target = pair
    v = vectors(3)
    values = [0.1 + 0.2, 1234.5678901234567, 3.0e-7]
    source.upsert(RecordBatch.build([0, 1, 2], v, [{"x": x, "l": [x]} for x in values]))
    nudged = [float(np.nextafter(x, np.inf)) for x in values]
    nudged[2] = values[2] * (1 + 1e-6)  # a real change
    target.upsert(RecordBatch.build([0, 1, 2], v, [{"x": x, "l": [x]} for x in nudged]))
    payloads = next(c for c in check_parity(source, target) if c.id == "parity.payloads")
    assert payloads.status is Status.FAIL
    assert payloads.details["mismatch_count"] == 1
    assert {d["id"] for d in payloads.details["sample"]} == {2}


# -- non-finite vectors -----------------------------------------------------------------------------------
@pytest.fixture
def unchecked_writes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let the exact store hold NaN/±Inf vectors (its input check refuses them; a broken engine might not)."""
    monkeypatch.setattr("harness.stores.exact.validate_batch", lambda batch, dimension: None)


@pytest.fixture
def dot_pair(request: pytest.FixtureRequest) -> Iterator[tuple[ExactStore, ExactStore]]:
    """Two empty exact stores ranking by dot product (raw vectors: ±Inf is stored as written)."""
    stores = (ExactStore(f"dot-src-{request.node.name}"), ExactStore(f"dot-tgt-{request.node.name}"))
    for store in stores:
        store.create(CollectionSchema(DIM, Distance.DOT))
    yield stores
    for store in stores:
        store.drop()


def test_non_finite_vectors_on_either_side_fail_and_are_named(
    dot_pair: tuple[ExactStore, ExactStore], unchecked_writes: None
) -> None:
    source, target = dot_pair
    v = vectors(50)
    bad_target, bad_source = v.copy(), v.copy()
    bad_target[3, 0], bad_target[4, 7] = np.nan, np.inf
    bad_source[5, 2] = -np.inf
    source.upsert(RecordBatch.build(range(50), bad_source))
    target.upsert(RecordBatch.build(range(50), bad_target))
    checks = {c.id: c for c in check_parity(source, target)}
    vectors_check = checks["parity.vectors"]
    assert vectors_check.status is Status.FAIL
    assert "non-finite values" in vectors_check.message and "(ids 5)" in vectors_check.message
    assert vectors_check.details["non_finite"] == {
        "source_count": 1,
        "target_count": 2,
        "source": [5],
        "target": [3, 4],
    }
    assert vectors_check.details["mismatch_count"] == 3  # never "equal", not even NaN to NaN
    assert checks["parity.payloads"].status is Status.PASS


@pytest.mark.parametrize("distance", [Distance.COSINE, Distance.DOT])
def test_a_target_of_nothing_but_nan_never_passes(distance: Distance, unchecked_writes: None) -> None:
    source, target = ExactStore(f"nan-src-{distance}"), ExactStore(f"nan-tgt-{distance}")
    try:
        for store in (source, target):
            store.create(CollectionSchema(DIM, distance))
        source.upsert(RecordBatch.build(range(20), vectors(20)))
        target.upsert(RecordBatch.build(range(20), np.full((20, DIM), np.nan, dtype=np.float32)))
        checks = {c.id: c for c in check_parity(source, target)}
        assert checks["parity.vectors"].status is Status.FAIL
        assert checks["parity.vectors"].observed == 20
        assert checks["parity.vectors"].details["non_finite"]["target_count"] == 20
    finally:
        source.drop()
        target.drop()


# -- mapping integrity ------------------------------------------------------------------------------------
def test_mapping_integrity_counts_every_kind_of_broken_point(pair: tuple[ExactStore, ExactStore]) -> None:
    source, target = pair
    batch = RecordBatch.build(["a", "b", "c", "d"], vectors(4), [{"n": 1.0}] * 4, ["", "", "x", "x"])
    source.upsert(batch)
    mapped = map_pinecone_batch(batch)
    payloads = list(mapped.payloads)
    payloads[1] = {**payloads[1], "__id__": "a"}  # b's point says it is a: wrong point id, and a named twice
    payloads[3] = {"n": 1}  # d's point lost its mapping fields
    stray = qdrant_point_id("q", "zz")  # a point naming a record the source never had
    target.upsert(
        RecordBatch.build([*mapped.ids, stray], vectors(5), [*payloads, {"n": 1, "__id__": "q", "__namespace__": "zz"}])
    )
    comparison = Comparison(mapping_for("pinecone", "qdrant-edge"), normalise=True, tolerance=1e-3)
    source_table = scan_table(source, comparison, target_side=False)
    target_table = scan_table(target, comparison, target_side=True)
    outcome = compare_tables(source, target, source_table, target_table, comparison, Thresholds(), (4, 5))
    checks = {c.id: c for c in outcome.checks}
    mapping = checks["parity.mapping"]
    assert mapping.status is Status.FAIL and mapping.observed == 4  # a, b, d and the stray point
    assert mapping.details["counts"] == {"unnamed": 1, "wrong_point_id": 1, "duplicate": 2, "unknown": 1}
    assert mapping.details["samples"]["wrong_point_id"] == [
        {"point": mapped.ids[1], "__id__": "a", "__namespace__": ""}
    ]
    assert checks["parity.payloads"].status is Status.PASS  # the mapping fields are parity.mapping's
    assert [f.kind for f in outcome.findings.of("parity.mapping")] == ["unknown"]
    assert "unnamed" in outcome.findings.unrecheckable["parity.mapping"]  # no write in flight explains those


def test_mapping_check_is_skipped_without_a_mapping(pair: tuple[ExactStore, ExactStore]) -> None:
    source, target = pair
    source.upsert(RecordBatch.build(range(5), vectors(5)))
    target.upsert(RecordBatch.build(range(5), vectors(5)))
    mapping = next(c for c in check_parity(source, target) if c.id == "parity.mapping")
    assert mapping.status is Status.SKIP and "no id mapping between exact and exact" in mapping.message
