"""Verification on a local Dask cluster of two worker processes gives the single-process verdict.

The source is the project's Pinecone-compatible server (the real SDK, two namespaces, string ids), read in
chunks by whichever worker is free; the target is a Qdrant Edge shard, opened only by the worker that holds
it. ``ragmig migrate`` (a faithful copy) and ``ragmig certify`` (a corrupted copy: records missing, extra,
with another vector, with another payload) must say exactly what they say in one process: the same checks,
statuses, observed values, messages and details — the same ids — except latency, which is timing.

Parity keys of string ids are Python's keyed hash, so a process that verifies on workers must hash as they
do (``Engine.check_same_hashing``): ``ragmig migrate`` and ``certify`` see to it themselves; a verification
started in this test process (whose seed is random) runs in a child with the workers' ``PYTHONHASHSEED``,
and in this process it is refused.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from harness.errors import StoreError, UsageError
from harness.model import CollectionSchema, Distance, RecordBatch
from harness.parallel import Engine
from harness.parallel.engine import hash_seed_env
from harness.parallel.held import WorkerStore
from harness.pinecone_local.testing import PineconeServer
from harness.records import qdrant_point_id
from harness.reporting.certify import certify_command
from harness.stores import open_store
from harness.stores.base import VectorStore
from harness.stores.qdrant_edge import copy_shard
from harness.verify import VerificationRun

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
    worker reads the source while ragmig writes and the verification scans on the same cluster. Run as a
    user runs it (without a PYTHONHASHSEED: ragmig sets the workers' one itself)."""
    root = tmp_path_factory.mktemp("partitioned")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONHASHSEED"}
    shards = {}
    for workers in (1, 2):
        shard = root / f"shard-{workers}"
        proc = subprocess.run(
            [
                sys.executable, "-m", "harness.cli", "migrate", "--source", pinecone_source.uri,
                "--target", f"qdrant-edge://{shard}", "--journal", str(root / f"journal-{workers}.sqlite"),
                "--batch-size", "100", "--json", str(root / f"verdict-{workers}.json"), "--workers", str(workers),
            ],
            capture_output=True, text=True, env=env, check=False, timeout=600,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stdout + proc.stderr
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


# Run in a child with the workers' PYTHONHASHSEED: three verifications (the full scan in chunks, sampled
# parity, a query file with namespaces and filters) on one engine, their checks, queries and progress as JSON.
_CHILD = """
import contextlib, json, sys
import numpy as np
from harness.parallel import Engine
from harness.stores import open_store
from harness.stores import qdrant_edge as edge
from harness.verify import VerificationRun
from harness.verify.queries import load_query_file

source_uri, shard, workers, query_file = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]

class Recording:
    def __init__(self):
        self.phases = []

    @contextlib.contextmanager
    def phase(self, name, total=None, unit=""):
        done = [0]
        yield lambda n: done.__setitem__(0, done[0] + n)
        self.phases.append([name, total, done[0]])

def _parts_with_digests():
    from harness.verify import partitioned
    return sum(1 for st in partitioned._PARTS.values() if st.which is not None or len(st.table.vector_digests))

def verify(engine, **options):
    source, target = open_store(source_uri), open_store("qdrant-edge://" + shard)
    progress = Recording()
    with VerificationRun(
        source, target, k=5, batch_size=100, measure_latency=False, chunk_records=150, progress=progress,
        engine=engine, **options,
    ) as run:
        checks = [[c.id, str(c.status), c.observed, c.message, json.dumps(c.details, sort_keys=True)] for c in run.checks()]
        scan = run.scan()
        out = {
            "checks": checks,
            "labels": [str(label) for label in scan.queries.labels],
            "namespaces": list(scan.queries.namespaces or ()),
            "fields": scan.source_fields.describe(),
            "target_fields": scan.target_fields.describe(),
            "phases": progress.phases,
        }
        if scan.partitions is not None:
            out["source_partitions"] = len(scan.partitions.source_refs)
            out["shard_open_here"] = any(shard in str(p) for p in edge._OPEN_SHARDS)
            out["parts_with_digests"] = sum(engine.client.run(_parts_with_digests).values())
            if scan.diff is not None:
                out["suspects"] = int(np.count_nonzero(scan.diff.vector_suspects | scan.diff.payload_suspects))
    source.close()
    target.close()
    return out

def main():
    engine = Engine.local(workers) if workers > 1 else None
    try:
        print(json.dumps({
            "full": verify(engine, queries=25),
            "sampled": verify(engine, queries=10, sample=60),
            "query_file": verify(engine, queries=0, query_vectors=load_query_file(query_file)),
        }))
    finally:
        if engine is not None:
            engine.close()

if __name__ == "__main__":
    main()
"""


def _verify_in_child(source_uri: str, shard: Path, workers: int, tmp_path: Path) -> dict[str, Any]:
    script, queries = tmp_path / "verify_child.py", tmp_path / "queries.jsonl"
    script.write_text(_CHILD)
    rng = np.random.default_rng(7)
    lines = [
        {"vector": rng.normal(size=DIMENSION).tolist(), "id": f"q{i}", "namespace": NAMESPACES[i % 2]}
        | ({"filter": {"year": {"$gte": 2005}}} if i % 3 == 0 else {})
        for i in range(12)
    ]
    queries.write_text("".join(json.dumps(line) + "\n" for line in lines))
    proc = subprocess.run(
        [sys.executable, str(script), source_uri, str(shard.resolve()), str(workers), str(queries)],
        capture_output=True, text=True, env={**os.environ, **hash_seed_env()}, check=False, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def test_chunks_of_a_shared_source_give_the_single_process_result(
    pinecone_source: VectorStore, corrupted: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    """Many small chunks (pages of 100, chunks of 150 records) read by two workers: the same checks, the same
    queries in the same namespaces, the same payload field statistics, for a full scan, sampled parity and a
    query file with namespaces and filters; progress covers every record."""
    shard, _ = corrupted
    one, two = (_verify_in_child(pinecone_source.uri, shard, w, tmp_path) for w in (1, 2))
    for mode in ("full", "sampled", "query_file"):
        assert two[mode]["shard_open_here"] is False, mode  # the Edge shard is held by a worker only
        for what in ("checks", "labels", "namespaces", "fields", "target_fields"):
            assert one[mode][what] == two[mode][what], (mode, what)
    full = two["full"]
    assert full["source_partitions"] == 4  # 800 records, chunks of two pages (200)
    # Digests made on different workers agree: only the changed vector and the changed payload are suspects.
    assert full["suspects"] == 2
    # Once every bucket is compared, no partition keeps its digests (only what lookups need).
    assert full["parts_with_digests"] == 0 and two["sampled"]["parts_with_digests"] == 0
    assert set(full["namespaces"]) == set(NAMESPACES)  # sampled queries are asked in their namespace
    assert {"year", "ns", "tags"} <= set(full["fields"])
    statuses = {row[0]: row[1] for row in full["checks"]}
    assert statuses["parity.ids"] == "fail" and statuses["quality.recall_source"] == "pass"
    assert statuses["quality.namespaces"] == "pass"
    assert statuses["quality.filtered"] not in ("skip", "error")  # filters from the payload fields ran
    scans = [p for p in full["phases"] if p[0].startswith("scanning")]
    assert scans == [["scanning the source and the target on 2 workers", 1599, 1599]]  # 800 + 799 records
    assert [p for p in full["phases"] if p[0] == "exact ground truth"] == [["exact ground truth", 800, 800]]
    sampled = {row[0]: row for row in two["sampled"]["checks"]}
    assert sampled["parity.count"][1] == "fail" and "sample" in sampled["parity.ids"][4]
    assert [p[0] for p in two["sampled"]["phases"] if p[0].startswith("scanning")] == [
        "scanning the source on 2 workers"  # sampled parity never scans the target
    ]
    from_file = {row[0]: row for row in two["query_file"]["checks"]}
    assert two["query_file"]["labels"][:2] == ["q0", "q1"] and two["query_file"]["namespaces"][:2] == list(NAMESPACES)
    assert (
        from_file["quality.filtered"][1] not in ("skip", "error") and "query file" in from_file["quality.filtered"][3]
    )


def test_a_process_that_hashes_otherwise_than_its_workers_is_refused(
    pinecone_source: VectorStore, corrupted: tuple[Path, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Workers started with another PYTHONHASHSEED would key string ids otherwise: refused before any scan."""
    shard, _ = corrupted
    probe = "import sys; print(hash('ragmig'))"
    here = hash("ragmig")
    seed = next(
        s for s in ("1", "2")
        if int(subprocess.run([sys.executable, "-c", probe], env={**os.environ, "PYTHONHASHSEED": s},
                              capture_output=True, text=True, check=True).stdout) != here
    )  # fmt: skip
    monkeypatch.setenv("PYTHONHASHSEED", seed)
    target = open_store(f"qdrant-edge://{shard}")
    try:
        with Engine.local(1) as engine, pytest.raises(UsageError, match="PYTHONHASHSEED"):
            VerificationRun(pinecone_source, target, queries=5, engine=engine)
    finally:
        target.close()


def test_a_local_cluster_keeps_its_workers_through_a_long_gil_hold_and_runs_them_without_the_profiler() -> None:
    """The scheduler of a local cluster runs in this process, which a Qdrant Edge ``optimize()`` holds for
    minutes: it must not restart the workers (and close the stores they hold) for heartbeats it could not
    hear (``worker-ttl`` off). Dask's statistical profiler is off in the workers. This process's own Dask
    config is unchanged."""
    import dask

    with Engine.local(1) as engine:
        assert engine.cluster.scheduler.worker_ttl is None
        assert "worker-ttl" not in engine.cluster.scheduler.periodic_callbacks
        in_workers = engine.client.run(lambda: dask.config.get("distributed.worker.profile.enabled"))
    assert list(in_workers.values()) == [False]
    assert dask.config.get("distributed.worker.profile.enabled") is True
    assert dask.config.get("distributed.scheduler.worker-ttl") == "5 minutes"


def test_two_local_clusters_at_once_do_not_contend_for_a_port() -> None:
    """Two runs on one machine at once (two CI jobs, a migrate beside a certify): neither cluster's scheduler
    takes Dask's fixed port 8787, so neither warns (``filterwarnings = error`` makes a warning fail here)."""
    with Engine.local(1) as first, Engine.local(1) as second:
        assert first.workers() and second.workers()
        assert first.cluster.scheduler.http_server.port != 8787 != second.cluster.scheduler.http_server.port


def test_a_verification_on_a_cluster_without_workers_is_a_store_error_not_a_crash(tmp_path: Path) -> None:
    """A cluster whose workers are gone (retired here; restarted or dead in life) makes the verification fail
    with one clear line, and a store a gone worker held is named — never an arithmetic error."""
    source = open_store(f"qdrant-edge://{tmp_path / 'source'}")
    source.create(CollectionSchema(8, Distance.COSINE))
    source.close()
    target = open_store(f"qdrant-edge://{tmp_path / 'target'}")
    target.create(CollectionSchema(8, Distance.COSINE))
    with Engine.local(1) as engine:
        held = WorkerStore(engine, source.uri, engine.workers()[0])
        engine.client.retire_workers(close_workers=True)  # returns once the scheduler has let them go
        assert engine.workers() == []
        with pytest.raises(StoreError, match="no worker is left to verify on"):
            VerificationRun(held, target, engine=engine)
    with (
        Engine.local(1) as engine,
        pytest.raises(StoreError, match=r"the Dask worker .* that held the source .* is gone"),
    ):
        VerificationRun(held, target, engine=engine)
    target.close()


def test_a_worker_that_dies_under_held_work_fails_the_wait_with_one_clear_line_not_a_hang(tmp_path: Path) -> None:
    """A worker that holds a store (or partitions) is killed, and its nanny starts a new one under another
    address: Dask would keep a task pinned to the old address waiting forever ("no-worker"). The wait ends
    with a ``StoreError`` naming the gone worker; a task's own ``TimeoutError`` is still the task's error."""
    import signal

    store = open_store(f"qdrant-edge://{tmp_path / 'held'}")
    store.create(CollectionSchema(8, Distance.COSINE))
    store.close()
    with Engine.local(2) as engine:
        holder, other = engine.workers()
        held = WorkerStore(engine, store.uri, holder)
        assert held.count() == 0
        with pytest.raises(TimeoutError, match="the task's own"):
            engine.run(lambda: (_ for _ in ()).throw(TimeoutError("the task's own")), worker=other)
        pids = engine.client.run(os.getpid)
        os.kill(pids[holder], signal.SIGKILL)
        with pytest.raises(StoreError, match=rf"the Dask worker {holder} is gone \(a local Dask cluster of \d"):
            held.count()
        assert engine.run(os.getpid, worker=other) == pids[other]  # the worker that held nothing still works
