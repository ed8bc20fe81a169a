"""The schema rules for named dense vectors, sparse vectors and required payload indexes, pinned exactly
(status, observed, expected, message, details of all six checks): the cases ``make mutation`` found
unpinned once named/sparse vectors and payload-index requirements joined ``check_schema``.

The expected checks live in ``snapshots/schema_vector_checks.json`` (review a diff, then rewrite it with
``RAGMIG_UPDATE_SNAPSHOTS=1 pytest tests/judges/test_schema_mutants.py``); the decisions that matter are
also asserted in code below, so a regenerated snapshot cannot hide one.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from harness.model import CollectionSchema, DenseVectorParams, Distance, HnswConfig, SparseVectorParams, Status
from harness.records import NAMESPACE_FIELD, PINECONE_SPARSE, QDRANT_SPARSE
from harness.verify import SCHEMA_CHECK_IDS, check_schema, recall_affecting

SNAPSHOT = Path(__file__).with_name("snapshots") / "schema_vector_checks.json"
HNSW = HnswConfig(m=16, ef_construct=100, full_scan_threshold=10_000)
BASE = CollectionSchema(
    8,
    Distance.DOT,
    hnsw=HNSW,
    payload_indexes={"doc_id": "keyword"},
    backend="qdrant-edge",
    named_vectors={"image": DenseVectorParams(4, Distance.COSINE), "title": DenseVectorParams(16, Distance.DOT)},
    sparse_vectors={"bm25": SparseVectorParams("idf")},
)
PLAIN = dataclasses.replace(BASE, named_vectors={}, sparse_vectors={})
PINECONE = CollectionSchema(
    8,
    Distance.DOT,
    index_config_reported=False,
    backend="pinecone",
    sparse_vectors={PINECONE_SPARSE: SparseVectorParams()},
)
QDRANT_FOR_PINECONE = dataclasses.replace(
    PLAIN, payload_indexes={NAMESPACE_FIELD: "keyword"}, sparse_vectors={QDRANT_SPARSE: SparseVectorParams()}
)


def t(**changes: Any) -> CollectionSchema:
    return dataclasses.replace(BASE, **changes)


def named(**changes: DenseVectorParams) -> dict[str, DenseVectorParams]:
    return {**BASE.named_vectors, **changes}


Case = tuple[CollectionSchema, CollectionSchema, tuple[str, ...], Mapping[str, str] | None, bool]
CASES: dict[str, Case] = {
    "named and sparse identical": (BASE, BASE, (), None, False),
    "only default vectors on both sides": (PLAIN, PLAIN, (), None, False),
    "named vector missing": (BASE, t(named_vectors={"title": BASE.named_vectors["title"]}), (), None, False),
    "named vector resized": (
        BASE,
        t(named_vectors=named(image=DenseVectorParams(5, Distance.COSINE))),
        (),
        None,
        False,
    ),
    "two named vectors resized": (
        BASE,
        t(named_vectors={"image": DenseVectorParams(5, Distance.COSINE), "title": DenseVectorParams(8, Distance.DOT)}),
        (),
        None,
        False,
    ),
    "sparse vector missing": (BASE, t(sparse_vectors={}), (), None, False),
    "missing, resized and sparse missing at once": (
        BASE,
        t(named_vectors={"image": DenseVectorParams(5, Distance.COSINE)}, sparse_vectors={}),
        (),
        None,
        False,
    ),
    "extra named and sparse on the target": (
        BASE,
        t(
            named_vectors=named(code=DenseVectorParams(3, Distance.DOT)),
            sparse_vectors={**BASE.sparse_vectors, "splade": SparseVectorParams()},
        ),
        (),
        None,
        False,
    ),
    "named vectors only on the target": (PLAIN, t(sparse_vectors={}), (), None, False),
    "sparse vectors only on the target": (PLAIN, t(named_vectors={}), (), None, False),
    "named cosine → euclid": (
        BASE,
        t(named_vectors=named(image=DenseVectorParams(4, Distance.EUCLID))),
        (),
        None,
        False,
    ),
    "named cosine → dot and dot → euclid": (
        BASE,
        t(named_vectors={"image": DenseVectorParams(4, Distance.DOT), "title": DenseVectorParams(16, Distance.EUCLID)}),
        (),
        None,
        False,
    ),
    "named euclid → manhattan": (
        t(named_vectors={"image": DenseVectorParams(4, Distance.EUCLID)}),
        t(named_vectors={"image": DenseVectorParams(4, Distance.MANHATTAN)}),
        (),
        None,
        False,
    ),
    "sparse modifier idf → none": (BASE, t(sparse_vectors={"bm25": SparseVectorParams("none")}), (), None, False),
    "default distance drift and named distance drift": (
        BASE,
        t(distance=Distance.EUCLID, named_vectors=named(image=DenseVectorParams(4, Distance.DOT))),
        (),
        None,
        False,
    ),
    "named distance drift, accepted": (
        BASE,
        t(named_vectors=named(image=DenseVectorParams(4, Distance.EUCLID))),
        ("schema.distance",),
        None,
        False,
    ),
    "named float32 → float16": (
        BASE,
        t(named_vectors=named(image=DenseVectorParams(4, Distance.COSINE, "float16"))),
        (),
        None,
        False,
    ),
    "named float16 → float32 (more bits)": (
        t(named_vectors=named(image=DenseVectorParams(4, Distance.COSINE, "float16"))),
        BASE,
        (),
        None,
        False,
    ),
    "named float32 → bfloat16 (unknown bits)": (
        BASE,
        t(named_vectors=named(image=DenseVectorParams(4, Distance.COSINE, "bfloat16"))),
        (),
        None,
        False,
    ),
    "named bfloat16 → float32 (unknown bits)": (
        t(named_vectors=named(title=DenseVectorParams(16, Distance.DOT, "bfloat16"))),
        BASE,
        (),
        None,
        False,
    ),
    "named Float32 → float32 (case)": (
        t(named_vectors=named(image=DenseVectorParams(4, Distance.COSINE, "Float32"))),
        BASE,
        (),
        None,
        False,
    ),
    "named uint8 → float16 and float32 → uint8": (
        t(
            named_vectors={
                "image": DenseVectorParams(4, Distance.COSINE, "uint8"),
                "title": BASE.named_vectors["title"],
            }
        ),
        t(
            named_vectors={
                "image": DenseVectorParams(4, Distance.COSINE, "float16"),
                "title": DenseVectorParams(16, Distance.DOT, "uint8"),
            }
        ),
        (),
        None,
        False,
    ),
    "named datatype of a vector the target lacks": (
        t(named_vectors=named(code=DenseVectorParams(3, Distance.DOT, "float16"))),
        BASE,
        (),
        None,
        False,
    ),
    "default float16 → float32 and named float16 → float32": (
        t(datatype="float16", named_vectors=named(image=DenseVectorParams(4, Distance.COSINE, "float16"))),
        BASE,
        (),
        None,
        False,
    ),
    "default float32 → float16 (equal bits never pass)": (
        PLAIN,
        dataclasses.replace(PLAIN, datatype="float16"),
        (),
        None,
        False,
    ),
    "pinecone sparse_values → qdrant sparse_vector": (PINECONE, QDRANT_FOR_PINECONE, (), None, True),
    "pinecone sparse_values → a target without the sparse vector": (
        PINECONE,
        dataclasses.replace(QDRANT_FOR_PINECONE, sparse_vectors={}),
        (),
        None,
        True,
    ),
    "pinecone → qdrant without the namespace index": (
        PINECONE,
        dataclasses.replace(QDRANT_FOR_PINECONE, payload_indexes={}),
        (),
        None,
        True,
    ),
    "pinecone → qdrant with a text namespace index": (
        PINECONE,
        dataclasses.replace(QDRANT_FOR_PINECONE, payload_indexes={NAMESPACE_FIELD: "text", "tag": "keyword"}),
        (),
        None,
        True,
    ),
    "pinecone → qdrant, namespace also required as integer": (
        PINECONE,
        QDRANT_FOR_PINECONE,
        (),
        {NAMESPACE_FIELD: "integer"},
        True,
    ),
    "pinecone source, nothing required": (
        dataclasses.replace(PINECONE, sparse_vectors={}),
        dataclasses.replace(PLAIN, payload_indexes={}),
        (),
        None,
        False,
    ),
    "pinecone source, required indexes held": (
        dataclasses.replace(PINECONE, sparse_vectors={}),
        dataclasses.replace(PLAIN, payload_indexes={"year": "integer", "tag": "keyword", "extra": "text"}),
        (),
        {"year": "integer", "tag": "keyword"},
        False,
    ),
    "required index missing and another retyped": (
        PLAIN,
        dataclasses.replace(PLAIN, payload_indexes={"doc_id": "keyword", "year": "float"}),
        (),
        {"year": "integer", "lang": "keyword"},
        False,
    ),
    "required indexes held beside the source's": (
        PLAIN,
        dataclasses.replace(PLAIN, payload_indexes={"doc_id": "keyword", "year": "integer"}),
        (),
        {"year": "integer"},
        False,
    ),
    "two named vectors with more bits": (
        t(
            named_vectors={
                "image": DenseVectorParams(4, Distance.COSINE, "float16"),
                "title": DenseVectorParams(16, Distance.DOT, "uint8"),
            }
        ),
        BASE,
        (),
        None,
        False,
    ),
    "two required indexes held": (
        PLAIN,
        dataclasses.replace(PLAIN, payload_indexes={"doc_id": "keyword", "year": "integer", "lang": "keyword"}),
        (),
        {"year": "integer", "lang": "keyword"},
        False,
    ),
    "target cannot report, required indexes": (
        PLAIN,
        dataclasses.replace(PLAIN, index_config_reported=False, backend="qdrant-local"),
        (),
        {"year": "integer"},
        True,
    ),
}


def observed(name: str) -> dict[str, Any]:
    source, target_schema, accept, required, pinecone_to_qdrant = CASES[name]
    checks = check_schema(
        source, target_schema, accept, required_indexes=required, pinecone_to_qdrant=pinecone_to_qdrant
    )
    assert [c.id for c in checks] == list(SCHEMA_CHECK_IDS)
    return {"recall_affecting": recall_affecting(checks), "checks": [c.to_dict() for c in checks]}


def test_the_snapshot_covers_exactly_the_cases() -> None:
    if os.environ.get("RAGMIG_UPDATE_SNAPSHOTS"):
        snapshot = {name: observed(name) for name in CASES}
        SNAPSHOT.write_text(json.dumps(snapshot, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    assert list(json.loads(SNAPSHOT.read_text(encoding="utf-8"))) == list(CASES)


@pytest.mark.parametrize("name", list(CASES))
def test_each_vector_and_index_drift_gives_exactly_these_checks(name: str) -> None:
    expected = json.loads(SNAPSHOT.read_text(encoding="utf-8"))[name]
    assert observed(name) == expected


def _status(name: str, check_id: str) -> Status:
    source, target_schema, accept, required, p2q = CASES[name]
    checks = check_schema(source, target_schema, accept, required_indexes=required, pinecone_to_qdrant=p2q)
    return next(c.status for c in checks if c.id == check_id)


@pytest.mark.parametrize(
    ("name", "check_id", "status"),
    [
        ("named and sparse identical", "schema.dimension", Status.PASS),
        ("named vector missing", "schema.dimension", Status.FAIL),
        ("named vector resized", "schema.dimension", Status.FAIL),
        ("sparse vector missing", "schema.dimension", Status.FAIL),
        ("extra named and sparse on the target", "schema.dimension", Status.PASS),
        ("named cosine → euclid", "schema.distance", Status.FAIL),
        ("sparse modifier idf → none", "schema.distance", Status.FAIL),
        ("named distance drift, accepted", "schema.distance", Status.WARN),
        ("named float32 → float16", "schema.datatype", Status.FAIL),
        ("named float16 → float32 (more bits)", "schema.datatype", Status.PASS),
        ("named bfloat16 → float32 (unknown bits)", "schema.datatype", Status.FAIL),
        ("named Float32 → float32 (case)", "schema.datatype", Status.PASS),
        ("named datatype of a vector the target lacks", "schema.datatype", Status.PASS),
        ("pinecone sparse_values → qdrant sparse_vector", "schema.dimension", Status.PASS),
        ("pinecone sparse_values → a target without the sparse vector", "schema.dimension", Status.FAIL),
        ("pinecone → qdrant without the namespace index", "schema.payload_indexes", Status.WARN),
        ("pinecone → qdrant, namespace also required as integer", "schema.payload_indexes", Status.WARN),
        ("pinecone source, required indexes held", "schema.payload_indexes", Status.PASS),
        ("required index missing and another retyped", "schema.payload_indexes", Status.WARN),
    ],
)
def test_the_decisions_that_matter(name: str, check_id: str, status: Status) -> None:
    assert _status(name, check_id) is status


def test_a_more_precise_named_vector_alone_still_makes_quality_mandatory() -> None:
    checks = check_schema(*CASES["named float16 → float32 (more bits)"][:2])
    assert all(c.status is Status.PASS for c in checks[:3]) and recall_affecting(checks)
    assert not recall_affecting(check_schema(BASE, t(named_vectors=named(code=DenseVectorParams(3, Distance.DOT)))))
