"""Schema drift in named dense vectors and sparse vectors: what fails, what passes, what is only noted."""

from __future__ import annotations

import dataclasses

import pytest

from harness.model import CollectionSchema, DenseVectorParams, Distance, SparseVectorParams, Status
from harness.records import PINECONE_SPARSE, QDRANT_SPARSE
from harness.verify.schema import check_schema

BASE = CollectionSchema(
    8,
    Distance.DOT,
    backend="qdrant-edge",
    named_vectors={"image": DenseVectorParams(4, Distance.COSINE), "title": DenseVectorParams(16, Distance.DOT)},
    sparse_vectors={"bm25": SparseVectorParams("idf")},
)


def _by_id(source: CollectionSchema, target: CollectionSchema, accept: tuple[str, ...] = ()) -> dict[str, object]:
    return {c.id: c for c in check_schema(source, target, accept=accept)}


def test_the_same_vectors_on_both_sides_pass() -> None:
    checks = _by_id(BASE, BASE)
    for cid in ("schema.dimension", "schema.distance", "schema.datatype"):
        assert checks[cid].status is Status.PASS, checks[cid].message  # type: ignore[attr-defined]
    assert checks["schema.dimension"].details["sparse_vectors"] == {"source": ["bm25"], "target": ["bm25"]}  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("target", "check_id", "words"),
    [
        (
            dataclasses.replace(BASE, named_vectors={"title": BASE.named_vectors["title"]}),
            "schema.dimension",
            "['image']",
        ),
        (
            dataclasses.replace(
                BASE, named_vectors={**BASE.named_vectors, "image": DenseVectorParams(5, Distance.COSINE)}
            ),
            "schema.dimension",
            "image 4 → 5",
        ),
        (dataclasses.replace(BASE, sparse_vectors={}), "schema.dimension", "sparse vectors ['bm25']"),
        (
            dataclasses.replace(
                BASE, named_vectors={**BASE.named_vectors, "image": DenseVectorParams(4, Distance.EUCLID)}
            ),
            "schema.distance",
            "'image': distance cosine → euclid",
        ),
        (
            dataclasses.replace(BASE, sparse_vectors={"bm25": SparseVectorParams("none")}),
            "schema.distance",
            "modifier idf → none",
        ),
        (
            dataclasses.replace(
                BASE, named_vectors={**BASE.named_vectors, "title": DenseVectorParams(16, Distance.DOT, "uint8")}
            ),
            "schema.datatype",
            "'title': datatype float32 → uint8",
        ),
    ],
    ids=["named-missing", "named-resized", "sparse-missing", "named-distance", "sparse-modifier", "named-datatype"],
)
def test_what_the_target_cannot_hold_or_scores_differently_fails(
    target: CollectionSchema, check_id: str, words: str
) -> None:
    check = _by_id(BASE, target)[check_id]
    assert check.status is Status.FAIL  # type: ignore[attr-defined]
    assert words in check.message  # type: ignore[attr-defined]


def test_a_missing_sparse_vector_cannot_be_accepted_but_a_modifier_change_can() -> None:
    gone = _by_id(BASE, dataclasses.replace(BASE, sparse_vectors={}), accept=("schema.distance",))
    assert gone["schema.dimension"].status is Status.FAIL  # type: ignore[attr-defined]
    plain = dataclasses.replace(BASE, sparse_vectors={"bm25": SparseVectorParams()})
    accepted = _by_id(BASE, plain, accept=("schema.distance",))["schema.distance"]
    assert accepted.status is Status.WARN and accepted.details["accepted"]  # type: ignore[attr-defined]


def test_extra_vectors_and_more_bits_on_the_target_pass_and_are_named() -> None:
    target = dataclasses.replace(
        BASE,
        named_vectors={**BASE.named_vectors, "extra": DenseVectorParams(2, Distance.DOT)},
        sparse_vectors={**BASE.sparse_vectors, "splade": SparseVectorParams()},
    )
    checks = _by_id(BASE, target)
    assert checks["schema.dimension"].status is Status.PASS  # type: ignore[attr-defined]
    assert "'extra', 'splade'" in checks["schema.dimension"].message  # type: ignore[attr-defined]
    half = dataclasses.replace(
        BASE, named_vectors={**BASE.named_vectors, "title": DenseVectorParams(16, Distance.DOT, "float16")}
    )
    more_bits = _by_id(half, BASE)["schema.datatype"]
    assert more_bits.status is Status.PASS and "more bits" in more_bits.message  # type: ignore[attr-defined]


def test_pinecone_sparse_values_are_compared_with_the_mapped_qdrant_name() -> None:
    pinecone = CollectionSchema(
        8,
        Distance.DOT,
        backend="pinecone",
        index_config_reported=False,
        sparse_vectors={PINECONE_SPARSE: SparseVectorParams()},
    )
    qdrant = CollectionSchema(
        8, Distance.DOT, backend="qdrant-edge", sparse_vectors={QDRANT_SPARSE: SparseVectorParams()}
    )
    assert _by_id(pinecone, qdrant)["schema.dimension"].status is Status.PASS  # type: ignore[attr-defined]
    dense = dataclasses.replace(qdrant, sparse_vectors={})
    missing = _by_id(pinecone, dense)["schema.dimension"]
    assert missing.status is Status.FAIL and "['sparse_vector']" in missing.message  # type: ignore[attr-defined]
