"""A Pinecone source (the project's Pinecone-compatible server, through the real SDK) with two namespaces
and string ids — the same id in both — migrates into Qdrant Edge and certifies clean."""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from harness.clock import ManualClock
from harness.migration.alerts import RecordingAlertSink
from harness.migration.dualwrite import DualWriteStore
from harness.migration.flags import WriteMode
from harness.migration.flags_openfeature import InMemoryFlags
from harness.migration.journal import Journal
from harness.migration.orchestrator import Orchestrator, Phase
from harness.migration.run import migrate_command
from harness.model import CollectionSchema, Distance, RecordBatch
from harness.pinecone_local.testing import PineconeServer
from harness.records import NAMESPACE_FIELD, ORIGINAL_ID_FIELD, qdrant_point_id
from harness.stores import VectorStore, open_store
from harness.verify import make_verifier, run_verification
from tests.migration.conftest import fast_config

PER_NAMESPACE = 300
DIMENSION = 12


@pytest.fixture
def pinecone_source(pinecone_server: PineconeServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[VectorStore]:
    """An index with namespaces "books" and "films"; "shared-id" lives in both with different content."""
    monkeypatch.setenv("PINECONE_CONTROLLER_HOST", pinecone_server.url)
    store = open_store(f"pinecone://mig-{uuid.uuid4().hex[:10]}")
    store.create(CollectionSchema(dimension=DIMENSION, distance=Distance.COSINE))
    rng = np.random.default_rng(4)
    for ns in ("books", "films"):
        ids = [f"{ns[:-1]}-{i}" for i in range(PER_NAMESPACE - 1)] + ["shared-id"]
        payloads = [{"year": 1990.0 + i % 30, "ns_tag": ns, "tags": ["a", ns]} for i in range(PER_NAMESPACE)]
        store.upsert(
            RecordBatch.build(ids, rng.normal(size=(PER_NAMESPACE, DIMENSION)), payloads, [ns] * PER_NAMESPACE)
        )
    assert store.wait_until_visible(2 * PER_NAMESPACE)  # type: ignore[attr-defined]
    yield store
    store.close()


def test_migrate_command_copies_both_namespaces_and_certifies(pinecone_source: VectorStore, tmp_path: Path) -> None:
    target_uri = f"qdrant-edge://{tmp_path / 'shard'}"
    out = io.StringIO()
    code = migrate_command(
        pinecone_source.uri,
        target_uri,
        tmp_path / "j.sqlite",
        100,
        False,
        tmp_path / "v.json",
        out=out,
        verifier=run_verification,
    )
    verdict = json.loads((tmp_path / "v.json").read_text())
    failed = [c["id"] for c in verdict["checks"] if c["status"] == "fail"]
    assert code == 0 and verdict["verdict"] == "pass", (failed, out.getvalue())
    assert {c["id"] for c in verdict["checks"]} >= {"parity.count", "parity.ids", "parity.vectors", "quality.overlap"}
    target = open_store(target_uri)
    try:
        assert target.count() == 2 * PER_NAMESPACE
        both = target.fetch([qdrant_point_id("shared-id", "books"), qdrant_point_id("shared-id", "films")])
        assert len(both) == 2  # the same id in two namespaces stays two points
        assert {(p[ORIGINAL_ID_FIELD], p[NAMESPACE_FIELD], p["ns_tag"]) for p in both.payloads} == {
            ("shared-id", "books", "books"),
            ("shared-id", "films", "films"),
        }
        assert all(type(p["year"]) is int for p in both.payloads)  # 1990.0 → 1990
        # After the copy, writes keep both sides in step through dual-write, mapped per namespace.
        with Journal(tmp_path / "dual.sqlite") as journal:
            writer = DualWriteStore(
                pinecone_source, target, journal, InMemoryFlags(write_mode=WriteMode.DUAL_SOURCE_FIRST)
            )
            assert writer.mapping.pinecone_to_qdrant
            writer.upsert(RecordBatch.build(["film-new"], np.ones((1, DIMENSION)), [{"year": 2001.0}], ["films"]))
            writer.delete(["shared-id"])  # the source spans namespaces: the id goes from both, on both sides
        assert target.fetch([qdrant_point_id("film-new", "films")]).payloads[0]["year"] == 2001
        assert len(target.fetch([qdrant_point_id("shared-id", ns) for ns in ("books", "films")])) == 0
        assert len(pinecone_source.fetch(["shared-id"])) == 0 and len(pinecone_source.fetch(["film-new"])) == 1
    finally:
        target.close()


def test_orchestrated_migration_from_pinecone_completes(pinecone_source: VectorStore, tmp_path: Path) -> None:
    target_uri = f"qdrant-edge://{tmp_path / 'shard'}"
    target = open_store(target_uri)
    clock = ManualClock()
    sink = RecordingAlertSink()
    config = fast_config(
        pinecone_source.uri,
        target_uri,
        canary={"steps": [50, 100], "live_bake_s": 0.0},
        thresholds={"no_data_policy": "pass"},
    )
    try:
        with Journal(tmp_path / "j.sqlite") as journal:
            gate = make_verifier(config.verification.queries, config.verification.k, clock=clock)
            orchestrator = Orchestrator(
                config, pinecone_source, target, journal, clock=clock, flags=InMemoryFlags(), alerts=[sink],
                verifier=gate,
            )  # fmt: skip
            assert orchestrator.mapping.pinecone_to_qdrant
            assert orchestrator.run() is Phase.COMPLETED, [a.message for a in sink.alerts]
            decisions: dict[str, Any] = {e.data["decision"]: e.data for e in journal.events("decision")}
        assert decisions["verified"]["verdict"] == "pass"
        assert decisions["shadow passed"]["mean_overlap"] >= 0.9  # Pinecone ids mapped before comparing
        assert target.count() == 2 * PER_NAMESPACE
    finally:
        target.close()
