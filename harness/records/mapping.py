"""The Pinecone → Qdrant record mapping, and the one decision of when it applies (``mapping_for``).

- Pinecone ids are ASCII strings; Qdrant takes only unsigned ints and UUIDs. Each record becomes the
  deterministic ``uuid5`` of (namespace, id), with the original id and namespace kept in the payload,
  so the same id in two namespaces stays two points (the official tool collapses them silently).
- Pinecone stores every number as float64: integral floats go back to ints, or a Qdrant
  ``MatchValue(2020)`` silently misses ``2020.0``. The mapped payload is what the target must hold.
- Pinecone's euclidean score is the squared distance; Qdrant's Euclid is the plain distance.
- Pinecone's ``sparse_values`` (the record model's sparse vector ``PINECONE_SPARSE``) become Qdrant's
  named sparse vector ``QDRANT_SPARSE`` ("sparse_vector", the name the official migration tool gives
  them); the dense ``values`` stay Qdrant's unnamed default vector. Pinecone has no named dense vectors.

The uuid5 name (``"{namespace}\\x00{id}"`` under ``ID_NAMESPACE``) is a stored format: every target
migrated so far holds points named by it, so it never changes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness.errors import InvalidInputError
from harness.model import CollectionSchema, PointId, RecordBatch, SparseColumn
from harness.records.identity import RecordId

__all__ = [
    "IDENTITY",
    "ID_NAMESPACE",
    "MAPPING_FIELDS",
    "NAMESPACE_FIELD",
    "ORIGINAL_ID_FIELD",
    "PINECONE_SPARSE",
    "QDRANT_SPARSE",
    "RecordMapping",
    "coerce_number",
    "map_pinecone_batch",
    "mapped_payload",
    "mapping_for",
    "qdrant_point_id",
    "strip_mapping_fields",
    "unmap_qdrant_batch",
]

ORIGINAL_ID_FIELD = "__id__"
NAMESPACE_FIELD = "__namespace__"
MAPPING_FIELDS = (ORIGINAL_ID_FIELD, NAMESPACE_FIELD)
PINECONE_SPARSE = "sparse_values"
"""The name of a Pinecone record's sparse vector (its ``sparse_values``) in ``RecordBatch.sparse``."""
QDRANT_SPARSE = "sparse_vector"
"""The Qdrant named sparse vector Pinecone's ``sparse_values`` migrate to: the official migration tool's
default name (qdrant.tech/documentation/migrate-to-qdrant/from-pinecone), so targets agree with it."""
# A fixed namespace for uuid5, so point ids are the same in every run and every process.
ID_NAMESPACE = uuid.UUID("6f1b8e4e-6c61-5f0e-9a51-7261676d6967")
_ID_NAMESPACE_BYTES = ID_NAMESPACE.bytes


