"""What a store's payload fields hold, from the first records of its scan, and filters made from them.

``FieldStats`` tallies, per field, the value types (string, integer, integral float, other float,
boolean, list of strings, empty list, null) and the commonest values, over the first
``FIELD_SAMPLE_ROWS`` records a scan reads — enough to see which fields exist, what they hold, and
whether a target now holds ``5.0`` where its source held ``5``, without a second pass over the data.

``generate_filters`` makes the filters ``quality.filtered`` runs when the query file brings none, the
kinds real RAG filters use: equality on keywords (strings, and integers — Qdrant matches both
exactly), ranges on numbers, ``$in`` on keywords, ``$exists`` on fields some records lack (or hold
``[]``). Booleans are left out: qdrant-edge 0.9 cannot match them (``stores/qdrant_edge.edge_filter``).
The mapping's own fields (``__id__``, ``__namespace__``) are never filtered on.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from harness.records import MAPPING_FIELDS
from harness.records.filters import Exists, Filter, Match, MatchAny, Range

FIELD_SAMPLE_ROWS = 20_000
"""Records of a scan whose payloads are tallied."""
DISTINCT_MAX = 2_000
"""Distinct values tallied per field; a field with more is high-cardinality (no equality filter)."""


@dataclass(slots=True)
class FieldTally:
    """What one field held over the records tallied."""

    present: int = 0
    strings: Counter[str] = field(default_factory=Counter)
    ints: Counter[int] = field(default_factory=Counter)  # integral values, stored as int or as x.0
    true_ints: int = 0  # values stored as integers
    integral_floats: int = 0  # values stored as floats with no fraction (5.0)
    floats: int = 0
    bools: int = 0
    string_lists: int = 0
    list_elements: Counter[str] = field(default_factory=Counter)
    empty_lists: int = 0
    nulls: int = 0
    other: int = 0
    numbers: list[float] = field(default_factory=list)
    saturated: bool = False  # more than DISTINCT_MAX distinct values

    def _count(self, counter: Counter[Any], value: Any) -> None:
        if value in counter or len(counter) < DISTINCT_MAX:
            counter[value] += 1
        else:
            self.saturated = True

    def add(self, value: Any) -> None:
        """Tally one stored value."""
        self.present += 1
        if value is None:
            self.nulls += 1
        elif isinstance(value, bool):
            self.bools += 1
        elif isinstance(value, int):
            self.true_ints += 1
            self._count(self.ints, value)
            self.numbers.append(float(value))
        elif isinstance(value, float):
            if value.is_integer() and abs(value) < 2**63:
                self.integral_floats += 1
                self._count(self.ints, int(value))
            else:
                self.floats += 1
            self.numbers.append(value)
        elif isinstance(value, str):
            self._count(self.strings, value)
        elif isinstance(value, list):
            if not value:
                self.empty_lists += 1
            elif all(isinstance(v, str) for v in value):
                self.string_lists += 1
                for element in set(value):
                    self._count(self.list_elements, element)
            else:
                self.other += 1
        else:
            self.other += 1

    @property
    def kind(self) -> str:
        """The field's one kind: ``keyword``, ``keyword_list``, ``integer`` (whole numbers, however stored:
        Pinecone keeps every number as a float), ``number``, or ``mixed``."""
        kinds = {
            "keyword": sum(self.strings.values()),
            "keyword_list": self.string_lists,
            "integer": self.true_ints + self.integral_floats,
            "float": self.floats,
            "bool": self.bools,
            "other": self.other,
        }
        held = {k for k, n in kinds.items() if n}
        if held == {"keyword"}:
            return "keyword"
        if held == {"keyword_list"}:
            return "keyword_list"
        if held == {"integer"}:
            return "integer"
        if held and held <= {"integer", "float"}:
            return "number"
        return "mixed" if held else "empty"


class FieldStats:
    """Per field, a ``FieldTally`` over the first ``limit`` records offered."""

    def __init__(self, limit: int = FIELD_SAMPLE_ROWS) -> None:
        self.limit = limit
        self.rows = 0
        self.fields: dict[str, FieldTally] = {}

    def add(self, payloads: Iterable[Mapping[str, Any]]) -> None:
        """Tally payloads until ``limit`` records have been seen."""
        for payload in payloads:
            if self.rows >= self.limit:
                return
            self.rows += 1
            for name, value in payload.items():
                tally = self.fields.get(name)
                if tally is None:
                    tally = self.fields[name] = FieldTally()
                tally.add(value)

    def describe(self) -> dict[str, dict[str, Any]]:
        """Per field: its kind, how many tallied records held it, and the special values seen."""
        return {
            name: {
                "kind": t.kind,
                "present": t.present,
                "integral_floats": t.integral_floats,
                "empty_lists": t.empty_lists,
                "nulls": t.nulls,
            }
            for name, t in sorted(self.fields.items())
        }


@dataclass(frozen=True, slots=True)
class GeneratedFilter:
    """A filter made from the payloads, and what kind of real filter it stands for."""

    label: str
    where: Filter


def generate_filters(stats: FieldStats, limit: int) -> list[GeneratedFilter]:
    """Up to ``limit`` filters from ``stats`` (module docstring), the kinds taken in turn so that a small
    limit still covers equality, range, ``$in`` and ``$exists``."""
    by_kind: dict[str, list[GeneratedFilter]] = {"eq": [], "range": [], "in": [], "exists": []}
    for name in sorted(stats.fields):
        if name in MAPPING_FIELDS:
            continue
        t = stats.fields[name]
        kind = t.kind
        values: Counter[Any] = t.strings if kind == "keyword" else t.list_elements if kind == "keyword_list" else t.ints
        if kind in ("keyword", "keyword_list", "integer") and values and not t.saturated:
            top = [v for v, _ in values.most_common(2)]
            what = "integer" if kind == "integer" else "keyword"
            by_kind["eq"].append(GeneratedFilter(f"equality on {what} {name!r}", Match(name, top[0])))
            if len(top) == 2:
                by_kind["in"].append(GeneratedFilter(f"$in on {what} {name!r}", MatchAny(name, tuple(top))))
        if kind in ("integer", "number") and len(t.numbers) >= 2:
            low, high = (float(x) for x in np.quantile(np.asarray(t.numbers), [0.25, 0.75]))
            if kind == "integer":
                low, high = float(np.floor(low)), float(np.ceil(high))
            bounds = (int(low), int(high)) if kind == "integer" else (low, high)
            if bounds[0] < bounds[1]:
                by_kind["range"].append(
                    GeneratedFilter(f"range on number {name!r}", Range(name, gte=bounds[0], lte=bounds[1]))
                )
        if t.present < stats.rows or t.empty_lists or t.nulls:
            by_kind["exists"].append(GeneratedFilter(f"$exists on {name!r}", Exists(name)))
    chosen: list[GeneratedFilter] = []
    queues = list(by_kind.values())
    while len(chosen) < limit and any(queues):
        for queue in queues:
            if queue and len(chosen) < limit:
                chosen.append(queue.pop(0))
    return chosen
