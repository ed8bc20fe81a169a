"""Pinecone → Qdrant record mapping, shared by backfill and parity.

- Pinecone ids are ASCII strings; Qdrant takes only unsigned ints and UUIDs. Each record becomes the
  deterministic ``uuid5`` of (namespace, id), with the original id and namespace kept in the payload,
  so the same id in two namespaces stays two points (the official tool collapses them silently).
- Pinecone stores every number as float64: integral floats go back to ints, or a Qdrant
  ``MatchValue(2020)`` silently misses ``2020.0``.
- Pinecone's euclidean score is the squared distance; Qdrant's Euclid is the plain distance.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping
from typing import Any

from harness.errors import InvalidInputError
from harness.model import Distance, PointId, RecordBatch

ORIGINAL_ID_FIELD = "__id__"
NAMESPACE_FIELD = "__namespace__"
MAPPING_FIELDS = (ORIGINAL_ID_FIELD, NAMESPACE_FIELD)
# A fixed namespace for uuid5, so point ids are the same in every run and every process.
ID_NAMESPACE = uuid.UUID("6f1b8e4e-6c61-5f0e-9a51-7261676d6967")


def qdrant_point_id(original_id: PointId, namespace: str = "") -> str:
    """The Qdrant point id (a UUID string) for Pinecone record ``original_id`` in ``namespace``.

    Deterministic (uuid5); different namespaces never share a point id.
    """
    return str(uuid.uuid5(ID_NAMESPACE, f"{namespace}\x00{original_id}"))


def coerce_number(value: Any) -> Any:
    """Integral floats back to int (2020.0 → 2020), recursively through lists and dicts; bools kept."""
    if isinstance(value, bool):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer() and abs(value) < 2**63:
        return int(value)
    if isinstance(value, list | tuple):
        return [coerce_number(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): coerce_number(v) for k, v in value.items()}
    return value


def canonical_payload(payload: Mapping[str, Any]) -> dict[str, Any]:
    """A payload in canonical form for comparison: integral floats as ints, keys sorted."""
    return {k: coerce_number(payload[k]) for k in sorted(payload)}


def map_pinecone_batch(batch: RecordBatch, default_namespace: str = "") -> RecordBatch:
    """A Pinecone batch as Qdrant points: uuid5 ids, original id and namespace in the payload,
    integral floats as ints. The result has no ``namespaces`` (Qdrant has none).

    ``InvalidInputError`` when a record's metadata already holds one of ``MAPPING_FIELDS``."""
    namespaces = batch.namespaces or (default_namespace,) * len(batch)
    for pid, payload in zip(batch.ids, batch.payloads, strict=True):
        reserved = [f for f in MAPPING_FIELDS if f in payload]
        if reserved:  # overwriting it would lose the user's value silently, and unmap would drop it
            raise InvalidInputError(
                f"record {pid!r} has metadata field {reserved[0]!r}, which the Pinecone → Qdrant mapping "
                "reserves for the original id and namespace; rename that field before migrating"
            )
    ids = tuple(qdrant_point_id(pid, ns) for pid, ns in zip(batch.ids, namespaces, strict=True))
    payloads = tuple(
        {**canonical_payload(p), ORIGINAL_ID_FIELD: str(pid), NAMESPACE_FIELD: ns}
        for p, pid, ns in zip(batch.payloads, batch.ids, namespaces, strict=True)
    )
    return RecordBatch(ids=ids, vectors=batch.vectors, payloads=payloads, namespaces=None)


def unmap_qdrant_batch(batch: RecordBatch) -> RecordBatch:
    """The inverse of ``map_pinecone_batch``: original ids and namespaces back, mapping fields removed.

    Records without the mapping fields keep their id (stringified) and the default namespace "".
    """
    ids: list[PointId] = []
    namespaces: list[str] = []
    payloads: list[dict[str, Any]] = []
    for pid, payload in zip(batch.ids, batch.payloads, strict=True):
        ids.append(str(payload.get(ORIGINAL_ID_FIELD, pid)))
        namespaces.append(str(payload.get(NAMESPACE_FIELD, "")))
        payloads.append({k: v for k, v in payload.items() if k not in MAPPING_FIELDS})
    return RecordBatch(ids=tuple(ids), vectors=batch.vectors, payloads=tuple(payloads), namespaces=tuple(namespaces))


def strip_mapping_fields(payload: Mapping[str, Any]) -> dict[str, Any]:
    """``payload`` without the fields the mapping added."""
    return {k: v for k, v in payload.items() if k not in MAPPING_FIELDS}


def pinecone_score_to_qdrant(score: float, distance: Distance) -> float:
    """Convert a Pinecone score threshold to Qdrant's scale (euclidean: squared → plain distance)."""
    if distance is Distance.EUCLID:
        return math.sqrt(max(score, 0.0))
    return score


def qdrant_score_to_pinecone(score: float, distance: Distance) -> float:
    """Convert a Qdrant score threshold to Pinecone's scale (Euclid: plain → squared distance)."""
    if distance is Distance.EUCLID:
        return score * score
    return score
