"""The exact store's filters, evaluated column by column in numpy with Qdrant's semantics.

``records.filters.matches`` says what a filter admits, one payload at a time; at a million records and a
dozen filters that is minutes of Python. Here each field becomes columns once (built on first use, thrown
away by any write): a present / null / empty-list mask, the numbers as float64 with an "is an integer"
mask, the booleans, and an inverted index string → rows that files a list of strings under each element.
Leaves are then array comparisons; the rare list holding numbers or booleans is judged by ``matches``
itself, so both always agree (tests/unit/test_exact_columns.py drives them side by side).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from harness.records.filters import And, Exists, Filter, Match, Not, Or, Range, matches

Mask = npt.NDArray[np.bool_]


class FieldColumn:
    """One payload field across the rows of a collection."""

    def __init__(self, field: str, payloads: Sequence[Mapping[str, Any]]) -> None:
        n = len(payloads)
        self.field = field
        self.present = np.zeros(n, dtype=bool)
        self.empty = np.zeros(n, dtype=bool)  # null or []
        self.number = np.full(n, np.nan, dtype=np.float64)
        self.is_int = np.zeros(n, dtype=bool)
        self.true = np.zeros(n, dtype=bool)
        self.false = np.zeros(n, dtype=bool)
        self.lists: list[int] = []  # rows holding a list with a number, boolean or object in it
        strings: dict[str, list[int]] = {}
        for row, payload in enumerate(payloads):
            if field not in payload:
                continue
            value = payload[field]
            self.present[row] = True
            if value is None:
                self.empty[row] = True
            elif isinstance(value, bool):
                (self.true if value else self.false)[row] = True
            elif isinstance(value, int):
                self.number[row] = float(value)
                self.is_int[row] = True
            elif isinstance(value, float):
                self.number[row] = value
            elif isinstance(value, str):
                strings.setdefault(value, []).append(row)
            elif isinstance(value, list):
                if not value:
                    self.empty[row] = True
                elif all(isinstance(element, str) for element in value):
                    for element in set(value):
                        strings.setdefault(element, []).append(row)
                else:
                    self.lists.append(row)
        self.strings = {key: np.asarray(rows, dtype=np.int64) for key, rows in strings.items()}

    def equals(self, value: Any, integer_indexed: bool) -> Mask:
        """Rows whose scalar value equals ``value`` (Qdrant: type-exact; an integer index converts x.0)."""
        mask = np.zeros(len(self.present), dtype=bool)
        if isinstance(value, bool):
            return (self.true if value else self.false).copy()
        if isinstance(value, str):
            rows = self.strings.get(value)
            if rows is not None:
                mask[rows] = True
            return mask
        with np.errstate(invalid="ignore"):
            same = self.number == float(value)
        if isinstance(value, float):
            return same  # a float equality is a closed range: integers and floats alike
        return same & (self.is_int | integer_indexed)

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
    """Columns of the fields filters ask about, over ``payloads`` (built lazily, per field)."""

    def __init__(self, payloads: Sequence[Mapping[str, Any]], integer_indexed: Collection[str] = ()) -> None:
        self.payloads = payloads
        self.integer_indexed = frozenset(integer_indexed)
        self._columns: dict[str, FieldColumn] = {}

    def column(self, field: str) -> FieldColumn:
        """The column of ``field``."""
        column = self._columns.get(field)
        if column is None:
            column = self._columns[field] = FieldColumn(field, self.payloads)
        return column

    def mask(self, where: Filter) -> Mask:
        """Rows ``where`` admits, with Qdrant's semantics (``records.filters.matches``)."""
        if isinstance(where, And):
            out = np.ones(len(self.payloads), dtype=bool)
            for part in where.parts:
                out &= self.mask(part)
            return out
        if isinstance(where, Or):
            out = np.zeros(len(self.payloads), dtype=bool)
            for part in where.parts:
                out |= self.mask(part)
            return out
        if isinstance(where, Not):
            return ~self.mask(where.part)
        column = self.column(where.field)
        if isinstance(where, Exists):
            return column.present & ~column.empty
        indexed = where.field in self.integer_indexed
        if isinstance(where, Range):
            mask = column.in_range(where)
        else:
            wanted = (where.value,) if isinstance(where, Match) else where.values
            mask = np.zeros(len(self.payloads), dtype=bool)
            for value in wanted:
                mask |= column.equals(value, indexed)
        for row in column.lists:  # a list with numbers or booleans: judged one by one
            mask[row] = matches(
                where,
                {where.field: self.payloads[row][where.field]},
                "qdrant",
                integer_indexed=self.integer_indexed,
            )
        return mask
