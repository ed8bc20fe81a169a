"""The server's write-ahead mutation log: what it acknowledged is replayed after a crash, exactly as it was
applied live; snapshots compact it; a torn last write is cut, damage anywhere else refuses to start."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from harness.clock import ManualClock
from harness.errors import UsageError
from harness.pinecone_local import mutation_log
from harness.pinecone_local.engine import Engine
from harness.pinecone_local.mutation_log import MutationLog
from harness.pinecone_local.vector_index import IndexSpec


def _state(engine: Engine) -> dict[str, Any]:
    """Everything an engine holds, flattened for comparison."""
    out: dict[str, Any] = {}
    for spec in engine.list_indexes():
        index = engine.index(spec.name)
        snap, _ = index.snapshot()
        out[spec.name] = {
            "settings": snap.settings,
            "namespaces": {
                ns.name: (ns.ids, ns.values.tolist(), ns.metadata, ns.sparse, ns.declared, ns.schema)
                for ns in snap.namespaces
            },
        }
    return out


def _vectors(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, 4)).astype(np.float32)


def _workload(engine: Engine) -> None:
    """Every kind of mutation, a lagged write and a re-created index among them."""
    engine.create_index(IndexSpec(name="a", dimension=4, metric="cosine"))
    engine.create_index(IndexSpec(name="gone", dimension=2, metric="euclidean"))
    a = engine.index("a")
    a.upsert(
        "", [f"r{i}" for i in range(50)], _vectors(50, 1), [{"g": i % 3, "t": ["x"]} for i in range(50)], [None] * 50
    )
    a.upsert("ns", ["s1", "s2"], _vectors(2, 2), [None, {"k": "v"}], [None, None])
    a.delete_ids("", ["r0", "r1", "missing"])
    a.delete_by_filter("", {"g": {"$eq": 2}})
    a.update_by_id("", "r3", _vectors(1, 3)[0], None, {"new": True})
    a.update_by_filter("", {"g": 1}, {"flag": "one"}, dry_run=False)
    a.create_namespace("declared", {"fields": {"g": {"filterable": True}}})
    a.create_namespace("dropped", None)
    a.delete_namespace("dropped")
    a.configure(deletion_protection="enabled", tags={"team": "search", "tmp": "x"})
    a.configure(deletion_protection=None, tags={"tmp": ""})
    engine.index("gone").upsert("", ["g1"], np.ones((1, 2), np.float32), [None], [None])
    engine.delete_index("gone")
    engine.create_index(IndexSpec(name="gone", dimension=3, metric="dotproduct"))  # a second incarnation
    engine.index("gone").upsert("", ["g2"], np.ones((1, 3), np.float32), [{"n": 2.0}], [None])


def test_a_crash_after_every_kind_of_mutation_replays_to_the_same_state(tmp_path: Path) -> None:
    live = Engine(data_dir=tmp_path)
    _workload(live)
    expected = _state(live)
    # No close: the process "dies" here, with nothing saved but the log.
    assert not list(tmp_path.glob("*.npz"))
    restarted = Engine(data_dir=tmp_path)
    assert restarted.replayed > 0
    assert _state(restarted) == expected


def test_snapshots_compact_the_log_and_replay_starts_after_them(tmp_path: Path) -> None:
    live = Engine(data_dir=tmp_path)
    _workload(live)
    live.save()
    assert len(MutationLog(tmp_path).segments()) == 1  # the old segments are gone
    live.index("a").upsert("", ["late"], _vectors(1, 9), [{"after": "snapshot"}], [None])
    live.delete_index("gone")
    expected = _state(live)
    restarted = Engine(data_dir=tmp_path)
    assert restarted.replayed == 1  # only what came after the snapshot ("gone" took its snapshot with it)
    assert _state(restarted) == expected and "gone" not in expected


def test_a_write_held_back_by_the_lag_is_kept_until_applied(tmp_path: Path) -> None:
    clock = ManualClock()
    live = Engine(data_dir=tmp_path, clock=clock)
    live.create_index(IndexSpec(name="lag", dimension=2, metric="cosine"))
    live.set_faults("lag", visibility_lag_ms=60_000)
    live.index("lag").upsert("", ["late"], np.ones((1, 2), np.float32), [None], [None])
    assert live.index("lag").pending_writes == 1
    live.save()  # the snapshot cannot hold the pending write: its frame must stay
    restarted = Engine(data_dir=tmp_path, clock=clock)
    assert [v.id for v in restarted.index("lag").fetch("", ["late"])] == ["late"]


def test_a_torn_last_write_is_cut_and_what_came_before_is_kept(tmp_path: Path) -> None:
    live = Engine(data_dir=tmp_path)
    live.create_index(IndexSpec(name="t", dimension=2, metric="cosine"))
    live.index("t").upsert("", ["kept"], np.ones((1, 2), np.float32), [None], [None])
    ((_, segment),) = MutationLog(tmp_path).segments()
    whole = segment.read_bytes()
    live.index("t").upsert("", ["torn"], np.ones((1, 2), np.float32), [None], [None])
    torn = segment.read_bytes()[: len(whole) + 20]  # the second frame cut mid-write
    segment.write_bytes(torn)
    restarted = Engine(data_dir=tmp_path)
    assert [v.id for v in restarted.index("t").fetch("", ["kept", "torn"])] == ["kept"]
    assert segment.read_bytes() == whole


@pytest.mark.parametrize("where", ["first segment", "middle of the last segment", "garbage last segment"])
def test_damage_that_is_not_a_torn_tail_refuses_to_start_and_changes_nothing(tmp_path: Path, where: str) -> None:
    live = Engine(data_dir=tmp_path)
    live.create_index(IndexSpec(name="d", dimension=2, metric="cosine"))
    for i in range(3):
        live.index("d").upsert("", [f"v{i}"], np.ones((1, 2), np.float32), [None], [None])
    ((_, segment),) = MutationLog(tmp_path).segments()
    data = bytearray(segment.read_bytes())
    if where == "first segment":
        (tmp_path / "wal-99999999999999999999.log").write_bytes(b"")  # a later segment exists
    if where == "garbage last segment":
        data[:] = os.urandom(len(data))
        data[0:4] = (2**31).to_bytes(4, "little")  # a length no write has
    else:
        data[30] ^= 0xFF  # inside the first frame
    segment.write_bytes(bytes(data))
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    with pytest.raises(UsageError, match="damaged"):
        Engine(data_dir=tmp_path)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_concurrent_writers_share_one_sync(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Group commit: while one sync is in flight, the writers that queue up behind it go out in one more."""
    log = MutationLog(tmp_path)
    log.start(next_seq=1)
    release = threading.Event()
    syncs: list[int] = []
    real_sync = os.fdatasync

    def slow_sync(fd: int) -> None:
        syncs.append(fd)
        if len(syncs) == 1:
            release.wait(timeout=60)
        real_sync(fd)

    monkeypatch.setattr(mutation_log.os, "fdatasync", slow_sync)
    done: list[int] = []

    def writer(n: int) -> None:
        seq = log.append({"op": "test", "index": "x", "n": n})
        log.wait(seq)
        done.append(seq)

    first = threading.Thread(target=writer, args=(0,))
    first.start()
    deadline = time.monotonic() + 30
    while not syncs:  # the first writer leads a sync and is held inside it
        assert time.monotonic() < deadline
        time.sleep(0.001)
    others = [threading.Thread(target=writer, args=(n,)) for n in range(1, 8)]
    for thread in others:
        thread.start()
    while log.appended < 8:  # every other writer has appended behind the held sync
        assert time.monotonic() < deadline
        time.sleep(0.001)
    release.set()
    for thread in [first, *others]:
        thread.join(timeout=30)
    assert sorted(done) == list(range(1, 9))
    assert len(syncs) == 2  # eight acknowledged writes, two syncs
    log.close()
    assert sorted(r.header["n"] for r in MutationLog(tmp_path).read()) == list(range(8))
