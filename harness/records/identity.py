"""Record identity: which record is this? A record is its (namespace, id) pair.

Pinecone partitions an index into namespaces and the same id in two namespaces is two records; every
other backend has one namespace, "" (Pinecone's default). Ids are ints or strings, and ``5`` and ``"5"``
are two records. That pair has two spellings, both decided here:

- ``record_key``: a text key (JSON ``[namespace, id]``) that survives processes and SQLite — the
  journal's dual-write log and outbox, the orphan watch's baseline, the game days' acknowledged writes.
- ``record_keys64``: an 8-byte key per record in a numpy array for bulk comparison of whole scans
  (parity's tables). Valid within one process only (strings use Python's keyed hash).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from harness.model import PointId, RecordBatch

__all__ = ["RecordId", "batch_keys", "batch_record_ids", "key_parts", "record_key", "record_keys64"]

U64 = npt.NDArray[np.uint64]
_MIX1, _MIX2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)


class RecordId(NamedTuple):
    """One record: its namespace ("" when the backend has none) and its id."""

    namespace: str
    id: PointId

    @property
    def key(self) -> str:
        """``record_key`` of this record."""
        return record_key(self.id, self.namespace)


def record_key(point_id: PointId, namespace: str | None = "") -> str:
    """The text key of record (``namespace``, ``point_id``): ints kept apart from strings (1 vs "1"),
    no namespace the same as ""."""
    return json.dumps([namespace or "", point_id], separators=(",", ":"))


def key_parts(key: str) -> RecordId:
    """The record inside ``record_key``'s result."""
    namespace, point_id = json.loads(key)
    return RecordId(str(namespace), point_id)


def batch_record_ids(batch: RecordBatch, default_namespace: str = "") -> list[RecordId]:
    """The ``RecordId`` of every record of ``batch`` (``default_namespace`` where the batch has none)."""
    namespaces = batch.namespaces or (default_namespace,) * len(batch)
    return [RecordId(ns or "", pid) for pid, ns in zip(batch.ids, namespaces, strict=True)]


def batch_keys(batch: RecordBatch, default_namespace: str = "") -> list[str]:
    """``record_key`` of every record of ``batch`` (``default_namespace`` where the batch has none)."""
    namespaces = batch.namespaces or (default_namespace,) * len(batch)
    return [record_key(pid, ns) for pid, ns in zip(batch.ids, namespaces, strict=True)]


def mix64(values: U64) -> U64:
    """splitmix64's finaliser: a bijection on uint64, so distinct int ids never share a key."""
    x = values ^ (values >> np.uint64(30))
    x *= _MIX1
    x ^= x >> np.uint64(27)
    x *= _MIX2
    x ^= x >> np.uint64(31)
    return x


def record_keys64(ids: Sequence[PointId], namespaces: Sequence[str] | None = None) -> U64:
    """8-byte keys of the records (``namespaces[i]``, ``ids[i]``), equal for the same record in any batch
    of this process and, barring 64-bit collisions, different for different records.

    Int ids in the default namespace go through a bijection (no collisions at all); strings use Python's
    keyed 64-bit SipHash; a record in another namespace is keyed by the hash of its (namespace, id) pair.
    """
    n = len(ids)
    if all(type(pid) is int for pid in ids):
        keys = mix64(np.array(ids, dtype=np.uint64).reshape(n))
    else:
        keys = np.fromiter(map(hash, ids), dtype=np.int64, count=n).view(np.uint64)
        is_int = np.fromiter((type(pid) is int for pid in ids), dtype=bool, count=n)
        if is_int.any():
            int_rows = np.flatnonzero(is_int).tolist()
            keys[int_rows] = mix64(np.array([ids[r] for r in int_rows], dtype=np.uint64))
    if namespaces is not None and any(namespaces):
        ns_rows = [r for r, ns in enumerate(namespaces) if ns]
        keys[ns_rows] = np.fromiter((hash((namespaces[r], ids[r])) for r in ns_rows), dtype=np.int64).view(np.uint64)
    return keys
