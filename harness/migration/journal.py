"""The migration journal: one SQLite file (WAL) holding everything a crash needs to resume.

- ``state``: phase, read percentage, write mode, canary step, failed checks of the step, source/target identity.
- ``checkpoints``: the backfill cursor and the records done, written in the same transaction, only
  after the target acknowledged the batch, so a resume never redoes acknowledged work.
- ``outbox``: dual-write operations the non-authoritative side has not acknowledged yet (payloads as
  JSON, vectors as float32 bytes), replayed in order until acknowledged.
- ``dual_writes``: records written through dual-write while a backfill runs, so the backfill can put
  right records that changed under it (a page read before a write must not overwrite that write on the
  target). Each write is logged twice: its intent (key and op, before the authoritative write) and,
  once the authoritative side acknowledged it, the write itself (op, vector, payload). The backfill
  re-applies the acknowledged write, so a source that is slow to show its own writes (Pinecone's
  read-after-write lag) can neither delete nor roll back an acknowledged write on the target.
- ``acknowledged_writes``: the key and op of every write acknowledged through dual-write (either write
  mode), for the parity gate before ``live`` and ``completed`` and the read-your-writes probes: each
  is read back from the target and compared with the source.
- ``events``: the append-only log of transitions, health checks, decisions, alerts and faults.
- ``orphan_baseline``: per-record digests of the source when its writes were switched off.

Integrity: the file carries an application id and a schema version (``PRAGMA application_id`` /
``user_version``, ``JOURNAL_SCHEMA_VERSION``), and every checkpoint row a seal (a hash of its cursor,
counts and status). Opening checks, before anything is written: that the file is an SQLite journal of
ours and not truncated, garbage, a directory or another program's database; that it is not from a
newer ragmig; and that every checkpoint is possible (done never ahead of what was sent, a cursor only
while copying, the seal intact — a cursor moved by hand would silently skip records). Any of these
raises ``JournalError`` (one line naming the file and what to do) and leaves the file byte-identical.
A journal from before versioning (application id 0, our tables) is upgraded in place.

One connection, shared by threads behind a lock: the orchestrator, the query service's writers and the
backfill's reader may all use the same journal. WAL with ``synchronous=NORMAL`` keeps every committed
transaction across a process kill (SIGKILL); only a power loss could take the last ones.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import UsageError
from harness.model import PointId, RecordBatch
from harness.records import record_key

__all__ = [
    "CHECKPOINT_STATUSES",
    "COMMANDS",
    "EVENT_KINDS",
    "JOURNAL_SCHEMA_VERSION",
    "Checkpoint",
    "Command",
    "DualWrite",
    "Event",
    "Journal",
    "JournalError",
    "MigrationState",
    "Outbox",
    "OutboxEntry",
]

EVENT_KINDS = ("transition", "health", "decision", "alert", "fault", "info")
COMMANDS = ("rollback", "pause", "resume")
"""What another process may ask a running orchestrator to do (``ragmig rollback/pause/resume``)."""
CHECKPOINT_STATUSES = ("new", "copying", "copied", "optimized")
JOURNAL_APPLICATION_ID = 0x52474D4A  # "RGMJ", in the file header (PRAGMA application_id)
JOURNAL_SCHEMA_VERSION = 2
"""``PRAGMA user_version`` of a journal this ragmig writes (0: written before versioning, upgraded on open;
2 added ``acknowledged_writes``)."""
_TABLES = frozenset(
    {
        "state",
        "checkpoints",
        "outbox",
        "outbox_keys",
        "dual_writes",
        "acknowledged_writes",
        "events",
        "orphan_baseline",
        "commands",
    }
)
_REQUIRED_COLUMNS = {
    "state": {"key", "value"},
    "checkpoints": {"name", "cursor", "done", "attempted", "status", "updated_at"},
}
_SQLITE_MAGIC = b"SQLite format 3\x00"
_QUICK_CHECK_MAX_BYTES = 64 * 1024 * 1024  # a full page scan on open only below this size (it reads every page)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS checkpoints (
    name TEXT PRIMARY KEY, cursor TEXT, done INTEGER NOT NULL DEFAULT 0,
    attempted INTEGER NOT NULL DEFAULT 0, status TEXT NOT NULL DEFAULT 'new', updated_at REAL NOT NULL,
    seal TEXT);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, side TEXT NOT NULL, op TEXT NOT NULL,
    ids TEXT NOT NULL, namespaces TEXT, payloads TEXT, vectors BLOB, dimension INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0, acknowledged INTEGER NOT NULL DEFAULT 0,
    last_error TEXT, created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS outbox_keys (seq INTEGER NOT NULL, side TEXT NOT NULL, key TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS outbox_keys_by_key ON outbox_keys (side, key);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (acknowledged, seq);
CREATE TABLE IF NOT EXISTS dual_writes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL, op TEXT NOT NULL DEFAULT 'upsert',
    acknowledged INTEGER NOT NULL DEFAULT 0, payload TEXT, vector BLOB);
CREATE TABLE IF NOT EXISTS acknowledged_writes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL, op TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, wall REAL NOT NULL, kind TEXT NOT NULL,
    data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS orphan_baseline (key TEXT PRIMARY KEY, digest BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS commands (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, command TEXT NOT NULL, reason TEXT, requested_wall REAL NOT NULL,
    taken_wall REAL, outcome TEXT);
"""

