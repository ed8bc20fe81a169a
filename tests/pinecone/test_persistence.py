"""``data_dir`` persistence: a clean shutdown loses nothing, and a new server on the directory sees it all."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pinecone import Pinecone, ServerlessSpec

from harness.clock import ManualClock
from harness.errors import UsageError
from harness.pinecone_local.engine import Engine
from harness.pinecone_local.testing import PineconeServer
from harness.pinecone_local.vector_index import IndexSpec
from tests.pinecone.conftest import API_KEY

SPEC = ServerlessSpec(cloud="aws", region="us-east-1")


def test_indexes_survive_a_restart(tmp_path: Path) -> None:
    vectors = np.random.default_rng(5).normal(size=(1200, 6)).astype(np.float32)
    with PineconeServer(data_dir=tmp_path, clock=ManualClock()) as server:
        pc = Pinecone(api_key=API_KEY, host=server.url)
        pc.create_index(name="kept", dimension=6, metric="euclidean", spec=SPEC, tags={"owner": "search"})
        pc.create_index(name="dropped", dimension=2, spec=SPEC)
        index = pc.index(name="kept")
        index.upsert(
            vectors=[{"id": f"k{i}", "values": v.tolist(), "metadata": {"n": i}} for i, v in enumerate(vectors)],
            namespace="a",
            batch_size=400,
            show_progress=False,
        )
        index.upsert(
            vectors=[{"id": "s", "values": [0.0] * 6, "sparse_values": {"indices": [3, 9], "values": [0.5, 0.25]}}],
            namespace="b",
        )
        index.create_namespace(name="empty")
        # A write still held back by the visibility lag is applied at a clean shutdown, not lost.
        server.set_faults("kept", visibility_lag_ms=60_000)
        index.upsert(vectors=[("late", [1.0] * 6)], namespace="b")
        assert index.describe_index_stats().namespaces["b"].vector_count == 1
        pc.delete_index("dropped")
        index.close()
        pc.close()

    assert sorted(p.name for p in tmp_path.glob("*.npz")) == ["kept.npz"]
    with PineconeServer(data_dir=tmp_path) as server:
        pc = Pinecone(api_key=API_KEY, host=server.url)
        assert [m.name for m in pc.list_indexes()] == ["kept"]
        described = pc.describe_index("kept")
        assert (described.dimension, described.metric, described.tags) == (6, "euclidean", {"owner": "search"})
        index = pc.index(name="kept")
        stats = index.describe_index_stats()
        assert {ns: s.vector_count for ns, s in stats.namespaces.items()} == {"a": 1200, "b": 2}
        fetched = index.fetch(ids=["k0", "k1199"], namespace="a").vectors
        np.testing.assert_array_equal(np.asarray(fetched["k1199"].values, dtype=np.float32), vectors[1199])
        assert fetched["k0"].metadata == {"n": 0.0}
        sparse = index.fetch(ids=["s"], namespace="b").vectors["s"].sparse_values
        assert (sparse.indices, sparse.values) == ([3, 9], [0.5, 0.25])
        assert index.describe_namespace(name="empty").record_count == 0
        ids = [item.id for page in index.list(namespace="a") for item in page.vectors]
        assert ids == sorted(f"k{i}" for i in range(1200))
        index.close()
        pc.close()


def test_periodic_snapshot_only_rewrites_changed_indexes(tmp_path: Path) -> None:
    engine = Engine(data_dir=tmp_path)
    engine.create_index(IndexSpec(name="one", dimension=2, metric="cosine"))
    assert [p.name for p in engine.save()] == ["one.npz"]
    assert engine.save() == []  # unchanged since the last snapshot
    engine.index("one").upsert("", ["a"], np.ones((1, 2), dtype=np.float32), [None], [None])
    assert [p.name for p in engine.save()] == ["one.npz"]
    assert not list(tmp_path.glob("*.tmp"))  # written through a temp file and os.replace


def test_unusable_data_dir_is_a_usage_error(tmp_path: Path) -> None:
    afile = tmp_path / "file"
    afile.write_text("x")
    with pytest.raises(UsageError, match="is a file, not a directory"):
        Engine(data_dir=afile)
    (tmp_path / "broken.npz").write_bytes(b"not a snapshot")
    with pytest.raises(UsageError, match="cannot read index snapshot"):
        Engine(data_dir=tmp_path)
