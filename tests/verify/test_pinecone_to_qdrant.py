"""Pinecone → Qdrant: parity and overlap through the id mapping (uuid5 of namespace + id).

The source is the project's Pinecone-compatible server driven through the real SDK; the target is a
Qdrant Edge shard filled with ``map_pinecone_batch`` of what the source returns.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from harness.model import CollectionSchema, Distance, RecordBatch, Status
from harness.pinecone_local.testing import PineconeServer
from harness.records import map_pinecone_batch, qdrant_point_id
from harness.stores import iter_batches, open_store
from harness.stores.base import VectorStore
from harness.stores.pinecone import PineconeStore
from harness.verify import VerificationRun

DIM = 16
PER_NAMESPACE = 150


@pytest.fixture
def pinecone_source(pinecone_server: PineconeServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[PineconeStore]:
    """An index with the same ids in two namespaces and integer-valued metadata (Pinecone keeps floats)."""
    monkeypatch.setenv("PINECONE_CONTROLLER_HOST", pinecone_server.url)
    monkeypatch.delenv("PINECONE_API_KEY", raising=False)
    store = open_store(f"pinecone://parity-{uuid.uuid4().hex[:10]}")
    assert isinstance(store, PineconeStore)
    store.create(CollectionSchema(DIM, Distance.COSINE))
    rng = np.random.default_rng(9)
    for namespace in ("", "tenant-b"):
        ids = [f"doc-{i}" for i in range(PER_NAMESPACE)]
        payloads = [
            {"year": 2000 + i % 25, "source": "wiki", "tags": ["a", namespace or "default"]}
            for i in range(PER_NAMESPACE)
        ]
        vectors = rng.standard_normal((PER_NAMESPACE, DIM)).astype(np.float32)
        store.upsert(RecordBatch.build(ids, vectors, payloads, namespaces=[namespace] * PER_NAMESPACE))
    assert store.wait_until_visible(2 * PER_NAMESPACE)
    yield store
    store.drop()
    store.close()


def migrate(source: PineconeStore, directory: Path) -> VectorStore:
    target = open_store(f"qdrant-edge://{directory}")
    target.create(CollectionSchema(DIM, Distance.COSINE))
    for batch in iter_batches(source, 100):
        target.upsert(map_pinecone_batch(batch))
    return target


def test_a_faithful_migration_passes_parity_and_overlap(pinecone_source: PineconeStore, tmp_path: Path) -> None:
    target = migrate(pinecone_source, tmp_path / "faithful")
    try:
        with VerificationRun(pinecone_source, target, queries=15, measure_latency=False) as run:
            checks = {c.id: c for c in run.parity_checks() + run.quality_checks() + run.schema_checks()}
    finally:
        target.close()
    for check_id in ("parity.count", "parity.ids", "parity.vectors", "parity.payloads", "parity.mapping"):
        assert checks[check_id].status is Status.PASS, checks[check_id].message
    assert checks["parity.ids"].details["id_mapping"].startswith("pinecone id + namespace")
    assert checks["quality.overlap"].observed == 1.0
    assert checks["quality.recall_target"].observed == 1.0
    assert checks["schema.hnsw"].status is Status.WARN
    assert checks["schema.hnsw"].message.startswith("not comparable: pinecone cannot report its index config")
    # The worst queries list both sides in the source's terms: Pinecone ids (with their namespace), never
    # the Qdrant UUIDs the target returned — a faithful copy shows the same ids on both sides.
    worst = checks["quality.recall_target"].details["worst_queries"]
    assert worst and all(w["expected"] == w["target"] for w in worst)
    listed = [entry for w in worst for entry in w["target"]]
    assert {e["namespace"] for e in listed if isinstance(e, dict)} <= {"tenant-b"}
    assert all((e["id"] if isinstance(e, dict) else e).startswith("doc-") for e in listed)


def test_lost_and_changed_records_are_named_by_their_pinecone_ids(
    pinecone_source: PineconeStore, tmp_path: Path
) -> None:
    target = migrate(pinecone_source, tmp_path / "lossy")
    try:
        # The same id in the other namespace must not hide the loss (the official tool's silent overwrite).
        target.delete([qdrant_point_id("doc-7", "tenant-b")])
        changed = target.fetch([qdrant_point_id("doc-9", "")])
        target.upsert(
            RecordBatch(ids=changed.ids, vectors=changed.vectors, payloads=({**changed.payloads[0], "year": "2009"},))
        )
        with VerificationRun(pinecone_source, target) as run:
            checks = {c.id: c for c in run.parity_checks()}
    finally:
        target.close()
    ids = checks["parity.ids"]
    assert ids.details["missing"] == ["doc-7"]
    assert ids.details["missing_namespaces"] == ["tenant-b"]
    payloads = checks["parity.payloads"]
    assert payloads.details["mismatch_count"] == 1
    assert payloads.details["mismatched"] == ["doc-9"]
    diff = payloads.details["sample"][0]
    assert (diff["field"], diff["source"], diff["target"]) == ("year", 2009, "2009")
