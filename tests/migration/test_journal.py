"""The SQLite journal: state, atomic transitions, checkpoints, the outbox, events — across reopen."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from harness.migration.journal import Journal, record_key
from harness.model import RecordBatch


def test_fresh_journal_is_idle_at_zero_percent(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite") as journal:
        state = journal.state()
        assert (state.phase, state.read_percent, state.write_mode, state.canary_step) == (
            "idle",
            0.0,
            "source_only",
            0,
        )
        assert journal.checkpoint().status == "new"


def test_state_checkpoint_outbox_and_events_survive_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    batch = RecordBatch.build(["a", "b"], np.arange(6, dtype=np.float32).reshape(2, 3), [{"x": 1}, {"y": [1, 2]}])
    with Journal(path) as journal:
        journal.transition(12.5, "canary", read_percent=25.0, canary_step=1)
        journal.note_attempt(500)
        journal.advance('["cursor", 1]', 500)
        seq = journal.outbox.enqueue_upsert("target", batch, "timeout")
        journal.outbox.enqueue_delete("target", ["c"], None, "timeout")
    with Journal(path) as journal:
        state = journal.state()
        assert (state.phase, state.read_percent, state.canary_step) == ("canary", 25.0, 1)
        cp = journal.checkpoint()
        assert (cp.cursor, cp.done, cp.attempted, cp.status) == ('["cursor", 1]', 500, 500, "copying")
        pending = journal.outbox.pending()
        assert [e.op for e in pending] == ["upsert", "delete"]
        assert pending[0].seq == seq and pending[0].batch is not None
        np.testing.assert_array_equal(pending[0].batch.vectors, batch.vectors)
        assert pending[0].batch.payloads == batch.payloads and pending[0].last_error == "timeout"
        assert journal.outbox.pending_keys("target", [record_key("a"), record_key("z")]) == {record_key("a")}
        journal.outbox.acknowledge(seq)
        assert journal.outbox.pending_keys("target", [record_key("a")]) == set()
        assert journal.outbox.size() == 1
        (event,) = journal.events("transition")
        assert event.at == 12.5 and event.data["to"] == "canary" and event.data["read_percent"] == 25.0


def test_record_keys_keep_ints_strings_and_namespaces_apart() -> None:
    assert len({record_key(1), record_key("1"), record_key(1, "ns"), record_key("1", "ns")}) == 4


def test_checkpoint_cursor_and_done_move_together(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite") as journal:
        journal.note_attempt(250)
        journal.advance("c1", 100)
        journal.advance("c2", 100)
        journal.advance(None, 50, status="copied")
        cp = journal.checkpoint()
        assert (cp.cursor, cp.done, cp.status) == (None, 250, "copied")
        journal.reset_checkpoint()
        assert journal.checkpoint().done == 0


def test_dual_write_log_records_only_while_a_backfill_is_active(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite") as journal:
        journal.note_dual_writes(["k0"])
        assert journal.dual_writes_since(0) == ([], 0)
        journal.set_backfill_active(True)
        journal.note_dual_writes(["k1", "k2", "k1"])
        journal.note_dual_writes(["k3"], "delete")
        entries, mark = journal.dual_writes_since(0)
        assert [(e.key, e.op, e.acknowledged) for e in entries] == [
            ("k1", "upsert", False),
            ("k2", "upsert", False),
            ("k1", "upsert", False),
            ("k3", "delete", False),
        ]
        assert mark == 4
        journal.note_dual_writes_acknowledged(["k1"], "upsert", np.ones((1, 3), np.float32), [{"v": 2}])
        journal.note_dual_writes_acknowledged(["k3"], "delete")
        entries, mark = journal.dual_writes_since(4)
        assert [(e.key, e.op, e.acknowledged, e.payload) for e in entries] == [
            ("k1", "upsert", True, {"v": 2}),
            ("k3", "delete", True, None),
        ]
        assert entries[0].vector is not None and entries[0].vector.tolist() == [1.0, 1.0, 1.0]
        assert not journal.close_dual_write_log(4)  # two entries after seq 4: not seen yet, so not dropped
        assert journal.close_dual_write_log(mark)
        assert journal.dual_writes_since(0) == ([], 0)
        journal.note_dual_writes_acknowledged(["k4"], "delete")  # the log is closed: nothing reopens it
        assert journal.dual_writes_since(0) == ([], 0)


def test_unknown_event_kind_is_refused(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite") as journal, pytest.raises(ValueError, match="unknown event kind"):
        journal.append("gossip", {}, at=0.0)


def test_threads_share_one_journal(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite") as journal:

        def write(n: int) -> None:
            for i in range(50):
                journal.append("info", {"thread": n, "i": i}, at=float(i))
                journal.outbox.enqueue_delete("source", [n * 1000 + i], None, None)

        threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(journal.events("info")) == 200
        assert journal.outbox.size("source") == 200
