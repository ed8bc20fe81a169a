"""``Registry``: the server's collections under one data directory, and its optimizer thread.

Layout: ``DIR/collections/NAME/`` per collection (see ``collection.py``), ``DIR/.staging/`` for
collections being created or deleted. A collection is created in staging (shard, payload indexes,
metadata), closed, and renamed into place, so a crash never leaves half a collection under its name;
a deleted one is renamed out of place first, then removed. Every collection found on start is loaded
(Edge replays its WAL, so every acknowledged write is there).

Collection names follow Qdrant's rules: 1–255 bytes, none of ``< > : " / \\ | ? *``, NUL or 0x1F (they
become directory names, as in Qdrant); ``.`` and ``..`` are refused as well.
"""

from __future__ import annotations

import shutil
import threading
import uuid
from pathlib import Path

import qdrant_edge as qe
from qdrant_client.http import models as m

from harness.qdrant_server.collection import SHARD_DIR, Collection
from harness.qdrant_server.config import edge_config, edge_dict_for_create, edge_dict_with_update
from harness.qdrant_server.convert import edge_error
from harness.qdrant_server.optimizer import BackgroundOptimizer
from harness.qdrant_server.wire import ApiError, not_found, validation_error

__all__ = ["Registry", "check_collection_name"]

_INVALID_NAME_CHARS = '<>:"/\\|?*\0\x1f'


def check_collection_name(name: str) -> None:
    """422 (Qdrant's path-parameter validation) for a name Qdrant would refuse or that is not a file name."""
    where = "path parameters"
    if not 1 <= len(name.encode()) <= 255:
        raise validation_error(where, "collection_name: length must be between 1 and 255")
    bad = next((c for c in _INVALID_NAME_CHARS if c in name), None)
    if bad is not None:
        raise validation_error(where, f'collection_name: collection name cannot contain "{bad}" char')
    if name in (".", ".."):
        raise validation_error(where, f"collection_name: {name!r} is not a collection name")


class Registry:
    """Collections by name (see the module docstring); thread-safe."""

    def __init__(self, data_dir: Path, *, optimize_quiet_s: float = 1.0, optimize_max_wait_s: float = 30.0) -> None:
        self.data_dir = Path(data_dir)
        self.root = self.data_dir / "collections"
        self.staging = self.data_dir / ".staging"
        self.root.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(self.staging, ignore_errors=True)  # leftovers of a crash mid-create/delete
        self.staging.mkdir(parents=True)
        self._lock = threading.RLock()
        self._collections: dict[str, Collection] = {}
        self.optimizer = BackgroundOptimizer(self.all, quiet_s=optimize_quiet_s, max_wait_s=optimize_max_wait_s)
        try:
            for path in sorted(self.root.iterdir()):
                if (path / SHARD_DIR / "edge_config.json").is_file():
                    self._collections[path.name] = self._open(path.name, path)
        except BaseException:
            self.close()
            raise
        self.optimizer.start()

    def _open(self, name: str, path: Path) -> Collection:
        try:
            shard = qe.EdgeShard.load(str(path / SHARD_DIR))
        except Exception as exc:
            raise edge_error(exc) from None
        return Collection(name, path, shard, self.optimizer.wake)

    def all(self) -> list[Collection]:
        """Every open collection."""
        with self._lock:
            return list(self._collections.values())

    def names(self) -> list[str]:
        """Collection names, sorted."""
        with self._lock:
            return sorted(self._collections)

    def exists(self, name: str) -> bool:
        """True when ``name`` exists."""
        check_collection_name(name)
        with self._lock:
            return name in self._collections

    def get(self, name: str) -> Collection:
        """The collection ``name``; 404 in Qdrant's words when it does not exist."""
        check_collection_name(name)
        with self._lock:
            collection = self._collections.get(name)
        if collection is None:
            raise not_found(f"Collection `{name}` doesn't exist!")
        return collection

    def create(self, name: str, body: m.CreateCollection) -> None:
        """Create ``name`` from a REST create body; 409 when it exists, 400 for what Edge cannot do."""
        check_collection_name(name)
        config = edge_dict_for_create(body)
        with self._lock:
            if name in self._collections:
                raise ApiError(409, f"Wrong input: Collection `{name}` already exists!")
            staged = self.staging / uuid.uuid4().hex
            staged.mkdir()
            try:
                try:
                    shard = qe.EdgeShard.create(str(staged / SHARD_DIR), edge_config(config))
                except Exception as exc:
                    raise edge_error(exc) from None
                collection = Collection(name, staged, shard, self.optimizer.wake)
                if body.metadata:
                    collection.set_metadata(dict(body.metadata))
                collection.close()
                (staged).rename(self.root / name)
            except BaseException:
                shutil.rmtree(staged, ignore_errors=True)
                raise
            self._collections[name] = self._open(name, self.root / name)

    def update(self, name: str, body: m.UpdateCollection) -> None:
        """Apply a REST ``PATCH`` body (HNSW, optimizers, quantization, metadata) and trigger optimization."""
        collection = self.get(name)
        with collection.lock:
            if any(
                getattr(body, field) is not None
                for field in ("vectors", "hnsw_config", "optimizers_config", "quantization_config")
            ):
                current = collection.edge_dict()
                changed = edge_dict_with_update(current, body)
                if changed != current:
                    collection.reconfigure(edge_config(changed))
            if body.metadata is not None:
                collection.set_metadata({**collection.metadata(), **body.metadata})
        collection.request_optimization()

    def delete(self, name: str) -> bool:
        """Delete ``name`` and its data; False when it did not exist (Qdrant answers ``result: false``)."""
        check_collection_name(name)
        with self._lock:
            collection = self._collections.pop(name, None)
        if collection is None:
            return False
        collection.close()
        trash = self.staging / f"deleted-{uuid.uuid4().hex}"
        collection.path.rename(trash)
        shutil.rmtree(trash, ignore_errors=True)
        return True

    def close(self) -> None:
        """Stop the optimizer and close (flush) every shard."""
        self.optimizer.stop()
        with self._lock:
            collections, self._collections = list(self._collections.values()), {}
        for collection in collections:
            collection.close()
