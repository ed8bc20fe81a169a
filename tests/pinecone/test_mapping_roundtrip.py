"""The Pinecone → Qdrant mapping through a real Qdrant Edge shard: a record comes back with its
original id, namespace and metadata types, and the same id in two namespaces stays two points."""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.errors import InvalidInputError
from harness.model import CollectionSchema, Distance, RecordBatch
from harness.records import (
    MAPPING_FIELDS,
    NAMESPACE_FIELD,
    ORIGINAL_ID_FIELD,
    map_pinecone_batch,
    mapped_payload,
    qdrant_point_id,
    unmap_qdrant_batch,
)
from harness.stores import VectorStore, open_store

DIMENSION = 8


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VectorStore]:
    directory: Path = tmp_path_factory.mktemp("mapping") / "shard"
    store = open_store(f"qdrant-edge://{directory}")
    store.create(CollectionSchema(dimension=DIMENSION, distance=Distance.DOT))
    yield store
    store.close()


def _vectors(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, DIMENSION)).astype(np.float32)


def _by_key(batch: RecordBatch) -> dict[tuple[str, str], tuple[np.ndarray, dict[str, Any]]]:
    assert batch.namespaces is not None
    return {
        (ns, str(pid)): (vec, payload)
        for pid, ns, vec, payload in zip(batch.ids, batch.namespaces, batch.vectors, batch.payloads, strict=True)
    }


def test_a_pinecone_record_round_trips_with_its_id_namespace_and_metadata_types(edge: VectorStore) -> None:
    # As Pinecone returns it: every number is a float64 (2020.0), strings, booleans, lists of strings.
    original = RecordBatch.build(
        ids=["doc-1", "doc-2"],
        vectors=_vectors(2),
        payloads=[
            {"year": 2020.0, "rating": 4.5, "title": "Dune", "tags": ["sf", "classic"], "read": True},
            {"year": -3.0, "rating": 0.25, "title": "", "tags": [], "read": False},
        ],
        namespaces=["books", "books"],
    )
    mapped = map_pinecone_batch(original)
    assert mapped.namespaces is None
    assert all(isinstance(uuid.UUID(str(pid)), uuid.UUID) for pid in mapped.ids)
    edge.upsert(mapped)

    back = unmap_qdrant_batch(edge.fetch(mapped.ids))
    assert sorted(back.ids) == ["doc-1", "doc-2"]
    assert back.namespaces == ("books", "books")
    records = _by_key(back)
    vec, payload = records[("books", "doc-1")]
    assert payload == {"year": 2020, "rating": 4.5, "title": "Dune", "tags": ["sf", "classic"], "read": True}
    assert type(payload["year"]) is int  # integral floats come back as ints, so MatchValue(2020) finds it
    assert type(payload["rating"]) is float
    assert type(payload["read"]) is bool
    assert all(type(t) is str for t in payload["tags"])
    np.testing.assert_allclose(vec, original.vectors[0], rtol=1e-6)
    assert records[("books", "doc-2")][1] == {"year": -3, "rating": 0.25, "title": "", "tags": [], "read": False}
    assert ORIGINAL_ID_FIELD not in payload and NAMESPACE_FIELD not in payload


def test_the_same_id_in_two_namespaces_stays_two_points(edge: VectorStore) -> None:
    before = edge.count()
    original = RecordBatch.build(
        ids=["shared-id", "shared-id"],
        vectors=_vectors(2, seed=1),
        payloads=[{"owner": "tenant-a"}, {"owner": "tenant-b"}],
        namespaces=["tenant-a", "tenant-b"],
    )
    mapped = map_pinecone_batch(original)
    assert mapped.ids[0] != mapped.ids[1]
    assert mapped.ids[0] == qdrant_point_id("shared-id", "tenant-a")  # deterministic, so re-runs overwrite
    edge.upsert(mapped)
    edge.upsert(map_pinecone_batch(original))  # idempotent: a resumed backfill does not duplicate
    assert edge.count() == before + 2

    back = _by_key(unmap_qdrant_batch(edge.fetch(mapped.ids)))
    assert set(back) == {("tenant-a", "shared-id"), ("tenant-b", "shared-id")}
    assert back[("tenant-a", "shared-id")][1] == {"owner": "tenant-a"}
    assert back[("tenant-b", "shared-id")][1] == {"owner": "tenant-b"}
    np.testing.assert_allclose(back[("tenant-b", "shared-id")][0], original.vectors[1], rtol=1e-6)


@pytest.mark.parametrize("field", MAPPING_FIELDS)
def test_metadata_holding_a_mapping_field_is_refused_not_overwritten(field: str) -> None:
    batch = RecordBatch.build(["doc-1"], _vectors(1), [{field: "the user's own value"}])
    with pytest.raises(InvalidInputError, match=field):
        map_pinecone_batch(batch)


METADATA_KEY = st.text(min_size=1, max_size=6).filter(lambda k: k not in MAPPING_FIELDS)
PINECONE_ID = st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=40)
NAMESPACE = st.sampled_from(["", "a", "b-ns"])
METADATA_VALUE = st.one_of(
    st.text(max_size=8),
    st.booleans(),
    st.integers(-(2**40), 2**40).map(float),  # Pinecone hands integers back as float64
    st.floats(allow_nan=False, allow_infinity=False, width=64).filter(lambda f: not f.is_integer()),
    st.lists(st.text(max_size=5), max_size=3),
)
RECORDS = st.lists(
    st.tuples(PINECONE_ID, NAMESPACE, st.dictionaries(METADATA_KEY, METADATA_VALUE, max_size=4)),
    min_size=1,
    max_size=8,
    unique_by=lambda r: (r[0], r[1]),
)


@given(records=RECORDS)
def test_random_records_round_trip_through_qdrant_edge(
    edge: VectorStore, records: list[tuple[str, str, dict[str, Any]]]
) -> None:
    original = RecordBatch.build(
        ids=[r[0] for r in records],
        vectors=_vectors(len(records), seed=len(records)),
        payloads=[r[2] for r in records],
        namespaces=[r[1] for r in records],
    )
    mapped = map_pinecone_batch(original)
    edge.upsert(mapped)
    back = _by_key(unmap_qdrant_batch(edge.fetch(mapped.ids)))
    assert set(back) == {(ns, pid) for pid, ns, _ in records}
    for (pid, ns, metadata), vec in zip(records, original.vectors, strict=True):
        got_vec, got_payload = back[(ns, pid)]
        want = mapped_payload(metadata)
        # Types survive exactly: int for integral numbers, float otherwise, bool stays bool.
        assert {k: type(v) for k, v in got_payload.items()} == {k: type(v) for k, v in want.items()}
        # Qdrant Edge may move a float payload by one ulp (about 15 % of random doubles do; seen with
        # qdrant-edge-py), so floats compare within 1e-12 relative and everything else exactly.
        assert {k: v for k, v in got_payload.items() if not isinstance(v, float)} == {
            k: v for k, v in want.items() if not isinstance(v, float)
        }
        for key, value in want.items():
            if isinstance(value, float):
                assert math.isclose(got_payload[key], value, rel_tol=1e-12), key
        np.testing.assert_allclose(got_vec, vec, rtol=1e-6)
