"""The neutral filter tree: read from Pinecone's syntax, written in each backend's own, evaluated with
each store's semantics. (The translator's agreement with the Pinecone server: tests/unit/test_pinecone_filters.py.)"""

from __future__ import annotations

from typing import Any

import pytest

from harness.records.filters import (
    MAX_CONDITIONS,
    MAX_DEPTH,
    And,
    Exists,
    Match,
    MatchAny,
    Not,
    Or,
    PineconeFilterError,
    Range,
    fields_of,
    filter_text,
    for_qdrant_target,
    integer_match_fields,
    matches,
    parse_pinecone,
    to_pinecone,
    to_qdrant,
)


def test_pinecone_operators_become_one_node_each() -> None:
    parsed = parse_pinecone(
        {
            "genre": "drama",
            "year": {"$gte": 2000, "$lt": 2010.5, "$ne": 2005},
            "tags": {"$in": ["a", "b"], "$nin": ["x"]},
            "$or": [{"flag": {"$exists": True}}, {"draft": {"$exists": False}}],
        }
    )
    assert parsed == And(
        (
            Match("genre", "drama"),
            Not(Match("year", 2005)),
            Range("year", gte=2000, lt=2010.5),
            MatchAny("tags", ("a", "b")),
            Not(MatchAny("tags", ("x",))),
            Or((Exists("flag"), Not(Exists("draft")))),
        )
    )


def test_an_empty_filter_is_none_and_admits_everything() -> None:
    assert parse_pinecone({}) is None
    assert to_qdrant(None) == {} and to_pinecone(None) == {}
    assert matches(None, {}) is True


@pytest.mark.parametrize(
    "pinecone",
    [
        {"genre": {"$eq": "drama"}},
        {"year": {"$ne": 3}},
        {"tags": {"$in": ["a", 2]}},
        {"tags": {"$nin": ["a"]}},
        {"x": {"$exists": True}},
        {"x": {"$exists": False}},
        {"n": {"$gt": 1.5, "$lte": 3}},
        {"$and": [{"a": {"$eq": 1}}, {"$or": [{"b": {"$eq": "c"}}, {"d": {"$exists": True}}]}]},
    ],
)
def test_pinecone_round_trip_keeps_the_filter(pinecone: dict[str, Any]) -> None:
    tree = parse_pinecone(pinecone)
    assert parse_pinecone(to_pinecone(tree)) == tree


def test_pinecone_cannot_negate_a_conjunction() -> None:
    with pytest.raises(PineconeFilterError, match=r"\$ne, \$nin and \$exists: false"):
        to_pinecone(Not(And((Match("a", 1), Match("b", 2)))))
    assert filter_text(Not(And((Match("a", 1),)))).startswith("Not(")


def test_qdrant_rendering_is_literal_as_a_qdrant_application_writes_it() -> None:
    assert to_qdrant(Match("year", 5)) == {"must": [{"key": "year", "match": {"value": 5}}]}
    assert to_qdrant(Match("flag", True)) == {"must": [{"key": "flag", "match": {"value": True}}]}
    # MatchValue takes no floats: a float equality is a closed range.
    assert to_qdrant(Match("score", 0.5)) == {"must": [{"key": "score", "range": {"gte": 0.5, "lte": 0.5}}]}
    # MatchAny takes one kind: strings, integers and floats each get their own condition.
    assert to_qdrant(MatchAny("n", ("a", 3, 0.5))) == {
        "should": [
            {"key": "n", "match": {"any": ["a"]}},
            {"key": "n", "match": {"any": [3]}},
            {"key": "n", "range": {"gte": 0.5, "lte": 0.5}},
        ]
    }
    assert to_qdrant(Not(Exists("t"))) == {"must": [{"is_empty": {"key": "t"}}]}


def test_the_pinecone_to_qdrant_rewrite_turns_numbers_into_ranges_only() -> None:
    tree = parse_pinecone({"year": 2020, "genre": "drama", "n": {"$nin": [1, "a"]}, "t": {"$exists": True}})
    assert for_qdrant_target(tree) == And(
        (
            Range("year", gte=2020, lte=2020),
            Match("genre", "drama"),
            Not(Or((MatchAny("n", ("a",)), Range("n", gte=1, lte=1)))),
            Exists("t"),
        )
    )
    assert for_qdrant_target(None) is None


