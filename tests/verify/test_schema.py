"""Schema drift: breaking → fail, recall-affecting → warn, "not comparable" never passes as equal."""

import dataclasses

import pytest

from harness.model import Check, CollectionSchema, Distance, HnswConfig, Status
from harness.verify import SCHEMA_CHECK_IDS, check_schema, recall_affecting

QDRANT = CollectionSchema(
    dimension=64,
    distance=Distance.COSINE,
    hnsw=HnswConfig(m=16, ef_construct=100, full_scan_threshold=10_000),
    payload_indexes={"doc_id": "keyword", "created_at": "integer"},
    backend="qdrant-edge",
)


def by_id(source: CollectionSchema, target: CollectionSchema) -> dict[str, Check]:
    checks = check_schema(source, target)
    assert [c.id for c in checks] == list(SCHEMA_CHECK_IDS)
    return {c.id: c for c in checks}


def test_identical_schemas_pass_and_need_no_mandatory_quality() -> None:
    checks = check_schema(QDRANT, QDRANT)
    assert {c.status for c in checks} == {Status.PASS}
    assert not recall_affecting(checks)


@pytest.mark.parametrize(
    ("change", "check_id"),
    [
        ({"dimension": 128}, "schema.dimension"),
        ({"distance": Distance.EUCLID}, "schema.distance"),
        ({"datatype": "uint8"}, "schema.datatype"),
    ],
)
def test_breaking_drift_fails(change: dict[str, object], check_id: str) -> None:
    checks = by_id(QDRANT, dataclasses.replace(QDRANT, **change))  # type: ignore[arg-type]
    assert checks[check_id].status is Status.FAIL
    assert recall_affecting(checks.values())


def test_vendor_distance_names_are_mapped_before_comparing() -> None:
    pinecone_like = dataclasses.replace(QDRANT, distance=Distance.parse("dotproduct"))
    qdrant_like = dataclasses.replace(QDRANT, distance=Distance.parse("Dot"))
    assert by_id(pinecone_like, qdrant_like)["schema.distance"].status is Status.PASS


def test_hnsw_drift_warns_and_names_each_parameter() -> None:
    weak = dataclasses.replace(QDRANT, hnsw=HnswConfig(m=4, ef_construct=8, full_scan_threshold=1))
    hnsw = by_id(QDRANT, weak)["schema.hnsw"]
    assert hnsw.status is Status.WARN
    assert hnsw.details["drift"] == {
        "m": {"source": 16, "target": 4},
        "ef_construct": {"source": 100, "target": 8},
        "full_scan_threshold": {"source": 10_000, "target": 1},
    }
    assert "default query ef" in hnsw.message
    assert recall_affecting([hnsw])


def test_an_exact_source_holds_the_target_to_qdrants_defaults() -> None:
    exact = dataclasses.replace(QDRANT, hnsw=None, backend="exact")
    assert by_id(exact, QDRANT)["schema.hnsw"].status is Status.PASS
    weak = dataclasses.replace(QDRANT, hnsw=HnswConfig(m=4, ef_construct=8, full_scan_threshold=1))
    assert by_id(exact, weak)["schema.hnsw"].status is Status.WARN
    # Approximate search after exact search is still reason enough to measure quality.
    assert recall_affecting(check_schema(exact, QDRANT))


@pytest.mark.parametrize("blind_side", ["source", "target"])
def test_a_backend_that_cannot_report_its_index_is_not_comparable(blind_side: str) -> None:
    blind = dataclasses.replace(QDRANT, index_config_reported=False, backend="qdrant-local")
    source, target = (blind, QDRANT) if blind_side == "source" else (QDRANT, blind)
    checks = by_id(source, target)
    for check_id in ("schema.hnsw", "schema.quantization", "schema.payload_indexes"):
        check = checks[check_id]
        assert check.status is Status.WARN
        assert check.message.startswith("not comparable: qdrant-local cannot report its index config")
    assert recall_affecting(checks.values())


def test_quantization_drift_warns() -> None:
    assert (
        by_id(QDRANT, dataclasses.replace(QDRANT, quantization="scalar"))["schema.quantization"].status is Status.WARN
    )


def test_missing_payload_index_warns_and_mentions_strict_mode() -> None:
    target = dataclasses.replace(QDRANT, payload_indexes={"doc_id": "keyword", "tenant": "keyword"})
    check = by_id(QDRANT, target)["schema.payload_indexes"]
    assert check.status is Status.WARN
    assert check.details["missing"] == ["created_at"]
    assert check.details["extra"] == ["tenant"]
    assert "strict mode" in check.message
    # Payload indexes alone do not make recall doubtful.
    assert not recall_affecting([check])
