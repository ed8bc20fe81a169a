"""Qdrant → Qdrant with named dense vectors and a sparse vector: ``ragmig migrate`` creates the target with
every vector and certifies it; a target with other named vectors is refused before anything is copied."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from harness.cli import app
from harness.model import (
    CollectionSchema,
    DenseColumn,
    DenseVectorParams,
    Distance,
    RecordBatch,
    SparseVectorParams,
)
from harness.stores import open_store

N, DIM = 400, 12
SCHEMA = CollectionSchema(
    DIM,
    Distance.COSINE,
    named_vectors={"image": DenseVectorParams(6, Distance.EUCLID)},
    sparse_vectors={"bm25": SparseVectorParams("idf")},
)


@pytest.fixture
def source(tmp_path: Path) -> str:
    rng = np.random.default_rng(7)
    uri = f"qdrant-edge://{tmp_path / 'source'}"
    store = open_store(uri)
    store.create(SCHEMA)
    sparse = [
        (rng.choice(10_000, 5, replace=False).tolist(), rng.uniform(0.1, 2, 5).tolist()) if i % 4 else None
        for i in range(N)
    ]
    store.upsert(
        RecordBatch.build(
            list(range(N)),
            rng.normal(size=(N, DIM)),
            [{"i": i} for i in range(N)],
            named={"image": DenseColumn.of(rng.normal(size=(N, 6)), [i % 9 != 0 for i in range(N)])},
            sparse={"bm25": sparse},
        )
    )
    store.close()
    return uri


def _ragmig(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout + result.stderr


def test_named_and_sparse_vectors_migrate_and_certify(source: str, tmp_path: Path) -> None:
    target = f"qdrant-edge://{tmp_path / 'target'}?m=32"
    code, out = _ragmig(
        "migrate", "--source", source, "--target", target, "--journal", str(tmp_path / "j.sqlite"),
        "--json", str(tmp_path / "m.json"),
    )  # fmt: skip
    assert code == 0, out
    store = open_store(target)
    try:
        described = store.describe()
        assert described.named_vectors == SCHEMA.named_vectors and described.sparse_vectors == SCHEMA.sparse_vectors
    finally:
        store.close()
    code, out = _ragmig(
        "certify", "--source", source, "--target", target, "--queries", "30", "--json", str(tmp_path / "c.json")
    )
    assert code == 0, out
    checks = {c["id"]: c for c in json.loads((tmp_path / "c.json").read_text())["checks"]}
    assert checks["parity.sparse"]["status"] == "pass" and checks["parity.sparse"]["details"]["compared"] == N
    assert checks["parity.vectors"]["status"] == "pass"


@pytest.mark.parametrize(
    "other",
    [
        CollectionSchema(DIM, Distance.COSINE, sparse_vectors=dict(SCHEMA.sparse_vectors)),  # no "image"
        CollectionSchema(
            DIM,
            Distance.COSINE,
            named_vectors={"image": DenseVectorParams(7, Distance.EUCLID)},
            sparse_vectors=dict(SCHEMA.sparse_vectors),
        ),
        CollectionSchema(DIM, Distance.COSINE, named_vectors=dict(SCHEMA.named_vectors)),  # no "bm25"
        CollectionSchema(
            DIM,
            Distance.COSINE,
            named_vectors=dict(SCHEMA.named_vectors),
            sparse_vectors={"bm25": SparseVectorParams()},
        ),
    ],
    ids=["named-missing", "named-resized", "sparse-missing", "sparse-modifier"],
)
def test_a_target_with_other_vectors_is_refused_before_copying(
    source: str, tmp_path: Path, other: CollectionSchema
) -> None:
    target = f"qdrant-edge://{tmp_path / 'other'}"
    store = open_store(target)
    store.create(other)
    store.close()

    code, out = _ragmig("migrate", "--source", source, "--target", target, "--journal", str(tmp_path / "j.sqlite"))

    assert code == 2 and "nothing was copied" in out, out
    store = open_store(target)
    try:
        assert store.count() == 0
    finally:
        store.close()
