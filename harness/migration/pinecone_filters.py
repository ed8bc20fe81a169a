"""Pinecone metadata filters → Qdrant filters (JSON shape, no SDK), with Pinecone's semantics kept.

Pinecone's grammar: ``{"field": value}`` (shorthand for ``$eq``), ``{"field": {"$op": value, ...}}``
with ``$eq $ne $gt $gte $lt $lte $in $nin $exists``, and ``$and`` / ``$or`` over lists of filters;
several keys in one object are ANDed. The translation is the dict Qdrant's REST API takes
(``{"must": [...], "should": [...], "must_not": [...]}``), so ``models.Filter.model_validate`` reads it.

Where a literal translation would change the answer:

- Pinecone stores numbers as float64, so ``$eq: 2020`` matches a stored ``2020.0``; Qdrant's
  ``MatchValue(2020)`` does not, and ``MatchValue`` takes no floats at all. Numbers therefore become
  ranges ``gte = lte = v`` (``$in`` on numbers: a ``should`` of such ranges).
- ``$nin`` is ``must_not`` + ``MatchAny``, never ``MatchExcept``: ``MatchExcept(["a"])`` matches a
  list field ``["a", "b"]`` because *some* element is not excluded, while Pinecone's ``$nin`` does not.
- ``$exists: true`` is ``must_not is_empty``.

Missing fields, measured against the project's Pinecone server (tests/unit/test_pinecone_filters.py):
``$ne`` / ``$nin`` are the complements of ``$eq`` / ``$in`` there, so a record without the field
matches them, and Qdrant's ``must_not`` does the same: the translation agrees on missing fields.
The one difference left is kept, not hidden (``KNOWN_DIFFERENCE``): Qdrant's ``is_empty`` treats a
stored empty list like a missing field, so ``$exists`` disagrees on records holding ``[]``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from harness.errors import UsageError

__all__ = ["KNOWN_DIFFERENCE", "PineconeFilterError", "to_qdrant_filter"]

KNOWN_DIFFERENCE = (
    "$exists on a field holding an empty list: Pinecone counts the field as present, Qdrant's is_empty "
    "counts [] as empty, so {'$exists': true} misses such records in Qdrant and {'$exists': false} "
    "admits them. Missing fields under $ne/$nin agree (both admit the record)."
)

_RANGE_OPS = {"$gt": "gt", "$gte": "gte", "$lt": "lt", "$lte": "lte"}
_FIELD_OPS = frozenset({"$eq", "$ne", "$in", "$nin", "$exists", *_RANGE_OPS})

Condition = dict[str, Any]


class PineconeFilterError(UsageError):
    """A Pinecone filter that is malformed or uses an operator the translation does not support."""


def to_qdrant_filter(pinecone_filter: Mapping[str, Any]) -> dict[str, Any]:
    """The Qdrant filter (JSON dict) that selects the records ``pinecone_filter`` selects.

    An empty filter gives ``{}`` (matches everything). Raises ``PineconeFilterError`` (a
    ``UsageError``: one line naming the offending part) for anything malformed or unsupported.
    """
    if not isinstance(pinecone_filter, Mapping):
        raise PineconeFilterError(f"a Pinecone filter must be an object, got {type(pinecone_filter).__name__}")
    if not pinecone_filter:
        return {}
    return _filter(pinecone_filter, "filter")


def _filter(node: Any, where: str) -> dict[str, Any]:
    if not isinstance(node, Mapping) or not node:
        raise PineconeFilterError(f"{where}: expected a non-empty object, got {node!r}")
    conditions: list[Condition] = []
    for key, value in node.items():
        if not isinstance(key, str):
            raise PineconeFilterError(f"{where}: field names must be strings, got {key!r}")
        if key in ("$and", "$or"):
            if not isinstance(value, list) or not value:
                raise PineconeFilterError(f"{where}.{key}: expected a non-empty list of filters")
            subs = [_filter(sub, f"{where}.{key}[{i}]") for i, sub in enumerate(value)]
            conditions.append({"must": subs} if key == "$and" else {"should": subs})
        elif key.startswith("$"):
            raise PineconeFilterError(f"{where}: unsupported operator {key!r} (use $and, $or or a field name)")
        elif isinstance(value, Mapping):
            conditions.extend(_field(key, value, f"{where}.{key}"))
        else:
            # A bare value is Pinecone's shorthand for $eq.
            conditions.append(_equals(key, value, f"{where}.{key}"))
    return conditions[0] if len(conditions) == 1 and _is_filter(conditions[0]) else {"must": conditions}


def _is_filter(condition: Condition) -> bool:
    return set(condition) <= {"must", "should", "must_not"}


def _field(field: str, ops: Mapping[str, Any], where: str) -> list[Condition]:
    if not ops:
        raise PineconeFilterError(f"{where}: expected at least one operator, e.g. {{'$eq': 'value'}}")
    conditions: list[Condition] = []
    bounds: dict[str, float | int] = {}
    for op, operand in ops.items():
        at = f"{where}.{op}"
        if op not in _FIELD_OPS:
            raise PineconeFilterError(f"{at}: unsupported operator; use one of {', '.join(sorted(_FIELD_OPS))}")
        if op in _RANGE_OPS:
            bounds[_RANGE_OPS[op]] = _number(operand, at)
        elif op == "$eq":
            conditions.append(_equals(field, operand, at))
        elif op == "$ne":
            conditions.append({"must_not": [_equals(field, operand, at)]})
        elif op == "$in":
            conditions.append(_any_of(field, operand, at))
        elif op == "$nin":
            # must_not + MatchAny: no element of the field is in the list (MatchExcept would be wrong).
            any_of = _any_of(field, operand, at)
            conditions.append({"must_not": any_of.get("should", [any_of])})
        else:  # $exists
            if not isinstance(operand, bool):
                raise PineconeFilterError(f"{at}: expected true or false, got {operand!r}")
            empty = {"is_empty": {"key": field}}
            conditions.append({"must_not": [empty]} if operand else empty)
    if bounds:
        conditions.append({"key": field, "range": bounds})
    return conditions


def _equals(field: str, value: Any, where: str) -> Condition:
    scalar = _scalar(value, where)
    if isinstance(scalar, bool | str):
        return {"key": field, "match": {"value": scalar}}
    # Numbers as a closed range: matches 2020 and 2020.0 alike, and floats (MatchValue takes none).
    return {"key": field, "range": {"gte": scalar, "lte": scalar}}


def _any_of(field: str, values: Any, where: str) -> Condition:
    if not isinstance(values, list):
        raise PineconeFilterError(f"{where}: expected a list of values")
    # Pinecone's $in/$nin take strings and numbers only (booleans are rejected with a 400).
    scalars = [_in_operand(v, f"{where}[{i}]") for i, v in enumerate(values)]
    strings = list(dict.fromkeys(v for v in scalars if isinstance(v, str)))
    numbers = list(dict.fromkeys(v for v in scalars if not isinstance(v, str)))
    # An empty list stays a MatchAny of nothing: $in [] admits no record, $nin [] every record.
    conditions: list[Condition] = [{"key": field, "match": {"any": strings}}] if strings or not numbers else []
    conditions.extend(_equals(field, v, where) for v in numbers)
    return conditions[0] if len(conditions) == 1 else {"should": conditions}


def _scalar(value: Any, where: str) -> str | bool | int | float:
    if isinstance(value, bool | str):
        return value
    if isinstance(value, int | float):
        return _number(value, where)
    raise PineconeFilterError(f"{where}: expected a string, number or boolean, got {value!r}")


def _in_operand(value: Any, where: str) -> str | int | float:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _number(value, where)
    raise PineconeFilterError(f"{where}: $in/$nin take strings and numbers, got {value!r}")


def _number(value: Any, where: str) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PineconeFilterError(f"{where}: expected a number, got {value!r}")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise PineconeFilterError(f"{where}: expected a finite number, got {value!r}")
        # Integral floats as ints, as the record mapping stores them (2020.0 → 2020).
        if value.is_integer() and abs(value) < 2**63:
            return int(value)
    return value
