"""The record model's named dense and sparse vectors: CSR columns, presence masks, batches that carry
them; shards written by the upstream ``qdrant_edge`` API with named and sparse vectors; and the mapping
of Pinecone's sparse values."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import qdrant_edge as qe

from harness.errors import InvalidInputError
from harness.model import (
    CollectionSchema,
    DenseColumn,
    DenseVectorParams,
    Distance,
    RecordBatch,
    SparseColumn,
    SparseVectorParams,
)
from harness.records import (
    PINECONE_SPARSE,
    QDRANT_SPARSE,
    map_pinecone_batch,
    mapping_for,
    unmap_qdrant_batch,
)
from harness.stores import open_store

ROWS = [([3, 1], [0.3, 0.1]), None, ([7], [1.0]), ([], [])]


# -- columns ------------------------------------------------------------------------------------------------
def test_a_sparse_column_keeps_rows_and_their_absence_through_take_slice_and_concat() -> None:
    column = SparseColumn.from_rows(ROWS)
    assert len(column) == 4 and column.nnz == 3 and column.row_lengths().tolist() == [2, 0, 1, 0]
    assert column.rows() == [([3, 1], pytest.approx([0.3, 0.1])), None, ([7], [1.0]), None]
    assert column.take([2, 0]).rows() == [([7], [1.0]), ([3, 1], pytest.approx([0.3, 0.1]))]
    assert column.slice(1, 3).rows() == [None, ([7], [1.0])]
    assert SparseColumn.concat([column.slice(2, 4), column.slice(0, 1)]).row_lengths().tolist() == [1, 0, 2]
    assert column.canonical().row(0)[0].tolist() == [1, 3]  # indices sorted, values following
    assert column.canonical().row(0)[1].tolist() == pytest.approx([0.1, 0.3])
    assert len(SparseColumn.empty(5)) == 5 and SparseColumn.empty(5).nnz == 0
    assert column.take([]).nnz == 0 and len(column.take([])) == 0


@pytest.mark.parametrize(
    ("rows", "words"),
    [
        ([([1, 1], [0.5, 0.5])], "repeats an index"),
        ([([1, 2], [0.5])], "2 indices but 1 values"),
        ([([-1], [0.5])], r"between 0 and 2\^32 - 1"),
        ([([2**32], [0.5])], r"between 0 and 2\^32 - 1"),
    ],
)
def test_a_malformed_sparse_vector_is_refused(rows: list[tuple[list[int], list[float]]], words: str) -> None:
    with pytest.raises(ValueError, match=words):
        SparseColumn.from_rows(rows)


def test_a_dense_column_knows_which_records_have_the_vector() -> None:
    column = DenseColumn.of(np.arange(6).reshape(3, 2), [True, False, True])
    assert column.present_rows().tolist() == [True, False, True] and column.dimension == 2
    assert DenseColumn.of(np.ones((2, 2)), [True, True]).present is None  # all present: no mask
    assert column.take([1, 2]).present_rows().tolist() == [False, True]
    assert DenseColumn.concat([column, DenseColumn.of(np.ones((1, 2)))]).present_rows().tolist() == [
        True,
        False,
        True,
        True,
    ]


def test_batches_carry_named_and_sparse_vectors_and_concat_fills_what_a_batch_lacks() -> None:
    with_both = RecordBatch.build([1, 2], np.eye(2), named={"img": np.ones((2, 3))}, sparse={"s": [([1], [1.0]), None]})
    plain = RecordBatch.build([3], np.eye(2)[:1])
    joined = RecordBatch.concat([with_both, plain])
    assert joined.named["img"].present_rows().tolist() == [True, True, False]
    assert joined.sparse["s"].row_lengths().tolist() == [1, 0, 0]
    assert joined.take([2, 0]).sparse["s"].row_lengths().tolist() == [0, 1]
    assert joined.slice(1, 3).named["img"].present_rows().tolist() == [True, False]
    with pytest.raises(ValueError, match="rows of sparse vector 's'"):
        RecordBatch(ids=(1,), vectors=np.eye(1, dtype=np.float32), payloads=({},), sparse={"s": SparseColumn.empty(2)})
    assert RecordBatch.build([1], np.eye(1)).named == {} and RecordBatch.build([1], np.eye(1)).sparse == {}


def test_a_schema_lists_its_named_and_sparse_vectors_only_when_it_has_them() -> None:
    plain = CollectionSchema(4, Distance.DOT).to_dict()
    assert "named_vectors" not in plain and "sparse_vectors" not in plain
    rich = CollectionSchema(
        4,
        Distance.DOT,
        named_vectors={"img": DenseVectorParams(2, Distance.COSINE)},
        sparse_vectors={"s": SparseVectorParams("idf")},
    ).to_dict()
    assert rich["named_vectors"] == {"img": {"dimension": 2, "distance": "cosine", "datatype": "float32"}}
    assert rich["sparse_vectors"] == {"s": {"modifier": "idf"}}
    with pytest.raises(ValueError, match="modifier"):
        SparseVectorParams("bm42")


# -- the Pinecone mapping -----------------------------------------------------------------------------------
def test_pinecone_sparse_values_become_the_named_sparse_vector_and_back() -> None:
    batch = RecordBatch.build(
        ["a", "b"], np.eye(2), namespaces=["x", "y"], sparse={PINECONE_SPARSE: [([1], [2.0]), None]}
    )
    mapped = map_pinecone_batch(batch)
    assert set(mapped.sparse) == {QDRANT_SPARSE} and mapped.sparse[QDRANT_SPARSE].rows()[0] == ([1], [2.0])
    assert set(unmap_qdrant_batch(mapped).sparse) == {PINECONE_SPARSE}
    with pytest.raises(InvalidInputError, match="named dense vectors"):
        map_pinecone_batch(RecordBatch.build(["a"], np.eye(1), named={"img": np.ones((1, 2))}))
    with pytest.raises(InvalidInputError, match="sparse vectors"):
        map_pinecone_batch(RecordBatch.build(["a"], np.eye(1), sparse={"bm25": [([1], [1.0])]}))


def test_the_target_schema_names_the_sparse_vector_as_the_mapping_writes_it() -> None:
    source = CollectionSchema(
        4, Distance.DOT, backend="pinecone", sparse_vectors={PINECONE_SPARSE: SparseVectorParams()}
    )
    assert set(mapping_for(source, "qdrant-edge").target_schema(source).sparse_vectors) == {QDRANT_SPARSE}
    assert mapping_for(source, "pinecone").target_schema(source) is source


# -- shards the upstream API wrote --------------------------------------------------------------------------
def _upstream(path: Path, config: qe.EdgeConfig, points: list[qe.Point]) -> None:
    shard = qe.EdgeShard.create(str(path), config)
    shard.update(qe.UpdateOperation.upsert_points(points))
    shard.close()


def test_an_upstream_shard_with_named_and_sparse_vectors_opens_with_all_of_them(tmp_path: Path) -> None:
    config = qe.EdgeConfig(
        vectors={
            "text": qe.EdgeVectorParams(size=3, distance=qe.Distance.Dot),
            "image": qe.EdgeVectorParams(size=2, distance=qe.Distance.Euclid),
        },
        sparse_vectors={"bm25": qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf)},
    )
    _upstream(
        tmp_path / "shard",
        config,
        [
            qe.Point(1, {"text": [1.0, 2.0, 3.0], "bm25": qe.SparseVector([9, 4], [0.5, 1.5])}, {"t": 1}),
            qe.Point(2, {"text": [0.0, 1.0, 0.0], "image": [4.0, 5.0]}, {}),
        ],
    )
    store = open_store(f"qdrant-edge://{tmp_path / 'shard'}")
    try:
        schema = store.describe()
        assert schema.dimension == 0  # no unnamed vector
        assert schema.named_vectors == {
            "image": DenseVectorParams(2, Distance.EUCLID),
            "text": DenseVectorParams(3, Distance.DOT),
        }
        assert schema.sparse_vectors == {"bm25": SparseVectorParams("idf")}
        got = store.fetch([1, 2])
        assert got.vectors.shape == (2, 0)
        assert got.named["text"].vectors.tolist() == [[1.0, 2.0, 3.0], [0.0, 1.0, 0.0]]
        assert got.named["image"].present_rows().tolist() == [False, True]
        assert got.sparse["bm25"].rows() == [([4, 9], [1.5, 0.5]), None]  # Qdrant keeps indices sorted
    finally:
        store.close()


def test_an_upstream_sparse_only_shard_opens(tmp_path: Path) -> None:
    config = qe.EdgeConfig(sparse_vectors={"s": qe.EdgeSparseVectorParams()})
    _upstream(tmp_path / "sparse", config, [qe.Point(5, {"s": qe.SparseVector([1, 2], [1.0, 2.0])}, {})])
    store = open_store(f"qdrant-edge://{tmp_path / 'sparse'}")
    try:
        schema = store.describe()
        assert schema.dimension == 0 and schema.named_vectors == {} and set(schema.sparse_vectors) == {"s"}
        batch, _ = store.scroll()
        assert batch.ids == (5,) and batch.sparse["s"].nnz == 2
    finally:
        store.close()
