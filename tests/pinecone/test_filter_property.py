"""Random metadata × random filters: the server's answers (through the SDK) against a reference evaluator.

The reference below is written from Pinecone's documented semantics in plain Python and does not
import the server's filter code: numbers compare as float64 and booleans are not numbers; a
list-of-strings field matches $eq/$in by membership; $ne/$nin are the complements of $eq/$in
(so a record without the field matches them); $exists tests presence.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pinecone import Pinecone, ServerlessSpec

from tests.pinecone.conftest import unique_name

FIELDS = ("genre", "year", "flag", "tags", "mixed")
STRINGS = ("a", "b", "c")
NUMBERS = (-1, 0, 1, 2, 2.0, 2.5, 3, 1990.0)

strings = st.sampled_from(STRINGS)
numbers = st.sampled_from(NUMBERS)
scalars = st.one_of(strings, numbers, st.booleans())
values = st.one_of(scalars, st.lists(strings, max_size=3, unique=True))
metadata = st.dictionaries(st.sampled_from(FIELDS), values, max_size=len(FIELDS))
fields = st.sampled_from(FIELDS)


def _condition() -> st.SearchStrategy[tuple[str, Any]]:
    return st.one_of(
        st.tuples(st.sampled_from(["$eq", "$ne"]), scalars),
        st.tuples(st.sampled_from(["$gt", "$gte", "$lt", "$lte"]), numbers),
        st.tuples(st.sampled_from(["$in", "$nin"]), st.lists(st.one_of(strings, numbers), max_size=3)),
        st.tuples(st.just("$exists"), st.booleans()),
    )


def _field_filter() -> st.SearchStrategy[dict[str, Any]]:
    def build(field: str, conditions: list[tuple[str, Any]]) -> dict[str, Any]:
        return {field: dict(conditions)}

    return st.one_of(
        st.builds(lambda f, v: {f: v}, fields, scalars),  # bare value = $eq shorthand
        st.builds(build, fields, st.lists(_condition(), min_size=1, max_size=2, unique_by=lambda c: c[0])),
    )


filters = st.recursive(
    _field_filter(),
    lambda inner: st.one_of(
        st.builds(lambda xs: {"$and": xs}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda xs: {"$or": xs}, st.lists(inner, min_size=1, max_size=3)),
        # Several keys in one object are ANDed.
        st.builds(lambda a, b: {**a, **b}, inner, inner),
    ),
    max_leaves=6,
)


# ---- the independent reference evaluator ------------------------------------------------------------
def _is_num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def ref_eq(value: Any, operand: Any) -> bool:
    if isinstance(operand, bool):
        return isinstance(value, bool) and value == operand
    if _is_num(operand):
        return _is_num(value) and float(value) == float(operand)
    if isinstance(value, list):
        return operand in value
    return isinstance(value, str) and value == operand


def ref_condition(md: dict[str, Any], field: str, op: str, operand: Any) -> bool:
    present = field in md
    value = md.get(field)
    if op == "$exists":
        return present == operand
    if op == "$eq":
        return present and ref_eq(value, operand)
    if op == "$ne":
        return not (present and ref_eq(value, operand))
    if op == "$in":
        return present and any(ref_eq(value, x) for x in operand)
    if op == "$nin":
        return not (present and any(ref_eq(value, x) for x in operand))
    if not (present and _is_num(value)):
        return False
    v, b = float(value), float(operand)
    return {"$gt": v > b, "$gte": v >= b, "$lt": v < b, "$lte": v <= b}[op]


def ref_match(md: dict[str, Any], flt: dict[str, Any]) -> bool:
    for key, cond in flt.items():
        if key == "$and":
            ok = all(ref_match(md, sub) for sub in cond)
        elif key == "$or":
            ok = any(ref_match(md, sub) for sub in cond)
        elif isinstance(cond, dict):
            ok = all(ref_condition(md, key, op, operand) for op, operand in cond.items())
        else:
            ok = ref_condition(md, key, "$eq", cond)
        if not ok:
            return False
    return True


# ---- the property ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def filter_index(pc: Pinecone) -> Iterator[Any]:
    name = unique_name("filters")
    pc.create_index(name=name, dimension=2, metric="dotproduct", spec=ServerlessSpec(cloud="aws", region="us-east-1"))
    index = pc.index(name=name)
    yield index
    index.close()
    pc.delete_index(name)


_namespaces = itertools.count()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records=st.lists(metadata, min_size=1, max_size=25), flts=st.lists(filters, min_size=1, max_size=4))
def test_server_filters_agree_with_reference(
    filter_index: Any, records: list[dict[str, Any]], flts: list[dict]
) -> None:
    ns = f"ex{next(_namespaces)}"
    ids = [f"id{i:02d}" for i in range(len(records))]
    filter_index.upsert(
        vectors=[{"id": i, "values": [1.0, 0.5], "metadata": md} for i, md in zip(ids, records, strict=True)],
        namespace=ns,
    )
    try:
        for flt in flts:
            want = {i for i, md in zip(ids, records, strict=True) if ref_match(md, flt)}
            got = {m.id for m in filter_index.query(vector=[1.0, 0.5], top_k=100, namespace=ns, filter=flt).matches}
            assert got == want, flt
            fetched = set(filter_index.fetch_by_metadata(filter=flt, namespace=ns, limit=100).vectors)
            assert fetched == want, flt
    finally:
        filter_index.delete_namespace(name=ns)
