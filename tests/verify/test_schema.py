"""Schema drift: breaking → fail, recall-affecting → warn, "not comparable" never passes as equal."""

import dataclasses
from pathlib import Path

import pytest

from harness.errors import ConfigError
from harness.model import Check, CollectionSchema, Distance, HnswConfig, Status
from harness.verify import SCHEMA_CHECK_IDS, check_schema, load_thresholds, recall_affecting

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


# -- direction: a message says what changed and what it means, never more ----------------------------------
def test_a_stronger_hnsw_passes_and_never_says_recall_may_drop() -> None:
    strong = dataclasses.replace(QDRANT, hnsw=HnswConfig(m=32, ef_construct=200, full_scan_threshold=20_000))
    hnsw = by_id(QDRANT, strong)["schema.hnsw"]
    assert hnsw.status is Status.PASS
    assert hnsw.message.startswith("HNSW stronger on the target (m 16 → 32, ef_construct 100 → 200")
    assert "recall should not drop" in hnsw.message and "recall may drop" not in hnsw.message
    assert "latency" in hnsw.message  # what it does cost
    assert recall_affecting([hnsw])  # still measured: the index changed


def test_a_weaker_hnsw_warns_and_names_only_the_weaker_parameters_as_weaker() -> None:
    mixed = dataclasses.replace(QDRANT, hnsw=HnswConfig(m=8, ef_construct=200, full_scan_threshold=10_000))
    hnsw = by_id(QDRANT, mixed)["schema.hnsw"]
    assert hnsw.status is Status.WARN
    assert hnsw.message.startswith("HNSW weaker on the target (m 16 → 8); stronger: ef_construct 100 → 200")
    assert "recall may drop" in hnsw.message


@pytest.mark.parametrize(
    ("source", "target", "status", "fragment"),
    [
        ("float32", "float16", Status.FAIL, "fewer bits (16 instead of 32)"),
        ("float32", "uint8", Status.FAIL, "as an integer from 0 to 255"),
        ("float16", "float32", Status.PASS, "more bits than the source, so nothing is lost"),
        ("uint8", "float16", Status.PASS, "more bits than the source, so nothing is lost"),
    ],
)
def test_datatype_messages_follow_the_direction(source: str, target: str, status: Status, fragment: str) -> None:
    check = by_id(dataclasses.replace(QDRANT, datatype=source), dataclasses.replace(QDRANT, datatype=target))[
        "schema.datatype"
    ]
    assert check.status is status
    assert fragment in check.message
    assert "cannot answer like the source" not in check.message
    assert recall_affecting([check])


@pytest.mark.parametrize(
    ("source", "target", "fragment"),
    [
        (Distance.COSINE, Distance.DOT, "the ranking stays the same only when every vector is unit-length"),
        (Distance.EUCLID, Distance.COSINE, "the ranking stays the same only when every vector is unit-length"),
        (Distance.DOT, Distance.EUCLID, "only when every vector has the same length"),
        (Distance.COSINE, Distance.MANHATTAN, "cosine and manhattan rank neighbours differently"),
    ],
)
def test_distance_messages_say_when_the_ranking_survives(source: Distance, target: Distance, fragment: str) -> None:
    check = by_id(dataclasses.replace(QDRANT, distance=source), dataclasses.replace(QDRANT, distance=target))[
        "schema.distance"
    ]
    assert check.status is Status.FAIL
    assert fragment in check.message
    assert "the quality checks measure recall and are mandatory" in check.message
    assert 'accept = ["schema.distance"]' in check.message


@pytest.mark.parametrize(
    ("source", "target", "status", "fragment"),
    [
        (None, "scalar", Status.WARN, "searches compressed vectors where the source did not: recall may drop"),
        ("scalar", None, Status.PASS, "full-precision vectors, so recall should not drop"),
        ("scalar", "binary", Status.WARN, "recall may change either way"),
    ],
)
def test_quantization_messages_follow_the_direction(
    source: str | None, target: str | None, status: Status, fragment: str
) -> None:
    check = by_id(dataclasses.replace(QDRANT, quantization=source), dataclasses.replace(QDRANT, quantization=target))[
        "schema.quantization"
    ]
    assert check.status is status
    assert fragment in check.message


def test_a_dimension_change_really_cannot_answer() -> None:
    check = by_id(QDRANT, dataclasses.replace(QDRANT, dimension=65))["schema.dimension"]
    assert check.status is Status.FAIL
    assert "cannot hold the source's vectors or answer its queries" in check.message


# -- deliberate changes: accept ---------------------------------------------------------------------------
def test_an_accepted_change_warns_names_the_acceptance_and_keeps_quality_mandatory() -> None:
    float16 = dataclasses.replace(QDRANT, datatype="float16", distance=Distance.DOT)
    checks = {c.id: c for c in check_schema(QDRANT, float16, accept=("schema.datatype",))}
    accepted = checks["schema.datatype"]
    assert accepted.status is Status.WARN and accepted.details["accepted"] is True
    assert accepted.message.startswith('accepted as deliberate by the thresholds file (accept = ["schema.datatype"]): ')
    assert checks["schema.distance"].status is Status.FAIL  # only what is named is accepted
    assert recall_affecting([accepted])


def test_accepting_a_check_without_drift_changes_nothing() -> None:
    checks = check_schema(QDRANT, QDRANT, accept=("schema.datatype", "schema.hnsw"))
    assert {c.status for c in checks} == {Status.PASS}
    assert not any(c.details.get("accepted") for c in checks)


@pytest.mark.parametrize(
    ("accept", "fragment"),
    [
        ('["parity.ids"]', "'parity.ids' cannot be accepted: parity checks judge the data and the answers"),
        ('["quality.recall_target"]', "'quality.recall_target' cannot be accepted: quality checks judge"),
        ('["latency.p99"]', "'latency.p99' cannot be accepted: latency checks judge"),
        ('["schema.dimension"]', "a target of another dimension cannot hold the source's vectors"),
        ('["schema.colour"]', "'schema.colour' cannot be accepted: it is not a schema check id"),
        ('"schema.datatype"', "'accept' must be a list of check ids, got 'schema.datatype'"),
        ("[1]", "'accept.0' must be a check id (a string), got 1"),
    ],
)
def test_a_thresholds_file_can_accept_schema_changes_only(tmp_path: Path, accept: str, fragment: str) -> None:
    path = tmp_path / "gates.toml"
    path.write_text(f"accept = {accept}\n")
    with pytest.raises(ConfigError) as info:
        load_thresholds(path)
    message = str(info.value)
    assert fragment in message and str(path) in message
    assert "\n" not in message


def test_a_thresholds_file_accepts_schema_ids_and_the_run_applies_them(tmp_path: Path) -> None:
    path = tmp_path / "gates.toml"
    path.write_text('accept = ["schema.datatype", "schema.distance", "schema.datatype"]\n')
    thresholds = load_thresholds(path)
    assert thresholds.accept == ("schema.datatype", "schema.distance")
    assert thresholds.describe()["accept"] == ("schema.datatype", "schema.distance")
