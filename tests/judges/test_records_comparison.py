"""The record comparison at its edges, where a careless change would go unnoticed by the data the other
tests use: vectors of another shape, rows with no components, one side non-finite, overflow, 1-D input;
payloads that JSON cannot sort or encode; values of types outside JSON. (pytest turns every floating-point warning into an error here: overflow and
0/0 on hostile vectors must be handled, never printed.)"""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest

from harness.model import RecordBatch
from harness.records import Comparison, record_fingerprints, values_equal
from tests.judges.test_records_identity import as_u64, splitmix64_finaliser

RAW = Comparison(normalise=False, tolerance=1e-3)
UNIT = Comparison(normalise=True, tolerance=1e-3)
UNIT_FINE = Comparison(normalise=True, tolerance=1e-6)  # unit components need more than int16


def test_vectors_of_another_shape_differ_by_infinity_and_are_never_equal() -> None:
    a, b = np.ones((2, 4)), np.ones((3, 4))
    assert RAW.vector_differences(a, b).tolist() == [np.inf] * 3
    assert RAW.vector_differences(b, a).tolist() == [np.inf] * 3
    assert RAW.vector_differences(np.ones((2, 4)), np.ones((2, 5))).tolist() == [np.inf] * 2
    equal = RAW.vectors_equal(a, b)
    assert equal.dtype == np.bool_ and equal.tolist() == [False] * 3


def test_rows_without_components_are_equal_with_no_difference() -> None:
    empty = np.zeros((3, 0))
    assert RAW.vector_differences(empty, empty).tolist() == [0.0, 0.0, 0.0]


def test_one_dimensional_input_is_one_row() -> None:
    assert RAW.vector_differences(np.array([1.0, 2.0]), np.array([1.0, 2.5])).tolist() == [0.5]
    assert RAW.vector_differences(np.array([[1.0, 2.0]]), np.array([1.0, 2.5])).tolist() == [0.5]
    assert RAW.vector_differences(np.array([1.0, 2.0]), np.array([[1.0, 2.5]])).tolist() == [0.5]
    assert UNIT.canonical_vectors(np.array([3.0, 4.0])).tolist() == [[0.6, 0.8]]
    assert RAW.canonical_vectors(np.array([3.0, 4.0])).tolist() == [[3.0, 4.0]]


def test_each_row_gets_its_own_largest_difference() -> None:
    a = np.array([[0.0, 0.0], [0.0, 0.0], [1.0, 1.0]])
    b = np.array([[0.1, 0.0], [0.0, 0.3], [1.0, 1.0]])
    assert RAW.vector_differences(a, b) == pytest.approx([0.1, 0.3, 0.0])


def test_a_non_finite_row_on_one_side_has_no_difference_and_is_never_equal() -> None:
    a = np.array([[np.nan, 1.0], [1.0, 1.0], [2.0, 2.0]])
    b = np.array([[1.0, 1.0], [np.inf, 1.0], [2.0, 2.0]])
    for comparison in (RAW, UNIT):
        diff = comparison.vector_differences(a, b)
        assert np.isnan(diff[:2]).all() and diff[2] == 0.0
        assert comparison.vectors_equal(a, b).tolist() == [False, False, True]


def test_huge_and_infinite_vectors_are_handled_without_floating_point_warnings() -> None:
    huge = np.array([[1e200, -1e200, 0.0]])
    assert np.isfinite(UNIT.canonical_vectors(huge)).all()  # the norm overflows: no warning, no crash
    assert not np.isfinite(UNIT.canonical_vectors(np.array([[np.inf, 1.0, 0.0]]))).all()  # inf / inf
    opposite = np.array([[1e308, 0.0]]), np.array([[-1e308, 0.0]])
    assert RAW.vector_differences(*opposite).tolist() == [np.inf]  # overflow in the difference
    assert RAW.vectors_equal(*opposite).tolist() == [False]


def test_a_zero_vector_stays_zero_when_normalised() -> None:
    assert UNIT.canonical_vectors(np.zeros((1, 3))).tolist() == [[0.0, 0.0, 0.0]]
    assert UNIT.vectors_equal(np.zeros((1, 3)), np.zeros((1, 3))).tolist() == [True]


