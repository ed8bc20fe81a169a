"""The engine behind the Pinecone-compatible server: every index, its fault setting, its persistence.

Search is exact (numpy over a whole namespace, see namespace.py); consistency and locking are per
index (vector_index.py). With a ``data_dir``, what the server acknowledged survives a ``kill -9``: every
mutation is in the write-ahead log (mutation_log.py) and synced before its response, and the
snapshots (persistence.py) compact that log. Start-up loads the snapshots and replays the log after them.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.clock import Clock, SystemClock
from harness.pinecone_local.api_errors import AlreadyExists, Forbidden, NotFound
from harness.pinecone_local.faults import FaultConfig, FaultInjector
from harness.pinecone_local.mutation_log import MutationLog
from harness.pinecone_local.persistence import load_all, prepare_data_dir, remove_index, save_index
from harness.pinecone_local.vector_index import IndexSpec, VectorIndex


class Engine:
    """Every index of one server, their fault settings, and their persistence in ``data_dir``."""

    def __init__(self, data_dir: Path | None = None, clock: Clock | None = None) -> None:
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.data_dir = prepare_data_dir(data_dir) if data_dir is not None else None
        self._lock = threading.RLock()
        self._save_lock = threading.Lock()  # one snapshot writer at a time; delete waits for it
        self._indexes: dict[str, VectorIndex] = {}
        self._faults: dict[str, FaultInjector] = {}
        self._saved_version: dict[str, int] = {}
        self._log: MutationLog | None = None
        self.replayed = 0  # log frames applied at start-up
        if self.data_dir is not None:
            self._log = MutationLog(self.data_dir)
            last_seq = 0
            for snap in load_all(self.data_dir):
                index = self._new_index(IndexSpec.from_settings(snap.settings))
                index.restore(snap)
                self._indexes[index.name] = index
                self._saved_version[index.name] = index.version
                last_seq = max(last_seq, snap.applied_seq, snap.create_seq)
            for record in self._log.read():
                self.replayed += self._replay(record.seq, record.header, record.blob)
                last_seq = max(last_seq, record.seq)
            self._log.start(next_seq=last_seq + 1)

    def _new_index(self, spec: IndexSpec) -> VectorIndex:
        return VectorIndex(spec, self.clock, lambda: self.faults(spec.name).visibility_lag_ms / 1000.0, self._log)

    def _replay(self, seq: int, header: Mapping[str, Any], blob: bytes) -> int:
        """Apply one logged mutation at start-up unless a snapshot already holds it; returns 1 if applied."""
        op, name = header["op"], header["index"]
        index = self._indexes.get(name)
        if op == "create_index":
            if index is not None:
                return 0  # this incarnation (or a later one) came from a snapshot
            index = self._new_index(IndexSpec.from_settings(header["spec"]))
            index.create_seq = index.applied_seq = seq
            self._indexes[name] = index
            return 1
        if index is None:
            return 0  # an index deleted later in the log
        if op == "delete_index":
            if index.create_seq >= seq:
                return 0  # the delete of an earlier incarnation
            del self._indexes[name]
            self._saved_version.pop(name, None)
            assert self.data_dir is not None
            remove_index(self.data_dir, name)
            return 1
        return int(index.replay(seq, header, blob))

    def _durable(self, seq: int) -> None:
        if self._log is not None and seq:
            self._log.wait(seq)

    # -- control plane -------------------------------------------------------------------------
    def create_index(self, spec: IndexSpec) -> IndexSpec:
        """Create an empty index; 409 when the name is taken. Durable before it returns."""
        with self._lock:
            if spec.name in self._indexes:
                raise AlreadyExists(f"Resource {spec.name} already exists")
            index = self._new_index(spec)
            seq = 0
            if self._log is not None:
                seq = self._log.append({"op": "create_index", "index": spec.name, "spec": spec.to_settings()})
            index.create_seq = index.applied_seq = seq
            self._indexes[spec.name] = index
        self._durable(seq)
        return spec

    def index(self, name: str) -> VectorIndex:
        """The live index ``name``; 404 when there is none."""
        with self._lock:
            index = self._indexes.get(name)
        if index is None:
            raise NotFound(f"Index {name} not found.")
        return index

    def list_indexes(self) -> list[IndexSpec]:
        """Every index's settings, by name."""
        with self._lock:
            return [self._indexes[n].spec for n in sorted(self._indexes)]

    def configure_index(
        self, name: str, deletion_protection: str | None = None, tags: Mapping[str, str] | None = None
    ) -> IndexSpec:
        """Change deletion protection and merge tags (a tag set to ``""`` is removed)."""
        return self.index(name).configure(deletion_protection, tags)

    def delete_index(self, name: str) -> None:
        """Delete an index and its snapshot at once; 403 while deletion protection is on."""
        with self._save_lock, self._lock:
            index = self.index(name)
            if index.spec.deletion_protection == "enabled":
                raise Forbidden(
                    f"Deletion protection is enabled for index {name!r}; disable it with configure_index "
                    "(deletion_protection='disabled') before deleting"
                )
            seq = self._log.append({"op": "delete_index", "index": name}) if self._log is not None else 0
            index.deleted = True
            del self._indexes[name]
            self._saved_version.pop(name, None)
            self._durable(seq)  # the delete is durable before its snapshot goes
            if self.data_dir is not None:
                remove_index(self.data_dir, name)

    # -- faults --------------------------------------------------------------------------------
    def set_faults(self, index: str, config: FaultConfig | None = None, **settings: Any) -> FaultConfig:
        """Set the game-day faults of ``index`` (a :class:`FaultConfig` or its fields); returns them."""
        cfg = config if config is not None else FaultConfig(**settings)
        with self._lock:
            self._faults[index] = FaultInjector(cfg)
        return cfg

    def clear_faults(self, index: str | None = None) -> None:
        """Switch faults off for ``index`` (every index when None)."""
        with self._lock:
            if index is None:
                self._faults.clear()
            else:
                self._faults.pop(index, None)

    def faults(self, index: str) -> FaultConfig:
        """The fault setting of ``index`` (all off by default)."""
        with self._lock:
            injector = self._faults.get(index)
        return injector.config if injector is not None else FaultConfig()

    def fault_injector(self, index: str) -> FaultInjector | None:
        """The injector drawing faults for ``index``, or None when faults are off."""
        with self._lock:
            return self._faults.get(index)

    # -- persistence ---------------------------------------------------------------------------
    def save(self, flush_pending: bool = False) -> list[Path]:
        """Snapshot every index changed since its last save (with ``flush_pending``, lagged writes are
        applied first), then drop the log segments the snapshots cover. No-op without a data dir.
        Returns the files written."""
        if self.data_dir is None or self._log is None:
            return []
        written = []
        with self._save_lock:
            # Every frame before ``rotated`` is in the old segments; snapshots taken after this point
            # hold every one of them that is applied.
            rotated = self._log.rotate()
            with self._lock:
                indexes = list(self._indexes.values())
            for index in indexes:
                if flush_pending:
                    index.flush_pending()
                if index.deleted or self._saved_version.get(index.name) == index.version:
                    continue
                snap, version = index.snapshot()
                written.append(save_index(self.data_dir, snap))
                self._saved_version[index.name] = version
            waiting = [seq for seq in (i.oldest_pending_seq for i in indexes if not i.deleted) if seq is not None]
            if not waiting or min(waiting) >= rotated:  # a lagged write keeps its frame until applied
                self._log.drop_before(rotated)
        return written

    def close(self) -> None:
        """Clean shutdown: apply every lagged write, save everything, close the log (nothing accepted is lost)."""
        self.save(flush_pending=True)
        if self._log is not None:
            self._log.close()
