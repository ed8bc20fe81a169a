"""Verification on a local Dask cluster of two worker processes gives the single-process verdict.

The source is the project's Pinecone-compatible server (the real SDK, two namespaces, string ids), read in
chunks by whichever worker is free; the target is a Qdrant Edge shard, opened only by the worker that holds
it. ``ragmig migrate`` (a faithful copy) and ``ragmig certify`` (a corrupted copy: records missing, extra,
with another vector, with another payload) must say exactly what they say in one process: the same checks,
statuses, observed values, messages and details — the same ids — except latency, which is timing.
"""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from harness.migration.run import migrate_command
from harness.model import CollectionSchema, Distance, RecordBatch, Status
from harness.pinecone_local.testing import PineconeServer
from harness.records import qdrant_point_id
from harness.reporting.certify import certify_command
from harness.stores import open_store
from harness.stores import qdrant_edge as edge
from harness.stores.base import VectorStore
from harness.stores.qdrant_edge import copy_shard
from harness.verify import VerificationRun, run_verification

pytestmark = pytest.mark.slow

DIMENSION = 16
PER_NAMESPACE = 400
NAMESPACES = ("alpha", "beta")


@pytest.fixture(scope="module")
def pinecone_source(pinecone_server: PineconeServer) -> Iterator[VectorStore]:
    """Two namespaces of string ids (the same ids in both) with integral float metadata, as Pinecone keeps it."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PINECONE_CONTROLLER_HOST", pinecone_server.url)
        patch.delenv("PINECONE_API_KEY", raising=False)
        store = open_store(f"pinecone://partitioned-{uuid.uuid4().hex[:10]}")
        store.create(CollectionSchema(DIMENSION, Distance.COSINE))
        rng = np.random.default_rng(14)
        for ns in NAMESPACES:
            ids = [f"doc-{i:04d}" for i in range(PER_NAMESPACE)]
            payloads = [{"year": 1990.0 + i % 30, "ns": ns, "tags": ["x", ns]} for i in range(PER_NAMESPACE)]
            vectors = rng.normal(size=(PER_NAMESPACE, DIMENSION)).astype(np.float32)
            store.upsert(RecordBatch.build(ids, vectors, payloads, [ns] * PER_NAMESPACE))
        assert store.wait_until_visible(2 * PER_NAMESPACE)  # type: ignore[attr-defined]
        yield store
        store.drop()  # type: ignore[attr-defined]
        store.close()


def comparable(verdict: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Every check but latency (timing), as (id, status, observed, expected, message, details)."""
    return [
        (c["id"], c["status"], c["observed"], c["expected"], c["message"], json.dumps(c["details"], sort_keys=True))
        for c in verdict["checks"]
        if not c["id"].startswith("latency.")
    ]


