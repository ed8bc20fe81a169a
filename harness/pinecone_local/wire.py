"""Pinecone's wire format: request bodies validated into typed values, records shaped into camelCase JSON.

Limits (docs.pinecone.io "Limits"): ids are ASCII, 1–512 characters, no NUL; at most 1000
vectors and 2 MB per upsert; at most 40 KB of metadata per record; metadata values are strings,
numbers (kept as float64), booleans or lists of strings; ``top_k`` 1–10 000, and at most 1000
when values or metadata are included. Filters: see filters.py for their depth and size limits.

Statuses: malformed JSON is a 400; valid JSON of the wrong shape (a string where a number belongs,
as in ``"topK": "5"``, a missing required field, an array where an object belongs) is a 422, as
Pinecone answers a body it cannot deserialize; a well-typed value that breaks a rule (a range, a
limit, a dimension, filter syntax) is a 400.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import orjson

from harness.pinecone_local.api_errors import InvalidArgument, PayloadTooLarge, Unprocessable
from harness.pinecone_local.filters import FilterError, Predicate, compile_filter, is_empty_filter
from harness.pinecone_local.namespace import F32, Metadata, SparseValues
from harness.pinecone_local.vector_index import RecordView

MAX_ID_LENGTH = 512
MAX_UPSERT_VECTORS = 1000
MAX_REQUEST_BYTES = 2 * 1024 * 1024
MAX_METADATA_BYTES = 40 * 1024
MAX_TOP_K = 10_000
MAX_TOP_K_WITH_DATA = 1000
MAX_IDS_PER_REQUEST = 1000
MAX_LIST_LIMIT = 100
MAX_FETCH_BY_METADATA_LIMIT = 10_000
DEFAULT_NAMESPACE_ALIAS = "__default__"
_UINT32_MAX = 2**32 - 1


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def check_body_size(size: int) -> None:
    """413 when a request body of ``size`` bytes is over Pinecone's 2 MB request limit."""
    if size > MAX_REQUEST_BYTES:
        raise PayloadTooLarge(
            f"Request size {size} bytes exceeds the limit of 2 MB ({MAX_REQUEST_BYTES} bytes) per request; "
            "send fewer vectors per upsert (e.g. a smaller batch_size)"
        )