# -- payloads outside plain JSON ----------------------------------------------------------------------------
def test_payloads_json_cannot_sort_are_digested_in_key_order_all_the_same() -> None:
    # Mixed int and str keys: json.dumps(sort_keys=True) raises, the fallback sorts by the key's text.
    a = {1: "x", "b": "x"}
    b = {"b": "x", 1: "x"}
    digests = RAW.payload_digests(
        [a, b, {1: "x", "b": "y"}, {1: "y", "b": "x"}, {"1": "x", "b": "x"}], target_side=False
    )
    rows = [tuple(row) for row in digests.tolist()]
    assert rows[0] == rows[1]
    assert len(set(rows[1:])) == 4


def test_values_of_types_outside_json_compare_by_their_text() -> None:
    assert values_equal(Decimal("1.5"), Decimal("1.5"))
    assert not values_equal(Decimal("1.5"), Decimal("1.50"))
    assert not values_equal(Decimal("1.5"), 1.5) and not values_equal(1.5, Decimal("1.5"))


def test_fingerprints_take_values_outside_json_and_change_with_them() -> None:
    vector = np.array([[0.5, -1.0]], dtype=np.float32)
    one, two = (
        record_fingerprints(RecordBatch.build([1], vector, [{"when": Decimal(text)}])) for text in ("2020.1", "2020.2")
    )
    assert one != two


# -- digests: equal digests must mean equal vectors -----------------------------------------------------------
def digests_alone(comparison: Comparison, rows: np.ndarray) -> list[tuple[int, int]]:
    return [tuple(comparison.vector_digests(row[None])[0][0].tolist()) for row in rows]


@pytest.mark.parametrize(
    ("comparison", "distinct"), [(RAW, 5), (UNIT, 4), (UNIT_FINE, 4)], ids=["raw", "unit", "unit-fine"]
)
def test_a_rows_digest_is_the_same_alone_or_in_any_batch(comparison: Comparison, distinct: int) -> None:
    # Rows whose quantised values need int16, int32, int64 and float64 hash types, a NaN row, a zero row.
    rows = np.array(
        [[0.5, -0.25, 0.0], [40.0, 1.0, 2.0], [3e6, -1.0, 0.0], [1e16, 1.0, 0.0], [np.nan, 0.0, 1.0], [0.0, 0.0, 0.0]]
    )
    together, bad = comparison.vector_digests(rows)
    assert together.dtype == np.uint64 and together.shape == (6, 2)
    assert [tuple(row) for row in together.tolist()] == digests_alone(comparison, rows)
    assert bad.tolist() == [False, False, False, False, True, False]
    # A NaN row hashes as a zero row (its digest means nothing: it is compared exactly); normalised, the
    # two rows along e0 are one direction.
    assert len({tuple(row) for row in together.tolist()}) == distinct
    pair = rows[[0, 5]]  # a unit row and a zero row: two hash types in one batch
    assert [tuple(r) for r in comparison.vector_digests(pair)[0].tolist()] == digests_alone(comparison, pair)


def test_digests_of_a_batch_of_nothing() -> None:
    digests, bad = RAW.vector_digests(np.zeros((0, 4), dtype=np.float32))
    assert digests.shape == (0, 2) and digests.dtype == np.uint64
    assert bad.shape == (0,) and bad.dtype == np.bool_


def test_opposite_unit_vectors_never_share_a_digest_at_the_int16_edge() -> None:
    # 1 / tolerance just above 32,767: a quantised component of ±1 needs more than int16.
    edge = Comparison(normalise=True, tolerance=1 / 32_767.6)
    digests, _ = edge.vector_digests(np.array([[1.0, 0.0], [-1.0, 0.0], [1.0, 0.0]], dtype=np.float32))
    rows = [tuple(row) for row in digests.tolist()]
    assert rows[0] != rows[1] and rows[0] == rows[2]
    assert edge.vectors_equal(np.array([[1.0, 0.0]]), np.array([[-1.0, 0.0]])).tolist() == [False]


def test_non_finite_rows_of_any_shape() -> None:
    from harness.records import non_finite_rows

    assert non_finite_rows(np.array([[1.0, np.nan], [1.0, 2.0]])).tolist() == [True, False]
    assert non_finite_rows(np.array([1.0, np.inf, 2.0])).tolist() == [False, True, False]  # one value a row
    cube = np.ones((3, 2, 2))
    cube[1, 1, 0] = -np.inf
    assert non_finite_rows(cube).tolist() == [False, True, False]


