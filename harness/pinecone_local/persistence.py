"""Index snapshots on disk: one ``<index>.npz`` per index, replaced atomically. They compact the
mutation log (mutation_log.py): a snapshot records how far into the log it reaches.

Each file holds one float32 array per namespace (``values_<i>``) and a JSON document (``manifest``,
stored as uint8 bytes) with the index's settings and each namespace's ids, metadata, sparse
values and declared schema. A snapshot is written to a temporary file in the same directory,
fsynced and moved over the old one with ``os.replace``, so a crash mid-write leaves the previous
snapshot intact.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from harness.errors import UsageError

FORMAT_VERSION = 1
SUFFIX = ".npz"


class SnapshotError(UsageError):
    """A data directory or snapshot file the server cannot use."""


@dataclass(frozen=True, slots=True)
class NamespaceSnapshot:
    """One namespace as saved: ids, values rows in the same order, metadata, sparse, schema."""

    name: str
    ids: list[str]
    values: npt.NDArray[np.float32]
    metadata: list[dict[str, Any] | None]
    sparse: list[dict[str, Any] | None]
    declared: bool
    schema: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class IndexSnapshot:
    """One index as saved: its settings (JSON-safe), its namespaces, and where it stands in the mutation
    log: ``applied_seq`` (every logged data write up to it is in the snapshot) and ``create_seq`` (the
    frame that created this incarnation of the index; 0 for snapshots older than the log)."""

    settings: dict[str, Any]
    namespaces: list[NamespaceSnapshot]
    applied_seq: int = 0
    create_seq: int = 0


def snapshot_path(data_dir: Path, index_name: str) -> Path:
    """Where index ``index_name`` is saved (index names are ``[a-z0-9-]``, safe as file names)."""
    return data_dir / f"{index_name}{SUFFIX}"


def save_index(data_dir: Path, snapshot: IndexSnapshot) -> Path:
    """Write ``snapshot`` atomically; returns the file written."""
    name = snapshot.settings["name"]
    manifest = {
        "format": FORMAT_VERSION,
        "applied_seq": snapshot.applied_seq,
        "create_seq": snapshot.create_seq,
        "settings": snapshot.settings,
        "namespaces": [
            {
                "name": ns.name,
                "ids": ns.ids,
                "metadata": ns.metadata,
                "sparse": ns.sparse,
                "declared": ns.declared,
                "schema": ns.schema,
            }
            for ns in snapshot.namespaces
        ],
    }
    arrays: dict[str, Any] = {"manifest": np.frombuffer(json.dumps(manifest).encode(), dtype=np.uint8)}
    for i, ns in enumerate(snapshot.namespaces):
        arrays[f"values_{i}"] = ns.values
    target = snapshot_path(data_dir, name)
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=data_dir)
    try:
        with os.fdopen(fd, "wb") as handle:
            np.savez(handle, **arrays)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return target


def load_index(path: Path) -> IndexSnapshot:
    """Read one snapshot file; a damaged or foreign file raises :class:`SnapshotError` naming it."""
    try:
        with np.load(path, allow_pickle=False) as data:
            manifest = json.loads(bytes(data["manifest"]).decode())
            if manifest.get("format") != FORMAT_VERSION:
                raise SnapshotError(f"{path}: unsupported snapshot format {manifest.get('format')!r}")
            namespaces = [
                NamespaceSnapshot(
                    name=entry["name"],
                    ids=list(entry["ids"]),
                    values=np.asarray(data[f"values_{i}"], dtype=np.float32),
                    metadata=list(entry["metadata"]),
                    sparse=list(entry["sparse"]),
                    declared=bool(entry["declared"]),
                    schema=entry.get("schema"),
                )
                for i, entry in enumerate(manifest["namespaces"])
            ]
            applied_seq, create_seq = int(manifest.get("applied_seq", 0)), int(manifest.get("create_seq", 0))
    except SnapshotError:
        raise
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SnapshotError(
            f"cannot read index snapshot {path} ({exc}); move it out of the data dir or restore a backup"
        ) from exc
    return IndexSnapshot(
        settings=manifest["settings"],
        namespaces=namespaces,
        applied_seq=applied_seq,
        create_seq=create_seq,
    )


def load_all(data_dir: Path) -> list[IndexSnapshot]:
    """Every snapshot in ``data_dir``, by file name."""
    return [load_index(path) for path in sorted(data_dir.glob(f"*{SUFFIX}"))]


def remove_index(data_dir: Path, index_name: str) -> None:
    """Delete an index's snapshot (a no-op when there is none)."""
    with contextlib.suppress(FileNotFoundError):
        snapshot_path(data_dir, index_name).unlink()


def prepare_data_dir(data_dir: Path) -> Path:
    """Create ``data_dir`` if needed and check it is a writable directory; returns it resolved."""
    path = data_dir.expanduser()
    if path.exists() and not path.is_dir():
        raise SnapshotError(f"--data-dir {path} is a file, not a directory; pass a directory path")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SnapshotError(f"cannot create --data-dir {path}: {exc.strerror or exc}") from exc
    if not os.access(path, os.W_OK | os.X_OK):
        raise SnapshotError(f"--data-dir {path} is not writable; pass a directory you can write to")
    return path.resolve()
