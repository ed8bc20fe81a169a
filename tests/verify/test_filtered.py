"""``quality.filtered`` and ``quality.namespaces`` on real stores: what a filtered, per-namespace RAG query
sees on each side, and the known semantic differences reported by name."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from harness.datasets import synthetic_corpus
from harness.model import CollectionSchema, Distance, RecordBatch, SearchResult, Status, Verdict
from harness.pinecone_local.testing import PineconeServer
from harness.records import map_pinecone_batch
from harness.records.filters import Filter
from harness.stores import iter_batches, open_store
from harness.stores.base import SearchParams, VectorStore
from harness.stores.pinecone import PineconeStore
from harness.verify import Thresholds, VerificationRun, run_verification
from harness.verify.queries import load_query_file
from tests.judges.hostile import Forwarding

N, DIM = 3000, 32


def edge(directory: Path, batches: list[RecordBatch], indexes: dict[str, str] | None = None) -> VectorStore:
    store = open_store(f"qdrant-edge://{directory}")
    store.create(CollectionSchema(DIM, Distance.COSINE, payload_indexes=indexes or {}))
    for batch in batches:
        store.upsert(batch)
    return store


def floats(batch: RecordBatch) -> RecordBatch:
    """The batch with every integer payload value stored as a float (5 → 5.0)."""
    payloads = tuple({k: float(v) if type(v) is int else v for k, v in p.items()} for p in batch.payloads)
    return RecordBatch(batch.ids, batch.vectors, payloads)


@pytest.fixture(scope="module")
def corpus() -> list[RecordBatch]:
    return list(synthetic_corpus(N, DIM, seed=31, batch_size=1000))


@pytest.fixture
def source(tmp_path: Path, corpus: list[RecordBatch]) -> Iterator[VectorStore]:
    store = edge(tmp_path / "source", corpus)
    yield store
    store.close()


def test_integers_turned_floats_fail_quality_filtered_by_name(
    source: VectorStore, corpus: list[RecordBatch], tmp_path: Path
) -> None:
    target = edge(tmp_path / "floats", [floats(b) for b in corpus])
    try:
        verdict = run_verification(source, target, queries=40, measure_latency=False)
    finally:
        target.close()
    check = verdict.check("quality.filtered")
    assert check.status is Status.FAIL
    assert "known differences: int_as_float" in check.message
    rows = {r["filter"]: r for r in check.details["filters"]}
    chunk = next(r for f, r in rows.items() if f.startswith('{"chunk": {"$eq"'))
    assert chunk["known_difference"] == "int_as_float" and chunk["status"] == "fail"
    assert chunk["source_count"] > 0 and chunk["target_count"] == 0
    assert "the target holds 'chunk' as floats" in chunk["note"] and "integer payload index" in chunk["note"]
    # Ranges never cared whether 5 is stored as 5.0: they agree.
    ranges = [r for r in rows.values() if r["label"].startswith("generated: range")]
    assert ranges and all(r["status"] == "pass" for r in ranges)
    assert "int_as_float" in check.details["known_differences"]


def test_an_integer_payload_index_makes_the_floats_match_again(
    source: VectorStore, corpus: list[RecordBatch], tmp_path: Path
) -> None:
    indexes = {"chunk": "integer", "created_at": "integer"}
    target = edge(tmp_path / "indexed-floats", [floats(b) for b in corpus], indexes)
    try:
        verdict = run_verification(source, target, queries=40, measure_latency=False)
    finally:
        target.close()
    check = verdict.check("quality.filtered")
    assert check.status is Status.PASS, check.message
    assert verdict.check("parity.payloads").status is Status.FAIL  # the data did change type


def test_a_payload_index_the_thresholds_ask_for_warns_when_missing(
    source: VectorStore, corpus: list[RecordBatch], tmp_path: Path
) -> None:
    asked = Thresholds(payload_indexes={"source": "keyword"})
    bare = edge(tmp_path / "bare", corpus)
    try:
        verdict = run_verification(source, bare, queries=30, measure_latency=False, thresholds=asked)
    finally:
        bare.close()
    check = verdict.check("quality.filtered")
    assert check.status is Status.WARN
    assert "filters on 'source' ran without the payload index the thresholds ask for" in check.message
    schema = verdict.check("schema.payload_indexes")
    assert schema.status is Status.WARN
    assert "missing on target: source (payload_indexes asks for it)" in schema.message
    assert verdict.passed  # a warning, not a failure

    indexed = edge(tmp_path / "indexed", corpus, {"source": "keyword"})
    try:
        verdict = run_verification(source, indexed, queries=30, measure_latency=False, thresholds=asked)
    finally:
        indexed.close()
    assert verdict.check("quality.filtered").status is Status.PASS
    assert verdict.check("schema.payload_indexes").status is Status.PASS


def test_without_payload_fields_or_filters_quality_filtered_skips(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    batch = RecordBatch.build(range(200), rng.standard_normal((200, DIM)))
    a, b = edge(tmp_path / "a", [batch]), edge(tmp_path / "b", [batch])
    try:
        verdict = run_verification(a, b, queries=20, measure_latency=False)
    finally:
        a.close()
        b.close()
    assert verdict.check("quality.filtered").status is Status.SKIP
    assert verdict.check("quality.namespaces").status is Status.SKIP
    assert verdict.passed and not [c for c in verdict.checks if c.status is Status.ERROR]


# -- Pinecone → Qdrant: namespaces and Pinecone's own semantics ------------------------------------------
PER_NAMESPACE = 200
NAMESPACES = ("", "tenant-b")
PDIM = 16


def pinecone_records(namespace: str, rng: np.random.Generator) -> RecordBatch:
    ids = [f"doc-{i}" for i in range(PER_NAMESPACE)]
    payloads = [
        {"year": 2000 + i % 25, "source": ("wiki", "web", "news")[i % 3], "tags": [] if i % 5 == 0 else ["a", "b"]}
        for i in range(PER_NAMESPACE)
    ]
    vectors = rng.standard_normal((PER_NAMESPACE, PDIM)).astype(np.float32)
    return RecordBatch.build(ids, vectors, payloads, namespaces=[namespace] * PER_NAMESPACE)


@pytest.fixture
def pinecone_source(pinecone_server: PineconeServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[PineconeStore]:
    monkeypatch.setenv("PINECONE_CONTROLLER_HOST", pinecone_server.url)
    monkeypatch.delenv("PINECONE_API_KEY", raising=False)
    store = open_store(f"pinecone://filtered-{uuid.uuid4().hex[:10]}")
    assert isinstance(store, PineconeStore)
    store.create(CollectionSchema(PDIM, Distance.COSINE))
    rng = np.random.default_rng(4)
    for namespace in NAMESPACES:
        store.upsert(pinecone_records(namespace, rng))
    assert store.wait_until_visible(len(NAMESPACES) * PER_NAMESPACE)
    yield store
    store.drop()
    store.close()


def migrated(source: PineconeStore, directory: Path, spoil: str | None = None) -> VectorStore:
    """The source copied to Edge through the mapping (with the __namespace__ index a migration creates);
    ``spoil``: a namespace whose vectors are replaced by noise."""
    target = open_store(f"qdrant-edge://{directory}")
    target.create(CollectionSchema(PDIM, Distance.COSINE, payload_indexes={"__namespace__": "keyword"}))
    rng = np.random.default_rng(8)
    for batch in iter_batches(source, 100):
        mapped = map_pinecone_batch(batch)
        if spoil is not None and batch.namespaces is not None:
            rows = [i for i, ns in enumerate(batch.namespaces) if ns == spoil]
            vectors = mapped.vectors.copy()
            vectors[rows] = rng.standard_normal((len(rows), PDIM))
            mapped = RecordBatch(mapped.ids, vectors, mapped.payloads)
        target.upsert(mapped)
    return target


def test_namespaces_are_judged_apart_and_the_spoiled_one_is_named(
    pinecone_source: PineconeStore, tmp_path: Path
) -> None:
    target = migrated(pinecone_source, tmp_path / "spoiled", spoil="tenant-b")
    try:
        with VerificationRun(pinecone_source, target, queries=80, measure_latency=False, seed=2) as run:
            checks = {c.id: c for c in run.quality_checks()}
    finally:
        target.close()
    namespaces = checks["quality.namespaces"]
    assert namespaces.status is Status.FAIL
    assert namespaces.message.startswith("worst namespace 'tenant-b'")
    rows = {r["namespace"]: r for r in namespaces.details["namespaces"]}
    assert set(rows) == set(NAMESPACES)
    assert rows[""]["status"] == "pass" and rows[""]["recall_target"] == 1.0
    assert rows["tenant-b"]["status"] == "fail" and rows["tenant-b"]["recall_target"] < 0.5


def test_a_faithful_copy_passes_per_namespace_and_names_exists_on_empty_lists(
    pinecone_source: PineconeStore, tmp_path: Path
) -> None:
    target = migrated(pinecone_source, tmp_path / "faithful")
    try:
        verdict = run_verification(pinecone_source, target, queries=60, measure_latency=False, seed=2)
    finally:
        target.close()
    assert verdict.passed, [(c.id, c.message) for c in verdict.checks if c.status is Status.FAIL]
    assert verdict.check("quality.namespaces").status is Status.PASS
    check = verdict.check("quality.filtered")
    assert check.status is Status.WARN
    exists = next(r for r in check.details["filters"] if r["filter"] == '{"tags": {"$exists": true}}')
    assert exists["known_difference"] == "exists_empty_list" and exists["status"] == "warn"
    assert exists["source_count"] == 2 * PER_NAMESPACE and exists["target_count"] == 2 * PER_NAMESPACE * 4 // 5
    assert "Pinecone counts the field as present" in check.details["known_differences"]["exists_empty_list"]
    others = [r for r in check.details["filters"] if r["known_difference"] is None]
    assert others and all(r["status"] == "pass" and r["source_count"] == r["target_count"] for r in others)
    assert verdict.check("schema.payload_indexes").status is Status.PASS


def test_query_file_filters_run_in_their_namespace_on_both_sides(
    pinecone_source: PineconeStore, tmp_path: Path
) -> None:
    rng = np.random.default_rng(3)
    lines = [
        {"id": f"b{i}", "vector": rng.standard_normal(PDIM).tolist(), "namespace": "tenant-b", "filter": {"year": {"$gte": 2020}}}
        for i in range(6)
    ] + [
        {"id": f"d{i}", "vector": rng.standard_normal(PDIM).tolist(), "namespace": "", "filter": {"source": "wiki", "year": 2003}}
        for i in range(4)
    ]  # fmt: skip
    path = tmp_path / "asked.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    target = migrated(pinecone_source, tmp_path / "target")
    try:
        with VerificationRun(
            pinecone_source, target, query_vectors=load_query_file(path), measure_latency=False
        ) as run:
            checks = {c.id: c for c in run.quality_checks()}
    finally:
        target.close()
    check = checks["quality.filtered"]
    assert check.status is Status.PASS, check.message
    rows = {r["namespace"]: r for r in check.details["filters"]}
    assert rows["tenant-b"]["origin"] == "query file" and rows["tenant-b"]["queries"] == 6
    # Only tenant-b's records count (years 2020..2024 of each 25): the namespace is a real scope.
    assert rows["tenant-b"]["source_count"] == rows["tenant-b"]["target_count"] == 5 * PER_NAMESPACE // 25
    wiki_2003 = sum(1 for i in range(PER_NAMESPACE) if i % 3 == 0 and i % 25 == 3)
    assert rows[""]["source_count"] == rows[""]["target_count"] == wiki_2003 > 0
    assert checks["quality.recall_target"].details["query_origin"] == "query file asked.jsonl"
    assert checks["quality.namespaces"].status is Status.SKIP  # fewer than 10 queries in each namespace


def test_a_store_failing_during_the_filters_is_error_never_pass(
    source: VectorStore, corpus: list[RecordBatch], tmp_path: Path
) -> None:
    from harness.clock import ManualClock
    from harness.faults.store import FaultPlan, FaultyStore

    target = edge(tmp_path / "target", corpus)
    faulty = FaultyStore(target, clock=ManualClock())
    try:
        with VerificationRun(source, faulty, queries=20, measure_latency=False) as run:
            run.parity_checks()  # the suite's order: parity, then quality
            _ = run.searches  # ground truth and the unfiltered searches, before the fault
            faulty.set_faults(FaultPlan(read_error_rate=1.0, search_error_rate=1.0))
            checks = {c.id: c for c in run.quality_checks()}
    finally:
        target.close()
    check = checks["quality.filtered"]
    assert check.status is Status.ERROR
    assert "did not complete: TransientStoreError" in check.message
    # The unfiltered quality checks ran before the fault and still stand.
    assert checks["quality.recall_target"].status is Status.PASS


class ApproximateFiltered(Forwarding):
    """A store whose filtered search, unless asked for exact answers, returns the matches at ``ranks`` of
    the exact order — what an HNSW walk over an unindexed filter returns on one graph, made repeatable."""

    def __init__(self, inner: VectorStore, ranks: Sequence[int]) -> None:
        super().__init__(inner)
        self.ranks = list(ranks)

    def search_filtered(
        self,
        queries: np.ndarray,
        k: int,
        where: Filter | None,
        *,
        namespace: str | None = None,
        params: SearchParams | None = None,
    ) -> SearchResult:
        if params and params.get("exact"):
            return self.inner.search_filtered(queries, k, where, namespace=namespace, params=params)
        deep = k + max(self.ranks) + 1
        found = self.inner.search_filtered(queries, deep, where, namespace=namespace, params={"exact": True})

        def pick(row: Sequence[Any]) -> tuple[Any, ...]:
            return (
                tuple(row[r] for r in self.ranks if r < len(row))
                + tuple(row[max(self.ranks) + 1 :])[: k - len(self.ranks)]
            )

        return SearchResult(ids=tuple(map(pick, found.ids)), scores=tuple(map(pick, found.scores)))


# Two graphs' walks: each misses half of the nearest ten, not the same half (overlap 0.5, equal recall).
ONE_GRAPH, ANOTHER_GRAPH = range(5, 15), [*range(5), *range(10, 15)]


def _filtered_rows(verdict: Any) -> list[dict[str, Any]]:
    return list(verdict.check("quality.filtered").details["filters"])


def _two_graphs(source: VectorStore, target: VectorStore) -> Verdict:
    """Verify ``target`` against ``source``, each store's filtered search one walk of its own graph; closes the target."""
    try:
        return run_verification(
            ApproximateFiltered(source, ONE_GRAPH),
            ApproximateFiltered(target, ANOTHER_GRAPH),
            queries=40,
            measure_latency=False,
        )
    finally:
        target.close()