@pytest.mark.parametrize("comparison", [RAW, UNIT, UNIT_FINE], ids=["raw", "unit", "unit-fine"])
def test_digests_of_vectors_without_components(comparison: Comparison) -> None:
    digests, bad = comparison.vector_digests(np.zeros((2, 0), dtype=np.float32))
    assert digests.shape == (2, 2) and (digests[0] == digests[1]).all() and bad.tolist() == [False, False]


def test_large_raw_components_are_quantised_in_double_precision() -> None:
    # Adjacent float32 values 0.0078 apart: divided by the tolerance in float32 they round to one value,
    # and equal digests would hide a difference 7.8 times the tolerance.
    a, b = np.float32(100000.3), np.float32(100000.305)
    rows = np.array([[a, 0.0], [b, 0.0]], dtype=np.float32)
    digests, _ = RAW.vector_digests(rows)
    assert (digests[0] != digests[1]).any()
    assert RAW.vectors_equal(rows[:1], rows[1:]).tolist() == [False]


def test_a_difference_of_exactly_the_tolerance_is_equal() -> None:
    half = Comparison(normalise=False, tolerance=0.5)
    assert half.vectors_equal(np.array([[0.0, 1.0]]), np.array([[0.5, 1.0]])).tolist() == [True]
    assert half.vectors_equal(np.array([[0.0, 1.0]]), np.array([[0.5000001, 1.0]])).tolist() == [False]


def test_a_payloads_digest_does_not_depend_on_its_batch() -> None:
    # A null sends a payload through the general JSON encoder; its neighbours must not follow it there.
    payloads = [{"note": None}, {"text": "café"}, {"n": 1.5}]
    together = [tuple(row) for row in RAW.payload_digests(payloads, target_side=False).tolist()]
    alone = [tuple(RAW.payload_digests([p], target_side=False)[0].tolist()) for p in payloads]
    assert together == alone


def test_fingerprints_hash_float32_bytes_whatever_the_batch_holds() -> None:
    # A stored format: the orphan watch compares fingerprints journaled by earlier runs.
    vectors = np.array([[0.1, -2.5, 1e-3]])
    as_double = RecordBatch((1,), vectors.astype(np.float64), ({"a": 1},))
    as_single = RecordBatch((1,), vectors.astype(np.float32), ({"a": 1},))
    assert record_fingerprints(as_double) == record_fingerprints(as_single)


# -- keyed digests: exact sums, one key per comparison ----------------------------------------------------------
def exact_multilinear(rows: np.ndarray, keys: tuple[np.ndarray, np.ndarray]) -> list[list[int]]:
    """The multilinear digest in Python integers: every lane an exact sum, scrambled by splitmix64's
    finaliser, folded mod 2^64."""
    weights, fold = keys
    out = []
    for row in rows.astype(np.int64).tolist():
        lanes = [
            splitmix64_finaliser(as_u64(sum(v * int(w) for v, w in zip(row, column, strict=True))))
            for column in weights.T.tolist()
        ]
        out.append(
            [
                sum(lane * int(f) for lane, f in zip(lanes, fold[:, word].tolist(), strict=True)) % 2**64
                for word in (0, 1)
            ]
        )
    return out


