"""The Pinecone → Qdrant mapping of sparse vectors and its refusals, pinned exactly: what ``make
mutation`` found unpinned once sparse and named vectors joined the record model."""

from __future__ import annotations

import numpy as np
import pytest

from harness.errors import InvalidInputError
from harness.model import CollectionSchema, Distance, RecordBatch, SparseVectorParams
from harness.records import (
    IDENTITY,
    PINECONE_SPARSE,
    QDRANT_SPARSE,
    map_pinecone_batch,
    mapping_for,
    unmap_qdrant_batch,
)

P2Q = mapping_for("pinecone", "qdrant-edge")
ROWS = [([3, 1], [0.5, 0.25]), None]


def _batch(**kw: object) -> RecordBatch:
    return RecordBatch.build(["a", "b"], [[1.0, 0.0], [0.0, 1.0]], [{"n": 2.0}, {}], **kw)  # type: ignore[arg-type]


def test_target_sparse_name_renames_only_pinecone_sparse_values_and_only_when_mapping() -> None:
    assert P2Q.target_sparse_name(PINECONE_SPARSE) == QDRANT_SPARSE == "sparse_vector"
    assert P2Q.target_sparse_name("bm25") == "bm25"
    assert P2Q.target_sparse_name(QDRANT_SPARSE) == QDRANT_SPARSE
    assert IDENTITY.target_sparse_name(PINECONE_SPARSE) == PINECONE_SPARSE
    assert IDENTITY.target_sparse_name("bm25") == "bm25"


def test_target_schema_renames_the_sparse_vectors_and_keeps_everything_else() -> None:
    source = CollectionSchema(
        4,
        Distance.DOT,
        backend="pinecone",
        sparse_vectors={PINECONE_SPARSE: SparseVectorParams("idf"), "other": SparseVectorParams()},
    )
    mapped = P2Q.target_schema(source)
    assert dict(mapped.sparse_vectors) == {QDRANT_SPARSE: SparseVectorParams("idf"), "other": SparseVectorParams()}
    assert (mapped.dimension, mapped.distance, mapped.backend) == (4, Distance.DOT, "pinecone")
    assert dict(source.sparse_vectors) == {PINECONE_SPARSE: SparseVectorParams("idf"), "other": SparseVectorParams()}
    assert IDENTITY.target_schema(source) == source
    dense_only = CollectionSchema(4, Distance.DOT, backend="pinecone")
    assert P2Q.target_schema(dense_only) == dense_only


def test_sparse_values_become_sparse_vector_and_come_back() -> None:
    batch = _batch(sparse={PINECONE_SPARSE: ROWS})
    mapped = map_pinecone_batch(batch, "ns")
    assert list(mapped.sparse) == [QDRANT_SPARSE] and mapped.namespaces is None
    indices, values = mapped.sparse[QDRANT_SPARSE].row(0)
    assert indices.tolist() == [3, 1] and values.tolist() == [0.5, 0.25]
    assert len(mapped.sparse[QDRANT_SPARSE].row(1)[0]) == 0
    assert mapped.payloads[0]["n"] == 2 and type(mapped.payloads[0]["n"]) is int
    back = unmap_qdrant_batch(mapped)
    assert list(back.sparse) == [PINECONE_SPARSE] and back.namespaces == ("ns", "ns") and back.ids == ("a", "b")
    assert back.sparse[PINECONE_SPARSE].row(0)[0].tolist() == [3, 1]
    assert map_pinecone_batch(_batch()).sparse == {}


def test_unmap_keeps_other_sparse_and_named_vectors() -> None:
    batch = RecordBatch.build(
        [1, 2],
        [[1.0], [2.0]],
        named={"image": [[0.5, 0.5], [1.0, 0.0]]},
        sparse={"bm25": ROWS, QDRANT_SPARSE: [None, ([7], [1.5])]},
    )
    back = unmap_qdrant_batch(batch)
    assert sorted(back.sparse) == sorted(["bm25", PINECONE_SPARSE])
    assert back.sparse["bm25"].row(0)[0].tolist() == [3, 1]
    assert back.sparse[PINECONE_SPARSE].row(1)[0].tolist() == [7]
    assert list(back.named) == ["image"]
    assert np.array_equal(back.named["image"].vectors, batch.named["image"].vectors)
    assert back.ids == ("1", "2") and back.namespaces == ("", "")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            {"named": {"image": [[1.0], [2.0]]}},
            "the batch carries named dense vectors ['image']; a Pinecone record has only its dense values and "
            "'sparse_values'",
        ),
        (
            {"sparse": {PINECONE_SPARSE: ROWS, "bm25": ROWS, "aa": ROWS}},
            "the batch carries sparse vectors ['aa', 'bm25']; a Pinecone record has only its dense values and "
            "'sparse_values'",
        ),
        (
            {"named": {"title": [[1.0], [2.0]], "image": [[1.0], [2.0]]}, "sparse": {"bm25": ROWS}},
            "the batch carries named dense vectors ['image', 'title'] and sparse vectors ['bm25']; a Pinecone "
            "record has only its dense values and 'sparse_values'",
        ),
    ],
)
def test_vectors_a_pinecone_record_cannot_hold_are_refused_by_name(extra: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        map_pinecone_batch(_batch(**extra))
    assert str(caught.value) == message
