"""Adversarial certification, the record model's rows: targets a careless or broken migration leaves
behind, each certified by a real ``ragmig certify`` process against its source.

Each row says how its target is made, the verdict ``certify`` must reach and exactly which checks fail.
Qdrant Edge → Qdrant Edge rows start from a byte copy of the source shard; Pinecone → Qdrant Edge rows
start from the mapped copy of an index on the project's Pinecone-compatible server (the same id in two
namespaces, numbers stored as doubles), then break one thing. The non-finite vectors are written under
the adapters' own input check, as an engine that accepts them would hold them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from harness.datasets import synthetic_corpus
from harness.model import CollectionSchema, Distance, PointId, RecordBatch
from harness.pinecone_local.testing import PineconeServer
from harness.records import NAMESPACE_FIELD, ORIGINAL_ID_FIELD, map_pinecone_batch, qdrant_point_id
from harness.stores import iter_batches, open_store
from harness.stores.qdrant_edge import copy_shard

N, DIM, QUERIES = 300, 16, "20"
PER_NAMESPACE = 120
RAGMIG = Path(sys.executable).with_name("ragmig")
Edit = Callable[[np.ndarray, dict[str, Any]], tuple[np.ndarray, dict[str, Any]]]


# -- building stores --------------------------------------------------------------------------------------
def edge_uri(directory: Path) -> str:
    return f"qdrant-edge://{directory}"


def rewrite(directory: Path, ids: list[PointId], edit: Edit, monkeypatch: pytest.MonkeyPatch) -> None:
    """Rewrite records ``ids`` of the Edge shard in ``directory`` through ``edit`` (non-finite vectors
    allowed: the adapter's input check is lifted for this write only)."""
    store = open_store(edge_uri(directory))
    try:
        held = store.fetch(ids)
        rows = [edit(np.array(v, dtype=np.float32), dict(p)) for v, p in zip(held.vectors, held.payloads, strict=True)]
        batch = RecordBatch(held.ids, np.stack([v for v, _ in rows]), tuple(p for _, p in rows))
        with monkeypatch.context() as mp:
            mp.setattr("harness.stores.qdrant_edge.validate_batch", lambda batch, dimension: None)
            store.upsert(batch)
    finally:
        store.close()


def add_point(directory: Path, point: str, vector: np.ndarray, payload: dict[str, Any]) -> None:
    store = open_store(edge_uri(directory))
    try:
        store.upsert(RecordBatch.build([point], vector[None], [payload]))
    finally:
        store.close()


def set_field(name: str, value: Any) -> Edit:
    return lambda v, p: (v, {**p, name: value})


def vector_component(index: int, value: float) -> Edit:
    def edit(v: np.ndarray, p: dict[str, Any]) -> tuple[np.ndarray, dict[str, Any]]:
        v = v.copy()
        v[index] = value
        return v, p

    return edit


@pytest.fixture(scope="module")
def edge_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An Edge shard of ``N`` records whose payloads hold what a careless copy breaks: a bool, small and
    beyond-2**53 ints, a float, a nested list."""
    directory = tmp_path_factory.mktemp("adversarial") / "source"
    store = open_store(edge_uri(directory))
    store.create(CollectionSchema(DIM, Distance.COSINE))
    for batch in synthetic_corpus(N, DIM, seed=31, batch_size=N):
        payloads = tuple(
            {
                **p,
                "public": i % 2 == 0,
                "rank": 5,
                "big": 2**53 + i,
                "ratio": 1 / (i + 3),
                "pages": {"cited": [1, 2, i]},
            }
            for i, p in enumerate(batch.payloads)
        )
        store.upsert(RecordBatch(batch.ids, batch.vectors, payloads))
    store.close()
    return directory


@pytest.fixture(scope="module")
def pinecone_pair(
    pinecone_server: PineconeServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Path, dict[str, str]]]:
    """(source URI, mapped Edge copy, environment for ``ragmig``): an index with the same ids in two
    namespaces and integral numbers (Pinecone keeps them as doubles), and its faithful mapped copy."""
    env = {**os.environ, "PINECONE_CONTROLLER_HOST": pinecone_server.url}
    env.pop("PINECONE_API_KEY", None)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PINECONE_CONTROLLER_HOST", pinecone_server.url)
        mp.delenv("PINECONE_API_KEY", raising=False)
        index = f"adversarial-{uuid.uuid4().hex[:8]}"
        source = open_store(f"pinecone://{index}")
        source.create(CollectionSchema(DIM, Distance.COSINE))
        rng = np.random.default_rng(5)
        for namespace in ("", "tenant-b"):
            ids = [f"doc-{i}" for i in range(PER_NAMESPACE)]
            metadata = [
                {"year": 2000 + i % 25, "score": i / 7, "tags": ["a", namespace or "default"]}
                for i in range(PER_NAMESPACE)
            ]
            vectors = rng.standard_normal((PER_NAMESPACE, DIM)).astype(np.float32)
            source.upsert(RecordBatch.build(ids, vectors, metadata, [namespace] * PER_NAMESPACE))
        assert source.wait_until_visible(2 * PER_NAMESPACE)  # type: ignore[attr-defined]
        mapped = tmp_path_factory.mktemp("adversarial-pinecone") / "mapped"
        target = open_store(edge_uri(mapped))
        target.create(CollectionSchema(DIM, Distance.COSINE))
        for batch in iter_batches(source, 100):
            target.upsert(map_pinecone_batch(batch))
        target.close()
        try:
            yield source.uri, mapped, env
        finally:
            source.drop()
            source.close()


# -- the table --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Row:
    """One adversarial target: how it is made (from a copy of the faithful target), what ``certify`` says."""

    name: str
    pair: str  # "edge" (Qdrant Edge → Qdrant Edge) or "pinecone" (Pinecone → Qdrant Edge)
    make: Callable[[Path, Path, pytest.MonkeyPatch], None]  # (source dir or None, target dir, monkeypatch)
    verdict: str
    failing: frozenset[str]
    detail: Callable[[dict[str, dict[str, Any]]], bool] = field(default=lambda checks: True)


def _nothing(source: Path, target: Path, mp: pytest.MonkeyPatch) -> None:
    return None


def _mapped_point(pid: str, ns: str = "") -> str:
    return qdrant_point_id(pid, ns)


def _non_finite_names(checks: dict[str, dict[str, Any]], side: str, ids: list[Any]) -> bool:
    vectors = checks["parity.vectors"]
    return "non-finite values" in vectors["message"] and vectors["details"]["non_finite"][side] == ids


def _kinds(**counts: int) -> Callable[[dict[str, dict[str, Any]]], bool]:
    def detail(checks: dict[str, dict[str, Any]]) -> bool:
        found = checks["parity.mapping"]["details"]["counts"]
        return all(found[kind] == n for kind, n in counts.items()) and checks["parity.mapping"]["details"]["samples"]

    return detail


def _duplicate_id(source: Path, target: Path, mp: pytest.MonkeyPatch) -> None:
    store = open_store(edge_uri(target))
    held = store.fetch([_mapped_point("doc-5")])
    store.close()
    add_point(target, str(uuid.uuid4()), held.vectors[0], dict(held.payloads[0]))


def _floats_kept(source: Path, target: Path, mp: pytest.MonkeyPatch) -> None:
    rewrite(target, [_mapped_point("doc-9")], lambda v, p: (v, {**p, "year": float(p["year"])}), mp)


def _no_mapping_fields(source: Path, target: Path, mp: pytest.MonkeyPatch) -> None:
    strip = {ORIGINAL_ID_FIELD, NAMESPACE_FIELD}
    rewrite(target, [_mapped_point("doc-7")], lambda v, p: (v, {k: x for k, x in p.items() if k not in strip}), mp)


def _shorten(v: np.ndarray, p: dict[str, Any]) -> tuple[np.ndarray, dict[str, Any]]:
    return v, {**p, "pages": {"cited": p["pages"]["cited"][:-1]}}


def _reorder_and_ulp(v: np.ndarray, p: dict[str, Any]) -> tuple[np.ndarray, dict[str, Any]]:
    nudged = {**p, "ratio": float(np.nextafter(p["ratio"], 1.0))}  # one ulp: Qdrant's JSON parsing does this
    return v, dict(reversed(list(nudged.items())))


ROWS = [
    Row("identical Edge copy", "edge", _nothing, "pass", frozenset()),
    Row(
        "NaN in a source vector",
        "edge",
        lambda s, t, mp: rewrite(s, [11], vector_component(3, float("nan")), mp),
        "fail",
        frozenset({"parity.vectors"}),
        lambda c: _non_finite_names(c, "source", [11]),
    ),
    Row(
        "NaN in a target vector",
        "edge",
        lambda s, t, mp: rewrite(t, [12], vector_component(0, float("nan")), mp),
        "fail",
        frozenset({"parity.vectors"}),
        lambda c: _non_finite_names(c, "target", [12]) and c["parity.vectors"]["observed"] == 1,
    ),
    Row(
        "every target vector NaN",
        "edge",
        lambda s, t, mp: rewrite(t, list(range(N)), lambda v, p: (np.full_like(v, np.nan), p), mp),
        "fail",
        frozenset({"parity.vectors", "quality.recall_target", "quality.overlap"}),
        lambda c: (
            c["parity.vectors"]["observed"] == N and c["parity.vectors"]["details"]["non_finite"]["target_count"] == N
        ),
    ),
    Row(
        "+Inf in a target vector",
        "edge",
        lambda s, t, mp: rewrite(t, [13], vector_component(5, float("inf")), mp),
        "fail",
        frozenset({"parity.vectors"}),
        lambda c: _non_finite_names(c, "target", [13]),
    ),
    Row(
        "bool → int payload",
        "edge",
        lambda s, t, mp: rewrite(t, [20], set_field("public", 1), mp),
        "fail",
        frozenset({"parity.payloads"}),
        lambda c: c["parity.payloads"]["details"]["mismatched"] == [20],
    ),
    Row(
        "int 5 → float 5.0 (Qdrant → Qdrant)",
        "edge",
        lambda s, t, mp: rewrite(t, [21], set_field("rank", 5.0), mp),
        "fail",
        frozenset({"parity.payloads"}),
        lambda c: c["parity.payloads"]["details"]["sample"][0]["target"] == 5.0,
    ),
    Row(
        "large int off by one (beyond 2**53)",
        "edge",
        lambda s, t, mp: rewrite(t, [22], set_field("big", 2**53 + 23), mp),
        "fail",
        frozenset({"parity.payloads"}),
        lambda c: c["parity.payloads"]["details"]["mismatched"] == [22],
    ),
    Row(
        "nested list shortened",
        "edge",
        lambda s, t, mp: rewrite(t, [23], _shorten, mp),
        "fail",
        frozenset({"parity.payloads"}),
        lambda c: c["parity.payloads"]["details"]["sample"][0]["field"] == "pages",
    ),
    Row(
        "key order changed, a float one ulp off",
        "edge",
        lambda s, t, mp: rewrite(t, [24, 25], _reorder_and_ulp, mp),
        "pass",
        frozenset(),
    ),
    Row(
        "faithful mapped copy (integral doubles → ints)",
        "pinecone",
        _nothing,
        "pass",
        frozenset(),
        lambda c: (
            c["parity.mapping"]["status"] == "pass" and c["parity.mapping"]["details"]["points"] == 2 * PER_NAMESPACE
        ),
    ),
    Row(
        "target kept Pinecone's doubles (2020.0)",
        "pinecone",
        _floats_kept,
        "fail",
        frozenset({"parity.payloads"}),
        lambda c: c["parity.payloads"]["details"]["sample"][0]["source"] == 2009,
    ),
    Row(
        "a point with the wrong __id__",
        "pinecone",
        lambda s, t, mp: rewrite(t, [_mapped_point("doc-3")], set_field(ORIGINAL_ID_FIELD, "doc-4"), mp),
        "fail",
        frozenset({"parity.mapping"}),
        _kinds(wrong_point_id=1, duplicate=2, unknown=0, unnamed=0),
    ),
    Row(
        "a duplicated __id__ (a second point naming doc-5)",
        "pinecone",
        _duplicate_id,
        "fail",
        frozenset({"parity.count", "parity.ids", "parity.mapping"}),
        _kinds(wrong_point_id=1, duplicate=2),
    ),
    Row(
        "a point moved to another namespace",
        "pinecone",
        lambda s, t, mp: rewrite(t, [_mapped_point("doc-6")], set_field(NAMESPACE_FIELD, "tenant-b"), mp),
        "fail",
        frozenset({"parity.mapping"}),
        _kinds(wrong_point_id=1, duplicate=2),
    ),
    Row(
        "a point without mapping fields",
        "pinecone",
        _no_mapping_fields,
        "fail",
        frozenset({"parity.mapping"}),
        _kinds(unnamed=1, wrong_point_id=0),
    ),
]


@pytest.mark.parametrize("row", ROWS, ids=[row.name for row in ROWS])
def test_certify_reaches_the_rows_verdict(
    row: Row,
    edge_source: Path,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = dict(os.environ)
    if row.pair == "edge":
        source, target = tmp_path / "source", tmp_path / "target"
        copy_shard(edge_source, source)
        copy_shard(edge_source, target)
        row.make(source, target, monkeypatch)
        source_uri = edge_uri(source)
    else:
        source_uri, mapped, env = request.getfixturevalue("pinecone_pair")
        target = tmp_path / "target"
        copy_shard(mapped, target)
        row.make(tmp_path, target, monkeypatch)
    out = tmp_path / "verdict.json"
    done = subprocess.run(
        [str(RAGMIG), "certify", "--source", source_uri, "--target", edge_uri(target), "--queries", QUERIES,
         "--json", str(out)],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    verdict = json.loads(out.read_text())
    checks = {c["id"]: c for c in verdict["checks"]}
    failing = {cid for cid, c in checks.items() if c["status"] == "fail"}
    assert (verdict["verdict"], failing) == (row.verdict, row.failing), done.stdout + done.stderr
    assert done.returncode == {"pass": 0, "fail": 1}[row.verdict]
    assert not {cid for cid, c in checks.items() if c["status"] == "error"}
    assert row.detail(checks), json.dumps({k: checks[k] for k in sorted(row.failing) or ["parity.mapping"]})
