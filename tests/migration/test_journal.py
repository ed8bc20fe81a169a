"""The SQLite journal: state, atomic transitions, checkpoints, the outbox, events — across reopen."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from harness.migration.journal import JOURNAL_SCHEMA_VERSION, Journal, JournalError, record_key
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


# -- integrity: a journal ragmig could not have written is refused on open, and left byte-identical --------


def _good_journal(path: Path) -> bytes:
    with Journal(path) as journal:
        journal.set(source="exact://a", target="exact://b")
        for i in range(300):
            journal.append("info", {"i": i, "pad": "x" * 400}, at=float(i))
        journal.note_attempt(1000)
        journal.advance('{"cursor": 1}', 1000)
    return path.read_bytes()


def _sql(statement: str) -> Callable[[Path, bytes], None]:
    def damage(path: Path, good: bytes) -> None:
        path.write_bytes(good)
        db = sqlite3.connect(path)
        db.execute(statement)
        db.commit()
        db.close()

    return damage


def _bytes(make: Callable[[bytes], bytes]) -> Callable[[Path, bytes], None]:
    return lambda path, good: path.write_bytes(make(good))


def _foreign(path: Path, _good: bytes) -> None:
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE users (id INTEGER, name TEXT)")
    db.commit()
    db.close()


CORRUPTIONS = {
    "truncated to half": (_bytes(lambda g: g[: len(g) // 2]), "truncated"),
    "truncated to one page": (_bytes(lambda g: g[:4096]), "truncated"),
    "truncated mid-header": (_bytes(lambda g: g[:60]), "not a ragmig journal"),
    "garbage": (_bytes(lambda g: bytes(range(256)) * 64), "not a ragmig journal"),
    "a text file": (_bytes(lambda g: b"source = 'x'\n"), "not a ragmig journal"),
    "a page overwritten": (_bytes(lambda g: g[:8192] + b"\xa5" * 4096 + g[12288:]), "damaged"),
    "another program's database": (_foreign, "another program"),
    "from a newer ragmig": (_sql("PRAGMA user_version = 99"), "newer ragmig"),
    "cursor moved by hand": (_sql("UPDATE checkpoints SET cursor = '{\"cursor\": 7}'"), "impossible checkpoint"),
    "done ahead of what was sent": (_sql("UPDATE checkpoints SET done = 5000"), "ahead of acknowledged progress"),
    "negative done": (_sql("UPDATE checkpoints SET done = -1"), "impossible checkpoint"),
    "a cursor after the copy": (_sql("UPDATE checkpoints SET status = 'copied'"), "a cursor with status 'copied'"),
    "an unknown status": (_sql("UPDATE checkpoints SET status = 'weird'"), "unknown status"),
    "a state value that is not JSON": (_sql("UPDATE state SET value = '{{' WHERE key = 'source'"), "state value"),
    "a state value of the wrong type": (
        _sql("INSERT INTO state (key, value) VALUES ('canary_step', '\"many\"')"),
        "state value",
    ),
}


@pytest.mark.parametrize("case", sorted(CORRUPTIONS))
def test_a_journal_ragmig_could_not_have_written_is_refused_and_left_byte_identical(tmp_path: Path, case: str) -> None:
    good = _good_journal(tmp_path / "good.sqlite")
    damage, needle = CORRUPTIONS[case]
    path = tmp_path / "j.sqlite"
    damage(path, good)
    before = path.read_bytes()
    with pytest.raises(JournalError) as info:
        Journal(path)
    message = str(info.value)
    assert needle in message and str(path) in message and "\n" not in message
    assert path.read_bytes() == before
    assert not Path(f"{path}-wal").exists() or Path(f"{path}-wal").stat().st_size == 0


def test_a_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(JournalError, match="is a directory"):
        Journal(tmp_path)


def test_an_empty_file_is_a_new_journal_and_a_good_one_reopens(tmp_path: Path) -> None:
    empty = tmp_path / "empty.sqlite"
    empty.write_bytes(b"")
    with Journal(empty) as journal:
        assert journal.checkpoint().status == "new"
    good = tmp_path / "good.sqlite"
    _good_journal(good)
    with Journal(good) as journal:
        assert journal.checkpoint().done == 1000 and journal.state().source == "exact://a"
    header = good.read_bytes()[:100]
    assert int.from_bytes(header[68:72], "big") == 0x52474D4A  # the application id says "ragmig journal"
    assert int.from_bytes(header[60:64], "big") == JOURNAL_SCHEMA_VERSION


def test_a_journal_from_before_versioning_is_upgraded_and_sealed(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    _good_journal(path)
    db = sqlite3.connect(path)
    db.execute("PRAGMA application_id = 0")
    db.execute("PRAGMA user_version = 0")
    db.execute("ALTER TABLE checkpoints DROP COLUMN seal")
    db.commit()
    db.close()
    with Journal(path) as journal:
        assert journal.checkpoint().done == 1000
        journal.note_attempt(10)
        journal.advance("next", 10)
    with Journal(path) as journal:  # sealed now: a later hand edit is caught
        assert journal.checkpoint().cursor == "next"
    _sql("UPDATE checkpoints SET cursor = 'skipped-ahead'")(path, path.read_bytes())
    with pytest.raises(JournalError, match="seal"):
        Journal(path)


def test_advance_refuses_to_put_done_ahead_of_what_was_sent(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite") as journal:
        journal.note_attempt(100)
        journal.advance("c1", 100)
        with pytest.raises(ValueError, match="only 100 sent"):
            journal.advance("c2", 1)
        assert journal.checkpoint().done == 100
