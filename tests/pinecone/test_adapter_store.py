"""The ``pinecone://`` adapter against the project's Pinecone server, through the real SDK."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import numpy as np
import orjson
import pytest

from harness.clock import ManualClock
from harness.errors import (
    CollectionNotFoundError,
    DimensionMismatchError,
    InvalidInputError,
    InvalidURIError,
    StoreUnreachableError,
    TransientStoreError,
    UsageError,
)
from harness.model import CollectionSchema, Distance, RecordBatch
from harness.pinecone_local.testing import PineconeServer
from harness.records import mapped_payload
from harness.stores import iter_batches, open_store
from harness.stores.pinecone import (
    FETCH_MAX_IDS,
    FLOAT_JSON_MAX_BYTES,
    UPSERT_MAX_BYTES,
    UPSERT_MAX_VECTORS,
    PineconeStore,
    _upsert_requests,
)

DIMENSION = 8
OpenStore = Callable[..., PineconeStore]


@pytest.fixture
def local_env(pinecone_server: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The control plane of the session's server, and no API key (loopback needs none)."""
    monkeypatch.setenv("PINECONE_CONTROLLER_HOST", pinecone_server.url)
    monkeypatch.delenv("PINECONE_API_KEY", raising=False)
    return pinecone_server


@pytest.fixture
def new_index(local_env: Any) -> Iterator[OpenStore]:
    """Opens stores on fresh indexes (``create`` is up to the test); deletes them afterwards."""
    opened: list[PineconeStore] = []

    def open_new(name: str | None = None, query: str = "") -> PineconeStore:
        name = name or f"adapter-{uuid.uuid4().hex[:10]}"
        store = open_store(f"pinecone://{name}{query}")
        assert isinstance(store, PineconeStore)
        opened.append(store)
        return store

    yield open_new
    for store in opened:
        store.drop()  # idempotent: a second drop of the same index is a no-op
        store.close()


def _records(namespaces: dict[str, int], seed: int = 0, dimension: int = DIMENSION) -> RecordBatch:
    rng = np.random.default_rng(seed)
    ids, nss, payloads = [], [], []
    for ns, n in namespaces.items():
        for i in range(n):
            ids.append(f"{ns or 'default'}-{i}")
            nss.append(ns)
            payloads.append({"n": i, "ratio": i + 0.5, "genre": ("a", "b")[i % 2], "tags": ["x", ns], "ok": i % 3 == 0})
    vectors = rng.normal(size=(len(ids), dimension)).astype(np.float32)
    return RecordBatch.build(ids, vectors, payloads, namespaces=nss)


def _keyed(batch: RecordBatch) -> dict[tuple[str, str], tuple[np.ndarray, dict[str, Any]]]:
    assert batch.namespaces is not None
    return {
        (ns, str(pid)): (vec, mapped_payload(p))
        for pid, ns, vec, p in zip(batch.ids, batch.namespaces, batch.vectors, batch.payloads, strict=True)
    }


def test_create_describe_and_exists_through_the_control_plane(new_index: OpenStore) -> None:
    store = new_index()
    assert not store.exists()
    with pytest.raises(CollectionNotFoundError) as missing:
        store.describe()
    assert "\n" not in str(missing.value) and "not found" in str(missing.value)

    store.create(CollectionSchema(dimension=DIMENSION, distance=Distance.EUCLID))
    assert store.exists()
    schema = store.describe()
    assert (schema.dimension, schema.distance, schema.datatype) == (DIMENSION, Distance.EUCLID, "float32")
    assert schema.hnsw is None and not schema.index_config_reported and schema.backend == "pinecone"
    with pytest.raises(UsageError, match="already exists"):
        store.create(CollectionSchema(dimension=DIMENSION, distance=Distance.EUCLID))
    with pytest.raises(UsageError, match="manhattan"):
        new_index().create(CollectionSchema(dimension=DIMENSION, distance=Distance.MANHATTAN))
    store.drop()
    assert not store.exists()
    store.drop()  # already gone: nothing happens