@pytest.fixture(scope="module")
def migrated(pinecone_source: VectorStore, tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    """``ragmig migrate`` of the source into a new Edge shard: in process (1), and with 2 workers (2), where a
    worker reads the source while this process writes and the verification scans on the same cluster."""
    root = tmp_path_factory.mktemp("partitioned")
    shards = {}
    for workers in (1, 2):
        shard = root / f"shard-{workers}"
        out = io.StringIO()
        code = migrate_command(
            pinecone_source.uri,
            f"qdrant-edge://{shard}",
            root / f"journal-{workers}.sqlite",
            100,
            False,
            root / f"verdict-{workers}.json",
            out=out,
            verifier=partial(run_verification, queries=30),
            workers=workers,
        )
        assert code == 0, out.getvalue()
        shards[workers] = shard
    return shards


def test_migrate_on_two_workers_gives_the_single_process_verdict(migrated: dict[int, Path]) -> None:
    root = migrated[1].parent
    one, two = (json.loads((root / f"verdict-{w}.json").read_text()) for w in (1, 2))
    assert one["verdict"] == two["verdict"] == "pass"
    assert comparable(one) == comparable(two)
    assert {c["id"] for c in two["checks"]} >= {"parity.ids", "parity.mapping", "quality.recall_target", "latency.p99"}


@pytest.fixture(scope="module")
def corrupted(migrated: dict[int, Path]) -> tuple[Path, dict[str, Any]]:
    """A copy of the migrated shard with two records gone, one extra point, one vector and one payload changed."""
    shard = migrated[1].parent / "corrupted"
    copy_shard(migrated[1], shard)
    target = open_store(f"qdrant-edge://{shard}")
    try:
        gone = [qdrant_point_id("doc-0003", "beta"), qdrant_point_id("doc-0250", "alpha")]
        target.delete(gone)
        moved = target.fetch([qdrant_point_id("doc-0010", "alpha")])
        vectors = moved.vectors.copy()
        vectors[0, 0] += 0.5
        target.upsert(RecordBatch(moved.ids, vectors, moved.payloads))
        relabelled = target.fetch([qdrant_point_id("doc-0011", "beta")])
        target.upsert(RecordBatch(relabelled.ids, relabelled.vectors, ({**relabelled.payloads[0], "year": 1},)))
        stray = str(uuid.uuid5(uuid.NAMESPACE_URL, "not-in-the-source"))
        target.upsert(RecordBatch((stray,), np.ones((1, DIMENSION), dtype=np.float32), ({"note": "stray"},)))
    finally:
        target.close()
    # Reported in the source's scan order: namespaces sorted, then Pinecone's list order.
    return shard, {"missing": ["doc-0250", "doc-0003"], "missing_namespaces": ["alpha", "beta"], "extra": [stray]}


def test_certify_on_two_workers_names_the_same_ids_as_one_process(
    pinecone_source: VectorStore, corrupted: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    shard, expected = corrupted
    verdicts = {}
    for workers in (1, 2):
        path = tmp_path / f"certify-{workers}.json"
        code = certify_command(
            pinecone_source.uri, f"qdrant-edge://{shard}", 30, 10, None, None, path, None, workers=workers
        )
        assert code == 1
        verdicts[workers] = json.loads(path.read_text())
    assert comparable(verdicts[1]) == comparable(verdicts[2])
    checks = {c["id"]: c for c in verdicts[2]["checks"]}
    ids = checks["parity.ids"]["details"]
    assert (ids["missing_count"], ids["extra_count"]) == (2, 1)
    assert ids["missing"] == expected["missing"] and ids["extra"] == expected["extra"]
    assert ids["missing_namespaces"] == expected["missing_namespaces"]
    assert [m["source"] for m in checks["parity.vectors"]["details"]["mismatched"]] == ["doc-0010"]
    assert checks["parity.payloads"]["details"]["mismatched"] == ["doc-0011"]
    assert checks["parity.mapping"]["status"] == "fail"  # the stray point names no source record


def test_chunks_of_a_shared_source_give_the_single_process_result(
    pinecone_source: VectorStore, corrupted: tuple[Path, dict[str, Any]]
) -> None:
    """Many small chunks (pages of 100, chunks of 150 records) read by two workers: same checks, same queries."""
    shard, _ = corrupted
    results = {}
    for workers in (1, 2):
        target = open_store(f"qdrant-edge://{shard}")
        try:
            with VerificationRun(
                pinecone_source, target, queries=25, batch_size=100, measure_latency=False, workers=workers,
                chunk_records=150,
            ) as run:  # fmt: skip
                checks = run.checks()
                scan = run.scan()
                labels = scan.queries.labels
                if workers == 2:
                    assert scan.partitions is not None
                    assert len(scan.partitions.source_refs) == 4  # 800 records, chunks of two pages (200)
                    assert str(shard.resolve()) not in edge._OPEN_SHARDS  # held by a worker only
        finally:
            target.close()
        results[workers] = (
            [(c.id, c.status, c.observed, c.message, json.dumps(c.details, sort_keys=True)) for c in checks],
            labels,
        )
    assert results[1] == results[2]
    statuses = {row[0]: row[1] for row in results[2][0]}
    assert statuses["parity.ids"] is Status.FAIL and statuses["quality.recall_source"] is Status.PASS