# The keys of ``state`` that make up ``MigrationState``, with their defaults.
_STATE_DEFAULTS: dict[str, Any] = {
    "phase": "idle",
    "read_percent": 0.0,
    "write_mode": "source_only",
    "canary_step": 0,
    "consecutive_failures": 0,
    "source": None,
    "target": None,
    "reason": None,
}
_BACKFILL_ACTIVE = "backfill_active"
# Columns added to ``dual_writes`` after its first release: (name, declaration) for older journals.
_DUAL_WRITE_COLUMNS = (
    ("op", "TEXT NOT NULL DEFAULT 'upsert'"),
    ("acknowledged", "INTEGER NOT NULL DEFAULT 0"),
    ("payload", "TEXT"),
    ("vector", "BLOB"),
)


class JournalError(UsageError):
    """A journal file that cannot be used as it is: not a journal, damaged, from a newer ragmig, or with a
    checkpoint ragmig could not have written. The message names the file and what to do; nothing was
    written to the file."""


def _seal(name: str, cursor: str | None, done: int, attempted: int, status: str) -> str:
    """The seal of a checkpoint row: it detects a row edited outside ragmig (not a security boundary)."""
    material = json.dumps(["ragmig-checkpoint", 1, name, cursor, int(done), int(attempted), status])
    return hashlib.sha256(material.encode()).hexdigest()


def _restore_hint(path: Path) -> str:
    return f"restore {path} from a backup, or start the migration over with another --journal"


def _check_file(path: Path) -> None:
    """Refuse a journal path SQLite should not touch: a directory, something unreadable, a file that is
    not an SQLite database or one cut short. Reads the header only; a missing or empty file is a new journal."""
    if path.is_dir():
        raise JournalError(f"journal {path} is a directory; pass a file path with --journal")
    if not path.exists():
        return
    if not path.is_file():
        raise JournalError(f"journal {path} is not a regular file; pass a file path with --journal")
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            header = handle.read(100)
    except OSError as exc:
        raise JournalError(f"cannot read journal {path} ({exc.strerror or exc}); check its permissions") from None
    if size == 0:
        return  # created but never written (a crash before the first commit): nothing to lose
    if len(header) < 100 or not header.startswith(_SQLITE_MAGIC):
        raise JournalError(
            f"journal {path} is not a ragmig journal (not an SQLite database: garbage or another kind of file); "
            "pass the right --journal, or move this file aside"
        )
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    if page_size < 512 or page_size & (page_size - 1) or size % page_size:
        raise JournalError(f"journal {path} is damaged (truncated or overwritten: {size} bytes); {_restore_hint(path)}")
    pages = int.from_bytes(header[28:32], "big")
    header_valid = header[24:28] == header[92:96]
    wal = Path(f"{path}-wal")
    # With a write-ahead log present, a checkpoint cut short may leave the file shorter than its header
    # says (the log still holds the pages); without one, the file must hold every page.
    wal_pending = wal.exists() and wal.stat().st_size > 0
    if header_valid and pages * page_size > size and not wal_pending:
        raise JournalError(f"journal {path} is truncated ({size} of {pages * page_size} bytes); {_restore_hint(path)}")


@dataclass(frozen=True, slots=True)
class MigrationState:
    """Where the migration stands, as journaled. ``read_percent`` is 0–100. ``consecutive_failures`` is
    the number of failed health checks of the current canary step, consecutive or not (the name is kept
    for journals already written)."""

    phase: str
    read_percent: float
    write_mode: str
    canary_step: int
    consecutive_failures: int
    source: str | None
    target: str | None
    reason: str | None


@dataclass(frozen=True, slots=True)
class DualWrite:
    """One entry of the dual-write log. ``op``: "upsert" or "delete". ``acknowledged``: False for the
    intent logged before the authoritative write (it may still be in flight, or have failed); True for
    the write the authoritative side acknowledged, with its ``vector`` and ``payload`` when an upsert."""

    seq: int
    key: str
    op: str
    acknowledged: bool
    vector: np.ndarray | None = None
    payload: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """Progress of a copy: ``cursor`` is the store's page token after the last acknowledged batch;
    ``done`` records acknowledged; ``attempted`` records sent to the target (acknowledged or not), so
    ``attempted - done`` is work a crash made us redo. ``status``: new, copying, copied, optimized."""

    name: str
    cursor: str | None
    done: int
    attempted: int
    status: str
    updated_at: float