def test_records_in_two_namespaces_count_scroll_fetch_and_delete(new_index: OpenStore, local_env: Any) -> None:
    store = new_index()
    store.create(CollectionSchema(dimension=DIMENSION, distance=Distance.COSINE))
    records = _records({"ns-a": 230, "ns-b": 120, "": 30})
    shared = RecordBatch.build(["shared", "shared"], records.vectors[:2], [{"v": 1}, {"v": 2}], ["ns-a", "ns-b"])
    store.upsert(records)
    store.upsert(shared)
    assert store.count() == 382

    # Unscoped: every (namespace, id) exactly once, with its namespace, vector and metadata.
    pages = list(iter_batches(store, batch_size=70))
    assert all(len(p) <= 70 for p in pages)
    seen = [key for page in pages for key in _keyed(page)]
    assert len(seen) == len(set(seen)) == 382
    got = _keyed(RecordBatch.concat(pages))
    for key, (vec, payload) in _keyed(records).items():
        assert got[key][1] == payload
        np.testing.assert_allclose(got[key][0], vec, rtol=1e-6)
    assert got[("ns-a", "shared")][1] == {"v": 1} and got[("ns-b", "shared")][1] == {"v": 2}

    # Scoped to one namespace, through the URI's host (no control plane lookup needed).
    host = local_env.index_host(store.index_name)
    scoped = new_index(store.index_name, f"?host={host}&namespace=ns-b")
    assert scoped.count() == 121
    scoped_pages = list(iter_batches(scoped, batch_size=500))
    assert sorted(str(i) for p in scoped_pages for i in p.ids) == sorted([f"ns-b-{i}" for i in range(120)] + ["shared"])
    assert {ns for p in scoped_pages for ns in p.namespaces or ()} == {"ns-b"}

    # fetch: unscoped finds the id in every namespace; scoped only in its own.
    fetched = store.fetch(["shared", "default-3", "nowhere"])
    assert sorted(zip(fetched.namespaces or (), fetched.ids, strict=True)) == [
        ("", "default-3"),
        ("ns-a", "shared"),
        ("ns-b", "shared"),
    ]
    assert scoped.fetch(["shared"]).payloads == ({"v": 2},)
    assert len(store.fetch([])) == 0

    # delete: scoped leaves the other namespace alone; unscoped removes the id everywhere.
    scoped.delete(["shared"])
    assert [ns for ns in store.fetch(["shared"]).namespaces or ()] == ["ns-a"]
    store.delete(["shared", "ns-a-0", "ns-b-0", "nowhere"])
    assert len(store.fetch(["shared", "ns-a-0", "ns-b-0"])) == 0
    assert store.count() == 378 and scoped.count() == 119


def test_a_scroll_cursor_is_opaque_json_and_a_bad_one_is_usage_error(new_index: OpenStore) -> None:
    store = new_index()
    store.create(CollectionSchema(dimension=DIMENSION, distance=Distance.COSINE))
    store.upsert(_records({"ns-a": 5, "ns-b": 5}))
    first, cursor = store.scroll(batch_size=4)
    assert len(first) == 4 and cursor is not None
    assert set(json.loads(cursor)) == {"namespace", "token"}
    rest = list(iter_batches(store, batch_size=4, cursor=cursor))
    assert sum(len(b) for b in rest) == 6
    with pytest.raises(InvalidInputError, match="cursor"):
        store.scroll(batch_size=4, cursor="not json")


def _numpy_top_k(records: RecordBatch, queries: np.ndarray, k: int, distance: Distance) -> list[list[tuple[str, str]]]:
    v, q = records.vectors.astype(np.float64), queries.astype(np.float64)
    if distance is Distance.COSINE:
        scores = (q / np.linalg.norm(q, axis=1, keepdims=True)) @ (v / np.linalg.norm(v, axis=1, keepdims=True)).T
    elif distance is Distance.DOT:
        scores = q @ v.T
    else:  # Pinecone's euclidean score is the squared distance, lower is better
        scores = -(((q[:, None, :] - v[None, :, :]) ** 2).sum(axis=2))
    assert records.namespaces is not None
    keys = list(zip(records.namespaces, (str(i) for i in records.ids), strict=True))
    return [[keys[j] for j in np.argsort(-row, kind="stable")[:k]] for row in scores]