def qdrant_point_id(original_id: PointId, namespace: str = "") -> str:
    """The Qdrant point id (a UUID string) for Pinecone record ``original_id`` in ``namespace``.

    Deterministic (uuid5); different namespaces never share a point id. Computed as ``uuid.uuid5`` does
    (SHA-1 of the namespace's bytes and the UTF-8 name, version 5, RFC 4122 variant), without building
    the ``UUID`` object: the backfill maps every record through here.
    """
    digest = bytearray(hashlib.sha1(_ID_NAMESPACE_BYTES + f"{namespace}\x00{original_id}".encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50
    digest[8] = (digest[8] & 0x3F) | 0x80
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def coerce_number(value: Any) -> Any:
    """Integral floats back to int (2020.0 → 2020), recursively through lists and dicts; bools kept."""
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:  # the common cases, unchanged
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer() and abs(value) < 2**63:
        return int(value)
    if isinstance(value, list | tuple):
        return [coerce_number(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): coerce_number(v) for k, v in value.items()}
    return value


def mapped_payload(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """The Qdrant payload the mapping writes for Pinecone ``metadata`` (mapping fields aside):
    integral floats as ints (Qdrant's int64 range), keys sorted."""
    return {k: coerce_number(metadata[k]) for k in sorted(metadata)}


def strip_mapping_fields(payload: Mapping[str, Any]) -> dict[str, Any]:
    """``payload`` without the fields the mapping added."""
    return {k: v for k, v in payload.items() if k not in MAPPING_FIELDS}


def map_pinecone_batch(batch: RecordBatch, default_namespace: str = "") -> RecordBatch:
    """A Pinecone batch as Qdrant points: uuid5 ids, original id and namespace in the payload,
    integral floats as ints, ``sparse_values`` as the named sparse vector ``QDRANT_SPARSE``. The result
    has no ``namespaces`` (Qdrant has none).

    ``InvalidInputError`` when a record's metadata already holds one of ``MAPPING_FIELDS``, or the batch
    carries vectors a Pinecone record cannot have (named dense vectors, another sparse vector)."""
    namespaces = batch.namespaces or (default_namespace,) * len(batch)
    _check_pinecone_vectors(batch)
    for pid, payload in zip(batch.ids, batch.payloads, strict=True):
        reserved = next((f for f in MAPPING_FIELDS if f in payload), None)
        if reserved is not None:  # overwriting it would lose the user's value silently, and unmap would drop it
            raise InvalidInputError(
                f"record {pid!r} has metadata field {reserved!r}, which the Pinecone → Qdrant mapping "
                "reserves for the original id and namespace; rename that field before migrating"
            )
    ids = tuple(qdrant_point_id(pid, ns) for pid, ns in zip(batch.ids, namespaces, strict=True))
    payloads = tuple(
        {**mapped_payload(p), ORIGINAL_ID_FIELD: str(pid), NAMESPACE_FIELD: ns}
        for p, pid, ns in zip(batch.payloads, batch.ids, namespaces, strict=True)
    )
    sparse = {QDRANT_SPARSE: batch.sparse[PINECONE_SPARSE]} if PINECONE_SPARSE in batch.sparse else {}
    return RecordBatch(ids=ids, vectors=batch.vectors, payloads=payloads, namespaces=None, sparse=sparse)


def _check_pinecone_vectors(batch: RecordBatch) -> None:
    """``InvalidInputError`` for vectors a Pinecone record cannot hold: copying them would drop them."""
    other = sorted(set(batch.sparse) - {PINECONE_SPARSE})
    if batch.named or other:
        what = [f"named dense vectors {sorted(batch.named)}"] if batch.named else []
        what += [f"sparse vectors {other}"] if other else []
        raise InvalidInputError(
            f"the batch carries {' and '.join(what)}; a Pinecone record has only its dense values and "
            f"{PINECONE_SPARSE!r}"
        )


def unmap_qdrant_batch(batch: RecordBatch) -> RecordBatch:
    """The inverse of ``map_pinecone_batch``: original ids and namespaces back, mapping fields removed.

    Records without the mapping fields keep their id (stringified) and the default namespace "".
    """
    ids: list[PointId] = []
    namespaces: list[str] = []
    for pid, payload in zip(batch.ids, batch.payloads, strict=True):
        ids.append(str(payload.get(ORIGINAL_ID_FIELD, pid)))
        namespaces.append(str(payload.get(NAMESPACE_FIELD, "")))
    payloads = tuple(strip_mapping_fields(p) for p in batch.payloads)
    sparse: dict[str, SparseColumn] = {
        (PINECONE_SPARSE if name == QDRANT_SPARSE else name): column for name, column in batch.sparse.items()
    }
    return RecordBatch(
        ids=tuple(ids),
        vectors=batch.vectors,
        payloads=payloads,
        namespaces=tuple(namespaces),
        named=batch.named,
        sparse=sparse,
    )


@dataclass(frozen=True, slots=True)
class RecordMapping:
    """How a source record is written to the target: as is, or Pinecone → Qdrant mapped.

    ``default_namespace`` is the namespace of records whose batch carries none (a Pinecone URI's
    ``namespace``, else Pinecone's default ""). Build it with ``mapping_for``.
    """

    pinecone_to_qdrant: bool = False
    default_namespace: str = ""

    def records(self, batch: RecordBatch) -> RecordBatch:
        """``batch`` as the target stores it."""
        return map_pinecone_batch(batch, self.default_namespace) if self.pinecone_to_qdrant else batch

    def target_sparse_name(self, name: str) -> str:
        """The target's name for the source's sparse vector ``name``."""
        return QDRANT_SPARSE if self.pinecone_to_qdrant and name == PINECONE_SPARSE else name

    def target_schema(self, source: CollectionSchema) -> CollectionSchema:
        """The vectors the target must have to hold every record of a source with schema ``source``:
        its dense vectors, and its sparse vectors under their target names (index settings kept)."""
        if not self.pinecone_to_qdrant or not source.sparse_vectors:
            return source
        sparse = {self.target_sparse_name(name): params for name, params in source.sparse_vectors.items()}
        return dataclasses.replace(source, sparse_vectors=sparse)

    def target_ids(self, ids: Sequence[PointId], namespaces: Sequence[str] | None = None) -> list[PointId]:
        """The target's ids for source ``ids`` (in ``namespaces``, default: ``default_namespace``)."""
        if not self.pinecone_to_qdrant:
            return list(ids)
        spaces = namespaces or (self.default_namespace,) * len(ids)
        return [qdrant_point_id(pid, ns) for pid, ns in zip(ids, spaces, strict=True)]

    def target_record(self, source: RecordId) -> RecordId:
        """The target record that ``source`` is written as (mapped points live in Qdrant's one namespace)."""
        if not self.pinecone_to_qdrant:
            return source
        return RecordId("", qdrant_point_id(source.id, source.namespace))

    def expected_payload(self, source_payload: Mapping[str, Any]) -> Mapping[str, Any]:
        """What the target must hold for a source record with ``source_payload`` (mapping fields aside)."""
        return mapped_payload(source_payload) if self.pinecone_to_qdrant else source_payload

    def held_payload(self, target_payload: Mapping[str, Any]) -> Mapping[str, Any]:
        """The part of a target record's payload compared with the source (the mapping fields are
        ``parity.mapping``'s business, not the payload's)."""
        return strip_mapping_fields(target_payload) if self.pinecone_to_qdrant else target_payload

    def source_record(self, target: RecordId, target_payload: Mapping[str, Any]) -> RecordId | None:
        """The source record a target record says it holds: mapped points name it in their payload
        (None when they do not); otherwise it is the same record."""
        if not self.pinecone_to_qdrant:
            return target
        original, namespace = target_payload.get(ORIGINAL_ID_FIELD), target_payload.get(NAMESPACE_FIELD)
        if not isinstance(original, str) or not isinstance(namespace, str):
            return None
        return RecordId(namespace, original)


IDENTITY = RecordMapping()
"""Records are written as they are (every pair except Pinecone → Qdrant)."""


def _backend(side: CollectionSchema | str) -> str:
    return side.backend if isinstance(side, CollectionSchema) else side


def mapping_for(
    source: CollectionSchema | str, target: CollectionSchema | str, *, default_namespace: str = ""
) -> RecordMapping:
    """The mapping between a source and a target, decided by their backends: Pinecone → Qdrant (any
    Qdrant backend) maps, every other pair is the identity.

    ``source``/``target``: the stores' schemas, or backend names as ``CollectionSchema.backend`` spells
    them (a store URI's scheme is its backend's name). ``default_namespace``: the source URI's namespace.
    """
    mapped = _backend(source) == "pinecone" and _backend(target).startswith("qdrant")
    return RecordMapping(pinecone_to_qdrant=mapped, default_namespace=default_namespace)
