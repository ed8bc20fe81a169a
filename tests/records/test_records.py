"""The one record model: identity, the mapping decision, and the comparison's table, case by case."""

from __future__ import annotations

import hashlib
import json
import math

import numpy as np
import pytest

from harness.errors import InvalidInputError
from harness.model import CollectionSchema, Distance, RecordBatch
from harness.records import (
    IDENTITY,
    Comparison,
    RecordId,
    RecordMapping,
    batch_keys,
    batch_record_ids,
    key_parts,
    map_pinecone_batch,
    mapping_for,
    qdrant_point_id,
    record_fingerprints,
    record_key,
    record_keys64,
    values_equal,
)


# -- identity -------------------------------------------------------------------------------------------
def test_a_record_is_its_namespace_and_id_with_ints_apart_from_strings() -> None:
    assert record_key(5) == record_key(5, None) == record_key(5, "") == '["",5]'
    assert record_key(5) != record_key("5") and record_key("a", "ns") != record_key("a")
    for rid in (RecordId("", 5), RecordId("ns", "doc-1"), RecordId("", 2**63 + 1)):
        assert key_parts(rid.key) == rid
    batch = RecordBatch.build(["a", "b"], np.eye(2), namespaces=["x", ""])
    assert batch_record_ids(batch) == [RecordId("x", "a"), RecordId("", "b")]
    assert batch_keys(batch) == [r.key for r in batch_record_ids(batch)]
    assert batch_record_ids(RecordBatch.build([1], np.eye(1)), "docs") == [RecordId("docs", 1)]


def test_keys64_tell_records_apart_and_agree_across_batches() -> None:
    keys = record_keys64([0, 1, 2**63 + 5, "a", "5", 5])
    assert len(set(keys.tolist())) == 6
    assert record_keys64([2**63 + 5]).tolist() == keys[2:3].tolist()
    assert record_keys64(["a", 1], ["", ""]).tolist() == [keys[3], keys[1]]
    in_ns = record_keys64(["a", "a"], ["", "ns1"])
    assert in_ns[0] == keys[3] and in_ns[1] != keys[3]


# -- the mapping, decided once ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("source", "target", "mapped"),
    [
        ("pinecone", "qdrant-edge", True),
        ("pinecone", "qdrant", True),
        ("pinecone", "qdrant-local", True),
        ("pinecone", "pinecone", False),
        ("pinecone", "exact", False),
        ("qdrant-edge", "qdrant", False),
        ("exact", "qdrant-edge", False),
        ("qdrant", "pinecone", False),
    ],
)
def test_mapping_for_maps_pinecone_to_any_qdrant_and_nothing_else(source: str, target: str, mapped: bool) -> None:
    assert mapping_for(source, target).pinecone_to_qdrant is mapped
    schemas = CollectionSchema(4, Distance.COSINE, backend=source), CollectionSchema(4, Distance.COSINE, backend=target)
    assert mapping_for(*schemas) == mapping_for(source, target)
    assert mapping_for(source, target, default_namespace="docs").default_namespace == "docs"


def test_the_mapping_names_records_both_ways() -> None:
    mapping = mapping_for("pinecone", "qdrant-edge")
    source = RecordId("docs", "doc-7")
    point = mapping.target_record(source)
    assert point == RecordId("", qdrant_point_id("doc-7", "docs"))
    assert mapping.source_record(point, {"__id__": "doc-7", "__namespace__": "docs"}) == source
    assert mapping.source_record(point, {"__id__": "doc-7"}) is None  # unnamed: no namespace field
    assert mapping.source_record(point, {"__id__": 7, "__namespace__": "docs"}) is None  # not a Pinecone id
    assert IDENTITY.target_record(source) == source and IDENTITY.source_record(source, {}) == source
    assert qdrant_point_id("doc-7", "docs") != qdrant_point_id("doc-7", "")  # namespaces stay apart
    # The stored format: points migrated so far are named by this uuid5, so it never changes.
    assert qdrant_point_id("doc-7", "docs") == "a4c8a7f4-b438-54f8-ad9b-9c1f39757e4f"


def test_the_mapped_payload_is_what_the_target_must_hold() -> None:
    mapping = RecordMapping(pinecone_to_qdrant=True)
    batch = RecordBatch.build(["a"], np.eye(1, 2), [{"year": 2020.0, "score": 0.5, "tags": [1.0, "x"], "ok": True}])
    (payload,) = map_pinecone_batch(batch, "ns").payloads
    assert payload == {"year": 2020, "score": 0.5, "tags": [1, "x"], "ok": True, "__id__": "a", "__namespace__": "ns"}
    assert type(payload["year"]) is int and payload["ok"] is True
    assert mapping.expected_payload(batch.payloads[0]) == mapping.held_payload(payload)
    with pytest.raises(InvalidInputError, match="reserves"):
        map_pinecone_batch(RecordBatch.build(["a"], np.eye(1, 2), [{"__id__": "mine"}]))


