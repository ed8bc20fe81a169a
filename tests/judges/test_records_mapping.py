"""The Pinecone → Qdrant mapping pinned: point ids (a stored format: every migrated target holds points
named by it), the default namespace, integral floats up to Qdrant's int64 range, records without mapping
fields, score thresholds, and the identity mapping that changes nothing."""

from __future__ import annotations

import uuid

import numpy as np
import pytest

from harness.errors import InvalidInputError
from harness.model import RecordBatch
from harness.records import (
    ID_NAMESPACE,
    IDENTITY,
    coerce_number,
    map_pinecone_batch,
    mapping_for,
    qdrant_point_id,
    unmap_qdrant_batch,
)

MAPPED = mapping_for("pinecone", "qdrant-edge")


def test_point_ids_never_change() -> None:
    assert qdrant_point_id("doc-1") == "42b5a092-ff70-5200-af84-3f2aeed85d0f"
    assert qdrant_point_id("doc-1", "") == qdrant_point_id("doc-1")
    assert qdrant_point_id("doc-1", "tenant-b") == "00efdd06-5c3c-5a19-bf1b-138986bda449"
    assert qdrant_point_id(5) == str(uuid.uuid5(ID_NAMESPACE, "\x005"))


@pytest.mark.parametrize("namespace", ["", "tenant-b", "é/ü ns", "\x00", "n" * 512])
@pytest.mark.parametrize("original", ["doc-1", "", 0, 18446744073709551615, "x" * 512, "日本#7", "a\x00b"])
def test_point_ids_are_uuid5_of_namespace_nul_id(namespace: str, original: str | int) -> None:
    # qdrant_point_id computes uuid5 itself (without the UUID object); it must stay uuid.uuid5 exactly.
    assert qdrant_point_id(original, namespace) == str(uuid.uuid5(ID_NAMESPACE, f"{namespace}\x00{original}"))


def test_a_batch_without_namespaces_is_mapped_in_the_default_one() -> None:
    batch = RecordBatch.build(["a", "b"], np.eye(2), [{"n": 1.0}, {}])
    mapped = map_pinecone_batch(batch)
    assert mapped.ids == (qdrant_point_id("a", ""), qdrant_point_id("b", ""))
    assert mapped.payloads == ({"n": 1, "__id__": "a", "__namespace__": ""}, {"__id__": "b", "__namespace__": ""})
    assert mapped.namespaces is None
    in_tenant = map_pinecone_batch(batch, "tenant")
    assert in_tenant.ids[0] == qdrant_point_id("a", "tenant") and in_tenant.payloads[0]["__namespace__"] == "tenant"
    assert mapping_for("pinecone", "qdrant").default_namespace == ""
    assert (
        MAPPED.records(batch) == mapped
        and mapping_for("pinecone", "qdrant", default_namespace="tenant").records(batch).ids == in_tenant.ids
    )


def test_metadata_holding_a_mapping_field_is_refused_with_the_fields_name() -> None:
    batch = RecordBatch.build(["a"], np.eye(1), [{"__namespace__": "x"}])
    with pytest.raises(
        InvalidInputError,
        match=r"'__namespace__', which the Pinecone → Qdrant mapping reserves for the original id and namespace; "
        r"rename that field before migrating$",
    ):
        map_pinecone_batch(batch)


def test_integral_floats_become_ints_within_int64_only() -> None:
    below = float(2**63 - 1024)  # the largest double below 2**63
    assert coerce_number(below) == 2**63 - 1024 and isinstance(coerce_number(below), int)
    for beyond in (2.0**63, -(2.0**63), 2.0**64, 1e300):
        assert isinstance(coerce_number(beyond), float)  # Qdrant's ints are int64: keep the double
    assert coerce_number({"a": {"b": [2.0, 2.5, True]}, 3: 4.0}) == {"a": {"b": [2, 2.5, True]}, "3": 4}
    assert isinstance(coerce_number(-7.0), int) and coerce_number(float("nan")) != coerce_number(float("nan"))


def test_points_without_mapping_fields_keep_their_id_in_the_default_namespace() -> None:
    batch = RecordBatch.build([7, "p"], np.eye(2), [{"x": 1}, {"__id__": "doc-9", "__namespace__": "t"}])
    unmapped = unmap_qdrant_batch(batch)
    assert unmapped.ids == ("7", "doc-9") and unmapped.namespaces == ("", "t")
    assert unmapped.payloads == ({"x": 1}, {})


def test_target_ids_follow_the_mapping() -> None:
    assert IDENTITY.target_ids([1, "a"]) == [1, "a"]
    assert MAPPED.target_ids(["a", "b"]) == [qdrant_point_id("a"), qdrant_point_id("b")]
    assert MAPPED.target_ids(["a", "b"], ["x", ""]) == [qdrant_point_id("a", "x"), qdrant_point_id("b", "")]
    with pytest.raises(ValueError):
        MAPPED.target_ids(["a", "b"], ["x"])  # one namespace per id, never silently fewer ids
    tenant = mapping_for("pinecone", "qdrant", default_namespace="t")
    assert tenant.target_ids(["a"]) == [qdrant_point_id("a", "t")]


def test_the_identity_mapping_changes_nothing() -> None:
    batch = RecordBatch.build([1], np.eye(1), [{"__id__": "kept", "a": 1.0}])
    assert IDENTITY.records(batch) is batch
    assert IDENTITY.held_payload({"__id__": "kept", "a": 1.0}) == {"__id__": "kept", "a": 1.0}
    assert IDENTITY.expected_payload({"a": 1.0}) == {"a": 1.0}
    assert MAPPED.held_payload({"__id__": "x", "__namespace__": "", "a": 1}) == {"a": 1}
