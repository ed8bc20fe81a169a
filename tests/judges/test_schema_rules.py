"""Every schema rule, pinned: for each kind of drift, the six checks exactly as a verdict shows them
(status, observed, expected, message, details) and whether the quality checks become mandatory.

The expected checks live in ``snapshots/schema_checks.json``. The messages are what a team reads when a
certification warns or fails, so a change to one is a change to the verdict: review the diff, then
rewrite the file with ``RAGMIG_UPDATE_SNAPSHOTS=1 pytest tests/judges/test_schema_rules.py``.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import pytest

from harness.model import CollectionSchema, Distance, HnswConfig, Status
from harness.verify import SCHEMA_CHECK_IDS, check_schema, recall_affecting

SNAPSHOT = Path(__file__).with_name("snapshots") / "schema_checks.json"
QDRANT = CollectionSchema(
    dimension=64,
    distance=Distance.COSINE,
    hnsw=HnswConfig(m=16, ef_construct=100, full_scan_threshold=10_000),
    payload_indexes={"doc_id": "keyword", "year": "integer"},
    backend="qdrant-edge",
)
EXACT = dataclasses.replace(QDRANT, hnsw=None, backend="exact")


def target(**changes: Any) -> CollectionSchema:
    return dataclasses.replace(QDRANT, **changes)


CASES: dict[str, tuple[CollectionSchema, CollectionSchema, tuple[str, ...]]] = {
    "identical": (QDRANT, QDRANT, ()),
    "dimension 64 → 128": (QDRANT, target(dimension=128), ()),
    "cosine → dot": (QDRANT, target(distance=Distance.DOT), ()),
    "cosine → euclid": (QDRANT, target(distance=Distance.EUCLID), ()),
    "dot → euclid": (target(distance=Distance.DOT), target(distance=Distance.EUCLID), ()),
    "euclid → manhattan": (target(distance=Distance.EUCLID), target(distance=Distance.MANHATTAN), ()),
    "cosine → dot, accepted": (QDRANT, target(distance=Distance.DOT), ("schema.distance",)),
    "float32 → float16": (QDRANT, target(datatype="float16"), ()),
    "float16 → float32": (target(datatype="float16"), QDRANT, ()),
    "float32 → uint8": (QDRANT, target(datatype="uint8"), ()),
    "float32 → bfloat16 (unknown bits)": (QDRANT, target(datatype="bfloat16"), ()),
    "Float32 → float32 (case)": (target(datatype="Float32"), QDRANT, ()),
    "float32 → float16, accepted": (QDRANT, target(datatype="float16"), ("schema.datatype",)),
    "ef_construct 100 → 64 alone": (QDRANT, target(hnsw=HnswConfig(16, 64, 10_000)), ()),
    "m 16 → 32 alone (stronger)": (QDRANT, target(hnsw=HnswConfig(32, 100, 10_000)), ()),
    "m stronger, ef_construct weaker": (QDRANT, target(hnsw=HnswConfig(32, 64, 10_000)), ()),
    "full_scan_threshold unknown on the target": (QDRANT, target(hnsw=HnswConfig(16, 100, None)), ()),
    "m, ef_construct and full_scan_threshold all weaker": (QDRANT, target(hnsw=HnswConfig(8, 64, 5_000)), ()),
    "m and ef_construct stronger, full_scan_threshold weaker": (QDRANT, target(hnsw=HnswConfig(32, 200, 5_000)), ()),
    "hnsw weaker, accepted": (QDRANT, target(hnsw=HnswConfig(16, 64, 10_000)), ("schema.hnsw",)),
    "HNSW source, exact target": (QDRANT, target(hnsw=None), ()),
    "exact source, default HNSW target": (EXACT, QDRANT, ()),
    "exact source, stronger HNSW target": (EXACT, target(hnsw=HnswConfig(32, 200, None)), ()),
    "exact source, weak HNSW target": (EXACT, target(hnsw=HnswConfig(4, 8, 1)), ()),
    "both exact": (EXACT, dataclasses.replace(EXACT, backend="qdrant-edge"), ()),
    "target cannot report its index": (QDRANT, target(index_config_reported=False, backend="qdrant-local"), ()),
    "source cannot report its index": (target(index_config_reported=False, backend="pinecone"), QDRANT, ()),
    "target cannot report its index, both quantized": (
        target(quantization="scalar"),
        target(quantization="scalar", index_config_reported=False, backend="qdrant-local"),
        (),
    ),
    "unnamed backend cannot report its index": (QDRANT, target(index_config_reported=False, backend=""), ()),
    "quantization none → scalar": (QDRANT, target(quantization="scalar"), ()),
    "quantization scalar → none": (target(quantization="scalar"), QDRANT, ()),
    "quantization scalar → binary": (target(quantization="scalar"), target(quantization="binary"), ()),
    "quantization scalar on both": (target(quantization="scalar"), target(quantization="scalar"), ()),
    "quantization added, accepted": (QDRANT, target(quantization="scalar"), ("schema.quantization",)),
    "payload index missing": (QDRANT, target(payload_indexes={"doc_id": "keyword"}), ()),
    "payload index retyped": (QDRANT, target(payload_indexes={"doc_id": "keyword", "year": "float"}), ()),
    "payload indexes missing and retyped": (
        QDRANT,
        target(payload_indexes={"doc_id": "text", "tag": "keyword"}),
        (),
    ),
    "payload indexes retyped twice": (QDRANT, target(payload_indexes={"doc_id": "text", "year": "float"}), ()),
    "payload index extra only": (
        QDRANT,
        target(payload_indexes={**QDRANT.payload_indexes, "tag": "keyword", "lang": "keyword"}),
        (),
    ),
    "payload index missing, accepted": (
        QDRANT,
        target(payload_indexes={}),
        ("schema.payload_indexes", "schema.distance"),
    ),
}


def observed(name: str) -> dict[str, Any]:
    source, target_schema, accept = CASES[name]
    checks = check_schema(source, target_schema, accept)
    assert [c.id for c in checks] == list(SCHEMA_CHECK_IDS)
    return {"recall_affecting": recall_affecting(checks), "checks": [c.to_dict() for c in checks]}


def test_the_snapshot_covers_exactly_the_cases() -> None:
    if os.environ.get("RAGMIG_UPDATE_SNAPSHOTS"):
        snapshot = {name: observed(name) for name in CASES}
        SNAPSHOT.write_text(json.dumps(snapshot, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    assert list(json.loads(SNAPSHOT.read_text(encoding="utf-8"))) == list(CASES)


@pytest.mark.parametrize("name", list(CASES))
def test_each_kind_of_drift_gives_exactly_these_checks(name: str) -> None:
    expected = json.loads(SNAPSHOT.read_text(encoding="utf-8"))[name]
    assert observed(name) == expected


def test_the_mandatory_quality_rule_does_not_depend_on_check_order() -> None:
    checks = check_schema(QDRANT, target(hnsw=HnswConfig(16, 64, 10_000), payload_indexes={}))
    assert recall_affecting(checks) and recall_affecting(reversed(checks))
    assert not recall_affecting([c for c in checks if c.id == "schema.payload_indexes"])
    quiet = check_schema(QDRANT, target(payload_indexes={}))
    assert not recall_affecting(quiet) and not recall_affecting(reversed(quiet))


def test_the_snapshot_holds_the_rules_that_matter() -> None:
    snapshot = json.loads(SNAPSHOT.read_text(encoding="utf-8"))

    def status(name: str, check_id: str) -> str:
        return next(c["status"] for c in snapshot[name]["checks"] if c["id"] == check_id)

    # Whatever the wording, these are the decisions (so a regenerated snapshot cannot hide one).
    assert status("ef_construct 100 → 64 alone", "schema.hnsw") == "warn"
    assert snapshot["ef_construct 100 → 64 alone"]["recall_affecting"] is True
    assert status("quantization none → scalar", "schema.quantization") == "warn"
    assert snapshot["quantization none → scalar"]["recall_affecting"] is True
    assert status("dimension 64 → 128", "schema.dimension") == "fail"
    assert status("cosine → dot, accepted", "schema.distance") == "warn"
    assert status("float16 → float32", "schema.datatype") == "pass"
    assert snapshot["float16 → float32"]["recall_affecting"] is True
    assert status("target cannot report its index", "schema.hnsw") == "warn"
    assert snapshot["identical"]["recall_affecting"] is False
    assert {c["status"] for c in snapshot["identical"]["checks"]} == {str(Status.PASS)}
    assert snapshot["payload index missing"]["recall_affecting"] is False