@pytest.mark.parametrize("distance", [Distance.COSINE, Distance.DOT, Distance.EUCLID])
def test_search_merges_namespaces_and_equals_numpy(new_index: OpenStore, distance: Distance) -> None:
    store = new_index()
    store.create(CollectionSchema(dimension=DIMENSION, distance=distance))
    records = _records({"ns-a": 60, "ns-b": 50, "": 20}, seed=7)
    store.upsert(records)
    queries = np.random.default_rng(11).normal(size=(6, DIMENSION)).astype(np.float32)

    result = store.search(queries, k=10)
    expected = _numpy_top_k(records, queries, 10, distance)
    assert result.namespaces is not None
    for q in range(len(queries)):
        assert list(zip(result.namespaces[q], result.ids[q], strict=True)) == expected[q]
        scores = np.asarray(result.scores[q])
        assert np.all(np.diff(scores) <= 1e-6) if distance.higher_is_better else np.all(np.diff(scores) >= -1e-6)
    if distance is Distance.EUCLID:  # Pinecone's euclidean score is the squared distance
        diff = queries[0].astype(np.float64) - records.vectors.astype(np.float64)
        assert result.scores[0][0] == pytest.approx(float((diff**2).sum(axis=1).min()), rel=1e-4)

    filtered = store.search(queries[:2], k=5, params={"filter": {"genre": "a"}})
    assert filtered.namespaces is not None
    matching = records.take([i for i, p in enumerate(records.payloads) if p["genre"] == "a"])
    got = [list(zip(filtered.namespaces[q], filtered.ids[q], strict=True)) for q in range(2)]
    assert got == _numpy_top_k(matching, queries[:2], 5, distance)

    scoped = new_index(store.index_name, "?namespace=ns-b").search(queries[:2], k=5)
    assert scoped.namespaces is not None and set(scoped.namespaces[0]) == {"ns-b"}
    assert (
        list(zip(scoped.namespaces[1], scoped.ids[1], strict=True))
        == _numpy_top_k(
            records.take([i for i, ns in enumerate(records.namespaces or ()) if ns == "ns-b"]),
            queries[1:2],
            5,
            distance,
        )[0]
    )
    with pytest.raises(InvalidInputError, match="10000"):
        store.search(queries[:1], k=10_001)


def test_bad_input_is_rejected_before_anything_is_written(new_index: OpenStore) -> None:
    store = new_index()
    store.create(CollectionSchema(dimension=DIMENSION, distance=Distance.COSINE))
    good = _records({"": 3})
    cases = [
        (RecordBatch.build(["ok", "naïve"], good.vectors[:2]), "ASCII"),
        (RecordBatch.build(["ok", "x" * 513], good.vectors[:2]), "ASCII"),
        (RecordBatch.build(["ok", ""], good.vectors[:2]), "ASCII"),
        (RecordBatch.build(["ok", "nested"], good.vectors[:2], [{}, {"meta": {"a": 1}}]), "'meta'"),
        (RecordBatch.build(["ok", "null"], good.vectors[:2], [{}, {"gone": None}]), "'gone' is null"),
        (RecordBatch.build(["ok", "mixed"], good.vectors[:2], [{}, {"tags": ["a", 1]}]), "'tags'"),
        (RecordBatch.build(["ok"], np.ones((1, DIMENSION + 1))), "dimension"),
    ]
    for batch, words in cases:
        with pytest.raises(InvalidInputError, match=words):
            store.upsert(batch)
    assert store.count() == 0


def test_the_servers_dimension_error_is_mapped_too(new_index: OpenStore) -> None:
    stale = new_index()
    stale.create(CollectionSchema(dimension=DIMENSION, distance=Distance.COSINE))
    from pinecone import Pinecone

    # Another client replaces the index with a narrower one; ``stale`` still believes in 8 dimensions.
    with Pinecone(api_key="other") as control:
        control.delete_index(stale.index_name)
    new_index(stale.index_name).create(CollectionSchema(dimension=4, distance=Distance.COSINE))
    with pytest.raises(DimensionMismatchError, match="imension"):
        stale.upsert(_records({"": 2}))


