"""``quality.filtered`` asks each store to count a filter's matches unless the counts cannot differ
(``filtered.counts_implied``): the same in-process engine on both sides, the same payload indexes, and a
full parity scan that found the same records with equal payloads. Each condition, just held and just not."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from harness.datasets import synthetic_corpus
from harness.model import CollectionSchema, Distance, RecordBatch, Status
from harness.records import RecordMapping
from harness.stores import iter_batches, open_store
from harness.stores.base import VectorStore
from harness.verify import Thresholds, VerificationRun
from harness.verify.filtered import FilterContext, counts_implied

N, DIM = 1200, 16


def _ctx(**changes: Any) -> FilterContext:
    base = FilterContext(
        source=None,  # type: ignore[arg-type]  # counts_implied reads none of the stores, queries or stats
        target=None,  # type: ignore[arg-type]
        mapping=RecordMapping(),
        queries=None,  # type: ignore[arg-type]
        own_keys=None,
        k=10,
        thresholds=Thresholds(),
        noise=1.0,
        source_backend="qdrant-edge",
        target_backend="qdrant-edge",
        source_stats=None,  # type: ignore[arg-type]
        target_stats=None,  # type: ignore[arg-type]
        target_indexes={"chunk": "integer"},
        source_indexes={"chunk": "integer"},
        records_differing=0,
        records_one_side=0,
        parity_complete=True,
    )
    return dataclasses.replace(base, **changes)


def test_the_same_in_process_engine_with_equal_records_and_indexes_implies_the_counts() -> None:
    assert "match counts not asked" in counts_implied(_ctx())
    assert counts_implied(_ctx(source_backend="exact", target_backend="exact"))
    assert counts_implied(_ctx(source_backend="qdrant-local", target_backend="qdrant-local"))


@pytest.mark.parametrize(
    "changes",
    [
        {"target_backend": "qdrant-local"},  # another engine evaluates the target's filters
        {"source_backend": "qdrant", "target_backend": "qdrant"},  # two servers, of versions unknown here
        {"source_backend": "pinecone", "target_backend": "pinecone"},
        {"mapping": RecordMapping(pinecone_to_qdrant=True)},
        {"target_indexes": {"chunk": "keyword"}},  # an index changes what a match means
        {"target_indexes": {}},
        {"source_indexes": {"chunk": "integer", "source": "keyword"}},
        {"parity_complete": False},  # sampled, or parity did not pass
        {"records_differing": 1},
    ],
)
def test_any_difference_asks_the_counts(changes: dict[str, Any]) -> None:
    assert counts_implied(_ctx(**changes)) == ""


# -- on real stores -------------------------------------------------------------------------------------
def _pair(tmp_path: Path, *, target_indexes: dict[str, str] | None = None) -> tuple[str, str]:
    source_uri, target_uri = f"qdrant-edge://{tmp_path / 'source'}", f"qdrant-edge://{tmp_path / 'target'}"
    source, target = open_store(source_uri), open_store(target_uri)
    source.create(CollectionSchema(DIM, Distance.COSINE))
    target.create(CollectionSchema(DIM, Distance.COSINE, payload_indexes=target_indexes or {}))
    for batch in synthetic_corpus(N, DIM, seed=3, batch_size=400):
        source.upsert(batch)
        target.upsert(batch)
    source.close()
    target.close()
    return source_uri, target_uri


def _filtered(source_uri: str, target_uri: str, **options: Any) -> Any:
    source, target = open_store(source_uri), open_store(target_uri)
    try:
        with VerificationRun(source, target, queries=30, **options) as run:
            return run.verdict().check("quality.filtered")
    finally:
        source.close()
        target.close()


def test_an_identical_edge_copy_is_not_counted(tmp_path: Path) -> None:
    check = _filtered(*_pair(tmp_path))
    assert check.status is Status.PASS
    assert check.details["counts_implied"] is True and "match counts not asked" in check.message
    assert check.details["filters"] and all(r["source_count"] is None for r in check.details["filters"])


def test_a_target_with_another_payload_index_is_counted(tmp_path: Path) -> None:
    check = _filtered(*_pair(tmp_path, target_indexes={"chunk": "integer"}))
    assert check.details["counts_implied"] is False
    rows = check.details["filters"]
    assert rows and all(r["source_count"] is not None and r["source_count"] == r["target_count"] for r in rows)


def test_a_target_with_one_changed_payload_is_counted(tmp_path: Path) -> None:
    source_uri, target_uri = _pair(tmp_path)
    target: VectorStore = open_store(target_uri)
    first = next(iter_batches(target, 1))
    changed = dict(first.payloads[0]) | {"source": "changed-by-test"}
    target.upsert(RecordBatch(ids=first.ids, vectors=first.vectors, payloads=(changed,)))
    target.close()
    check = _filtered(source_uri, target_uri)
    assert check.details["counts_implied"] is False
    assert all(r["source_count"] is not None for r in check.details["filters"])


def test_sampled_parity_does_not_imply_the_counts(tmp_path: Path) -> None:
    check = _filtered(*_pair(tmp_path), sample=200)
    assert check.details["counts_implied"] is False
    assert all(r["target_count"] is not None for r in check.details["filters"])