@dataclass(frozen=True, slots=True)
class Event:
    """One journal event: ``at`` is harness-clock seconds, ``kind`` one of ``EVENT_KINDS``."""

    seq: int
    at: float
    kind: str
    data: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"seq": self.seq, "at": self.at, "kind": self.kind, "data": self.data}


@dataclass(frozen=True, slots=True)
class Command:
    """A request from another process (one of ``COMMANDS``), waiting until the orchestrator takes it.
    Times are wall-clock seconds (``time.time()``): the requester and the orchestrator share no clock."""

    seq: int
    command: str
    reason: str | None
    requested_wall: float
    taken_wall: float | None = None
    outcome: str | None = None


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """A pending write for one side ("source" or "target"): an upsert (``batch``) or a delete (``ids``)."""

    seq: int
    side: str
    op: str
    ids: tuple[PointId, ...]
    namespaces: tuple[str, ...] | None
    batch: RecordBatch | None
    attempts: int
    last_error: str | None
    created_at: float

    def keys(self, default_namespace: str = "") -> list[str]:
        """The record keys this entry writes."""
        namespaces = self.namespaces or (default_namespace,) * len(self.ids)
        return [record_key(pid, ns) for pid, ns in zip(self.ids, namespaces, strict=True)]


class Journal:
    """The SQLite journal at ``path`` (created when missing; ``":memory:"`` for a throwaway one)."""

    def __init__(self, path: str | Path) -> None:
        """Open (or create) the journal; ``JournalError`` when the file is not a usable journal (see the
        module docstring), before anything is written to it."""
        self.path = str(path)
        if self.path != ":memory:":
            _check_file(Path(self.path))
            try:
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise JournalError(
                    f"cannot create the directory of journal {self.path} ({exc.strerror or exc}); pass another --journal"
                ) from None
        self._lock = threading.RLock()
        try:
            # Autocommit mode: transactions are opened explicitly (BEGIN IMMEDIATE) in ``transaction``.
            self._db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise JournalError(f"cannot open journal {self.path} ({exc}); pass another --journal") from None
        try:
            version = self._validate()
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            with self.transaction() as db:
                # Statement by statement: executescript would commit behind the transaction's back.
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        db.execute(statement)
                if version < JOURNAL_SCHEMA_VERSION:
                    self._upgrade(db)
        except JournalError:
            self._db.close()
            raise
        except sqlite3.DatabaseError as exc:
            self._db.close()
            found = " ".join(str(exc).split())
            raise JournalError(
                f"journal {self.path} is damaged or not a ragmig journal ({found}); {_restore_hint(Path(self.path))}"
            ) from None
        self.outbox = Outbox(self)

    def _validate(self) -> int:
        """Read-only checks of an existing file (see the module docstring); returns its schema version."""
        db = self._db
        application_id = int(db.execute("PRAGMA application_id").fetchone()[0])
        version = int(db.execute("PRAGMA user_version").fetchone()[0])
        tables = {
            row[0]
            for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        }
        path = Path(self.path)
        foreign = (
            f"journal {path} is not a ragmig journal (an SQLite database of another program); "
            "pass the right --journal, or move this file aside"
        )
        if application_id not in (0, JOURNAL_APPLICATION_ID):
            raise JournalError(foreign)
        if not tables and application_id == 0:
            return 0  # a new, empty database: stamped as ours by ``_upgrade``
        if not tables <= _TABLES or not set(_REQUIRED_COLUMNS) <= tables:
            raise JournalError(foreign)
        for table, required in _REQUIRED_COLUMNS.items():
            if not required <= {row[1] for row in db.execute(f"PRAGMA table_info({table})")}:
                raise JournalError(foreign)
        if version > JOURNAL_SCHEMA_VERSION:
            raise JournalError(
                f"journal {path} has schema version {version}, written by a newer ragmig (this one reads up to "
                f"{JOURNAL_SCHEMA_VERSION}); upgrade ragmig to continue this migration"
            )
        if self.path != ":memory:" and os.path.getsize(self.path) <= _QUICK_CHECK_MAX_BYTES:
            problems = [row[0] for row in db.execute("PRAGMA quick_check(3)")]
            if problems != ["ok"]:
                found = " ".join("; ".join(problems).split())[:200]
                raise JournalError(f"journal {path} is damaged ({found}); {_restore_hint(path)}")
        self._check_state(path)
        self._check_checkpoints(path, sealed=version >= 1)
        return version

    def _check_state(self, path: Path) -> None:
        rows = self._db.execute("SELECT key, value FROM state").fetchall()
        try:
            for _, value in rows:
                json.loads(value)
            self.state()
        except (TypeError, ValueError):
            raise JournalError(
                f"journal {path} holds a state value ragmig could not have written; {_restore_hint(path)}"
            ) from None

    def _check_checkpoints(self, path: Path, sealed: bool) -> None:
        """Every checkpoint must be one ragmig could have written: the copy never ahead of what was sent,
        a cursor only while copying, a known status, and (from schema version 1) its seal intact."""
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(checkpoints)")}
        seal_column = "seal" if "seal" in columns else "NULL"
        rows = self._db.execute(f"SELECT name, cursor, done, attempted, status, {seal_column} FROM checkpoints")
        for name, cursor, done, attempted, status, seal in rows:
            problem = ""
            if not all(isinstance(v, int) for v in (done, attempted)) or not isinstance(status, str):
                problem = "counts that are not integers"
            elif cursor is not None and not isinstance(cursor, str):
                problem = "a cursor that is not text"
            elif status not in CHECKPOINT_STATUSES:
                problem = f"an unknown status {status!r}"
            elif done < 0 or done > attempted:
                problem = f"{done} records done but {attempted} sent: the checkpoint is ahead of acknowledged progress"
            elif status != "copying" and cursor is not None:
                problem = f"a cursor with status {status!r}"
            elif status == "new" and done:
                problem = f"{done} records done with status 'new'"
            elif sealed and seal != _seal(name, cursor, done, attempted, status):
                problem = "a cursor or count changed outside ragmig (its seal does not match)"
            if problem:
                raise JournalError(
                    f"journal {path} has an impossible checkpoint {name!r} ({problem}); resuming from it could "
                    f"skip records: {_restore_hint(path)}"
                )

    def _upgrade(self, db: sqlite3.Connection) -> None:
        """Bring a journal written before versioning (or a new one) to ``JOURNAL_SCHEMA_VERSION``."""
        columns = {row[1] for row in db.execute("PRAGMA table_info(dual_writes)")}
        for name, declaration in _DUAL_WRITE_COLUMNS:
            if name not in columns:  # a journal written before the log recorded ops
                db.execute(f"ALTER TABLE dual_writes ADD COLUMN {name} {declaration}")
        if "seal" not in {row[1] for row in db.execute("PRAGMA table_info(checkpoints)")}:
            db.execute("ALTER TABLE checkpoints ADD COLUMN seal TEXT")
        rows = db.execute("SELECT name, cursor, done, attempted, status FROM checkpoints").fetchall()
        for name, cursor, done, attempted, status in rows:
            db.execute(
                "UPDATE checkpoints SET seal = ? WHERE name = ?", (_seal(name, cursor, done, attempted, status), name)
            )
        db.execute(f"PRAGMA application_id = {JOURNAL_APPLICATION_ID}")
        db.execute(f"PRAGMA user_version = {JOURNAL_SCHEMA_VERSION}")

    # -- plumbing --------------------------------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic write transaction (the lock also serialises this process's threads)."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    def close(self) -> None:
        """Close the connection; idempotent."""
        with self._lock:
            self._db.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- state -----------------------------------------------------------------------------------------
    def get(self, key: str, default: Any = None) -> Any:
        """The JSON value stored under ``key`` in ``state``."""
        rows = self._query("SELECT value FROM state WHERE key = ?", (key,))
        return json.loads(rows[0][0]) if rows else default

    def _put(self, db: sqlite3.Connection, values: Mapping[str, Any]) -> None:
        db.executemany(
            "INSERT INTO state (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [(k, json.dumps(v)) for k, v in values.items()],
        )

    def set(self, **values: Any) -> None:
        """Store JSON ``values`` in ``state`` atomically."""
        with self.transaction() as db:
            self._put(db, values)

    def state(self) -> MigrationState:
        """The journaled migration state (defaults for a fresh journal: idle, 0 %, source-only)."""
        with self._lock:
            rows = dict(self._db.execute("SELECT key, value FROM state").fetchall())
        values = {k: json.loads(rows[k]) if k in rows else d for k, d in _STATE_DEFAULTS.items()}
        return MigrationState(
            phase=str(values["phase"]),
            read_percent=float(values["read_percent"]),
            write_mode=str(values["write_mode"]),
            canary_step=int(values["canary_step"]),
            consecutive_failures=int(values["consecutive_failures"]),
            source=values["source"],
            target=values["target"],
            reason=values["reason"],
        )

    def transition(self, at: float, phase: str, **fields: Any) -> Event:
        """Move to ``phase`` (with other state ``fields``) and log the transition, in one transaction."""
        unknown = set(fields) - set(_STATE_DEFAULTS)
        if unknown:
            raise ValueError(f"unknown state fields {sorted(unknown)}")
        previous = self.state()
        with self.transaction() as db:
            self._put(db, {"phase": phase, **fields})
            data = {"from": previous.phase, "to": phase, **fields}
            data.setdefault("read_percent", previous.read_percent)
            data.setdefault("write_mode", previous.write_mode)
            return self._append(db, at, "transition", data)

    # -- events ----------------------------------------------------------------------------------------
    def _append(self, db: sqlite3.Connection, at: float, kind: str, data: Mapping[str, Any]) -> Event:
        if kind not in EVENT_KINDS:
            raise ValueError(f"unknown event kind {kind!r}; use one of {EVENT_KINDS}")
        payload = json.loads(json.dumps(data, default=_json_default))
        cur = db.execute(
            "INSERT INTO events (at, wall, kind, data) VALUES (?, ?, ?, ?)",
            (float(at), time.time(), kind, json.dumps(payload)),
        )
        return Event(seq=int(cur.lastrowid or 0), at=float(at), kind=kind, data=payload)

    def append(self, kind: str, data: Mapping[str, Any], at: float) -> Event:
        """Append one event (``at`` in harness-clock seconds) and return it."""
        with self.transaction() as db:
            return self._append(db, at, kind, data)

    def events(self, kind: str | None = None, since_seq: int = 0) -> list[Event]:
        """Events after ``since_seq`` in the order they were written, optionally of one ``kind``."""
        sql = "SELECT seq, at, kind, data FROM events WHERE seq > ?"
        params: list[Any] = [since_seq]
        if kind is not None:
            sql += " AND kind = ?"
            params.append(kind)
        rows = self._query(sql + " ORDER BY seq", params)
        return [Event(seq=r[0], at=r[1], kind=r[2], data=json.loads(r[3])) for r in rows]

    # -- checkpoints -----------------------------------------------------------------------------------
    def checkpoint(self, name: str = "backfill") -> Checkpoint:
        """The checkpoint ``name`` (a fresh one, status "new", when none was written)."""
        rows = self._query(
            "SELECT cursor, done, attempted, status, updated_at FROM checkpoints WHERE name = ?", (name,)
        )
        if not rows:
            return Checkpoint(name=name, cursor=None, done=0, attempted=0, status="new", updated_at=0.0)
        cursor, done, attempted, status, updated_at = rows[0]
        return Checkpoint(name, cursor, int(done), int(attempted), str(status), float(updated_at))

    def _write_checkpoint(self, db: sqlite3.Connection, name: str, **changes: Any) -> None:
        """Read-modify-write of checkpoint ``name`` inside ``db``'s transaction, sealed."""
        row = db.execute("SELECT cursor, done, attempted, status FROM checkpoints WHERE name = ?", (name,)).fetchone()
        values: dict[str, Any] = dict(
            zip(("cursor", "done", "attempted", "status"), row or (None, 0, 0, "new"), strict=True)
        )
        values.update(changes)
        cursor, done, attempted, status = values["cursor"], values["done"], values["attempted"], values["status"]
        if status not in CHECKPOINT_STATUSES:
            raise ValueError(f"unknown checkpoint status {status!r}; use one of {CHECKPOINT_STATUSES}")
        if done > attempted:
            raise ValueError(f"checkpoint {name!r}: {done} records done but only {attempted} sent (note_attempt first)")
        db.execute(
            "INSERT INTO checkpoints (name, cursor, done, attempted, status, updated_at, seal) VALUES (?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT(name) DO UPDATE SET cursor = excluded.cursor, done = excluded.done,"
            " attempted = excluded.attempted, status = excluded.status, updated_at = excluded.updated_at,"
            " seal = excluded.seal",
            (name, cursor, done, attempted, status, time.time(), _seal(name, cursor, done, attempted, status)),
        )

    def note_attempt(self, records: int, name: str = "backfill") -> None:
        """Count ``records`` as sent to the target (committed before the send, so redone work shows)."""
        with self.transaction() as db:
            row = db.execute("SELECT attempted FROM checkpoints WHERE name = ?", (name,)).fetchone()
            self._write_checkpoint(db, name, attempted=(row[0] if row else 0) + records)

    def advance(self, cursor: str | None, records: int, name: str = "backfill", status: str = "copying") -> None:
        """After the target acknowledged ``records``: the next cursor and the done count, atomically.
        ``ValueError`` if that would put the done count ahead of the records sent (``note_attempt``)."""
        with self.transaction() as db:
            row = db.execute("SELECT done FROM checkpoints WHERE name = ?", (name,)).fetchone()
            self._write_checkpoint(db, name, cursor=cursor, done=(row[0] if row else 0) + records, status=status)

    def set_checkpoint_status(self, status: str, name: str = "backfill") -> None:
        """Mark the copy ``status`` (copying, copied, optimized)."""
        with self.transaction() as db:
            self._write_checkpoint(db, name, status=status)

    def reset_checkpoint(self, name: str = "backfill") -> None:
        """Forget the checkpoint ``name`` (the next copy starts from the first page)."""
        with self.transaction() as db:
            db.execute("DELETE FROM checkpoints WHERE name = ?", (name,))

    # -- writes during a backfill ----------------------------------------------------------------------
    def set_backfill_active(self, active: bool) -> bool:
        """While active, dual-written keys are logged for the backfill to re-copy; off clears the log.
        Returns whether it was active before."""
        with self.transaction() as db:
            row = db.execute("SELECT value FROM state WHERE key = ?", (_BACKFILL_ACTIVE,)).fetchone()
            self._put(db, {_BACKFILL_ACTIVE: active})
            if not active:
                db.execute("DELETE FROM dual_writes")
        return row is not None and bool(json.loads(row[0]))

    def note_dual_writes(self, keys: Iterable[str], op: str = "upsert") -> bool:
        """Log the intent to dual-write ``keys`` (``op``: "upsert" or "delete"), before the authoritative
        write. A no-op unless a backfill is active; returns whether it logged."""
        rows = [(k, op) for k in keys]
        if not rows or not self.get(_BACKFILL_ACTIVE, False):  # the common case takes no write lock
            return False
        with self.transaction() as db:
            db.executemany("INSERT INTO dual_writes (key, op) VALUES (?, ?)", rows)
        return True

    def note_dual_writes_acknowledged(
        self,
        keys: Sequence[str],
        op: str,
        vectors: np.ndarray | None = None,
        payloads: Sequence[Mapping[str, Any]] | None = None,
    ) -> None:
        """Log the writes of ``keys`` the authoritative side acknowledged (an upsert with its ``vectors``
        rows and ``payloads``), so the backfill can re-apply exactly them. A no-op unless a backfill is active."""
        if op not in ("upsert", "delete"):
            raise ValueError(f"unknown dual-write op {op!r}")
        if op == "upsert":
            if vectors is None or payloads is None or len(vectors) != len(keys) or len(payloads) != len(keys):
                raise ValueError("an acknowledged upsert needs one vector and one payload per key")
            rows = np.ascontiguousarray(vectors, dtype=np.float32)
            values: list[tuple[str, str, str | None, bytes | None]] = [
                (k, op, json.dumps(dict(p), default=_json_default), rows[i].tobytes())
                for i, (k, p) in enumerate(zip(keys, payloads, strict=True))
            ]
        else:
            values = [(k, op, None, None) for k in keys]
        if not values:
            return
        with self.transaction() as db:
            # Checked inside the transaction: once the backfill closed the log, nothing may reopen it.
            row = db.execute("SELECT value FROM state WHERE key = ?", (_BACKFILL_ACTIVE,)).fetchone()
            if row is None or not json.loads(row[0]):
                return
            db.executemany(
                "INSERT INTO dual_writes (key, op, acknowledged, payload, vector) VALUES (?, ?, 1, ?, ?)", values
            )

    def dual_writes_since(self, seq: int) -> tuple[list[DualWrite], int]:
        """Log entries after ``seq`` in the order they were written, and the newest seq seen (pass it
        back next time)."""
        rows = self._query(
            "SELECT seq, key, op, acknowledged, payload, vector FROM dual_writes WHERE seq > ? ORDER BY seq", (seq,)
        )
        if not rows:
            return [], seq
        entries = [
            DualWrite(
                seq=int(r[0]),
                key=str(r[1]),
                op=str(r[2]),
                acknowledged=bool(r[3]),
                vector=np.frombuffer(r[5], dtype=np.float32).copy() if r[5] is not None else None,
                payload=json.loads(r[4]) if r[4] is not None else None,
            )
            for r in rows
        ]
        return entries, int(rows[-1][0])

    def close_dual_write_log(self, seq: int) -> bool:
        """Switch the log off and clear it — only when nothing was logged after ``seq`` (atomically, so a
        write logged meanwhile is never dropped unseen). Returns whether it closed."""
        with self.transaction() as db:
            newest = db.execute("SELECT MAX(seq) FROM dual_writes").fetchone()[0]
            if newest is not None and int(newest) > seq:
                return False
            self._put(db, {_BACKFILL_ACTIVE: False})
            db.execute("DELETE FROM dual_writes")
        return True

    def last_dual_write_seq(self) -> int:
        """The newest seq of the dual-write log (0 when empty)."""
        rows = self._query("SELECT MAX(seq) FROM dual_writes")
        return int(rows[0][0] or 0)

    # -- acknowledged writes (the parity gate's log) -----------------------------------------------------
    def note_acknowledged(self, keys: Sequence[str], op: str) -> None:
        """Log writes of ``keys`` (``op``: "upsert" or "delete") the authoritative side acknowledged."""
        if not keys:
            return
        with self.transaction() as db:
            db.executemany("INSERT INTO acknowledged_writes (key, op) VALUES (?, ?)", [(k, op) for k in keys])

    def acknowledged_writes(self, since_seq: int = 0, limit: int | None = None) -> list[tuple[int, str, str]]:
        """(seq, key, op) of acknowledged writes after ``since_seq``, oldest first (at most ``limit``)."""
        sql = "SELECT seq, key, op FROM acknowledged_writes WHERE seq > ? ORDER BY seq"
        params: list[Any] = [since_seq]
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [(int(r[0]), str(r[1]), str(r[2])) for r in self._query(sql, params)]

    def acknowledged_by_seq(self, seqs: Sequence[int]) -> list[tuple[int, str, str]]:
        """(seq, key, op) of the acknowledged writes numbered ``seqs`` (those that exist)."""
        rows: list[tuple[int, str, str]] = []
        for start in range(0, len(seqs), 500):
            chunk = list(seqs[start : start + 500])
            marks = ",".join("?" * len(chunk))
            found = self._query(
                f"SELECT seq, key, op FROM acknowledged_writes WHERE seq IN ({marks}) ORDER BY seq", chunk
            )
            rows += [(int(r[0]), str(r[1]), str(r[2])) for r in found]
        return rows

    def last_acknowledged_seq(self) -> int:
        """The newest seq of the acknowledged-write log (0 when empty)."""
        rows = self._query("SELECT MAX(seq) FROM acknowledged_writes")
        return int(rows[0][0] or 0)

    # -- commands from other processes -----------------------------------------------------------------
    def request(self, command: str, reason: str | None = None) -> Command:
        """Queue ``command`` for the orchestrator that runs this migration (it polls at every health
        check and between phases). Safe from any process: one short SQLite transaction."""
        if command not in COMMANDS:
            raise ValueError(f"unknown command {command!r}; use one of {COMMANDS}")
        wall = time.time()
        with self.transaction() as db:
            cur = db.execute(
                "INSERT INTO commands (command, reason, requested_wall) VALUES (?, ?, ?)", (command, reason, wall)
            )
        return Command(seq=int(cur.lastrowid or 0), command=command, reason=reason, requested_wall=wall)

    def pending_commands(self) -> list[Command]:
        """Commands not taken yet, oldest first."""
        rows = self._query(
            "SELECT seq, command, reason, requested_wall FROM commands WHERE taken_wall IS NULL ORDER BY seq"
        )
        return [Command(int(r[0]), str(r[1]), r[2], float(r[3])) for r in rows]

    def take_command(self, seq: int, outcome: str) -> None:
        """Mark command ``seq`` taken, with what came of it (one line)."""
        with self.transaction() as db:
            db.execute(
                "UPDATE commands SET taken_wall = ?, outcome = ? WHERE seq = ? AND taken_wall IS NULL",
                (time.time(), outcome, seq),
            )

    def commands(self) -> list[Command]:
        """Every command ever requested, oldest first (taken ones with their outcome)."""
        rows = self._query(
            "SELECT seq, command, reason, requested_wall, taken_wall, outcome FROM commands ORDER BY seq"
        )
        return [Command(int(r[0]), str(r[1]), r[2], float(r[3]), r[4], r[5]) for r in rows]

    # -- orphaned-write baseline -----------------------------------------------------------------------
    def save_orphan_baseline(self, digests: Mapping[str, bytes]) -> None:
        """Replace the stored per-record digests of the source."""
        with self.transaction() as db:
            db.execute("DELETE FROM orphan_baseline")
            db.executemany("INSERT INTO orphan_baseline (key, digest) VALUES (?, ?)", list(digests.items()))
            self._put(db, {"orphan_baseline_saved": True})

    def orphan_baseline(self) -> dict[str, bytes] | None:
        """The stored digests, or None when no baseline was saved."""
        if not self.get("orphan_baseline_saved", False):
            return None
        return {k: bytes(v) for k, v in self._query("SELECT key, digest FROM orphan_baseline")}


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return str(value)