def test_large_batches_are_split_within_pinecones_request_limits(new_index: OpenStore) -> None:
    store = new_index()
    store.create(CollectionSchema(dimension=384, distance=Distance.COSINE))
    records = _records({"": 2500}, dimension=384)
    store.upsert(records)
    assert store.count() == 2500
    assert len(store.fetch([str(i) for i in records.ids[: FETCH_MAX_IDS + 200]])) == FETCH_MAX_IDS + 200


def test_upsert_requests_hold_at_most_1000_vectors_and_2_mb() -> None:
    small = [{"id": f"s{i}", "values": [0.5] * 4} for i in range(2500)]
    assert [len(c) for c in _upsert_requests(small, "")] == [UPSERT_MAX_VECTORS, UPSERT_MAX_VECTORS, 500]
    wide = [{"id": f"w{i}", "values": [0.123456789] * 1536} for i in range(300)]
    chunks = list(_upsert_requests(wide, "ns"))
    assert len(chunks) > 1 and sum(len(c) for c in chunks) == 300
    for chunk in chunks:
        body = json.dumps({"vectors": chunk, "namespace": "ns"}, separators=(",", ":"))
        assert len(body.encode()) <= UPSERT_MAX_BYTES
    with pytest.raises(InvalidInputError, match="bytes"):
        list(_upsert_requests([{"id": "huge", "values": [0.123456789] * 200_000}], ""))


def test_the_request_size_bound_holds_for_the_longest_float_json() -> None:
    """Requests are sized by an upper bound of each float's JSON; the longest float32 value as a Python
    float is 24 bytes, and a request of such floats still fits in 2 MB as the SDK encodes it (orjson)."""
    worst = float(np.float32(-1.3007421330257785e-05))
    assert len(orjson.dumps(worst)) == FLOAT_JSON_MAX_BYTES
    rng = np.random.default_rng(9)
    exponents = rng.integers(-45, 38, size=4000)
    spread = (rng.normal(size=4000) * 10.0**exponents).astype(np.float32)
    assert max(len(orjson.dumps(v)) for v in spread[np.isfinite(spread)].tolist()) <= FLOAT_JSON_MAX_BYTES
    records = [{"id": f"x{i}", "values": [worst] * 384, "metadata": {"k": "v" * (i % 50)}} for i in range(600)]
    for chunk in _upsert_requests(records, "ns"):
        assert len(orjson.dumps({"vectors": chunk, "namespace": "ns"})) <= UPSERT_MAX_BYTES


def test_wait_until_visible_rides_out_the_read_after_write_lag() -> None:
    clock = ManualClock()
    with PineconeServer(clock=clock) as server:
        name = "lagged"
        store = PineconeStore(name, host=server.index_host(name), control_host=server.url)
        try:
            store.create(CollectionSchema(dimension=DIMENSION, distance=Distance.COSINE))
            server.set_faults(name, visibility_lag_ms=2000)
            store.upsert(_records({"": 10}))
            assert store.count() == 0  # accepted, not yet visible
            assert store.wait_until_visible(10, timeout_s=30, clock=clock)
            assert store.count() == 10
            assert 2.0 <= sum(clock.sleeps) < 4.0  # it waited on the injected clock, about the lag

            store.upsert(_records({"late": 1}))
            clock.sleeps.clear()
            assert not store.wait_until_visible(11, timeout_s=1.0, clock=clock)
            assert sum(clock.sleeps) == pytest.approx(1.0)
        finally:
            store.close()


@pytest.mark.parametrize("status", [429, 503])
def test_rate_limits_and_outages_are_transient_store_errors(new_index: OpenStore, local_env: Any, status: int) -> None:
    store = new_index()
    store.create(CollectionSchema(dimension=DIMENSION, distance=Distance.COSINE))
    local_env.set_faults(store.index_name, error_rate=1.0, error_status=status, retry_after_s=0)
    try:
        with pytest.raises(TransientStoreError) as caught:
            store.count()
        if status == 429:
            assert caught.value.retry_after_s == 0.0
        with pytest.raises(TransientStoreError):
            store.upsert(_records({"": 1}))
    finally:
        local_env.set_faults(store.index_name, error_rate=0.0)
    assert store.count() == 0