def test_an_approximate_source_on_unindexed_fields_warns_by_name_when_the_exact_answers_agree(
    source: VectorStore, corpus: list[RecordBatch], tmp_path: Path
) -> None:
    target = edge(tmp_path / "copy", corpus)  # not optimised: brute force, the exact answers
    verdict = _two_graphs(source, target)
    check = verdict.check("quality.filtered")
    assert check.status is Status.WARN, check.message
    rows = _filtered_rows(verdict)
    assert rows and all(r["status"] == "warn" and r["overlap"] < 0.9 for r in rows)
    # A filter with few matches leaves the second walk more of the nearest: that one reads as an upgrade.
    named = [r for r in rows if "clearly better" not in r["note"]]
    assert len(named) >= len(rows) - 2 and all(r["known_difference"] == "unindexed_filter" for r in named)
    assert all(abs(r["recall_target"] - r["recall_source"]) < 0.1 for r in named)
    assert "both stores' exact filtered answers agree (overlap 1.000)" in named[0]["note"]
    assert "unindexed_filter" in check.details["known_differences"]
    assert verdict.passed


def test_an_approximate_source_does_not_excuse_a_target_whose_exact_answers_differ(
    source: VectorStore, corpus: list[RecordBatch], tmp_path: Path
) -> None:
    # Every vector moved to another record: the filters still match as many records, but not the same nearest ones.
    shuffled = [RecordBatch(b.ids, np.roll(b.vectors, 1, axis=0), b.payloads) for b in corpus]
    target = edge(tmp_path / "moved", shuffled)
    verdict = _two_graphs(source, target)
    assert verdict.check("quality.filtered").status is Status.FAIL
    rows = _filtered_rows(verdict)
    assert all(r["source_count"] == r["target_count"] for r in rows)
    assert any(r["status"] == "fail" and "exact filtered answers differ too" in r["note"] for r in rows)
    assert not any(r["known_difference"] == "unindexed_filter" for r in rows if r["status"] == "fail")


def test_a_source_with_payload_indexes_is_the_reference_its_filtered_answers_are_judged_against(
    corpus: list[RecordBatch], tmp_path: Path
) -> None:
    indexes = {"chunk": "integer", "created_at": "integer", "source": "keyword", "tags": "keyword", "doc_id": "keyword"}
    indexed = edge(tmp_path / "indexed-source", corpus, indexes)
    target = edge(tmp_path / "indexed-copy", corpus, indexes)
    verdict = _two_graphs(indexed, target)
    indexed.close()
    assert verdict.check("quality.filtered").status is Status.FAIL
    rows = _filtered_rows(verdict)
    assert rows and not any(r["known_difference"] == "unindexed_filter" for r in rows)
