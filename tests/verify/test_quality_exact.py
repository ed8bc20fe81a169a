"""Search quality's measurements read exactly (``verify.quality``): ground truth against a brute-force sort
(integer vectors, so every key and every tie is exact and the order of tied rows is part of the answer),
the query reservoir, the spilled vectors, result lists, overlap and recall with the tie rule.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import numpy.typing as npt
import pytest

from harness.model import CollectionSchema, Distance, RecordBatch, SearchResult
from harness.records import Comparison
from harness.stores.exact import ExactStore
from harness.vectormath import prepare
from harness.verify.parity import DigestTableBuilder, point_keys
from harness.verify.quality import (
    GroundTruth,
    QueryReservoir,
    Ranked,
    RecallJudge,
    VectorSpill,
    exact_ground_truth,
    overlap_at_k,
    true_scores,
)

F64 = npt.NDArray[np.float64]
EXACT = [Distance.DOT, Distance.EUCLID, Distance.MANHATTAN]


# -- ground truth against a brute-force sort -------------------------------------------------------------------
def native(queries: F64, data: F64, distance: Distance) -> F64:
    """queries × rows native scores in float64."""
    if distance in (Distance.DOT, Distance.COSINE):
        return queries @ data.T
    if distance is Distance.EUCLID:
        return np.sqrt(((queries[:, None, :] - data[None, :, :]) ** 2).sum(axis=2))
    return np.abs(queries[:, None, :] - data[None, :, :]).sum(axis=2)


def brute_truth(
    queries: F64, data: F64, k: int, distance: Distance, scopes: list[int], codes: list[int], own: list[int]
) -> list[list[tuple[int, float]]]:
    """Per query its (row, native score) best first, ties by row, over the rows its scope admits minus
    its own row; at most k."""
    scores = native(queries, data, distance)
    out = []
    for q in range(len(queries)):
        rows = [r for r in range(len(data)) if admitted(q, r, scopes, codes, own)]
        sign = -1.0 if distance.higher_is_better else 1.0
        rows.sort(key=lambda r: (sign * scores[q, r], r))
        out.append([(r, float(scores[q, r])) for r in rows[:k]])
    return out


def admitted(q: int, r: int, scopes: list[int], codes: list[int], own: list[int]) -> bool:
    return (scopes[q] < 0 or codes[r] == scopes[q]) and r != own[q]


def assert_top_k(
    rows: npt.NDArray[np.int64],
    scores: npt.NDArray[np.float32],
    queries: F64,
    data: F64,
    distance: Distance,
    want: list[list[tuple[int, float]]],
    scopes: list[int],
    codes: list[int],
    own: list[int],
) -> None:
    """``rows``/``scores`` are a correct top-k: the brute force's scores in order, each row distinct,
    admitted and scoring what is said (rows tied at the k-th score may be any of the tied ones)."""
    truth = native(queries, data, distance)
    for q, best in enumerate(want):
        got_rows = rows[q, : len(best)].tolist()
        np.testing.assert_allclose(scores[q, : len(best)], [s for _, s in best], rtol=1e-6, atol=1e-5)
        assert len(set(got_rows)) == len(got_rows)
        assert all(admitted(q, r, scopes, codes, own) for r in got_rows)
        np.testing.assert_allclose([truth[q, r] for r in got_rows], [s for _, s in best], rtol=1e-6, atol=1e-5)
        # every row strictly better than the k-th score is there
        kth = best[-1][1]
        better = {r for r, s in best if s != kth}
        assert better <= set(got_rows)


def integer_data(seed: int, n: int, dim: int = 3) -> tuple[F64, F64]:
    rng = np.random.default_rng(seed)
    return rng.integers(-3, 4, size=(n, dim)).astype(np.float64), rng.integers(-3, 4, size=(7, dim)).astype(np.float64)


@pytest.mark.parametrize("distance", EXACT, ids=str)
@pytest.mark.parametrize("order", ["random", "worst first", "best first"])
@pytest.mark.parametrize("block", [700, 256, 5000])
def test_ground_truth_is_the_brute_force_top_k_with_ties_by_row(distance: Distance, order: str, block: int) -> None:
    data, queries = integer_data(3, 2_800)
    if order != "random":  # blocks that all improve on the last (dense merges) or never do (nothing to merge)
        key = native(queries[:1], data, distance)[0] * (1 if distance.higher_is_better else -1)
        data = data[np.argsort(key if order == "worst first" else -key, kind="stable")]
    n, k = len(data), 5
    codes = [r % 3 for r in range(n)]
    scopes = [-1, 0, 2, -1, 1, -1, 0]
    own = [-1, 4, 512, 1_400, 2_799, 0, -1]  # 512 and 1400 open a block of 256 and of 700 rows
    truth = GroundTruth(
        queries.astype(np.float32), k, distance, scopes=np.array(scopes), own=np.array(own, dtype=np.int64)
    )
    for start in range(0, n, block):
        truth.push(
            data[start : start + block].astype(np.float32), start, np.array(codes[start : start + block], np.int32)
        )
    rows, scores = truth.result()
    want = brute_truth(queries, data, k, distance, scopes, codes, own)
    assert truth.found.tolist() == [k] * len(queries)
    assert_top_k(rows, scores, queries, data, distance, want, scopes, codes, own)


@pytest.mark.parametrize("distance", [Distance.COSINE, Distance.DOT, Distance.EUCLID], ids=str)
def test_ground_truth_of_a_scope_with_fewer_rows_than_k_keeps_what_there_is(distance: Distance) -> None:
    data, queries = integer_data(5, 40)
    codes = [0] * 37 + [1, 1, 1]  # the scope of code 1 holds 3 rows, one of them the query's own
    truth = GroundTruth(queries[:2].astype(np.float32), 5, distance, scopes=np.array([1, -1]), own=np.array([38, -1]))
    prepared = prepare(data.astype(np.float32), distance)
    truth.push(prepared[:20], 0, np.array(codes[:20], np.int32))
    truth.push(prepared[20:], 20, np.array(codes[20:], np.int32))
    rows, _ = truth.result()
    assert truth.found.tolist() == [2, 5]
    assert sorted(rows[0, :2].tolist()) == [37, 39]


def test_unscoped_queries_need_no_codes_and_the_own_row_is_left_out() -> None:
    data, queries = integer_data(9, 50)
    truth = GroundTruth(queries.astype(np.float32), 3, Distance.DOT, scopes=np.full(7, -1), own=np.arange(7))
    assert truth.scopes is None  # no query is scoped
    truth.push(data.astype(np.float32), 0)
    rows, scores = truth.result()
    want = brute_truth(queries, data, 3, Distance.DOT, [-1] * 7, [0] * 50, list(range(7)))
    assert_top_k(rows, scores, queries, data, Distance.DOT, want, [-1] * 7, [0] * 50, list(range(7)))


def test_an_empty_block_or_no_queries_changes_nothing() -> None:
    truth = GroundTruth(np.zeros((0, 3), np.float32), 3, Distance.DOT)
    truth.push(np.ones((4, 3), np.float32), 0)
    assert truth.result()[0].shape == (0, 0)
    truth = GroundTruth(np.ones((1, 3), np.float32), 3, Distance.DOT)
    truth.push(np.zeros((0, 3), np.float32), 0)
    assert truth.result()[0].shape == (1, 0) and truth.found.tolist() == [0]


def test_exact_ground_truth_reads_the_spill_with_its_namespace_codes() -> None:
    data, queries = integer_data(11, 30)
    spill = VectorSpill()
    try:
        spill.append(data[:10].astype(np.float32), np.zeros(10, np.int32))
        spill.append(data[10:].astype(np.float32), np.array([r % 2 for r in range(10, 30)], np.int32))
        seen: list[int] = []
        rows, scores, found = exact_ground_truth(
            queries[:2].astype(np.float32),
            spill,
            4,
            Distance.MANHATTAN,
            scopes=np.array([1, -1]),
            own=np.array([-1, 3]),
            advance=seen.append,
        )
    finally:
        spill.close()
    codes = [0] * 10 + [r % 2 for r in range(10, 30)]
    want = brute_truth(queries[:2], data, 4, Distance.MANHATTAN, [1, -1], codes, [-1, 3])
    assert found.tolist() == [4, 4]
    assert_top_k(rows, scores, queries[:2], data, Distance.MANHATTAN, want, [1, -1], codes, [-1, 3])
    assert seen == [30]


@pytest.mark.parametrize("distance", list(Distance), ids=str)
def test_true_scores_are_the_native_scores_row_by_row(distance: Distance) -> None:
    data, queries = integer_data(13, 7)
    got = true_scores(queries.astype(np.float32), data.astype(np.float32), distance)
    want = np.array([native(queries[i : i + 1], data[i : i + 1], distance)[0, 0] for i in range(7)])
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, want)


# -- the reservoir -------------------------------------------------------------------------------------------
def test_a_reservoir_of_size_zero_samples_nothing() -> None:
    reservoir = QueryReservoir(0, seed=1)
    reservoir.add(np.ones((5, 2), np.float32), list(range(5)))
    reservoir.add(np.ones((2, 2), np.float32), [5, 6])
    result = reservoir.result()
    assert reservoir.seen == 7 and len(result) == 0 and result.vectors.shape == (0, 0)
    assert result.vectors.dtype == np.float32


def test_a_small_scan_is_sampled_whole_with_positions_and_namespaces_and_without_non_finite_rows() -> None:
    reservoir = QueryReservoir(10, seed=0)
    first = np.array([[1, 0], [np.nan, 1], [2, 0]], np.float32)
    reservoir.add(first, ["a", "b", "c"], first_position=100, namespaces=["x", "y", ""])
    reservoir.add(np.array([[3, 0], [4, np.inf]], np.float32), ["d", "e"], first_position=103, namespaces=None)
    result = reservoir.result()
    assert reservoir.seen == 3
    assert result.labels == ("a", "c", "d")
    assert result.vectors.tolist() == [[1, 0], [2, 0], [3, 0]]
    assert result.own_positions is not None and result.own_positions.tolist() == [100, 102, 103]
    assert result.namespaces == ("x", "", None)
    assert result.sampled and result.origin == "sampled from the source"
    assert result.vectors.dtype == np.float32


def test_a_reservoir_without_namespaces_has_none_and_positions_follow_on() -> None:
    reservoir = QueryReservoir(4, seed=0)
    reservoir.add(np.ones((2, 2), np.float32), [1, 2])
    reservoir.add(np.full((1, 2), np.nan, np.float32), [99])  # nothing to offer: nothing changes
    reservoir.add(np.ones((2, 2), np.float32), [3, 4])
    result = reservoir.result()
    assert result.namespaces is None and result.labels == (1, 2, 3, 4)
    assert result.own_positions is not None and result.own_positions.tolist() == [0, 1, 2, 3]


@pytest.mark.parametrize(("batch", "size"), [(3, 10), (100, 10), (5, 2)])
def test_every_record_is_drawn_with_the_same_chance(batch: int, size: int) -> None:
    # 40 records, `size` drawn, 1,000 seeds: each record 1000·size/40 times (sd ≤ 13.7); the first
    # `size` fill the reservoir and must be replaced as often as any later record is kept.
    n, seeds = 40, 1_000
    hits = np.zeros(n)
    vectors = np.arange(n, dtype=np.float32).reshape(-1, 1)
    for seed in range(seeds):
        reservoir = QueryReservoir(size, seed)
        for start in range(0, n, batch):
            reservoir.add(vectors[start : start + batch], list(range(start, min(n, start + batch))))
        result = reservoir.result()
        assert len(set(result.labels)) == size
        assert [int(v) for v in result.vectors[:, 0]] == list(result.labels)
        assert result.own_positions is not None and result.own_positions.tolist() == list(result.labels)
        hits[list(result.labels)] += 1
    expected = seeds * size / n
    assert np.abs(hits - expected).max() < 5 * np.sqrt(seeds * (size / n) * (1 - size / n))


# -- the spill -----------------------------------------------------------------------------------------------
def test_the_spill_gives_back_every_row_by_block_and_by_position() -> None:
    data = np.arange(30, dtype=np.float32).reshape(10, 3)
    spill = VectorSpill()
    try:
        spill.append(data[:4])
        spill.append(np.zeros((0, 7), np.float32))  # an empty page says nothing about the dimension
        spill.append(data[4:].astype(np.float64))  # kept as float32
        assert spill.rows == 10 and spill.dimension == 3 and spill.codes is None and spill.uncoded_rows == 10
        blocks = list(spill.blocks(block_rows=4))
        assert [start for start, _ in blocks] == [0, 4, 8]
        np.testing.assert_array_equal(np.concatenate([b for _, b in blocks]), data)
        taken = spill.take(np.array([9, 0, 5, 5]))
        assert taken.dtype == np.float32
        np.testing.assert_array_equal(taken, data[[9, 0, 5, 5]])
        assert [len(b) for _, b in spill.blocks()] == [10]
    finally:
        spill.close()
        spill.close()  # idempotent


def test_namespace_codes_are_kept_per_row_and_earlier_rows_can_be_coded() -> None:
    spill = VectorSpill()
    try:
        spill.append(np.ones((3, 2), np.float32))
        with pytest.raises(ValueError, match=r"^every spilled row needs a namespace code"):
            spill.append(np.ones((2, 2), np.float32), np.array([1, 1], np.int32))
        spill.code_earlier_rows(7)
        assert spill.uncoded_rows == 0
        spill.append(np.ones((2, 2), np.float32), np.array([1, 2], np.int32))
        with pytest.raises(ValueError):
            spill.append(np.ones((2, 2), np.float32), np.array([1], np.int32))  # one code short
        spill.append(np.ones((1, 2), np.float32), [3])  # type: ignore[arg-type]
        codes = spill.codes
        assert codes is not None and codes.tolist() == [7, 7, 7, 1, 2, 3]
        assert codes.dtype == np.int32  # 4 bytes a row
        assert spill.codes is not None and spill.codes.tolist() == [7, 7, 7, 1, 2, 3]  # asked twice
        spill.code_earlier_rows(9)  # nothing left uncoded: no change
        assert spill.codes is not None and spill.codes.tolist() == [7, 7, 7, 1, 2, 3]
    finally:
        spill.close()


# -- result lists, overlap, recall -----------------------------------------------------------------------------
def keys(ids: list[int]) -> list[int]:
    return point_keys(ids).tolist()


def test_a_result_list_keeps_the_first_k_distinct_ids_in_order_and_leaves_out_the_own_record() -> None:
    result = SearchResult(ids=((5, 3, 5, 9, 3, 1, 2), (4, 4, 4), ()), scores=((0.0,) * 7, (0.0,) * 3, ()))
    ranked = Ranked.of(result, 3, exclude=[keys([9])[0], None, None])
    assert ranked.ids == ((5, 3, 1), (4,), ())
    assert [k.tolist() for k in ranked.keys] == [keys([5, 3, 1]), keys([4]), []]
    assert Ranked.of(result, 2).ids == ((5, 3), (4,), ())


def test_a_mapped_result_list_is_keyed_as_the_points_it_maps_to() -> None:
    result = SearchResult(ids=(("a", "b"),), scores=((1.0, 0.5),), namespaces=(("x", ""),))
    ranked = Ranked.of(result, 2, pinecone_to_qdrant=True)
    assert ranked.pinecone_to_qdrant
    assert ranked.keys[0].tolist() == point_keys(["a", "b"], ["x", ""], pinecone_to_qdrant=True).tolist()


def ranked(*rows: list[int]) -> Ranked:
    return Ranked(tuple(point_keys(r) for r in rows), tuple(tuple(r) for r in rows))


def test_overlap_counts_shared_ids_over_k_or_what_either_side_returned() -> None:
    a = ranked([1, 2, 3, 4], [1, 2], [], [], [1, 2, 3])
    b = ranked([4, 3, 9, 8], [2], [], [5], [7, 8, 9])
    assert overlap_at_k(a, b, 4).tolist() == [0.5, 0.5, 1.0, 0.0, 0.0]
    assert overlap_at_k(a, b, np.array([2, 1, 3, 3, 3])).tolist() == [1.0, 1.0, 1.0, 0.0, 0.0]
    assert overlap_at_k(ranked([1, 2, 3]), ranked([1, 2, 3]), 10).tolist() == [1.0]  # both returned 3 of 10
    assert overlap_at_k(ranked([1]), ranked([]), 0).tolist() == [0.0]  # k 0 is treated as 1


@pytest.fixture
def judged() -> Iterator[tuple[RecallJudge, ExactStore]]:
    """A judge over 6 source records on a line (x = 0..5 on axis 0), one query at x = 0 (euclid), k = 3:
    the 3rd true distance is 2. A target store holds the source's records and two of its own (ids 50 at
    x = 2.0000001, 60 at x = 2.5)."""
    vectors = np.zeros((6, 2), np.float32)
    vectors[:, 0] = np.arange(6)
    source = RecordBatch.build(list(range(6)), vectors)
    comparison = Comparison()
    builder = DigestTableBuilder(comparison, target_side=False)
    builder.add(source)
    spill = VectorSpill()
    spill.append(vectors)
    target = ExactStore("quality-exact-judge-target")
    target.create(CollectionSchema(2, Distance.EUCLID))
    target.upsert(source)
    target.upsert(RecordBatch.build([50, 60], np.array([[2.0000001, 0], [2.5, 0]], np.float32)))
    judge = RecallJudge(
        queries=np.zeros((1, 2), np.float32),
        kth_scores=np.array([2.0], np.float32),
        k_eff=np.array([3]),
        distance=Distance.EUCLID,
        epsilon=1e-3,
        source_table=builder.finish(),
        spill=spill,
    )
    yield judge, target
    spill.close()
    target.drop()


@pytest.mark.parametrize(
    ("ids", "recall"),
    [
        ([0, 1, 2], 1.0),
        ([2, 1, 0], 1.0),
        ([0, 1, 3], 2 / 3),  # 3 is farther than the 3rd true neighbour
        ([0, 1, 50], 1.0),  # within ε of the 3rd true distance: a tie, fetched from the target
        ([0, 1, 60], 2 / 3),  # 0.5 beyond it
        ([0, 1, 777], 2 / 3),  # gone from every store: never a hit
        ([0, 1], 2 / 3),  # a short list
        ([], 0.0),
        ([0, 1, 2, 50, 3], 1.0),  # more hits than k never score above 1
    ],
)
def test_recall_counts_results_within_epsilon_of_the_kth_true_distance(
    judged: tuple[RecallJudge, ExactStore], ids: list[int], recall: float
) -> None:
    judge, target = judged
    assert judge.recall(ranked(ids), target).tolist() == pytest.approx([recall])


def test_recall_of_a_query_judged_on_no_neighbours_is_zero(judged: tuple[RecallJudge, ExactStore]) -> None:
    judge, target = judged
    import dataclasses

    empty = dataclasses.replace(judge, k_eff=np.array([0]))
    assert empty.recall(ranked([]), target).tolist() == [0.0]
    one = dataclasses.replace(judge, k_eff=np.array([1]))
    assert one.recall(ranked([0]), target).tolist() == [1.0]


@pytest.fixture
def line_judge(request: pytest.FixtureRequest) -> Iterator[Callable[..., tuple[RecallJudge, ExactStore]]]:
    """``make(distance, kth, epsilon, target_extra)``: a judge of one query over 6 source records on axis 0
    (x = 0..5; the query at x = 0 for euclid, x = 1 for dot), the target holding the source's records with
    ``target_moved`` (id → x) applied, plus ``target_extra`` (id → x)."""
    made: list[tuple[VectorSpill, ExactStore]] = []

    def make(
        distance: Distance,
        kth: float,
        epsilon: float,
        target_moved: dict[int, float] | None = None,
        target_extra: dict[int, float] | None = None,
    ) -> tuple[RecallJudge, ExactStore]:
        vectors = np.zeros((6, 2), np.float32)
        vectors[:, 0] = np.arange(6)
        vectors[:, 1] = 1.0
        source = RecordBatch.build(list(range(6)), vectors)
        builder = DigestTableBuilder(Comparison(), target_side=False)
        builder.add(source)
        spill = VectorSpill()
        spill.append(vectors)
        target = ExactStore(f"quality-line-{request.node.name}-{len(made)}")
        made.append((spill, target))
        target.create(CollectionSchema(2, distance))
        target.upsert(source)
        for rid, x in {**(target_moved or {}), **(target_extra or {})}.items():
            target.upsert(RecordBatch.build([rid], np.array([[x, 1.0]], np.float32)))
        query = np.array([[0.0 if distance is Distance.EUCLID else 1.0, 1.0]], np.float32)
        judge = RecallJudge(
            query, np.array([kth], np.float32), np.array([3]), distance, epsilon, builder.finish(), spill
        )
        return judge, target

    yield make
    for spill, target in made:
        spill.close()
        target.drop()


def test_the_true_distance_of_a_source_record_comes_from_the_source_even_at_scan_position_0(
    line_judge: Callable[..., tuple[RecallJudge, ExactStore]],
) -> None:
    # The target moved record 0 far away; its true distance is the source's (0), so it is still a hit.
    judge, target = line_judge(Distance.EUCLID, 2.0, 1e-3, target_moved={0: 100.0, 1: 100.0})
    assert judge.recall(ranked([0, 1, 2]), target).tolist() == [1.0]


@pytest.mark.parametrize(
    ("distance", "kth", "epsilon", "extra", "recall"),
    [
        (Distance.EUCLID, 2.0, 0.0, {}, 1.0),  # record 2 at exactly the k-th distance: a hit with ε = 0
        (Distance.DOT, 4.0, 0.0, {}, 1.0),  # dot x + 1: records 5, 4, 3 score 6, 5, 4; 3 scores the k-th
        (Distance.EUCLID, 2.0, 1e-3, {50: 2.0015}, 1.0),  # ε scales with |k-th| = 2: within 0.002
        (Distance.EUCLID, 2.0, 1e-3, {50: 2.0025}, 2 / 3),
        (Distance.EUCLID, 0.5, 1e-3, {50: 0.5015}, 1 / 3),  # |k-th| < 1: ε itself (0.001); record 1 is a miss
        (Distance.EUCLID, 0.5, 1e-3, {50: 0.5009}, 2 / 3),
        (Distance.DOT, 4.0, 1e-3, {50: 2.9965}, 1.0),  # dot 3.9965: within 0.004 of 4
        (Distance.DOT, 4.0, 1e-3, {50: 2.995}, 2 / 3),
    ],
)
def test_the_tie_rule_at_its_edges(
    line_judge: Callable[..., tuple[RecallJudge, ExactStore]],
    distance: Distance,
    kth: float,
    epsilon: float,
    extra: dict[int, float],
    recall: float,
) -> None:
    judge, target = line_judge(distance, kth, epsilon, target_extra=extra)
    first_two = [0, 1] if distance is Distance.EUCLID else [5, 4]
    last = [50] if extra else ([2] if distance is Distance.EUCLID else [3])
    assert judge.recall(ranked(first_two + last), target).tolist() == pytest.approx([recall])


def test_no_queries_no_recall(judged: tuple[RecallJudge, ExactStore]) -> None:
    judge, target = judged
    import dataclasses

    none = dataclasses.replace(judge, queries=np.zeros((0, 2), np.float32), kth_scores=np.zeros(0, np.float32),
                               k_eff=np.zeros(0, np.int64))  # fmt: skip
    assert none.recall(Ranked((), ()), target).tolist() == []


def test_scoped_queries_over_rows_without_codes_see_every_row_in_namespace_0() -> None:
    data, queries = integer_data(17, 30)
    truth = GroundTruth(queries[:2].astype(np.float32), 4, Distance.DOT, scopes=np.array([0, 1]))
    truth.push(data.astype(np.float32), 0)  # no codes: every row is in the default namespace (code 0)
    rows, scores = truth.result()
    want = brute_truth(queries[:2], data, 4, Distance.DOT, [0, 1], [0] * 30, [-1, -1])
    assert truth.found.tolist() == [4, 0]
    assert_top_k(rows[:1], scores[:1], queries[:1], data, Distance.DOT, want[:1], [0], [0] * 30, [-1])


def test_an_empty_spill_has_no_dimension() -> None:
    spill = VectorSpill()
    try:
        assert spill.dimension == 0 and spill.take(np.zeros(0, np.int64)).shape == (0, 0)
        assert list(spill.blocks()) == []
    finally:
        spill.close()


def test_a_query_scoped_to_namespace_0_sees_only_namespace_0() -> None:
    data, queries = integer_data(19, 60)
    codes = [r % 2 for r in range(60)]
    truth = GroundTruth(queries[:2].astype(np.float32), 4, Distance.EUCLID, scopes=np.array([0, -1]))
    truth.push(data.astype(np.float32), 0, np.array(codes, np.int32))
    rows, scores = truth.result()
    want = brute_truth(queries[:2], data, 4, Distance.EUCLID, [0, -1], codes, [-1, -1])
    assert all(codes[r] == 0 for r in rows[0].tolist())
    assert_top_k(rows, scores, queries[:2], data, Distance.EUCLID, want, [0, -1], codes, [-1, -1])


@pytest.mark.parametrize("block", [1, 9_000])
def test_ground_truth_over_single_rows_or_one_block_wider_than_a_dense_slice(block: int) -> None:
    # One block of 9,000 rows is merged in slices of 4,096 columns; single-row blocks one at a time.
    rng = np.random.default_rng(23)
    n = 9_000 if block > 1 else 600
    data = rng.standard_normal((n, 8))
    queries = rng.standard_normal((5, 8))
    truth = GroundTruth(queries.astype(np.float32), 10, Distance.DOT, own=np.array([4_500, -1, 8_999, 0, -1]))
    for start in range(0, n, block):
        truth.push(data[start : start + block].astype(np.float32), start)
    rows, scores = truth.result()
    assert scores.dtype == np.float32 and rows.dtype == np.int64
    own = [4_500, -1, 8_999, 0, -1]
    want = brute_truth(queries, data, 10, Distance.DOT, [-1] * 5, [0] * n, own)
    assert rows.tolist() == [[r for r, _ in w] for w in want]  # random floats: no ties
    np.testing.assert_allclose(scores, [[s for _, s in w] for w in want], rtol=1e-4, atol=1e-4)


def test_a_record_fetched_from_a_namespace_is_keyed_with_it(judged: tuple[RecallJudge, ExactStore]) -> None:
    judge, target = judged
    target.upsert(RecordBatch.build([70], np.array([[1.5, 0]], np.float32), namespaces=["x"]))
    result = SearchResult(ids=((0, 1, 70),), scores=((0.0, 1.0, 1.5),), namespaces=(("", "", "x"),))
    assert judge.recall(Ranked.of(result, 3), target).tolist() == [1.0]  # 70 is 1.5 away: a hit


def test_a_fetched_record_is_compared_in_the_distances_form(
    line_judge: Callable[..., tuple[RecallJudge, ExactStore]],
) -> None:
    # Cosine: the fetched vector is normalised before scoring (raw, (2, 1) would score 2.1 against a
    # unit query and pass any k-th cosine).
    judge, target = line_judge(Distance.COSINE, 0.99, 0.0, target_extra={50: 2.0})
    import dataclasses

    judge = dataclasses.replace(judge, queries=prepare(judge.queries, Distance.COSINE))
    assert judge.recall(ranked([50]), target).tolist() == [0.0]
