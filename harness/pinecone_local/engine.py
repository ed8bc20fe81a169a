"""The engine behind the Pinecone-compatible server: every index, its fault setting, its persistence.

Search is exact (numpy over a whole namespace, see namespace.py); consistency and locking are per
index (vector_index.py); snapshots go to ``data_dir`` (persistence.py).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from harness.clock import Clock, SystemClock
from harness.pinecone_local.api_errors import AlreadyExists, Forbidden, NotFound
from harness.pinecone_local.faults import FaultConfig, FaultInjector
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
        if self.data_dir is not None:
            for snap in load_all(self.data_dir):
                index = self._new_index(IndexSpec.from_settings(snap.settings))
                index.restore(snap)
                self._indexes[index.name] = index
                self._saved_version[index.name] = index.version

    def _new_index(self, spec: IndexSpec) -> VectorIndex:
        return VectorIndex(spec, self.clock, lambda: self.faults(spec.name).visibility_lag_ms / 1000.0)

    # -- control plane -------------------------------------------------------------------------
    def create_index(self, spec: IndexSpec) -> IndexSpec:
        """Create an empty index; 409 when the name is taken."""
        with self._lock:
            if spec.name in self._indexes:
                raise AlreadyExists(f"Resource {spec.name} already exists")
            self._indexes[spec.name] = self._new_index(spec)
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
        with self._lock:
            index = self.index(name)
            spec = index.spec
            if deletion_protection is not None:
                spec = replace(spec, deletion_protection=deletion_protection)
            if tags is not None:
                merged = dict(spec.tags or {})
                for key, value in tags.items():
                    if value == "":
                        merged.pop(key, None)
                    else:
                        merged[key] = value
                spec = replace(spec, tags=merged or None)
            with index._lock:
                index.spec = spec
                index.version += 1
            return spec

    def delete_index(self, name: str) -> None:
        """Delete an index and its snapshot at once; 403 while deletion protection is on."""
        with self._save_lock, self._lock:
            index = self.index(name)
            if index.spec.deletion_protection == "enabled":
                raise Forbidden(
                    f"Deletion protection is enabled for index {name!r}; disable it with configure_index "
                    "(deletion_protection='disabled') before deleting"
                )
            index.deleted = True
            del self._indexes[name]
            self._saved_version.pop(name, None)
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
        """Snapshot every index changed since its last save; with ``flush_pending`` apply lagged writes first.

        No-op without a data dir. Returns the files written.
        """
        if self.data_dir is None:
            return []
        written = []
        with self._save_lock:
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
        return written

    def close(self) -> None:
        """Clean shutdown: apply every lagged write and save everything (nothing accepted is lost)."""
        self.save(flush_pending=True)
