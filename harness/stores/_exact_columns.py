"""The exact store's filters, evaluated column by column in numpy with Qdrant's semantics.

``records.filters.matches`` says what a filter admits, one payload at a time; at a million records that
is seconds of Python per condition. Here each field a filter names becomes columns for the length of one
evaluation: what kind of value each row holds (int8), its number (float64, NaN for none) and the value
itself (an object array of references, nothing copied). Leaves are then array comparisons; a list is
searched element by element only in the rows that hold one, and a list holding numbers or booleans is
judged by ``matches`` itself, so both always agree (tests/unit/test_exact_columns.py drives them side by
side). Nothing outlives the call: at 1M records a field's columns are ~17 MB while it is being judged.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from harness.records.filters import And, Exists, Filter, Match, Not, Or, Range, matches

Mask = npt.NDArray[np.bool_]

MISSING, NULL, TRUE, FALSE, INT, FLOAT, STRING, EMPTY_LIST, STRING_LIST, OTHER_LIST, OTHER = range(11)


class FieldColumn:
    """One payload field across the rows of a collection."""

    def __init__(self, field: str, payloads: Sequence[Mapping[str, Any]]) -> None:
        n = len(payloads)
        self.field = field
        self.kind = np.zeros(n, dtype=np.int8)
        self.number = np.full(n, np.nan, dtype=np.float64)
        self.value = np.empty(n, dtype=object)
        for row, payload in enumerate(payloads):
            if field not in payload:
                continue
            value = payload[field]
            self.value[row] = value
            if value is None:
                self.kind[row] = NULL
            elif isinstance(value, bool):
                self.kind[row] = TRUE if value else FALSE
            elif isinstance(value, int):
                self.kind[row] = INT
                self.number[row] = float(value)
            elif isinstance(value, float):
                self.kind[row] = FLOAT
                self.number[row] = value
            elif isinstance(value, str):
                self.kind[row] = STRING
            elif isinstance(value, list):
                if not value:
                    self.kind[row] = EMPTY_LIST
                elif all(isinstance(element, str) for element in value):
                    self.kind[row] = STRING_LIST
                else:
                    self.kind[row] = OTHER_LIST
            else:
                self.kind[row] = OTHER

    def exists(self) -> Mask:
        """Rows holding a value that is neither null nor ``[]`` (Qdrant's ``must_not is_empty``)."""
        return (self.kind != MISSING) & (self.kind != NULL) & (self.kind != EMPTY_LIST)

    def equals(self, value: Any, integer_indexed: bool) -> Mask:
        """Rows whose scalar value equals ``value`` (Qdrant: type-exact; an integer index converts x.0), or
        whose list of strings holds it."""
        if isinstance(value, bool):
            return self.kind == (TRUE if value else FALSE)
        if isinstance(value, str):
            mask = self.kind == STRING
            mask[mask] = self.value[mask] == value
            lists = np.flatnonzero(self.kind == STRING_LIST)
            if len(lists):
                mask[lists] = np.fromiter((value in self.value[row] for row in lists), dtype=bool, count=len(lists))
            return mask
        with np.errstate(invalid="ignore"):
            same = self.number == float(value)
        if isinstance(value, float):
            return same  # a float equality is a closed range: integers and floats alike
        return same & ((self.kind == INT) | integer_indexed)

    def in_range(self, bounds: Range) -> Mask:
        """Rows whose scalar number is within ``bounds``."""
        mask = ~np.isnan(self.number)
        with np.errstate(invalid="ignore"):
            if bounds.gt is not None:
                mask &= self.number > bounds.gt
            if bounds.gte is not None:
                mask &= self.number >= bounds.gte
            if bounds.lt is not None:
                mask &= self.number < bounds.lt
            if bounds.lte is not None:
                mask &= self.number <= bounds.lte
        return mask


class FilterColumns:
    """Evaluates filters over ``payloads`` (rows in storage order), with Qdrant's semantics."""

    def __init__(self, payloads: Sequence[Mapping[str, Any]], integer_indexed: Collection[str] = ()) -> None:
        self.payloads = payloads
        self.integer_indexed = frozenset(integer_indexed)

    def mask(self, where: Filter) -> Mask:
        """Rows ``where`` admits (``records.filters.matches`` on every row, in bulk)."""
        return self._mask(where, {})

    def _column(self, field: str, columns: dict[str, FieldColumn]) -> FieldColumn:
        column = columns.get(field)
        if column is None:
            column = columns[field] = FieldColumn(field, self.payloads)
        return column

    def _mask(self, where: Filter, columns: dict[str, FieldColumn]) -> Mask:
        if isinstance(where, And):
            out = np.ones(len(self.payloads), dtype=bool)
            for part in where.parts:
                out &= self._mask(part, columns)
            return out
        if isinstance(where, Or):
            out = np.zeros(len(self.payloads), dtype=bool)
            for part in where.parts:
                out |= self._mask(part, columns)
            return out
        if isinstance(where, Not):
            return ~self._mask(where.part, columns)
        column = self._column(where.field, columns)
        if isinstance(where, Exists):
            return column.exists()
        if isinstance(where, Range):
            mask = column.in_range(where)
        else:
            indexed = where.field in self.integer_indexed
            wanted = (where.value,) if isinstance(where, Match) else where.values
            mask = np.zeros(len(self.payloads), dtype=bool)
            for value in wanted:
                mask |= column.equals(value, indexed)
        for row in np.flatnonzero(column.kind == OTHER_LIST).tolist():  # numbers or booleans in a list
            mask[row] = matches(where, {where.field: column.value[row]}, "qdrant", integer_indexed=self.integer_indexed)
        return mask
