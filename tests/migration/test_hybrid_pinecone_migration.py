"""A hybrid Pinecone index (dense + sparse values) in two namespaces, on the project's Pinecone-compatible
server through the real SDK → ``ragmig migrate`` → Qdrant Edge with the named sparse vector
``sparse_vector`` → ``ragmig certify`` passes; stripping the sparse part of ten target points fails
``parity.sparse``, naming them. A target that cannot hold the sparse values is refused before copying.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from harness.cli import app
from harness.model import CollectionSchema, Distance, RecordBatch, SparseVectorParams
from harness.pinecone_local.testing import PineconeServer
from harness.records import PINECONE_SPARSE, QDRANT_SPARSE, qdrant_point_id
from harness.stores import open_store

PER_NAMESPACE = 250
DIMENSION = 16
NAMESPACES = ("books", "films")


def _sparse_rows(rng: np.random.Generator, n: int) -> list[tuple[list[int], list[float]] | None]:
    rows: list[tuple[list[int], list[float]] | None] = []
    for i in range(n):
        size = int(rng.integers(2, 12))
        rows.append(
            None
            if i % 10 == 9
            else (rng.choice(30_000, size, replace=False).tolist(), rng.uniform(0.1, 4, size).tolist())
        )
    return rows


@pytest.fixture
def hybrid_index(pinecone_server: PineconeServer) -> Iterator[str]:
    """``pinecone://…?host=…``: a dotproduct index holding dense and sparse values in two namespaces
    (every tenth record without sparse values; "shared-id" in both namespaces)."""
    name = f"hybrid-{uuid.uuid4().hex[:10]}"
    uri = f"pinecone://{name}?host={pinecone_server.index_host(name)}"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PINECONE_CONTROLLER_HOST", pinecone_server.url)
        store = open_store(f"pinecone://{name}")
        store.create(CollectionSchema(DIMENSION, Distance.DOT, sparse_vectors={PINECONE_SPARSE: SparseVectorParams()}))
        rng = np.random.default_rng(12)
        for ns in NAMESPACES:
            ids = [f"{ns}-{i}" for i in range(PER_NAMESPACE - 1)] + ["shared-id"]
            vectors = rng.normal(size=(PER_NAMESPACE, DIMENSION))
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)  # Pinecone's dotproduct wants unit vectors
            store.upsert(
                RecordBatch.build(
                    ids,
                    vectors,
                    [{"year": 2000.0 + i % 20, "ns": ns} for i in range(PER_NAMESPACE)],
                    [ns] * PER_NAMESPACE,
                    sparse={PINECONE_SPARSE: _sparse_rows(rng, PER_NAMESPACE)},
                )
            )
        assert store.wait_until_visible(2 * PER_NAMESPACE)  # type: ignore[attr-defined]
        store.close()
    yield uri


def _ragmig(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout + result.stderr


def test_a_hybrid_index_migrates_with_its_sparse_values_and_certifies(hybrid_index: str, tmp_path: Path) -> None:
    target = f"qdrant-edge://{tmp_path / 'shard'}"
    code, out = _ragmig(
        "migrate", "--source", hybrid_index, "--target", target, "--journal", str(tmp_path / "j.sqlite"),
        "--batch-size", "100", "--json", str(tmp_path / "migrate.json"),
    )  # fmt: skip
    assert code == 0, out
    migrated = json.loads((tmp_path / "migrate.json").read_text())
    assert {c["id"]: c["status"] for c in migrated["checks"]}["parity.sparse"] == "pass"

    store = open_store(target)
    try:
        schema = store.describe()
        assert set(schema.sparse_vectors) == {QDRANT_SPARSE}  # the official migration tool's name
        held = store.fetch([qdrant_point_id("books-0", "books")])
        assert held.sparse[QDRANT_SPARSE].nnz > 0
    finally:
        store.close()

    code, out = _ragmig(
        "certify", "--source", hybrid_index, "--target", target, "--queries", "40", "--json", str(tmp_path / "ok.json")
    )
    certified = json.loads((tmp_path / "ok.json").read_text())
    assert code == 0, [(c["id"], c["status"], c["message"]) for c in certified["checks"] if c["status"] != "pass"]
    sparse = next(c for c in certified["checks"] if c["id"] == "parity.sparse")
    assert sparse["status"] == "pass" and sparse["details"]["compared"] == 2 * PER_NAMESPACE
    # Hybrid queries ran on both sides and were compared by overlap (Pinecone's blend vs Qdrant's fusion).
    hybrid = next(c for c in certified["checks"] if c["id"] == "quality.hybrid")
    assert hybrid["status"] in ("pass", "warn") and set(hybrid["details"]["overlap_by_fusion"]) == {"rrf", "dbsf"}
    assert hybrid["details"]["queries_with_sparse"] > 30 and "expected to differ" in hybrid["message"]

    # Strip the sparse part of ten target points: certify fails parity.sparse and names exactly them.
    stripped = [(ns, f"{ns}-{i}") for ns in NAMESPACES for i in range(0, 50, 10)]
    store = open_store(target)
    try:
        points = store.fetch([qdrant_point_id(pid, ns) for ns, pid in stripped])
        assert len(points) == 10 and points.sparse[QDRANT_SPARSE].row_lengths().min() > 0
        store.upsert(points.with_columns(sparse={}))
    finally:
        store.close()
    code, out = _ragmig(
        "certify", "--source", hybrid_index, "--target", target, "--queries", "40", "--json", str(tmp_path / "bad.json")
    )
    assert code == 1, out
    failed = json.loads((tmp_path / "bad.json").read_text())
    statuses = {c["id"]: c["status"] for c in failed["checks"]}
    assert statuses["parity.sparse"] == "fail"
    assert [cid for cid, status in statuses.items() if status == "fail"] == ["parity.sparse"]
    sparse = next(c for c in failed["checks"] if c["id"] == "parity.sparse")
    assert sparse["observed"] == 10
    named = sorted(entry["source"] for entry in sparse["details"]["mismatched"])
    assert named == sorted(pid for _, pid in stripped)

    # Sampled parity over every record (Pinecone lists ids, both sides are fetched through the mapping).
    code, out = _ragmig(
        "certify", "--source", hybrid_index, "--target", target, "--sample", "1000", "--queries", "0",
        "--json", str(tmp_path / "sampled.json"),
    )  # fmt: skip
    assert code == 1, out
    sampled = {c["id"]: c for c in json.loads((tmp_path / "sampled.json").read_text())["checks"]}
    assert sampled["parity.mapping"]["status"] == "pass" and sampled["parity.ids"]["status"] == "pass"
    assert sampled["parity.sparse"]["details"]["mode"] == "sampled"
    assert sorted(e["source"] for e in sampled["parity.sparse"]["details"]["mismatched"]) == named


def test_a_target_without_a_sparse_vector_is_refused_before_copying(hybrid_index: str, tmp_path: Path) -> None:
    target = f"qdrant-edge://{tmp_path / 'dense-only'}"
    store = open_store(target)
    store.create(CollectionSchema(DIMENSION, Distance.DOT))
    store.close()

    code, out = _ragmig(
        "migrate", "--source", hybrid_index, "--target", target, "--journal", str(tmp_path / "j.sqlite")
    )

    assert code == 2, out
    assert "sparse vectors" in out and "sparse_vector" in out and "nothing was copied" in out
    store = open_store(target)
    try:
        assert store.count() == 0
    finally:
        store.close()
