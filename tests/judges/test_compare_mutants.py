"""The record comparison of named dense and sparse vectors, exactly: which names a comparison knows and
how it canonicalises each, which named/sparse vectors of a record pair differ, how a record is cut out of
a batch, and the digests of rows without a default vector — the paths ``make mutation`` found unpinned
once named and sparse vectors joined the record model."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from harness.model import (
    CollectionSchema,
    DenseColumn,
    DenseVectorParams,
    Distance,
    RecordBatch,
    SparseColumn,
    SparseVectorParams,
)
from harness.records import PINECONE_SPARSE, QDRANT_SPARSE, Comparison, RecordParts, mapping_for
from harness.records.compare import _name_key

COS, DOT, EUC = Distance.COSINE, Distance.DOT, Distance.EUCLID
RAW = Comparison(normalise=False, tolerance=1e-3)
UNIT = Comparison(normalise=True, tolerance=1e-3)


def _schema(distance: Distance = DOT, backend: str = "qdrant-edge", **kw: object) -> CollectionSchema:
    return CollectionSchema(4, distance, backend=backend, **kw)  # type: ignore[arg-type]


def _parts(
    named: dict[str, list[float]] | None = None, sparse: dict[str, tuple[list[int], list[float]]] | None = None
) -> RecordParts:
    return RecordParts(
        np.array([1.0, 0.0]),
        {},
        {k: np.asarray(v) for k, v in (named or {}).items()},
        {k: (np.asarray(i, dtype=np.uint32), np.asarray(v, dtype=np.float32)) for k, (i, v) in (sparse or {}).items()},
    )


# -- for_schemas / for_named ------------------------------------------------------------------------------
def test_for_schemas_knows_every_named_vector_with_the_targets_distance_first() -> None:
    source = _schema(
        COS,
        named_vectors={
            "a": DenseVectorParams(2, COS),
            "b": DenseVectorParams(2, DOT),
            "only_src": DenseVectorParams(2, COS),
        },
        sparse_vectors={"s1": SparseVectorParams()},
    )
    target = _schema(
        DOT,
        named_vectors={
            "a": DenseVectorParams(2, DOT),
            "b": DenseVectorParams(2, COS),
            "only_tgt": DenseVectorParams(2, COS),
        },
        sparse_vectors={"s2": SparseVectorParams()},
    )
    comparison = Comparison.for_schemas(source, target, 0.5)
    assert comparison.named_normalise == (("a", False), ("b", True), ("only_src", True), ("only_tgt", True))
    assert comparison.sparse_names == ("s1", "s2")
    assert (comparison.normalise, comparison.tolerance, comparison.mapping.pinecone_to_qdrant) == (False, 0.5, False)
    assert comparison.for_named("b").normalise is True and comparison.for_named("a") is comparison
    assert comparison.for_named("unknown") is comparison  # a name neither declares: raw, like dot


def test_for_schemas_maps_pinecone_sparse_values_to_the_qdrant_name() -> None:
    source = _schema(COS, backend="pinecone", sparse_vectors={PINECONE_SPARSE: SparseVectorParams()})
    target = _schema(COS, sparse_vectors={QDRANT_SPARSE: SparseVectorParams(), "extra": SparseVectorParams()})
    comparison = Comparison.for_schemas(source, target, 1e-4)
    assert comparison.sparse_names == ("extra", QDRANT_SPARSE)
    assert comparison.named_normalise == () and comparison.normalise is True
    assert comparison.mapping == mapping_for("pinecone", "qdrant-edge")


def test_for_named_of_a_cosine_name_on_a_raw_comparison_normalises() -> None:
    comparison = Comparison(named_normalise=(("img", True),), tolerance=1e-3)
    assert comparison.for_named("img").normalise is True and comparison.for_named("img").tolerance == 1e-3
    assert UNIT.for_named("img").normalise is False


# -- named_differences --------------------------------------------------------------------------------------
def test_named_differences_names_each_vector_held_by_one_side_or_unequal() -> None:
    comparison = Comparison(named_normalise=(("cos", True),), tolerance=1e-3)
    source = _parts({"cos": [1.0, 0.0], "raw": [1.0, 0.0], "same": [0.5, 0.5], "src_only": [1.0, 1.0]})
    target = _parts({"cos": [3.0, 0.0], "raw": [3.0, 0.0], "same": [0.5, 0.5], "tgt_only": [1.0, 1.0]})
    assert comparison.named_differences(source, target) == ["raw", "src_only", "tgt_only"]
    assert comparison.named_differences(target, source) == ["raw", "src_only", "tgt_only"]
    assert comparison.named_differences(source, source) == []
    assert comparison.named_differences(_parts(), _parts()) == []


def test_named_vectors_just_inside_and_just_outside_the_tolerance() -> None:
    inside = _parts({"v": [1.0, 0.0009]})
    outside = _parts({"v": [1.0, 0.0011]})
    base = _parts({"v": [1.0, 0.0]})
    assert RAW.named_differences(base, inside) == []
    assert RAW.named_differences(base, outside) == ["v"]
    assert RAW.records_equal(base, inside) and not RAW.records_equal(base, outside)


# -- sparse_differences -------------------------------------------------------------------------------------
def test_sparse_differences_names_the_target_names_that_differ() -> None:
    source = _parts(sparse={"a": ([1, 2], [0.5, 0.25]), "b": ([3], [1.0]), "src_only": ([1], [1.0])})
    target = _parts(sparse={"a": ([2, 1], [0.25, 0.5]), "b": ([3], [1.5]), "tgt_only": ([4], [1.0])})
    assert RAW.sparse_differences(source, target) == ["b", "src_only", "tgt_only"]
    assert RAW.sparse_differences(source, source) == []
    assert RAW.sparse_differences(_parts(), _parts()) == []


def test_sparse_values_just_inside_and_just_outside_the_tolerance() -> None:
    base = _parts(sparse={"s": ([7], [1.0])})
    assert RAW.sparse_differences(base, _parts(sparse={"s": ([7], [1.0009])})) == []
    assert RAW.sparse_differences(base, _parts(sparse={"s": ([7], [1.0011])})) == ["s"]
    assert Comparison(tolerance=0.01).sparse_differences(base, _parts(sparse={"s": ([7], [1.0011])})) == []


def test_pinecone_sparse_values_are_compared_with_the_qdrant_sparse_vector() -> None:
    p2q = Comparison(mapping=mapping_for("pinecone", "qdrant-edge"), tolerance=1e-3)
    source = _parts(sparse={PINECONE_SPARSE: ([1, 5], [0.5, 0.5])})
    assert p2q.sparse_differences(source, _parts(sparse={QDRANT_SPARSE: ([5, 1], [0.5, 0.5])})) == []
    assert p2q.sparse_differences(source, _parts(sparse={QDRANT_SPARSE: ([5, 2], [0.5, 0.5])})) == [QDRANT_SPARSE]
    assert p2q.sparse_differences(source, _parts(sparse={PINECONE_SPARSE: ([1, 5], [0.5, 0.5])})) == [
        PINECONE_SPARSE,
        QDRANT_SPARSE,
    ]
    assert RAW.sparse_differences(source, _parts(sparse={QDRANT_SPARSE: ([1, 5], [0.5, 0.5])})) == [
        PINECONE_SPARSE,
        QDRANT_SPARSE,
    ]


# -- RecordParts.of -----------------------------------------------------------------------------------------
def test_record_parts_take_only_the_named_vectors_present_and_sparse_rows_with_entries() -> None:
    batch = RecordBatch.build(
        ["x", "y"],
        [[1.0, 2.0], [3.0, 4.0]],
        [{"k": 1}, {"k": 2}],
        named={
            "always": [[1.0], [2.0]],
            "masked": DenseColumn.of([[5.0], [6.0]], [False, True]),
        },
        sparse={"s": [([4, 2], [0.5, 0.25]), None], "t": [None, ([9], [1.0])]},
    )
    first, second = RecordParts.of(batch, 0), RecordParts.of(batch, 1)
    assert first.vector.tolist() == [1.0, 2.0] and first.payload == {"k": 1}
    assert sorted(first.named) == ["always"] and first.named["always"].tolist() == [1.0]
    assert sorted(second.named) == ["always", "masked"] and second.named["masked"].tolist() == [6.0]
    assert sorted(first.sparse) == ["s"] and sorted(second.sparse) == ["t"]
    assert first.sparse["s"][0].tolist() == [4, 2] and first.sparse["s"][1].tolist() == [0.5, 0.25]
    assert second.sparse["t"][0].tolist() == [9]


# -- rows without a default vector ----------------------------------------------------------------------------
def test_rows_without_a_default_vector_digest_as_zeros_and_compare_equal() -> None:
    for comparison in (RAW, UNIT):
        digests, bad = comparison.vector_digests(np.zeros((3, 0), dtype=np.float32))
        assert digests.shape == (3, 2) and not digests.any()
        assert bad.dtype == np.bool_ and bad.tolist() == [False, False, False]
        equal = comparison.vectors_equal(np.zeros((2, 0)), np.zeros((2, 0)))
        assert equal.dtype == np.bool_ and equal.tolist() == [True, True]
    digests, bad = RAW.vector_digests(np.ones((2, 1), dtype=np.float32))
    assert digests.all() and digests[0].tolist() == digests[1].tolist() and bad.tolist() == [False, False]


def test_a_finite_vector_whose_float32_square_overflows_digests_without_a_warning() -> None:
    huge = np.array([[1e30, 1e30], [3.0, 4.0]], dtype=np.float64)
    scaled = np.array([[1.0, 1.0], [0.6, 0.8]])
    digests, bad = UNIT.vector_digests(huge)
    assert bad.tolist() == [False, False]
    assert digests.tolist() == UNIT.vector_digests(scaled)[0].tolist()
    assert UNIT.vectors_equal(huge, scaled).tolist() == [True, True]


@pytest.mark.parametrize("comparison", [RAW, UNIT])
def test_named_digests_are_none_without_named_vectors_and_zero_for_absent_rows(comparison: Comparison) -> None:
    none, bad = comparison.named_digests({}, 2)
    assert none is None and bad.tolist() == [False, False]
    column = DenseColumn.of([[1.0, 0.0], [np.nan, 0.0], [0.0, 1.0]], [True, True, False])
    digests, bad = comparison.named_digests({"v": column}, 3)
    assert digests is not None and digests[0].any() and not digests[2].any()
    assert bad.tolist() == [False, True, False]


def test_unit_vectors_are_quantised_in_float32_so_a_double_and_its_float32_copy_digest_alike() -> None:
    # -0.66750002... quantises to -667 in float64 arithmetic but to -668 in float32: the digest must not
    # depend on whether a store hands the vector out as float64 or float32.
    v64 = np.array([[0.38509040345646967, -0.6675000272175696, 0.593621457203127, 0.2318677648538352]])
    v32 = v64.astype(np.float32)
    assert UNIT.vector_digests(v64)[0].tolist() == UNIT.vector_digests(v32)[0].tolist()
    assert UNIT.vectors_equal(v64, v32).tolist() == [True]


def test_a_tolerance_wider_than_every_unit_component_quantises_even_a_huge_vector_to_zero() -> None:
    wide = Comparison(normalise=True, tolerance=100.0)
    digests, bad = wide.vector_digests(np.array([[1e37, 1e37], [0.0, 0.0]], dtype=np.float32))
    assert bad.tolist() == [False, False]
    assert digests[0].tolist() == digests[1].tolist()  # every unit component is 0 multiples of 100


# -- digests of named and sparse vectors ----------------------------------------------------------------------
def _sparse(rows: list[tuple[list[int], list[float]] | None]) -> SparseColumn:
    return SparseColumn.from_rows(rows)


def test_the_name_key_is_the_first_16_bytes_of_the_names_blake2b() -> None:
    key = _name_key("title")
    assert key.dtype == np.uint64 and key.tobytes() == hashlib.blake2b(b"title").digest()[:16]


def test_a_named_digest_hashes_the_name_key_and_the_canonical_vectors_digest() -> None:
    comparison = Comparison(named_normalise=(("v", True),), tolerance=1e-3)
    column = DenseColumn.of([[2.0, 0.0], [0.0, 3.0]])
    digests, bad = comparison.named_digests({"v": column}, 2)
    vector = comparison.for_named("v").vector_digests(column.vectors)[0]
    expected = [hashlib.blake2b(_name_key("v").tobytes() + vector[r].tobytes()).digest()[:16] for r in range(2)]
    assert digests is not None and digests.dtype == np.uint64 and [d.tobytes() for d in digests] == expected
    unit, _ = comparison.named_digests({"v": DenseColumn.of([[1.0, 0.0], [0.0, 1.0]])}, 2)
    assert unit is not None and unit.tolist() == digests.tolist()  # cosine: compared unit-normalised
    assert bad.dtype == np.bool_ and bad.tolist() == [False, False]


def test_a_non_finite_named_vector_is_flagged_whichever_name_holds_it() -> None:
    first = DenseColumn.of([[np.nan, 0.0], [1.0, 0.0]])
    second = DenseColumn.of([[1.0, 0.0], [1.0, 0.0]])
    _, bad = RAW.named_digests({"a": first, "b": second}, 2)
    assert bad.tolist() == [True, False]
    _, bad = RAW.named_digests({"a": second, "b": first}, 2)
    assert bad.tolist() == [True, False]


def test_a_sparse_digest_hashes_name_indices_and_quantised_values_exactly() -> None:
    comparison = Comparison(tolerance=0.25)
    digests, bad = comparison.sparse_digests({"s": _sparse([([4, 2], [0.5, 1.0]), None])}, 2, target_side=True)
    chunk = b"s\x00" + np.array([2, 4], np.uint32).tobytes() + np.array([4, 2], np.int64).tobytes()
    assert digests is not None and digests.dtype == np.uint64
    assert digests[0].tobytes() == hashlib.blake2b(chunk).digest()[:16] and digests[1].tolist() == [0, 0]
    assert bad.dtype == np.bool_ and bad.tolist() == [False, False]


def test_sparse_digests_flag_exactly_the_rows_with_non_finite_values_and_leave_the_others_alone() -> None:
    rows: list[tuple[list[int], list[float]] | None] = [([1], [0.5]), ([1, 2], [np.nan, 1.0]), None, ([3], [np.inf])]
    digests, bad = RAW.sparse_digests({"s": _sparse(rows)}, 4, target_side=True)
    assert bad.dtype == np.bool_ and bad.tolist() == [False, True, False, True]
    alone, _ = RAW.sparse_digests({"s": _sparse([([1], [0.5])])}, 1, target_side=True)
    assert digests is not None and alone is not None and digests[0].tolist() == alone[0].tolist()
    assert digests[2].tolist() == [0, 0]
    none, bad = RAW.sparse_digests({}, 3, target_side=False)
    assert none is None and bad.dtype == np.bool_ and bad.tolist() == [False, False, False]


def test_a_value_the_tolerance_cannot_quantise_is_flagged_without_an_overflow_warning() -> None:
    _, bad = Comparison(tolerance=1e-300).sparse_digests({"s": _sparse([([1], [1e10]), None])}, 2, target_side=True)
    assert bad.tolist() == [True, False]


def test_sparse_digests_combine_several_names_per_row_and_zero_a_row_without_entries() -> None:
    columns = {"a": _sparse([([1], [1.0]), None, None]), "b": _sparse([None, ([2], [1.0]), None])}
    digests, _ = RAW.sparse_digests(columns, 3, target_side=True)
    assert digests is not None and digests.shape == (3, 2)
    assert digests[0].any() and digests[1].any() and digests[2].tolist() == [0, 0]
    assert digests[0].tolist() != digests[1].tolist()


def test_the_source_side_names_its_sparse_vectors_as_the_target_does() -> None:
    p2q = Comparison(mapping=mapping_for("pinecone", "qdrant-edge"), tolerance=1e-3)
    column = _sparse([([1, 5], [0.5, 0.5])])
    source, _ = p2q.sparse_digests({PINECONE_SPARSE: column}, 1, target_side=False)
    target, _ = p2q.sparse_digests({QDRANT_SPARSE: column}, 1, target_side=True)
    unmapped, _ = p2q.sparse_digests({PINECONE_SPARSE: column}, 1, target_side=True)
    assert source is not None and target is not None and unmapped is not None
    assert source.tolist() == target.tolist() and unmapped.tolist() != target.tolist()


def test_sparse_values_exactly_the_tolerance_apart_are_equal() -> None:
    comparison = Comparison(tolerance=0.25)  # 0.5, 0.75 and 0.25 are exact binary fractions
    base = _parts(sparse={"s": ([7], [0.5])})
    assert comparison.sparse_differences(base, _parts(sparse={"s": ([7], [0.75])})) == []
    assert comparison.sparse_differences(base, _parts(sparse={"s": ([7], [0.7500001])})) == ["s"]


def test_rows_without_components_are_equal_under_a_tolerance_finer_than_int16() -> None:
    fine = Comparison(normalise=True, tolerance=1e-6)  # unit components need more than int16: peaks are taken
    assert fine.vectors_equal(np.zeros((2, 0)), np.zeros((2, 0))).tolist() == [True, True]


@pytest.mark.parametrize("value", [0.0, 1e-9, np.nan, np.inf, -np.inf, 1e30])
def test_a_sparse_value_a_digest_cannot_stand_for_matches_no_digest_of_the_other_side(value: float) -> None:
    # NaN was quantised like 0.0: a source 0.0 and a target NaN had one digest and were never compared.
    # Too large a value (1e30 / 1e-3 beyond int64) collided with every other such value.
    strange: list[tuple[list[int], list[float]] | None] = [([1, 2], [0.5, float(np.nan)])]
    source, _ = RAW.sparse_digests({"s": _sparse([([1, 2], [0.5, value])])}, 1, target_side=False)
    target, bad = RAW.sparse_digests({"s": _sparse(strange)}, 1, target_side=True)
    assert source is not None and target is not None and bad.tolist() == [True]
    assert source[0].tolist() != target[0].tolist()
    huge_source, flagged = RAW.sparse_digests({"s": _sparse([([1], [1e30])])}, 1, target_side=False)
    huge_target, _ = RAW.sparse_digests({"s": _sparse([([1], [2e30])])}, 1, target_side=True)
    assert huge_source is not None and huge_target is not None and flagged.tolist() == [False]  # finite
    assert huge_source[0].tolist() != huge_target[0].tolist()