# -- the comparison's table -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("source", "target", "equal"),
    [
        (5, 5, True),
        (5, 5.0, False),  # Qdrant: an exact-match filter for 5 misses a stored 5.0
        (True, 1, False),
        (False, 0, False),
        (True, True, True),
        ("5", 5, False),
        (None, None, True),
        (None, 0, False),
        (2**53 + 1, 2**53 + 1, True),
        (2**53 + 1, 2**53, False),  # beyond a double's precision: still told apart
        (2**70, 2**70 + 1, False),
        (0.1 + 0.2, 0.30000000000000004, True),
        (1234.5678901234567, float(np.nextafter(1234.5678901234567, math.inf)), True),  # one ulp (serde_json)
        (3.0e-7, 3.0e-7 * (1 + 1e-6), False),
        (float("nan"), float("nan"), True),  # a non-finite payload float equals only itself
        (float("nan"), None, False),
        (float("inf"), float("-inf"), False),
        ([1, 2], [1, 2], True),
        ([1, 2], [2, 1], False),  # list order matters
        ([1, 2], [1], False),
        ({"a": 1, "b": [True]}, {"b": [True], "a": 1}, True),  # key order does not
        ({"a": 1}, {"a": 1, "b": None}, False),
        ({"a": {"x": 1}}, {"a": {"x": 1.0}}, False),
        ("é", "é", True),
        ("é", "e\u0301", False),  # no unicode normalisation: the bytes a filter matches
    ],
)
def test_payload_values_are_compared_type_exact(source: object, target: object, equal: bool) -> None:
    assert values_equal(source, target) is equal
    assert values_equal(target, source) is equal


def test_pinecone_numbers_must_arrive_as_the_mapping_writes_them() -> None:
    comparison = Comparison(mapping_for("pinecone", "qdrant"))
    assert comparison.payloads_equal({"year": 2020.0}, {"year": 2020, "__id__": "a", "__namespace__": ""})
    assert not comparison.payloads_equal({"year": 2020.0}, {"year": 2020.0})  # not what the mapping writes
    assert comparison.payloads_equal({"x": 0.5}, {"x": 0.5})
    assert not Comparison().payloads_equal({"year": 2020.0}, {"year": 2020})  # Qdrant → Qdrant: type-exact


def test_vectors_equal_within_the_tolerance_after_the_canonical_form() -> None:
    v = np.array([[3.0, 4.0, 0.0, 0.0]], dtype=np.float32)
    cosine = Comparison(normalise=True, tolerance=1e-3)
    raw = Comparison(normalise=False, tolerance=1e-3)
    assert cosine.vectors_equal(v, 2 * v)[0]  # a cosine target stores the unit vector
    assert not raw.vectors_equal(v, 2 * v)[0]  # dot/euclid: no normalisation
    for delta, equal in ((0.0009, True), (0.0011, False)):
        nudged = v.copy()
        nudged[0, 2] += delta  # just inside / just outside the tolerance
        assert raw.vectors_equal(v, nudged)[0] is np.bool_(equal)
    assert not raw.vectors_equal(v, v[:, :3])[0]  # another dimension
    # Squared in float32 a tiny vector underflows to a zero norm: it is still a direction, not zero.
    tiny = np.array([[0.0, 0.0, 0.0, 3.5e-25]], dtype=np.float32)
    assert not cosine.vectors_equal(np.zeros((1, 4), np.float32), tiny)[0]
    assert cosine.vectors_equal(tiny, np.array([[0.0, 0.0, 0.0, 1.0]], dtype=np.float32))[0]
    assert (cosine.vector_digests(tiny)[0] == cosine.vector_digests(np.eye(1, 4, 3, dtype=np.float32))[0]).all()


@pytest.mark.parametrize("special", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("normalise", [True, False])
def test_a_non_finite_vector_equals_nothing_itself_included(special: float, normalise: bool) -> None:
    comparison = Comparison(normalise=normalise, tolerance=1e-3)
    bad = np.array([[1.0, special, 0.0]], dtype=np.float32)
    good = np.array([[1.0, 0.0, 0.0]], dtype=np.float32)
    for a, b in ((bad, good), (good, bad), (bad, bad), (np.full((1, 3), np.nan, np.float32),) * 2):
        assert not comparison.vectors_equal(a, b)[0]
        assert not comparison.records_equal((a[0], {}), (b[0], {}))
    _, non_finite = comparison.vector_digests(np.vstack([good, bad]))
    assert non_finite.tolist() == [False, True]


def test_records_are_equal_or_both_absent() -> None:
    comparison = Comparison(tolerance=1e-3)
    record = (np.ones(3, dtype=np.float32), {"a": 1})
    assert comparison.records_equal(None, None)
    assert not comparison.records_equal(record, None) and not comparison.records_equal(None, record)
    assert comparison.records_equal(record, record)
    assert not comparison.records_equal(record, (record[0], {"a": True}))


def test_fingerprints_keep_their_stored_format() -> None:
    """The orphan watch journals these; a baseline taken by an earlier run must still compare."""
    batch = RecordBatch.build([1], np.array([[0.5, -1.0]]), [{"b": [1, 2.5], "a": "x"}])
    row = np.ascontiguousarray(batch.vectors, dtype=np.float32)[0]
    h = hashlib.blake2b(row.tobytes(), digest_size=16)
    h.update(json.dumps({"b": [1, 2.5], "a": "x"}, sort_keys=True, default=str).encode())
    assert record_fingerprints(batch) == [h.digest()]