def test_nesting_deeper_than_the_limit_is_one_line_and_no_recursion_error() -> None:
    deep: dict[str, Any] = {"a": 1}
    for _ in range(MAX_DEPTH - 1):
        deep = {"$and": [deep]}
    assert parse_pinecone(deep) is not None  # just inside
    too_deep = {"$and": [deep]}
    with pytest.raises(PineconeFilterError, match=f"nested more than {MAX_DEPTH} levels deep") as caught:
        parse_pinecone(too_deep)
    assert "\n" not in str(caught.value)
    absurd: dict[str, Any] = {"a": 1}
    for _ in range(5000):  # far past Python's recursion limit: must still be one clean error
        absurd = {"$or": [absurd]}
    with pytest.raises(PineconeFilterError, match="levels deep"):
        parse_pinecone(absurd)


def test_too_many_conditions_are_refused() -> None:
    parse_pinecone({"$and": [{f"f{i}": i} for i in range(MAX_CONDITIONS)]})
    with pytest.raises(PineconeFilterError, match=f"more than {MAX_CONDITIONS} conditions"):
        parse_pinecone({"$and": [{f"f{i}": i} for i in range(MAX_CONDITIONS + 1)]})


def test_where_names_the_place_of_the_mistake() -> None:
    with pytest.raises(PineconeFilterError, match=r"^queries.jsonl:3: filter\.year\.\$gt: expected a number"):
        parse_pinecone({"year": {"$gt": "x"}}, "queries.jsonl:3: filter")


# -- semantics --------------------------------------------------------------------------------------------
def test_qdrant_matches_integers_exactly_unless_an_integer_index_converts() -> None:
    stored_float = {"year": 5.0}
    assert not matches(Match("year", 5), stored_float)
    assert matches(Match("year", 5), stored_float, integer_indexed=("year",))
    assert matches(Match("year", 5), stored_float, "pinecone")
    assert matches(Match("year", 5), {"year": 5})
    assert matches(Range("year", gte=5, lte=5), stored_float)  # a range never cared


def test_booleans_are_never_numbers() -> None:
    for semantics in ("qdrant", "pinecone"):
        assert not matches(Match("flag", 1), {"flag": True}, semantics)  # type: ignore[arg-type]
        assert not matches(Match("flag", True), {"flag": 1}, semantics)  # type: ignore[arg-type]
        assert matches(Match("flag", True), {"flag": True}, semantics)  # type: ignore[arg-type]
        assert not matches(Range("flag", gte=0), {"flag": True}, semantics)  # type: ignore[arg-type]


def test_exists_on_an_empty_list_is_the_known_difference() -> None:
    for payload, qdrant, pinecone in (({"t": []}, False, True), ({"t": None}, False, True), ({}, False, False)):
        assert matches(Exists("t"), payload) is qdrant
        assert matches(Exists("t"), payload, "pinecone") is pinecone
    assert matches(Exists("t"), {"t": ["a"]}) and matches(Exists("t"), {"t": 0})


def test_list_fields_match_by_element_and_negations_admit_missing_fields() -> None:
    doc = {"tags": ["a", "b"], "n": [1, 7]}
    assert matches(Match("tags", "b"), doc) and matches(MatchAny("tags", ("x", "a")), doc)
    assert not matches(Not(MatchAny("tags", ("a",))), doc)
    assert matches(Range("n", gt=5), doc)
    assert matches(Not(Match("genre", "x")), {}) and matches(Not(MatchAny("tags", ("a",))), {})
    assert not matches(Match("genre", "x"), {})


def test_facts_about_a_filter() -> None:
    tree = And((Match("a", 1), Or((MatchAny("b", ("x", 2)), Exists("c"))), Not(Range("d", gt=1)), Match("e", 1.5)))
    assert fields_of(tree) == {"a", "b", "c", "d", "e"}
    assert fields_of(tree, Exists) == {"c"}
    assert integer_match_fields(tree) == {"a", "b"}
    assert integer_match_fields(Match("flag", True)) == set()
    assert filter_text(Match("a", "<b>")) == '{"a": {"$eq": "<b>"}}'
