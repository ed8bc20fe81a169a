"""The one record model: which record is this, how a source record is written to the target, and when
the target's record equals the source's.

Below ``stores/``, ``migration/`` and ``verify/``: it imports only ``harness.model`` and
``harness.errors`` (plus numpy and msgspec), and every layer above asks it rather than deciding again.

- identity: ``RecordId`` (namespace, id), ``record_key`` / ``key_parts`` (text, durable),
  ``record_keys64`` (8-byte keys for bulk comparison in one process);
- mapping: ``mapping_for(source, target)`` decides Pinecone → Qdrant once; ``RecordMapping`` writes
  records (uuid5 point ids, ``__id__``/``__namespace__``, integral floats as ints) and names them back;
- comparison: ``Comparison`` — payload values type-exact, vectors within a tolerance after the
  distance's canonical form, NaN/±Inf equal to nothing — and the digests parity hashes.
"""

from harness.records.compare import (
    FLOAT_REL_TOLERANCE,
    Comparison,
    RecordParts,
    field_diffs,
    non_finite_rows,
    record_fingerprints,
    values_equal,
)
from harness.records.identity import RecordId, batch_keys, batch_record_ids, key_parts, record_key, record_keys64
from harness.records.mapping import (
    ID_NAMESPACE,
    IDENTITY,
    MAPPING_FIELDS,
    NAMESPACE_FIELD,
    ORIGINAL_ID_FIELD,
    PINECONE_SPARSE,
    QDRANT_SPARSE,
    RecordMapping,
    coerce_number,
    map_pinecone_batch,
    mapped_payload,
    mapping_for,
    qdrant_point_id,
    strip_mapping_fields,
    unmap_qdrant_batch,
)

__all__ = [
    "FLOAT_REL_TOLERANCE",
    "IDENTITY",
    "ID_NAMESPACE",
    "MAPPING_FIELDS",
    "NAMESPACE_FIELD",
    "ORIGINAL_ID_FIELD",
    "PINECONE_SPARSE",
    "QDRANT_SPARSE",
    "Comparison",
    "RecordId",
    "RecordMapping",
    "RecordParts",
    "batch_keys",
    "batch_record_ids",
    "coerce_number",
    "field_diffs",
    "key_parts",
    "map_pinecone_batch",
    "mapped_payload",
    "mapping_for",
    "non_finite_rows",
    "qdrant_point_id",
    "record_fingerprints",
    "record_key",
    "record_keys64",
    "strip_mapping_fields",
    "unmap_qdrant_batch",
    "values_equal",
]