class Outbox:
    """The durable dual-write outbox inside a ``Journal`` (``journal.outbox``)."""

    def __init__(self, journal: Journal) -> None:
        self._journal = journal

    def enqueue_upsert(self, side: str, batch: RecordBatch, error: str | None, default_namespace: str = "") -> int:
        """Queue an upsert of ``batch`` for ``side``; returns its sequence number."""
        vectors = np.ascontiguousarray(batch.vectors, dtype=np.float32)
        return self._enqueue(
            side,
            "upsert",
            batch.ids,
            batch.namespaces,
            json.dumps(list(batch.payloads), default=_json_default),
            vectors.tobytes(),
            batch.dimension,
            error,
            default_namespace,
        )

    def enqueue_delete(
        self,
        side: str,
        ids: Sequence[PointId],
        namespaces: Sequence[str] | None,
        error: str | None,
        default_namespace: str = "",
    ) -> int:
        """Queue a delete of ``ids`` for ``side``; returns its sequence number."""
        ns = tuple(namespaces) if namespaces else None
        return self._enqueue(side, "delete", tuple(ids), ns, None, None, None, error, default_namespace)

    def _enqueue(
        self,
        side: str,
        op: str,
        ids: Sequence[PointId],
        namespaces: Sequence[str] | None,
        payloads: str | None,
        vectors: bytes | None,
        dimension: int | None,
        error: str | None,
        default_namespace: str,
    ) -> int:
        ns = tuple(namespaces) if namespaces is not None else None
        keys = [record_key(pid, n) for pid, n in zip(ids, ns or (default_namespace,) * len(ids), strict=True)]
        ns_json = json.dumps(list(ns)) if ns is not None else None
        with self._journal.transaction() as db:
            cur = db.execute(
                "INSERT INTO outbox (side, op, ids, namespaces, payloads, vectors, dimension, last_error, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (side, op, json.dumps(list(ids)), ns_json, payloads, vectors, dimension, error, time.time()),
            )
            seq = int(cur.lastrowid or 0)
            db.executemany(
                "INSERT INTO outbox_keys (seq, side, key) VALUES (?, ?, ?)", [(seq, side, k) for k in set(keys)]
            )
        return seq

    def pending(self, side: str | None = None, limit: int | None = None) -> list[OutboxEntry]:
        """Unacknowledged entries in the order they were queued."""
        sql = (
            "SELECT seq, side, op, ids, namespaces, payloads, vectors, dimension, attempts, last_error, created_at"
            " FROM outbox WHERE acknowledged = 0"
        )
        params: list[Any] = []
        if side is not None:
            sql += " AND side = ?"
            params.append(side)
        sql += " ORDER BY seq"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [_entry(row) for row in self._journal._query(sql, params)]

    def pending_keys(self, side: str, keys: Iterable[str]) -> set[str]:
        """Which of ``keys`` have an unacknowledged entry for ``side`` (their next write must queue behind it)."""
        wanted = list(set(keys))
        found: set[str] = set()
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self._journal._query(
                f"SELECT DISTINCT key FROM outbox_keys WHERE side = ? AND key IN ({marks})", [side, *chunk]
            )
            found.update(r[0] for r in rows)
        return found

    def acknowledge(self, seq: int) -> None:
        """Mark entry ``seq`` applied; its keys no longer hold later writes back."""
        with self._journal.transaction() as db:
            db.execute("UPDATE outbox SET acknowledged = 1, attempts = attempts + 1 WHERE seq = ?", (seq,))
            db.execute("DELETE FROM outbox_keys WHERE seq = ?", (seq,))

    def record_failure(self, seq: int, error: str) -> None:
        """Count a failed replay of entry ``seq``."""
        with self._journal.transaction() as db:
            db.execute("UPDATE outbox SET attempts = attempts + 1, last_error = ? WHERE seq = ?", (error, seq))

    def size(self, side: str | None = None) -> int:
        """Number of unacknowledged entries (for ``side`` or both)."""
        if side is None:
            rows = self._journal._query("SELECT COUNT(*) FROM outbox WHERE acknowledged = 0")
        else:
            rows = self._journal._query("SELECT COUNT(*) FROM outbox WHERE acknowledged = 0 AND side = ?", (side,))
        return int(rows[0][0])


def _entry(row: Sequence[Any]) -> OutboxEntry:
    seq, side, op, ids_json, ns_json, payloads_json, vectors, dimension, attempts, last_error, created_at = row
    ids = tuple(json.loads(ids_json))
    namespaces = tuple(json.loads(ns_json)) if ns_json is not None else None
    batch = None
    if op == "upsert":
        arr = np.frombuffer(vectors, dtype=np.float32).reshape(len(ids), int(dimension)).copy()
        batch = RecordBatch(ids=ids, vectors=arr, payloads=tuple(json.loads(payloads_json)), namespaces=namespaces)
    return OutboxEntry(
        seq=int(seq),
        side=str(side),
        op=str(op),
        ids=ids,
        namespaces=namespaces,
        batch=batch,
        attempts=int(attempts),
        last_error=last_error,
        created_at=float(created_at),
    )
