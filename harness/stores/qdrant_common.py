"""What the Qdrant adapters share (Edge and qdrant-client): point ids, scroll cursors, defaults, and how
named and sparse vectors travel in a point.

Imports no vendor SDK, so either adapter can use it without pulling in the other's.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from harness.errors import InvalidInputError, InvalidURIError
from harness.model import CollectionSchema, DenseColumn, Distance, PointId, RecordBatch, SparseColumn
from harness.stores.uri import StoreURI

# Qdrant's defaults for a new collection (HnswConfig / HnswIndexConfig::default).
DEFAULT_M = 16
DEFAULT_EF_CONSTRUCT = 100
DEFAULT_FULL_SCAN_THRESHOLD_KB = 10_000
QUANTIZATIONS = ("scalar", "binary", "product")
MAX_INT_ID = 2**64 - 1


def qdrant_point_id(point_id: object) -> int | str:
    """``point_id`` as Qdrant holds it: a non-negative 64-bit int or a UUID string.

    Raises ``InvalidInputError`` for anything else (the message points at the Pinecone id mapping).
    """
    if isinstance(point_id, int) and not isinstance(point_id, bool):
        if 0 <= point_id <= MAX_INT_ID:
            return point_id
        raise InvalidInputError(f"invalid id {point_id}: Qdrant integer ids are unsigned 64-bit")
    if isinstance(point_id, str):
        try:
            uuid.UUID(point_id)
        except ValueError:
            raise InvalidInputError(
                f"invalid id {point_id!r}: Qdrant ids are non-negative integers or UUIDs; map other string ids "
                "with the Pinecone mapping (uuid5 of the id, original kept in the payload)"
            ) from None
        return point_id
    raise InvalidInputError(f"invalid id {point_id!r}: Qdrant ids are non-negative integers or UUID strings")


def from_qdrant_id(point_id: Any) -> PointId:
    """A Qdrant id as the harness keeps it: ints stay ints, UUIDs (objects or strings) become strings."""
    return point_id if isinstance(point_id, int) else str(point_id)


def id_key(point_id: Any) -> int | uuid.UUID:
    """A comparable key for an id whatever the spelling of its UUID (case, hyphens)."""
    return point_id if isinstance(point_id, int) else uuid.UUID(str(point_id))


def encode_cursor(next_offset: Any) -> str | None:
    """Qdrant's ``next_page_offset`` (an id, or None at the end) as an opaque JSON cursor."""
    return None if next_offset is None else json.dumps(from_qdrant_id(next_offset))


def decode_cursor(cursor: str | None, backend: str) -> int | str | None:
    """The offset id inside a cursor made by ``encode_cursor``; ``InvalidInputError`` for a foreign one."""
    if cursor is None:
        return None
    try:
        return qdrant_point_id(json.loads(cursor))
    except (ValueError, InvalidInputError):
        raise InvalidInputError(
            f"bad {backend} scroll cursor {cursor!r}: pass back the cursor scroll returned"
        ) from None


def check_options(uri: StoreURI, accepted: Sequence[str], hint: str = "") -> None:
    """``InvalidURIError`` when the URI carries an option outside ``accepted`` (a typo must not pass silently)."""
    unknown = sorted(set(uri.options) - set(accepted))
    if unknown:
        raise InvalidURIError(
            f"unknown option(s) {unknown} in {uri.redacted!r}; {uri.scheme} accepts {', '.join(accepted)}{hint}"
        )


def option_int(uri: StoreURI, name: str, minimum: int) -> int | None:
    """The integer option ``name`` (None when absent); ``InvalidURIError`` when malformed or below ``minimum``."""
    if name not in uri.options:
        return None
    raw = uri.options[name]
    try:
        value = int(raw)
    except ValueError:
        raise InvalidURIError(f"option {name}={raw!r} in {uri.redacted!r} must be an integer") from None
    if value < minimum:
        raise InvalidURIError(f"option {name}={value} in {uri.redacted!r} must be at least {minimum}")
    return value


