"""Metadata filters: one small neutral tree, read from Pinecone's syntax, written in each backend's own.

Why a neutral tree rather than Pinecone's dicts everywhere: the stores do not agree on what a filter
*means* (numbers, empty lists), and certification must run each store the way its own applications do
— a Qdrant → Qdrant pair both in Qdrant's language, a Pinecone source in Pinecone's — so that the
differences show. A tree with one node per operator both languages share says *which* condition is
meant; each adapter renders it natively (``to_qdrant`` / ``to_pinecone``; the exact store evaluates it
with Qdrant's semantics through ``matches``), and each store then applies its own semantics. The one
deliberate rewrite is ``for_qdrant_target``: what a Pinecone source's filter becomes on a Qdrant
target so that it still selects what it selected on Pinecone (the migration translator).

The tree: ``Match`` (equals; a list field matches when an element does), ``MatchAny`` (``$in``),
``Range``, ``Exists`` and ``And`` / ``Or`` / ``Not``. ``parse_pinecone`` reads Pinecone's grammar —
``{"field": value}`` (``$eq`` shorthand), ``{"field": {"$op": value, ...}}`` with ``$eq $ne $gt $gte $lt
$lte $in $nin $exists``, ``$and`` / ``$or`` over non-empty lists, several keys ANDed — at most
``MAX_DEPTH`` levels deep and ``MAX_CONDITIONS`` conditions (a filter nested 500 deep must not overflow
Python's stack), raising ``PineconeFilterError`` (a ``UsageError``: one line naming the part) otherwise.

Where the stores' semantics differ (``KNOWN_DIFFERENCES``, named by ``quality.filtered``):

- ``exists_empty_list``: Pinecone's ``$exists`` counts a field holding ``[]`` as present; Qdrant's
  ``is_empty`` counts ``[]`` (and null) as empty, so ``{"$exists": true}`` misses such records in Qdrant.
- ``int_as_float``: Qdrant's ``MatchValue(5)`` does not match a stored ``5.0`` unless the field has an
  integer payload index (which converts); Pinecone compares every number as float64 (measured on Qdrant
  Edge 0.9: without an index 1 of {5, 5.0} matches, with an integer index both do).

The Pinecone → Qdrant translation (``to_qdrant_filter``) keeps Pinecone's answers: numbers become
closed ranges ``gte = lte = v`` (they match 2020 and 2020.0 alike, and ``MatchValue`` takes no floats);
``$nin`` is ``must_not`` + ``MatchAny``, never ``MatchExcept`` (which matches a list field ``["a", "b"]``
because *some* element is not excluded); ``$exists: true`` is ``must_not is_empty``. Missing fields
under ``$ne`` / ``$nin`` agree (both admit the record; tests/unit/test_pinecone_filters.py).
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

from harness.errors import UsageError

__all__ = [
    "KNOWN_DIFFERENCE",
    "KNOWN_DIFFERENCES",
    "MAX_CONDITIONS",
    "MAX_DEPTH",
    "And",
    "Exists",
    "Filter",
    "Match",
    "MatchAny",
    "Not",
    "Or",
    "PineconeFilterError",
    "Range",
    "Semantics",
    "fields_of",
    "filter_text",
    "for_qdrant_target",
    "integer_match_fields",
    "matches",
    "parse_pinecone",
    "to_pinecone",
    "to_qdrant",
    "to_qdrant_filter",
]

MAX_DEPTH = 32
"""Levels of ``$and`` / ``$or`` a filter may nest (the Pinecone-compatible server's limit too)."""
MAX_CONDITIONS = 1000
"""Field conditions a filter may hold in all."""

Scalar: TypeAlias = str | bool | int | float
Number: TypeAlias = int | float
Semantics: TypeAlias = Literal["qdrant", "pinecone"]

KNOWN_DIFFERENCES: dict[str, str] = {
    "exists_empty_list": (
        "$exists on a field holding an empty list: Pinecone counts the field as present, Qdrant's is_empty "
        "counts [] as empty, so {'$exists': true} misses such records in Qdrant and {'$exists': false} admits them"
    ),
    "int_as_float": (
        "Qdrant's exact match of an integer (MatchValue(5)) does not match a stored 5.0 unless the field has an "
        "integer payload index; Pinecone compares every number as float64"
    ),
    "unindexed_filter": (
        "Qdrant searches a filter on a field without a payload index by walking the HNSW graph and checking each "
        "point it visits, so its top-k depends on the graph's random build (measured: four builds of the same "
        "200k records gave recall 0.00-0.22 on one filter); create a payload index on the field (migrate "
        "--payload-index FIELD=TYPE) for filtered answers, and this check, that do not"
    ),
}
"""Semantic differences between the stores, by the name ``quality.filtered`` reports them under."""
KNOWN_DIFFERENCE = KNOWN_DIFFERENCES["exists_empty_list"] + ". Missing fields under $ne/$nin agree."
"""The one difference the Pinecone → Qdrant translation cannot remove (kept for its earlier users)."""


class PineconeFilterError(UsageError):
    """A filter that is malformed, too deep, or cannot be said in the language asked for."""


# -- the tree -------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Match:
    """``field`` equals ``value`` (a list field: some element does)."""

    field: str
    value: Scalar


@dataclass(frozen=True, slots=True)
class MatchAny:
    """``field`` equals one of ``values`` (strings and numbers; a list field: some element does)."""

    field: str
    values: tuple[str | Number, ...]


@dataclass(frozen=True, slots=True)
class Range:
    """``field`` is a number within the given bounds (a list field: some element is)."""

    field: str
    gt: Number | None = None
    gte: Number | None = None
    lt: Number | None = None
    lte: Number | None = None

    def bounds(self) -> dict[str, Number]:
        """The bounds that are set, by Qdrant's names (gt, gte, lt, lte)."""
        return {
            k: v for k, v in (("gt", self.gt), ("gte", self.gte), ("lt", self.lt), ("lte", self.lte)) if v is not None
        }


@dataclass(frozen=True, slots=True)
class Exists:
    """``field`` is present (what "present" means differs: see ``KNOWN_DIFFERENCES``)."""

    field: str


@dataclass(frozen=True, slots=True)
class And:
    """Every part holds."""

    parts: tuple[Filter, ...]


@dataclass(frozen=True, slots=True)
class Or:
    """At least one part holds."""

    parts: tuple[Filter, ...]


@dataclass(frozen=True, slots=True)
class Not:
    """The part does not hold (a record without the field qualifies, as in both stores)."""

    part: Filter


Filter: TypeAlias = Match | MatchAny | Range | Exists | And | Or | Not
"""A metadata filter (see the module docstring); ``None`` where a filter is optional means "every record"."""


# -- Pinecone's syntax → the tree -------------------------------------------------------------------------
_RANGE_OPS = {"$gt": "gt", "$gte": "gte", "$lt": "lt", "$lte": "lte"}
_FIELD_OPS = frozenset({"$eq", "$ne", "$in", "$nin", "$exists", *_RANGE_OPS})


class _Budget:
    """Conditions left (``MAX_CONDITIONS`` in all)."""

    def __init__(self) -> None:
        self.left = MAX_CONDITIONS

    def spend(self, where: str) -> None:
        self.left -= 1
        if self.left < 0:
            raise PineconeFilterError(f"{where}: the filter holds more than {MAX_CONDITIONS} conditions")


def parse_pinecone(pinecone_filter: Any, where: str = "filter") -> Filter | None:
    """The tree of a Pinecone filter (``None`` for ``{}``: every record); ``PineconeFilterError`` (one line
    naming the offending part, ``where`` first) for anything malformed, unsupported or too deep."""
    if not isinstance(pinecone_filter, Mapping):
        raise PineconeFilterError(f"{where}: a Pinecone filter must be an object, got {type(pinecone_filter).__name__}")
    if not pinecone_filter:
        return None
    return _node(pinecone_filter, where, 1, _Budget())


def _node(node: Any, where: str, depth: int, budget: _Budget) -> Filter:
    if depth > MAX_DEPTH:
        raise PineconeFilterError(f"{where}: the filter is nested more than {MAX_DEPTH} levels deep")
    if not isinstance(node, Mapping) or not node:
        raise PineconeFilterError(f"{where}: expected a non-empty object, got {node!r}")
    parts: list[Filter] = []
    for key, value in node.items():
        if not isinstance(key, str):
            raise PineconeFilterError(f"{where}: field names must be strings, got {key!r}")
        if key in ("$and", "$or"):
            if not isinstance(value, list) or not value:
                raise PineconeFilterError(f"{where}.{key}: expected a non-empty list of filters")
            subs = tuple(_node(sub, f"{where}.{key}[{i}]", depth + 1, budget) for i, sub in enumerate(value))
            parts.append(And(subs) if key == "$and" else Or(subs))
        elif key.startswith("$"):
            raise PineconeFilterError(f"{where}: unsupported operator {key!r} (use $and, $or or a field name)")
        elif isinstance(value, Mapping):
            parts.extend(_field(key, value, f"{where}.{key}", budget))
        else:
            budget.spend(where)
            parts.append(Match(key, _scalar(value, f"{where}.{key}")))  # a bare value is $eq
    return parts[0] if len(parts) == 1 else And(tuple(parts))


def _field(field: str, ops: Mapping[str, Any], where: str, budget: _Budget) -> list[Filter]:
    if not ops:
        raise PineconeFilterError(f"{where}: expected at least one operator, e.g. {{'$eq': 'value'}}")
    parts: list[Filter] = []
    bounds: dict[str, Number] = {}
    for op, operand in ops.items():
        at = f"{where}.{op}"
        if op not in _FIELD_OPS:
            raise PineconeFilterError(f"{at}: unsupported operator; use one of {', '.join(sorted(_FIELD_OPS))}")
        budget.spend(at)
        if op in _RANGE_OPS:
            bounds[_RANGE_OPS[op]] = _number(operand, at)
        elif op == "$eq":
            parts.append(Match(field, _scalar(operand, at)))
        elif op == "$ne":
            parts.append(Not(Match(field, _scalar(operand, at))))
        elif op in ("$in", "$nin"):
            if not isinstance(operand, list):
                raise PineconeFilterError(f"{at}: expected a list of values")
            # Pinecone's $in/$nin take strings and numbers only (booleans are rejected with a 400).
            values = tuple(dict.fromkeys(_in_operand(v, f"{at}[{i}]") for i, v in enumerate(operand)))
            parts.append(MatchAny(field, values) if op == "$in" else Not(MatchAny(field, values)))
        else:  # $exists
            if not isinstance(operand, bool):
                raise PineconeFilterError(f"{at}: expected true or false, got {operand!r}")
            parts.append(Exists(field) if operand else Not(Exists(field)))
    if bounds:
        parts.append(Range(field, **bounds))
    return parts


def _scalar(value: Any, where: str) -> Scalar:
    if isinstance(value, bool | str):
        return value
    if isinstance(value, int | float):
        return _number(value, where)
    raise PineconeFilterError(f"{where}: expected a string, number or boolean, got {value!r}")


def _in_operand(value: Any, where: str) -> str | Number:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _number(value, where)
    raise PineconeFilterError(f"{where}: $in/$nin take strings and numbers, got {value!r}")


def _number(value: Any, where: str) -> Number:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PineconeFilterError(f"{where}: expected a number, got {value!r}")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise PineconeFilterError(f"{where}: expected a finite number, got {value!r}")
        # Integral floats as ints, as the record mapping stores them (2020.0 → 2020).
        if value.is_integer() and abs(value) < 2**63:
            return int(value)
    return value


# -- the tree → Pinecone's syntax ---------------------------------------------------------------------------
def to_pinecone(flt: Filter | None) -> dict[str, Any]:
    """The Pinecone filter of ``flt`` (``{}`` for None). ``PineconeFilterError`` for a negation Pinecone
    cannot say (it has ``$ne``, ``$nin`` and ``$exists: false`` only)."""
    if flt is None:
        return {}
    if isinstance(flt, Match):
        return {flt.field: {"$eq": flt.value}}
    if isinstance(flt, MatchAny):
        return {flt.field: {"$in": list(flt.values)}}
    if isinstance(flt, Range):
        return {flt.field: {f"${k}": v for k, v in flt.bounds().items()}}
    if isinstance(flt, Exists):
        return {flt.field: {"$exists": True}}
    if isinstance(flt, And | Or):
        return {"$and" if isinstance(flt, And) else "$or": [to_pinecone(p) for p in flt.parts]}
    inner = flt.part
    if isinstance(inner, Match):
        return {inner.field: {"$ne": inner.value}}
    if isinstance(inner, MatchAny):
        return {inner.field: {"$nin": list(inner.values)}}
    if isinstance(inner, Exists):
        return {inner.field: {"$exists": False}}
    raise PineconeFilterError(f"Pinecone cannot negate {filter_text(inner)} (it has $ne, $nin and $exists: false)")


# -- the tree → Qdrant's syntax ------------------------------------------------------------------------------
Condition: TypeAlias = dict[str, Any]


def to_qdrant(flt: Filter | None) -> dict[str, Any]:
    """The Qdrant filter of ``flt`` as the JSON dict Qdrant's REST API takes (``{}`` for None), read
    literally — ``Match(year, 5)`` is ``MatchValue(5)``, as a Qdrant application writes it. Floats become
    closed ranges (``MatchValue`` takes none); a ``MatchAny`` mixing strings, integers and floats becomes
    a ``should`` (``MatchAny`` takes one kind)."""
    if flt is None:
        return {}
    rendered = _qdrant(flt)
    return rendered if _is_filter(rendered) else {"must": [rendered]}


def _is_filter(condition: Condition) -> bool:
    return set(condition) <= {"must", "should", "must_not"}


def _qdrant(flt: Filter) -> Condition:
    if isinstance(flt, Match):
        if isinstance(flt.value, float):
            return {"key": flt.field, "range": {"gte": flt.value, "lte": flt.value}}
        return {"key": flt.field, "match": {"value": flt.value}}
    if isinstance(flt, MatchAny):
        strings = [v for v in flt.values if isinstance(v, str)]
        ints = [v for v in flt.values if isinstance(v, int)]
        floats = [v for v in flt.values if isinstance(v, float)]
        parts: list[Condition] = [{"key": flt.field, "match": {"any": strings}}] if strings or not flt.values else []
        if ints:
            parts.append({"key": flt.field, "match": {"any": ints}})
        parts.extend({"key": flt.field, "range": {"gte": v, "lte": v}} for v in floats)
        return parts[0] if len(parts) == 1 else {"should": parts}
    if isinstance(flt, Range):
        return {"key": flt.field, "range": flt.bounds()}
    if isinstance(flt, Exists):
        return {"must_not": [{"is_empty": {"key": flt.field}}]}
    if isinstance(flt, And):
        return {"must": [_qdrant(p) for p in flt.parts]}
    if isinstance(flt, Or):
        return {"should": [_qdrant(p) for p in flt.parts]}
    inner = flt.part
    if isinstance(inner, Exists):
        return {"is_empty": {"key": inner.field}}
    rendered = _qdrant(inner)
    if set(rendered) == {"should"}:  # none of several: must_not takes the list itself
        return {"must_not": rendered["should"]}
    return {"must_not": [rendered]}


def for_qdrant_target(flt: Filter | None) -> Filter | None:
    """What a Pinecone source's filter must become on a Qdrant target to select the same records:
    numbers are float64 in Pinecone, so an equality on a number becomes the closed range ``gte = lte = v``
    (it matches a stored 2020 and 2020.0 alike). ``Exists`` stays: its difference on ``[]`` cannot be
    translated away (``KNOWN_DIFFERENCES["exists_empty_list"]``)."""
    if flt is None:
        return None
    if isinstance(flt, Match):
        value = flt.value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return Range(flt.field, gte=value, lte=value)
        return flt
    if isinstance(flt, MatchAny):
        strings = tuple(v for v in flt.values if isinstance(v, str))
        numbers = [v for v in flt.values if not isinstance(v, str)]
        parts: list[Filter] = [MatchAny(flt.field, strings)] if strings or not numbers else []
        parts.extend(Range(flt.field, gte=v, lte=v) for v in numbers)
        return parts[0] if len(parts) == 1 else Or(tuple(parts))
    if isinstance(flt, And | Or):
        mapped = tuple(p for p in (for_qdrant_target(part) for part in flt.parts) if p is not None)
        return type(flt)(mapped)
    if isinstance(flt, Not):
        inner = for_qdrant_target(flt.part)
        return None if inner is None else Not(inner)
    return flt


def to_qdrant_filter(pinecone_filter: Mapping[str, Any]) -> dict[str, Any]:
    """The Qdrant filter (REST JSON) that selects on a migrated Qdrant collection the records
    ``pinecone_filter`` selects on Pinecone: ``to_qdrant(for_qdrant_target(parse_pinecone(...)))``.

    An empty filter gives ``{}`` (matches everything); ``PineconeFilterError`` (a ``UsageError``: one line
    naming the offending part) for anything malformed or unsupported.
    """
    return to_qdrant(for_qdrant_target(parse_pinecone(pinecone_filter)))


# -- evaluation -----------------------------------------------------------------------------------------------
def matches(
    flt: Filter | None,
    payload: Mapping[str, Any],
    semantics: Semantics = "qdrant",
    *,
    integer_indexed: Collection[str] = (),
) -> bool:
    """Whether a record with ``payload`` passes ``flt`` under one store's semantics.

    ``"qdrant"``: values type-exact (``MatchValue(5)`` does not match ``5.0`` unless the field is in
    ``integer_indexed``; ``True`` is not ``1``), ``Exists`` false for a missing field, null or ``[]``.
    ``"pinecone"``: numbers compare as float64, booleans are not numbers, ``Exists`` true for any stored
    value. Either way a list field matches ``Match`` / ``MatchAny`` / ``Range`` when an element does.
    """
    if flt is None:
        return True
    if isinstance(flt, And):
        return all(matches(p, payload, semantics, integer_indexed=integer_indexed) for p in flt.parts)
    if isinstance(flt, Or):
        return any(matches(p, payload, semantics, integer_indexed=integer_indexed) for p in flt.parts)
    if isinstance(flt, Not):
        return not matches(flt.part, payload, semantics, integer_indexed=integer_indexed)
    present = flt.field in payload
    value = payload.get(flt.field)
    if isinstance(flt, Exists):
        if semantics == "pinecone":
            return present
        return present and value is not None and value != []
    elements = value if isinstance(value, list) else [value] if present else []
    if isinstance(flt, Range):
        return any(_in_range(e, flt) for e in elements)
    wanted = (flt.value,) if isinstance(flt, Match) else flt.values
    converting = flt.field in integer_indexed
    return any(_equal(e, w, semantics, converting) for e in elements for w in wanted)


def _is_num(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _equal(stored: Any, wanted: Scalar, semantics: Semantics, integer_indexed: bool) -> bool:
    if isinstance(wanted, bool) or isinstance(stored, bool):
        return isinstance(stored, bool) and isinstance(wanted, bool) and stored is wanted
    if isinstance(wanted, str):
        return isinstance(stored, str) and stored == wanted
    if not _is_num(stored):
        return False
    if semantics == "pinecone" or isinstance(wanted, float):
        return float(stored) == float(wanted)
    # Qdrant: an integer matches integers only, unless an integer index converts the stored value.
    if isinstance(stored, int):
        return stored == wanted
    return integer_indexed and float(stored).is_integer() and int(stored) == wanted


def _in_range(stored: Any, rng: Range) -> bool:
    if not _is_num(stored):
        return False
    x = float(stored)
    return (
        (rng.gt is None or x > rng.gt)
        and (rng.gte is None or x >= rng.gte)
        and (rng.lt is None or x < rng.lt)
        and (rng.lte is None or x <= rng.lte)
    )


# -- facts about a filter -------------------------------------------------------------------------------------
def _leaves(flt: Filter) -> Iterator[Match | MatchAny | Range | Exists]:
    if isinstance(flt, And | Or):
        for part in flt.parts:
            yield from _leaves(part)
    elif isinstance(flt, Not):
        yield from _leaves(flt.part)
    else:
        yield flt


def fields_of(flt: Filter | None, kind: type | tuple[type, ...] | None = None) -> set[str]:
    """The fields ``flt`` looks at (only those of leaves of ``kind`` when given)."""
    if flt is None:
        return set()
    return {leaf.field for leaf in _leaves(flt) if kind is None or isinstance(leaf, kind)}


def integer_match_fields(flt: Filter | None) -> set[str]:
    """Fields ``flt`` matches exactly against an integer (where a stored integral float would be missed)."""
    if flt is None:
        return set()
    found = set()
    for leaf in _leaves(flt):
        values = (leaf.value,) if isinstance(leaf, Match) else leaf.values if isinstance(leaf, MatchAny) else ()
        if any(isinstance(v, int) and not isinstance(v, bool) for v in values):
            found.add(leaf.field)
    return found


def filter_text(flt: Filter | None) -> str:
    """``flt`` for people: its Pinecone JSON where Pinecone can say it, else a plain description."""
    if flt is None:
        return "{}"
    try:
        return json.dumps(to_pinecone(flt), ensure_ascii=False, sort_keys=False)
    except PineconeFilterError:
        return repr(flt)
