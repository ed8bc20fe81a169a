"""The exact store's column-wise filters agree with ``records.filters.matches`` on every record."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from harness.records.filters import And, Exists, Filter, Match, MatchAny, Not, Or, Range, matches
from harness.stores._exact_columns import FilterColumns

FIELDS = ("a", "b")
SCALARS = st.one_of(
    st.sampled_from(["x", "y", ""]),
    st.sampled_from([0, 1, 5, -2, 5.0, 1.0, 2.5, True, False]),
)
VALUES = st.one_of(
    st.none(),
    SCALARS,
    st.lists(st.sampled_from(["x", "y"]), max_size=2),
    st.lists(st.sampled_from([1, 5, 2.5, True, "x"]), max_size=2),
)
PAYLOAD = st.dictionaries(st.sampled_from(FIELDS), VALUES, max_size=2)
NUMBER = st.sampled_from([0, 1, 5, 2.5, -1])
LEAF: st.SearchStrategy[Filter] = st.one_of(
    st.builds(Match, st.sampled_from(FIELDS), SCALARS),
    st.builds(MatchAny, st.sampled_from(FIELDS), st.lists(st.sampled_from(["x", 1, 5, 2.5]), max_size=3).map(tuple)),
    st.builds(Range, st.sampled_from(FIELDS), gt=st.none() | NUMBER, gte=st.none() | NUMBER, lte=st.none() | NUMBER),
    st.builds(Exists, st.sampled_from(FIELDS)),
)
FILTER = st.recursive(
    LEAF,
    lambda inner: st.one_of(
        st.builds(And, st.lists(inner, min_size=1, max_size=3).map(tuple)),
        st.builds(Or, st.lists(inner, min_size=1, max_size=3).map(tuple)),
        st.builds(Not, inner),
    ),
    max_leaves=5,
)


@settings(max_examples=300, deadline=None)
@given(payloads=st.lists(PAYLOAD, max_size=15), where=FILTER, indexed=st.sampled_from([(), ("a",)]))
def test_columns_agree_with_matches(payloads: list[dict[str, Any]], where: Filter, indexed: tuple[str, ...]) -> None:
    mask = FilterColumns(payloads, indexed).mask(where)
    expected = [matches(where, p, "qdrant", integer_indexed=indexed) for p in payloads]
    assert mask.tolist() == expected