def test_a_rejected_key_is_a_usage_error_that_never_shows_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    with PineconeServer(api_key="the-right-key") as server:
        monkeypatch.setenv("PINECONE_API_KEY", "wrong-key-5f1e9")
        store = open_store(f"pinecone://guarded?host={server.index_host('guarded')}")
        try:
            with pytest.raises(UsageError, match="rejected") as caught:
                store.count()
            assert "wrong-key-5f1e9" not in str(caught.value)
            assert "wrong-key-5f1e9" not in store.uri and "wrong-key-5f1e9" not in repr(store)
        finally:
            store.close()


def test_a_remote_host_without_a_key_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PINECONE_API_KEY", raising=False)
    monkeypatch.delenv("PINECONE_CONTROLLER_HOST", raising=False)
    with pytest.raises(UsageError, match="set PINECONE_API_KEY"):
        open_store("pinecone://prod-index?host=https://prod-index-abc.svc.pinecone.io")
    with pytest.raises(UsageError, match="set PINECONE_API_KEY"):
        open_store("pinecone://prod-index")  # the control plane is the SDK's default, api.pinecone.io
    local = open_store("pinecone://dev?host=127.0.0.1:5081&namespace=__default__")  # loopback: placeholder key
    assert isinstance(local, PineconeStore) and local.host == "http://127.0.0.1:5081"  # http added for loopback
    assert local.namespace == ""  # __default__ is the default namespace's other name
    local.close()
    with pytest.raises(InvalidURIError, match="namspace"):
        open_store("pinecone://dev?host=127.0.0.1:5081&namspace=a")


def test_a_host_nobody_listens_on_is_unreachable_not_transient(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    import pinecone._internal.http_client as sdk_http

    monkeypatch.setattr(sdk_http, "_retry_sleep", lambda seconds: None)  # the SDK's retry backoff, skipped
    with socket.socket() as probe:  # a loopback port that was free a moment ago
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    store = open_store(f"pinecone://nowhere?host=http://127.0.0.1:{port}")
    try:
        with pytest.raises(StoreUnreachableError, match="check the host") as caught:
            store.count()
        assert isinstance(caught.value, UsageError) and "\n" not in str(caught.value)
    finally:
        store.close()


class _NoControlPlane:
    """Stands in for the SDK's control-plane client: with ``host=`` none may even be constructed."""

    made: ClassVar[list[dict[str, Any]]] = []

    def __init__(self, **kwargs: Any) -> None:
        _NoControlPlane.made.append(kwargs)
        raise AssertionError(f"a control-plane client was made: {kwargs.get('host')!r}")


def test_with_host_nothing_goes_to_a_control_plane_the_user_did_not_name(
    pinecone_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import harness.stores.pinecone as adapter

    name = f"hosted-{uuid.uuid4().hex[:8]}"
    maker = PineconeStore(name, host=pinecone_server.index_host(name), control_host=pinecone_server.url)
    maker.create(CollectionSchema(dimension=6, distance=Distance.EUCLID))
    maker.upsert(RecordBatch.build(["a", "b"], np.eye(2, 6, dtype=np.float32), [{}, {}]))
    maker.close()
    monkeypatch.delenv("PINECONE_CONTROLLER_HOST", raising=False)
    monkeypatch.setenv("PINECONE_API_KEY", "pcsk_planted_key_123456")
    _NoControlPlane.made.clear()
    monkeypatch.setattr(adapter, "Pinecone", _NoControlPlane)
    store = open_store(f"pinecone://{name}?host={pinecone_server.index_host(name)}")
    missing = open_store(f"pinecone://nope-{name}?host={pinecone_server.index_host('nope-' + name)}")
    try:
        schema = store.describe()  # from the data plane's describe_index_stats
        assert (schema.dimension, schema.distance, schema.backend) == (6, Distance.EUCLID, "pinecone")
        assert store.exists() and store.count() == 2 and not missing.exists()
        with pytest.raises(UsageError, match="PINECONE_CONTROLLER_HOST"):
            store.create(CollectionSchema(dimension=6, distance=Distance.EUCLID))
        with pytest.raises(UsageError, match="PINECONE_CONTROLLER_HOST"):
            missing.drop()
    finally:
        store.close()
        missing.close()
    assert _NoControlPlane.made == []
