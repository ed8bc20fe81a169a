"""``parity.mapping``: does every point of a Pinecone → Qdrant target name exactly one source record, under
the point id the mapping gives that record?

The mapping fields ``__id__``/``__namespace__`` are how search results become Pinecone ids again, so a
point that names the wrong record answers queries with the wrong id. While the target is scanned, each
point's named record is checked against its point id (it must be the uuid5 of the pair); at the end the
names are checked against the source's table (each names a source record, and no two name the same one).
Kinds of finding:
- ``unnamed``: no ``__id__``/``__namespace__`` strings in the payload;
- ``wrong_point_id``: the point id is not the uuid5 of the record it names (a wrong ``__id__``, or a point
  moved to another namespace);
- ``duplicate``: more than one point names the same record;
- ``unknown``: the named record is not in the source (also what a write landing between the two scans
  looks like: the re-check looks at these again).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from harness.model import Check, RecordBatch, Status
from harness.records import NAMESPACE_FIELD, ORIGINAL_ID_FIELD, RecordMapping, qdrant_point_id, record_keys64
from harness.stores.base import VectorStore

__all__ = ["MAPPING_KINDS", "MappingAudit", "MappingFindings", "mapping_check", "skipped_mapping_check"]

I64 = npt.NDArray[np.int64]
U64 = npt.NDArray[np.uint64]
MAPPING_KINDS = ("unnamed", "wrong_point_id", "duplicate", "unknown")


def _same_point(a: Any, b: str) -> bool:
    """Point ids equal as UUIDs, whatever their spelling (case, hyphens)."""
    if a == b:
        return True
    try:
        return uuid.UUID(str(a)) == uuid.UUID(b)
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class MappingFindings:
    """Scan positions on the target of the points of each kind (a point may be of several kinds)."""

    points: int
    positions: dict[str, I64]

    @property
    def problem_positions(self) -> I64:
        """Every point with at least one finding, in scan order."""
        parts = [p for p in self.positions.values() if len(p)]
        return np.unique(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.int64)


class MappingAudit:
    """Collects, batch by batch of the target scan, the record each point names."""

    def __init__(self, mapping: RecordMapping) -> None:
        self.mapping = mapping
        self._n = 0
        self._name_keys: list[U64] = []  # per point: the key of the point id its named record maps to
        self._named: list[npt.NDArray[np.bool_]] = []
        self._unnamed: list[int] = []
        self._wrong: list[int] = []

    def add(self, batch: RecordBatch) -> None:
        """Check one scanned batch of target points (positions follow on from the previous batch)."""
        expected: list[str] = []
        named = np.zeros(len(batch), dtype=bool)
        for row, (pid, payload) in enumerate(zip(batch.ids, batch.payloads, strict=True)):
            original, namespace = payload.get(ORIGINAL_ID_FIELD), payload.get(NAMESPACE_FIELD)
            if not isinstance(original, str) or not isinstance(namespace, str):
                self._unnamed.append(self._n + row)
                expected.append("")
                continue
            named[row] = True
            point = qdrant_point_id(original, namespace)
            expected.append(point)
            if not _same_point(pid, point):
                self._wrong.append(self._n + row)
        self._name_keys.append(record_keys64(expected))
        self._named.append(named)
        self._n += len(batch)

    def finish(self, source_positions: Any) -> MappingFindings:
        """The findings, given ``source_positions(keys) -> positions`` of the source table (-1: absent)."""
        keys = np.concatenate(self._name_keys) if self._name_keys else np.zeros(0, dtype=np.uint64)
        named = np.concatenate(self._named) if self._named else np.zeros(0, dtype=bool)
        rows = np.flatnonzero(named)
        named_keys = keys[rows]
        _, inverse, counts = np.unique(named_keys, return_inverse=True, return_counts=True)
        duplicate = rows[counts[inverse] > 1]
        unknown = rows[np.asarray(source_positions(named_keys)) < 0] if len(rows) else rows
        return MappingFindings(
            points=self._n,
            positions={
                "unnamed": np.asarray(self._unnamed, dtype=np.int64),
                "wrong_point_id": np.asarray(self._wrong, dtype=np.int64),
                "duplicate": np.asarray(duplicate, dtype=np.int64),
                "unknown": np.asarray(unknown, dtype=np.int64),
            },
        )


def skipped_mapping_check(source_backend: str, target_backend: str) -> Check:
    """``parity.mapping`` for a pair without the Pinecone → Qdrant mapping: nothing to check."""
    return Check(
        "parity.mapping",
        Status.SKIP,
        None,
        None,
        f"no id mapping between {source_backend or 'the source'} and {target_backend or 'the target'}: "
        "ids are compared as they are (parity.ids)",
    )


def mapping_check(found: MappingFindings, target: VectorStore, point_ids: Sequence[Any], sample_size: int) -> Check:
    """``parity.mapping`` from the audit's findings; ``point_ids[kind]`` are the sampled points' ids
    (fetched from ``target`` to show what they name)."""
    counts = {kind: len(found.positions[kind]) for kind in MAPPING_KINDS}
    problems = len(found.problem_positions)
    samples: dict[str, list[dict[str, Any]]] = {}
    wanted = [pid for ids in point_ids for pid in ids]
    held = target.fetch(wanted) if wanted else None
    names = {}
    if held is not None:
        for pid, payload in zip(held.ids, held.payloads, strict=True):
            names[str(pid)] = (payload.get(ORIGINAL_ID_FIELD), payload.get(NAMESPACE_FIELD))
    for kind, ids in zip(MAPPING_KINDS, point_ids, strict=True):
        if ids:
            samples[kind] = [
                {
                    "point": pid,
                    ORIGINAL_ID_FIELD: names.get(str(pid), (None, None))[0],
                    NAMESPACE_FIELD: names.get(str(pid), (None, None))[1],
                }
                for pid in ids[:sample_size]
            ]
    if problems == 0:
        message = (
            f"each of the {found.points} target points names exactly one source record, under the uuid5 "
            "point id of its (namespace, id)"
        )
    else:
        parts = [f"{n} {kind.replace('_', ' ')}" for kind, n in counts.items() if n]
        message = (
            f"{problems} of {found.points} target points do not name exactly one source record under its uuid5 "
            f"point id ({', '.join(parts)}): results would come back as the wrong Pinecone ids"
        )
    return Check(
        "parity.mapping",
        Status.PASS if problems == 0 else Status.FAIL,
        problems,
        0,
        message,
        {"mismatch_count": problems, "counts": counts, "samples": samples, "points": found.points},
    )