def option_bool(uri: StoreURI, name: str) -> bool | None:
    """The boolean option ``name`` (1/0, true/false, yes/no; None when absent)."""
    if name not in uri.options:
        return None
    flag = uri.options[name].strip().lower()
    if flag not in ("1", "0", "true", "false", "yes", "no"):
        raise InvalidURIError(f"option {name}={uri.options[name]!r} in {uri.redacted!r} must be true or false")
    return flag in ("1", "true", "yes")


def option_distance(uri: StoreURI) -> Distance | None:
    """The ``distance`` option (any spelling ``Distance.parse`` knows; None when absent)."""
    if "distance" not in uri.options:
        return None
    try:
        return Distance.parse(uri.options["distance"])
    except ValueError as exc:
        raise InvalidURIError(f"{exc} (in {uri.redacted!r})") from None


def option_quantization(uri: StoreURI) -> str | None:
    """The ``quantization`` option: scalar, binary, product or none (None when absent)."""
    if "quantization" not in uri.options:
        return None
    kind = uri.options["quantization"].strip().lower()
    if kind not in (*QUANTIZATIONS, "none"):
        raise InvalidURIError(
            f"option quantization={uri.options['quantization']!r} in {uri.redacted!r}: use "
            f"{', '.join(QUANTIZATIONS)} or none"
        )
    return kind


# -- named and sparse vectors in a point ---------------------------------------------------------------
def vector_columns(vectors: Sequence[Any], schema: CollectionSchema) -> dict[str, Any]:
    """``vectors``/``named``/``sparse`` of a batch from Qdrant's per-point vectors (a list for the unnamed
    vector alone, else a dict by name holding lists and sparse vectors with ``indices``/``values``; Edge
    and qdrant-client alike). A point without the default vector gets a NaN row (a finding, never a
    silent zero)."""
    n, dimension = len(vectors), schema.dimension
    as_dicts = [v if isinstance(v, dict) else ({"": v} if v is not None else {}) for v in vectors]
    default = np.full((n, dimension), np.nan, dtype=np.float32)  # a point without it: NaN (a finding)
    for row, vec in enumerate(as_dicts):
        value = vec.get("")
        if value is not None and dimension:
            default[row] = value
    named = {}
    for name, params in schema.named_vectors.items():
        values = np.zeros((n, params.dimension), dtype=np.float32)
        present = np.zeros(n, dtype=bool)
        for row, vec in enumerate(as_dicts):
            value = vec.get(name)
            if value is not None:
                values[row], present[row] = value, True
        named[name] = DenseColumn.of(values, present)
    sparse = {
        name: SparseColumn.from_rows(
            (list(vec[name].indices), list(vec[name].values)) if vec.get(name) is not None else None for vec in as_dicts
        )
        for name in schema.sparse_vectors
    }
    return {"vectors": default, "named": named, "sparse": sparse}


def point_vectors(batch: RecordBatch, sparse_vector: Callable[[list[int], list[float]], Any]) -> list[Any]:
    """Qdrant's per-point vector for each record: a list (only the default vector), else a dict by name
    (``sparse_vector(indices, values)``: the SDK's sparse vector type)."""
    default = batch.vectors.tolist() if batch.dimension else None
    if not batch.named and not batch.sparse:
        assert default is not None
        return default
    out: list[dict[str, Any]] = [{"": row} for row in default] if default is not None else [{} for _ in batch.ids]
    for name, column in batch.named.items():
        present = column.present_rows().tolist()
        for row, (vector, has) in enumerate(zip(column.vectors.tolist(), present, strict=True)):
            if has:
                out[row][name] = vector
    for name, sparse in batch.sparse.items():
        for row, entry in enumerate(sparse.rows()):
            if entry is not None:
                out[row][name] = sparse_vector(entry[0], entry[1])
    return out