@pytest.mark.parametrize(("bits", "dimension"), [(15, 2), (15, 128), (15, 1_536), (31, 128), (31, 8_192)])
def test_the_multilinear_digest_is_the_exact_integer_sum_even_at_the_largest_values(bits: int, dimension: int) -> None:
    # Every component at the group's largest magnitude, of either sign: a float64 sum that rounded anywhere
    # would differ from the exact one.
    from harness.records.compare import _multilinear_digests, _multilinear_keys

    keys = _multilinear_keys(12_345, dimension, bits)
    assert keys is not None
    top = 2**bits - 1
    rows = np.array(
        [[top] * dimension, [-top] * dimension, [top, -top] * (dimension // 2), [top - 1] + [top] * (dimension - 1)]
    )
    digests = _multilinear_digests(rows.astype(np.float64), keys)
    assert digests.dtype == np.uint64 and digests.tolist() == exact_multilinear(rows, keys)
    assert len({tuple(d) for d in digests.tolist()}) == 4


@pytest.mark.parametrize("bits", [15, 31])
@pytest.mark.parametrize("dimension", [1, 2, 127, 128, 129, 1_536, 4_096, 8_192, 8_193, 65_536])
def test_multilinear_keys_fit_float64_exactly_and_give_128_bits_or_are_refused(bits: int, dimension: int) -> None:
    from harness.records.compare import DIGEST_BITS, MIN_KEY_BITS, _multilinear_keys

    keys = _multilinear_keys(7, dimension, bits)
    key_bits = 52 - bits - (dimension - 1 or 1).bit_length()
    if key_bits < MIN_KEY_BITS:
        assert keys is None
        return
    assert keys is not None
    weights, fold = keys
    lanes = weights.shape[1]
    assert weights.shape == (dimension, lanes) and fold.shape == (lanes, 2) and fold.dtype == np.uint64
    assert lanes * key_bits >= DIGEST_BITS > (lanes - 1) * key_bits
    assert weights.max() < 2**key_bits and weights.min() >= 0 and (weights == np.rint(weights)).all()
    assert dimension * (2**bits - 1) * (2**key_bits - 1) < 2**53  # the largest lane is exact
    assert (fold % 2 == 1).all()  # odd: folding never drops a lane's lowest bit


def test_the_int32_group_falls_back_to_blake2b_where_a_lane_would_have_under_8_key_bits() -> None:
    from harness.records.compare import _multilinear_keys

    assert _multilinear_keys(1, 8_192, 31) is not None and _multilinear_keys(1, 8_193, 31) is None
    raw = Comparison(normalise=False, tolerance=1.0)
    row = np.full((1, 8_193), 2.0**30)
    changed = row.copy()
    changed[0, 4_000] += 1.0  # one quantum
    digests, _ = raw.vector_digests(np.concatenate([row, changed, row]))
    assert digests[0].tolist() == digests[2].tolist() != digests[1].tolist()
    assert digests[0].tolist() == raw.vector_digests(row)[0][0].tolist()


@pytest.mark.parametrize("value", [1.0, 32_767.0, 2.0**31 - 1])
def test_one_quantum_in_any_component_changes_the_digest(value: float) -> None:
    raw = Comparison(normalise=False, tolerance=1.0)
    base = np.full(64, value)
    rows = [base]
    for i in range(64):
        up = base.copy()
        up[i] -= 1.0  # stays in the group of ``value``
        rows.append(up)
    digests, _ = raw.vector_digests(np.array(rows))
    assert len({tuple(d) for d in digests.tolist()}) == 65


def test_digests_are_keyed_per_comparison_and_travel_with_it() -> None:
    import pickle
    from dataclasses import replace

    vectors = np.array([[0.25, -0.5, 1.0], [3.0, 1.0, 0.0]], dtype=np.float32)
    payloads = [{"text": "a"}, {"n": 1}]
    one, two = Comparison(normalise=True, tolerance=1e-3), Comparison(normalise=True, tolerance=1e-3)
    assert one == two and one.digest_key != two.digest_key  # equal settings; the key is not a setting
    assert one.vector_digests(vectors)[0].tolist() != two.vector_digests(vectors)[0].tolist()
    assert (
        one.payload_digests(payloads, target_side=False).tolist()
        != two.payload_digests(payloads, target_side=False).tolist()
    )
    # A comparison shipped to a Dask worker, or a named vector's comparison, digests as the original does.
    for same in (pickle.loads(pickle.dumps(one)), replace(one, normalise=False)):
        assert same.digest_key == one.digest_key
        assert (
            same.payload_digests(payloads, target_side=False).tolist()
            == one.payload_digests(payloads, target_side=False).tolist()
        )
    assert (
        pickle.loads(pickle.dumps(one)).vector_digests(vectors)[0].tolist() == one.vector_digests(vectors)[0].tolist()
    )


def test_payloads_with_newlines_and_nulls_digest_as_they_do_alone() -> None:
    # Lines of one encoded text are cut apart at newlines: a newline in a key or a value must not cut.
    payloads = [{"t": "a\nb"}, {"a\nb": "t"}, {"t": "a\\nb"}, {"t": None}, {"t": float("nan")}, {"t": "a"}, {}]
    together = [tuple(row) for row in RAW.payload_digests(payloads, target_side=False).tolist()]
    alone = [tuple(RAW.payload_digests([p], target_side=False)[0].tolist()) for p in payloads]
    assert together == alone and len(set(together)) == len(payloads)
    assert RAW.payload_digests([], target_side=False).shape == (0, 2)