def parse_json_object(body: bytes) -> dict[str, Any]:
    """The request body as a JSON object (an empty body is ``{}``); 400 when it is not one."""
    if not body.strip():
        return {}
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidArgument(f"Request body is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise Unprocessable(f"Request body must be a JSON object, got {type(value).__name__}")
    return value


def parse_namespace(value: object) -> str:
    """A namespace name; absent and ``__default__`` both mean the default namespace ``""``."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise Unprocessable(f"namespace must be a string, got {type(value).__name__}")
    if len(value) > MAX_ID_LENGTH or not value.isascii() or "\x00" in value:
        raise InvalidArgument(f"namespace must be ASCII without NUL, at most {MAX_ID_LENGTH} characters")
    return "" if value == DEFAULT_NAMESPACE_ALIAS else value


def parse_id(value: object, what: str = "id") -> str:
    """A record id: ASCII, 1–512 characters, no NUL."""
    if not isinstance(value, str):
        raise Unprocessable(f"{what} must be a string, got {type(value).__name__}")
    if not 1 <= len(value) <= MAX_ID_LENGTH:
        raise InvalidArgument(f"{what} must be 1-{MAX_ID_LENGTH} characters long, got {len(value)}")
    if not value.isascii() or "\x00" in value:
        raise InvalidArgument(f"{what} {value[:40]!r} must be ASCII without NUL characters")
    return value


def parse_ids(value: object, what: str = "ids") -> list[str]:
    """A non-empty list of at most 1000 ids."""
    if not isinstance(value, list):
        raise Unprocessable(f"{what} must be an array of ids, got {type(value).__name__}")
    if not value:
        raise InvalidArgument(f"{what} must be a non-empty array of ids")
    if len(value) > MAX_IDS_PER_REQUEST:
        raise InvalidArgument(f"{what} holds {len(value)} ids; the maximum is {MAX_IDS_PER_REQUEST} per request")
    return [parse_id(v, what) for v in value]


def parse_values(value: object, what: str = "values") -> list[float]:
    """A dense vector's list; its elements are checked in bulk by :func:`numeric_rows` (per-element checks cost ~70 ms per 2 MB batch)."""
    if not isinstance(value, list):
        raise Unprocessable(f"{what} must be an array of numbers, got {type(value).__name__}")
    return value


def numeric_rows(rows: list[list[float]], width: int) -> F32:
    """Rows of equal ``width`` as a float32 matrix; 400 for a wrong width, non-numbers or non-finite values.

    The width message is Pinecone's: "Vector dimension 2 does not match the dimension of the index 3".
    """
    for row in rows:
        if len(row) != width:
            raise InvalidArgument(f"Vector dimension {len(row)} does not match the dimension of the index {width}")
    if not rows:
        return np.zeros((0, width), dtype=np.float32)
    try:
        matrix = np.asarray(rows)
    except (ValueError, TypeError, OverflowError):  # ragged or nested arrays, out-of-range integers
        raise Unprocessable("Vector values must be arrays of numbers") from None
    if matrix.dtype.kind not in "fiu" or matrix.ndim != 2:
        raise Unprocessable("Vector values must be arrays of numbers")
    with np.errstate(over="ignore"):
        out = matrix.astype(np.float32)
    if not np.isfinite(out).all():
        raise InvalidArgument("Vector values must be finite numbers within float32 range")
    return out


def parse_sparse(value: object, what: str = "sparseValues") -> SparseValues:
    """Sparse values: parallel ``indices`` (distinct, 0 ≤ i < 2^32) and ``values`` arrays."""
    if not isinstance(value, Mapping):
        raise Unprocessable(f"{what} must be an object with 'indices' and 'values'")
    indices, values = value.get("indices"), value.get("values")
    if not isinstance(indices, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in indices):
        raise Unprocessable(f"{what}.indices must be an array of integers")
    if any(not 0 <= i <= _UINT32_MAX for i in indices):
        raise InvalidArgument(f"{what}.indices must lie in 0..{_UINT32_MAX}")
    if not isinstance(values, list) or not all(_is_number(v) for v in values):
        raise Unprocessable(f"{what}.values must be an array of numbers")
    if not all(math.isfinite(v) for v in values):
        raise InvalidArgument(f"{what}.values must be finite numbers")
    if len(indices) != len(values):
        raise InvalidArgument(
            f"{what} has {len(indices)} indices but {len(values)} values; they must be the same length"
        )
    if len(set(indices)) != len(indices):
        raise InvalidArgument(f"{what}.indices must not repeat an index")
    return SparseValues(tuple(indices), tuple(float(v) for v in values))


def parse_metadata(value: object, what: str = "metadata") -> Metadata | None:
    """Metadata with Pinecone's types; numbers become float64, as Pinecone stores them."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise Unprocessable(f"{what} must be a JSON object, got {type(value).__name__}")
    out: Metadata = {}
    for key, item in value.items():
        if isinstance(item, bool | str):
            out[key] = item
        elif _is_number(item):
            if not math.isfinite(item):
                raise InvalidArgument(f"{what} field {key!r} must be a finite number")
            out[key] = float(item)
        elif isinstance(item, list) and all(isinstance(e, str) for e in item):
            out[key] = list(item)
        elif item is None:
            raise InvalidArgument(
                f"{what} field {key!r} is null; null metadata values are not supported, leave the key out instead"
            )
        else:
            raise InvalidArgument(
                f"{what} field {key!r} has an unsupported value of type {type(item).__name__}; "
                "use a string, number, boolean or list of strings"
            )
    size = len(orjson.dumps(out))
    if size > MAX_METADATA_BYTES:
        raise InvalidArgument(
            f"Metadata size is {size} bytes, which exceeds the limit of {MAX_METADATA_BYTES} bytes per vector"
        )
    return out


def parse_filter(value: object) -> Predicate | None:
    """A compiled filter, or None when absent or empty; 400 for invalid syntax."""
    if is_empty_filter(value):
        return None
    if not isinstance(value, Mapping):
        raise Unprocessable(f"filter must be a JSON object, got {type(value).__name__}")
    try:
        return compile_filter(value)
    except FilterError as exc:
        raise InvalidArgument(f"Invalid filter: {exc}") from None


def require_filter(value: object, operation: str) -> Predicate:
    """A compiled, non-empty filter (delete, update and fetch_by_metadata refuse ``{}``)."""
    predicate = parse_filter(value)
    if predicate is None:
        raise InvalidArgument(f"{operation} with empty metadata filter is not allowed")
    return predicate


def parse_bool(value: object, what: str) -> bool:
    """A JSON boolean (absent = False)."""
    if value is None:
        return False
    if not isinstance(value, bool):
        raise Unprocessable(f"{what} must be true or false, got {type(value).__name__}")
    return value


def parse_int(value: object, what: str, low: int, high: int, default: int, *, query: bool = False) -> int:
    """An integer in ``low..high`` (absent = ``default``). From a JSON body it must be a JSON integer
    (``"5"`` is a 422); from a query string (``query=True``) its digits are parsed (non-digits: 400)."""
    if value is None:
        return default
    if query and isinstance(value, str):
        try:
            value = int(value)
        except ValueError:
            raise InvalidArgument(f"{what} must be an integer, got {value!r}") from None
    if isinstance(value, bool) or not isinstance(value, int):
        raise Unprocessable(f"{what} must be an integer, got {value!r}"[:200])
    if not low <= value <= high:
        raise InvalidArgument(f"{what} must be between {low} and {high}, got {value}"[:200])
    return value


def encode_token(after: str | None) -> str | None:
    """An opaque pagination token that resumes after id/name ``after``."""
    if after is None:
        return None
    return base64.urlsafe_b64encode(orjson.dumps({"after": after})).decode()


def decode_token(token: object) -> str | None:
    """The id/name a pagination token resumes after; 400 when it is not one of ours."""
    if token is None or token == "":
        return None
    after: object = None
    if isinstance(token, str):
        try:
            decoded = orjson.loads(base64.urlsafe_b64decode(token.encode()))
        except (ValueError, TypeError):
            decoded = None
        after = decoded.get("after") if isinstance(decoded, dict) else None
    if not isinstance(after, str):
        raise InvalidArgument(f"Invalid paginationToken {str(token)[:40]!r}; pass the token of the previous page")
    return after


def parse_upsert(
    body: Mapping[str, Any],
) -> tuple[str, list[str], list[list[float]], list[Metadata | None], list[SparseValues | None]]:
    """(namespace, ids, values rows, metadata, sparse) of an upsert; 400 for over 1000 vectors."""
    vectors = body.get("vectors")
    if not isinstance(vectors, list):
        raise Unprocessable("vectors must be an array of records")
    if len(vectors) > MAX_UPSERT_VECTORS:
        raise InvalidArgument(
            f"Upsert request holds {len(vectors)} vectors; the maximum is {MAX_UPSERT_VECTORS} per request. "
            "Split it into batches (e.g. batch_size=500)"
        )
    ids: list[str] = []
    rows: list[list[float]] = []
    metadata: list[Metadata | None] = []
    sparse: list[SparseValues | None] = []
    for i, record in enumerate(vectors):
        if not isinstance(record, Mapping):
            raise Unprocessable(f"vectors[{i}] must be an object")
        ids.append(parse_id(record.get("id"), f"vectors[{i}].id"))
        rows.append(parse_values(record.get("values", []), f"vectors[{i}].values"))
        raw_sparse = record.get("sparseValues")
        sparse.append(parse_sparse(raw_sparse, f"vectors[{i}].sparseValues") if raw_sparse is not None else None)
        metadata.append(parse_metadata(record.get("metadata"), f"vectors[{i}].metadata"))
    return parse_namespace(body.get("namespace")), ids, rows, metadata, sparse


def query_vector(value: object) -> F32 | None:
    """A query's dense vector as float32, or None when absent."""
    if value is None:
        return None
    row = parse_values(value, "vector")
    return numeric_rows([row], len(row))[0]


def check_top_k(body: Mapping[str, Any]) -> tuple[int, bool, bool]:
    """(top_k, includeValues, includeMetadata) within Pinecone's limits."""
    include_values = parse_bool(body.get("includeValues"), "includeValues")
    include_metadata = parse_bool(body.get("includeMetadata"), "includeMetadata")
    top_k = body.get("topK")
    if top_k is None:
        raise Unprocessable("missing field 'topK'")
    top_k = parse_int(top_k, "topK", 1, MAX_TOP_K, 10)
    if (include_values or include_metadata) and top_k > MAX_TOP_K_WITH_DATA:
        raise InvalidArgument(
            f"topK must be at most {MAX_TOP_K_WITH_DATA} when includeValues or includeMetadata is true, got {top_k}"
        )
    return top_k, include_values, include_metadata


# ---- responses --------------------------------------------------------------------------------
def vector_json(view: RecordView) -> dict[str, Any]:
    """A fetched record: ``id``, ``values`` (float32 array), ``sparseValues`` and ``metadata`` when present."""
    out: dict[str, Any] = {"id": view.id, "values": view.values if view.values is not None else []}
    if view.sparse is not None:
        out["sparseValues"] = view.sparse.to_wire()
    if view.metadata is not None:
        out["metadata"] = view.metadata
    return out


def match_json(view: RecordView) -> dict[str, Any]:
    """A query match: ``id``, ``score``, ``values`` (empty unless asked for), and the rest when asked for."""
    out = vector_json(view)
    out["score"] = view.score
    return out


def dumps(value: Any) -> bytes:
    """JSON bytes; numpy arrays serialise natively (float32 values keep their float32 precision)."""
    return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY)
