"""Pinecone metadata filters: validated once, then evaluated as numpy masks over a namespace.

Semantics (docs.pinecone.io, "Filter by metadata"):
- ``$eq $ne`` take a string, number or boolean; ``$gt $gte $lt $lte`` a number; ``$in $nin`` an
  array of strings and numbers; ``$exists`` a boolean; ``$and $or`` a non-empty array of filters.
- ``{"genre": "drama"}`` is shorthand for ``{"genre": {"$eq": "drama"}}``; several keys in one
  object, and several operators on one field, are ANDed.
- Numbers compare as float64 (``2020`` equals ``2020.0``); booleans are not numbers.
- A list-of-strings field matches ``$eq``/``$in`` when any element matches, and ``$ne``/``$nin``
  when none does.
- ``$ne`` and ``$nin`` are the complements of ``$eq`` and ``$in``, so a record without the field
  matches them (the Qdrant translation is ``must_not`` + ``MatchAny``, not ``MatchExcept``).

Limits, so that no filter can exhaust the server (a filter nested 500 deep used to overflow Python's
stack): at most ``MAX_DEPTH`` levels of ``$and``/``$or``, ``MAX_CONDITIONS`` field conditions in all,
and ``MAX_IN_VALUES`` values in one ``$in``/``$nin``.

A filter that breaks these rules raises :class:`FilterError`, which the server answers with 400.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

Mask = npt.NDArray[np.bool_]

MAX_DEPTH = 32
MAX_CONDITIONS = 1000
MAX_IN_VALUES = 10_000
FIELD_OPERATORS = frozenset({"$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$exists"})
LOGICAL_OPERATORS = frozenset({"$and", "$or"})


class FilterError(ValueError):
    """A metadata filter that is not valid Pinecone syntax; the message says which part and why."""


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class _Column:
    """One metadata field across every row of a namespace, in the shapes the operators need."""

    __slots__ = ("false_rows", "num", "present", "str_rows", "true_rows")

    def __init__(self, field: str, metadata: Sequence[Mapping[str, Any] | None]) -> None:
        n = len(metadata)
        self.present = np.zeros(n, dtype=np.bool_)
        self.num = np.full(n, np.nan, dtype=np.float64)
        self.true_rows = np.zeros(n, dtype=np.bool_)
        self.false_rows = np.zeros(n, dtype=np.bool_)
        # Inverted index string → rows; a list-of-strings value files its row under every element,
        # which is exactly Pinecone's membership semantics for $eq/$in.
        str_rows: dict[str, list[int]] = {}
        for row, record in enumerate(metadata):
            if not record or field not in record:
                continue
            value = record[field]
            self.present[row] = True
            if isinstance(value, bool):
                (self.true_rows if value else self.false_rows)[row] = True
            elif _is_number(value):
                self.num[row] = float(value)
            elif isinstance(value, str):
                str_rows.setdefault(value, []).append(row)
            elif isinstance(value, list):
                for element in set(value):
                    if isinstance(element, str):
                        str_rows.setdefault(element, []).append(row)
        self.str_rows = {key: np.asarray(rows, dtype=np.int64) for key, rows in str_rows.items()}

    def equals(self, operand: object) -> Mask:
        n = self.present.shape[0]
        if isinstance(operand, bool):
            return (self.true_rows if operand else self.false_rows).copy()
        if _is_number(operand):
            with np.errstate(invalid="ignore"):
                return np.equal(self.num, float(operand))  # type: ignore[arg-type]
        mask = np.zeros(n, dtype=np.bool_)
        rows = self.str_rows.get(operand) if isinstance(operand, str) else None
        if rows is not None:
            mask[rows] = True
        return mask


class MetadataColumns:
    """Columns built lazily per field from a namespace's metadata list (rows in storage order)."""

    def __init__(self, metadata: Sequence[Mapping[str, Any] | None]) -> None:
        self._metadata = metadata
        self._columns: dict[str, _Column] = {}

    @property
    def size(self) -> int:
        """Number of rows."""
        return len(self._metadata)

    def column(self, field: str) -> _Column:
        """The column of ``field`` (built on first use)."""
        col = self._columns.get(field)
        if col is None:
            col = _Column(field, self._metadata)
            self._columns[field] = col
        return col


class Predicate(Protocol):
    """A compiled filter: which rows of a namespace it admits."""

    def mask(self, columns: MetadataColumns) -> Mask:
        """Boolean mask over the rows of ``columns``."""
        ...


@dataclass(frozen=True, slots=True)
class _FieldCondition:
    field: str
    operator: str
    operand: Any

    def mask(self, columns: MetadataColumns) -> Mask:
        col = columns.column(self.field)
        op = self.operator
        if op == "$eq":
            return col.equals(self.operand)
        if op == "$ne":
            return ~col.equals(self.operand)
        if op in ("$in", "$nin"):
            hit = np.zeros(columns.size, dtype=np.bool_)
            for item in self.operand:
                hit |= col.equals(item)
            return hit if op == "$in" else ~hit
        if op == "$exists":
            return col.present.copy() if self.operand else ~col.present
        bound = float(self.operand)
        with np.errstate(invalid="ignore"):
            if op == "$gt":
                return col.num > bound
            if op == "$gte":
                return col.num >= bound
            if op == "$lt":
                return col.num < bound
            return col.num <= bound


