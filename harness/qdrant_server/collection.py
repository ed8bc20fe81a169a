"""One collection: a Qdrant Edge shard directory, its lock, its metadata, and its optimizer state.

On disk, ``DIR/collections/NAME/`` holds ``shard/`` (the Edge shard: WAL, segments, ``edge_config.json``,
which ``qdrant-edge:///DIR/collections/NAME/shard`` opens while the server is stopped) and
``collection.json`` (what Edge has no place for: the collection's ``metadata``).

Edge has no background optimizer and serialises every call (it does not release the GIL), so each
collection has one lock for all its shard calls, and its HNSW graph is built by ``optimize()``, which
the server's ``BackgroundOptimizer`` calls (see ``optimizer.py``). The collection's REST ``status``
says where that stands, in Qdrant's words:

- ``green``: optimized since the last write;
- ``grey``: written since the last optimization, none triggered yet ("optimizations are possible but
  not triggered", as Qdrant reports a collection after a restart);
- ``yellow``: an optimization is requested or running;
- ``red``: the last optimization failed (``optimizer_status`` carries the error).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import qdrant_edge as qe

from harness.outputs import write_text_atomic
from harness.qdrant_server.config import collection_config
from harness.qdrant_server.convert import edge_error

__all__ = ["EDGE_CONFIG_FILE", "METADATA_FILE", "SHARD_DIR", "Collection"]

T = TypeVar("T")

SHARD_DIR = "shard"
METADATA_FILE = "collection.json"
EDGE_CONFIG_FILE = "edge_config.json"


class Collection:
    """An open collection (see the module docstring). ``call(fn)`` runs ``fn(shard)`` under its lock."""

    def __init__(self, name: str, path: Path, shard: qe.EdgeShard, on_write: Callable[[], None]) -> None:
        self.name = name
        self.path = path
        self._shard: qe.EdgeShard | None = shard
        self._on_write = on_write
        self.lock = threading.RLock()
        self._state = threading.Lock()
        # A freshly loaded shard may hold unoptimized segments (WAL replay): grey until optimized.
        self.pending_since: float | None = time.monotonic()
        self.last_write = 0.0
        self.requested = False
        self.running = False
        self.error: str | None = None

    # -- files ---------------------------------------------------------------------------------------
    @property
    def shard_path(self) -> Path:
        """The Edge shard directory."""
        return self.path / SHARD_DIR

    def edge_dict(self) -> dict[str, Any]:
        """The shard's persisted Edge config (the one copy of its vector/HNSW/quantization/optimizer settings)."""
        with (self.shard_path / EDGE_CONFIG_FILE).open() as fh:
            config: dict[str, Any] = json.load(fh)
        return config

    def metadata(self) -> dict[str, Any]:
        """The collection's REST ``metadata`` (empty when none was set)."""
        try:
            with (self.path / METADATA_FILE).open() as fh:
                return dict(json.load(fh).get("metadata") or {})
        except FileNotFoundError:
            return {}

    def set_metadata(self, metadata: dict[str, Any]) -> None:
        """Replace the stored metadata (written atomically)."""
        write_text_atomic(self.path / METADATA_FILE, json.dumps({"metadata": metadata}) + "\n")

    # -- shard calls ---------------------------------------------------------------------------------
    def call(self, fn: Callable[[qe.EdgeShard], T]) -> T:
        """``fn(shard)`` under the collection's lock; Edge's exceptions become Qdrant's API errors."""
        with self.lock:
            if self._shard is None:
                raise edge_error(RuntimeError(f"collection {self.name} is closed"))
            try:
                return fn(self._shard)
            except Exception as exc:
                raise edge_error(exc) from None

    def write(self, operation: qe.UpdateOperation) -> None:
        """Apply one update; it is in Edge's WAL when this returns (Qdrant's ``wait=true``)."""
        self.call(lambda shard: shard.update(operation))
        self.written()

    def written(self) -> None:
        """Note a change the HNSW graph does not cover yet and wake the optimizer."""
        now = time.monotonic()
        with self._state:
            if self.pending_since is None:
                self.pending_since = now
            self.last_write = now
        self._on_write()

    def reconfigure(self, config: qe.EdgeConfig) -> None:
        """Reload the shard with a changed HNSW/quantization/optimizer config (Edge persists it)."""
        with self.lock:
            if self._shard is not None:
                self._shard.close()
                self._shard = None
            try:
                self._shard = qe.EdgeShard.load(str(self.shard_path), config)
            except Exception as exc:
                # Reopen as it was so the collection keeps serving; the caller reports the refusal.
                self._shard = qe.EdgeShard.load(str(self.shard_path))
                raise edge_error(exc) from None
        self.written()

    def close(self) -> None:
        """Close (and flush) the shard; idempotent."""
        with self.lock:
            shard, self._shard = self._shard, None
            if shard is not None:
                shard.close()

    # -- optimizer state -----------------------------------------------------------------------------
    def request_optimization(self) -> None:
        """Ask for an optimization now (``PATCH /collections/NAME``, Qdrant's way to trigger optimizers)."""
        with self._state:
            self.requested = True
        self._on_write()

    def due_in(self, now: float, quiet_s: float, max_wait_s: float) -> float | None:
        """Seconds until the optimizer should run on this collection (0 = now); None when nothing is pending."""
        with self._state:
            if self.requested:
                return 0.0
            if self.pending_since is None or quiet_s <= 0:
                return None
            return max(0.0, min(self.last_write + quiet_s, self.pending_since + max_wait_s) - now)

    def optimize(self) -> bool:
        """Build the HNSW graph and merge segments now (blocks the collection); True if Edge changed anything.

        A collection closed (deleted) meanwhile has nothing to optimize: False."""
        if self._shard is None:
            return False
        with self._state:
            self.requested = False
            self.pending_since = None
            self.running = True
        try:
            changed = self.call(lambda shard: shard.optimize())
        except Exception as exc:
            with self._state:
                self.error = str(exc)
            raise
        else:
            with self._state:
                self.error = None
            return bool(changed)
        finally:
            with self._state:
                self.running = False

    def status(self) -> str:
        """``green`` / ``grey`` / ``yellow`` / ``red`` (see the module docstring)."""
        with self._state:
            if self.error is not None:
                return "red"
            if self.running or self.requested:
                return "yellow"
            return "grey" if self.pending_since is not None else "green"

    # -- REST views ----------------------------------------------------------------------------------
    def info(self) -> dict[str, Any]:
        """The REST ``CollectionInfo`` (JSON-ready)."""
        status = self.status()
        with self.lock:
            info = self.call(lambda shard: shard.info())
            config = collection_config(self.edge_dict(), self.metadata())
        payload_schema = {
            name: {"data_type": str(index.data_type).rsplit(".", 1)[-1].lower(), "points": int(index.points)}
            for name, index in info.payload_schema.items()
        }
        return {
            "status": status,
            "optimizer_status": "ok" if self.error is None else {"error": self.error},
            "indexed_vectors_count": int(info.indexed_vectors_count),
            "points_count": int(info.points_count),
            "segments_count": int(info.segments_count),
            "config": config,
            "payload_schema": payload_schema,
        }