@dataclass(frozen=True, slots=True)
class _All:
    """AND of children; no children admits every row (the empty filter)."""

    children: tuple[Predicate, ...]

    def mask(self, columns: MetadataColumns) -> Mask:
        out = np.ones(columns.size, dtype=np.bool_)
        for child in self.children:
            out &= child.mask(columns)
        return out


@dataclass(frozen=True, slots=True)
class _Any:
    children: tuple[Predicate, ...]

    def mask(self, columns: MetadataColumns) -> Mask:
        out = np.zeros(columns.size, dtype=np.bool_)
        for child in self.children:
            out |= child.mask(columns)
        return out


def _check_scalar(field: str, operator: str, operand: object) -> None:
    if isinstance(operand, float) and not math.isfinite(operand):
        raise FilterError(f"{operator} on field {field!r} needs a finite number, got {operand!r}")


def _field_condition(field: str, operator: str, operand: object) -> _FieldCondition:
    if operator in ("$eq", "$ne"):
        if not isinstance(operand, str | bool | int | float):
            raise FilterError(
                f"{operator} on field {field!r} takes a string, number or boolean, got {type(operand).__name__}"
            )
        _check_scalar(field, operator, operand)
    elif operator in ("$gt", "$gte", "$lt", "$lte"):
        if not _is_number(operand):
            raise FilterError(f"{operator} on field {field!r} takes a number, got {type(operand).__name__}")
        _check_scalar(field, operator, operand)
    elif operator in ("$in", "$nin"):
        if not isinstance(operand, list):
            raise FilterError(f"{operator} on field {field!r} takes an array, got {type(operand).__name__}")
        if len(operand) > MAX_IN_VALUES:
            raise FilterError(
                f"{operator} on field {field!r} holds {len(operand)} values; the maximum is {MAX_IN_VALUES}"
            )
        for item in operand:
            if not (isinstance(item, str) or _is_number(item)):
                raise FilterError(
                    f"{operator} on field {field!r} takes an array of strings and numbers, "
                    f"got an element of type {type(item).__name__}"
                )
            _check_scalar(field, operator, item)
        operand = tuple(operand)
    elif operator == "$exists":
        if not isinstance(operand, bool):
            raise FilterError(f"$exists on field {field!r} takes true or false, got {operand!r}")
    else:
        raise FilterError(f"unknown operator {operator!r} on field {field!r}; supported: {sorted(FIELD_OPERATORS)}")
    return _FieldCondition(field, operator, operand)


class _Budget:
    """Conditions left to compile (``MAX_CONDITIONS`` in all)."""

    __slots__ = ("conditions",)

    def __init__(self) -> None:
        self.conditions = MAX_CONDITIONS

    def spend(self, path: str) -> None:
        self.conditions -= 1
        if self.conditions < 0:
            raise FilterError(f"the filter holds more than {MAX_CONDITIONS} conditions (at {path})")


def _compile(node: object, path: str, depth: int, budget: _Budget) -> Predicate:
    if not isinstance(node, Mapping):
        raise FilterError(f"{path} must be a JSON object, got {type(node).__name__}")
    if depth > MAX_DEPTH:
        raise FilterError(f"the filter is nested more than {MAX_DEPTH} levels deep")
    parts: list[Predicate] = []
    for key, value in node.items():
        if not isinstance(key, str):
            raise FilterError(f"{path} has a non-string key {key!r}")
        if key in LOGICAL_OPERATORS:
            if not isinstance(value, list) or not value:
                raise FilterError(f"{key} in {path} takes a non-empty array of filters")
            children = tuple(_compile(child, f"{key}[{i}]", depth + 1, budget) for i, child in enumerate(value))
            parts.append(_All(children) if key == "$and" else _Any(children))
        elif key.startswith("$"):
            raise FilterError(f"unknown operator {key!r} in {path}; top-level operators are $and and $or")
        elif isinstance(value, Mapping):
            if not value:
                raise FilterError(f"field {key!r} has an empty condition")
            for operator, operand in value.items():
                budget.spend(path)
                parts.append(_field_condition(key, str(operator), operand))
        elif isinstance(value, str | bool | int | float):
            budget.spend(path)
            parts.append(_field_condition(key, "$eq", value))
        else:
            raise FilterError(
                f"field {key!r} must be a string, number, boolean or an operator object such as "
                f'{{"$in": [...]}}, got {type(value).__name__}'
            )
    return parts[0] if len(parts) == 1 else _All(tuple(parts))


def compile_filter(filter_: object) -> Predicate:
    """Validate a Pinecone filter and compile it; ``{}`` admits every row.

    Raises :class:`FilterError` (→ HTTP 400) naming the offending part.
    """
    return _compile(filter_, "filter", 1, _Budget())


def is_empty_filter(filter_: object) -> bool:
    """Whether ``filter_`` is absent or ``{}`` (rejected by delete, update and fetch_by_metadata)."""
    return filter_ is None or (isinstance(filter_, Mapping) and not filter_)
