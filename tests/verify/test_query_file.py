"""Query files (``--query-vectors`` / ``--ragmig-query-vectors``): what parses, and the one line for what does not."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from harness.errors import DimensionMismatchError, UsageError
from harness.model import CollectionSchema, Distance
from harness.records.filters import Match, Range
from harness.verify.queries import check_against_source, load_query_file


def jsonl(tmp_path: Path, *lines: Any, name: str = "q.jsonl") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n")
    return path


def test_npy_rows_are_queries(tmp_path: Path) -> None:
    path = tmp_path / "q.npy"
    np.save(path, np.arange(12, dtype=np.float64).reshape(3, 4))
    queries = load_query_file(path)
    assert queries.vectors.dtype == np.float32 and queries.vectors.shape == (3, 4)
    assert queries.labels == (0, 1, 2) and not queries.sampled and not queries.leave_one_out
    assert queries.origin == "query file q.npy"


def test_jsonl_lines_carry_namespace_filter_sparse_and_id(tmp_path: Path) -> None:
    path = jsonl(
        tmp_path,
        {"vector": [1, 0, 0], "id": "q-1", "namespace": "tenant-a", "filter": {"year": {"$gte": 2020}}},
        "",
        {"vector": [0, 1, 0], "sparse": {"indices": [3, 17], "values": [0.5, 1.25]}},
    )
    queries = load_query_file(path)
    assert queries.labels == ("q-1", 1)
    assert queries.namespaces == ("tenant-a", None) and queries.scoped
    assert queries.filters == (Range("year", gte=2020), None)
    assert queries.sparse is not None and queries.sparse[0] is None
    assert queries.sparse[1] is not None and queries.sparse[1].indices.tolist() == [3, 17]
    assert queries.sparse[1].values.dtype == np.float32


def test_a_plain_jsonl_file_has_no_scopes(tmp_path: Path) -> None:
    queries = load_query_file(jsonl(tmp_path, {"vector": [1.5, 2]}, {"vector": [3, 4]}, name="q.ndjson"))
    assert queries.namespaces is None and queries.filters is None and queries.sparse is None
    assert queries.vectors.tolist() == [[1.5, 2.0], [3.0, 4.0]]


BAD_LINES = [
    ("not json", "q.jsonl:1: not valid JSON"),
    ([1, 2], "q.jsonl:1: each line must be a JSON object"),
    ({"vector": [1, 2], "filtr": {"a": 1}}, "q.jsonl:1: unknown key(s) ['filtr']"),
    ({"id": "x"}, 'q.jsonl:1: "vector" is missing'),
    ({"vector": []}, '"vector" must be a non-empty list of finite numbers'),
    ({"vector": [1, "2"]}, '"vector" must be a non-empty list of finite numbers'),
    ({"vector": [1, True]}, '"vector" must be a non-empty list of finite numbers'),
    ('{"vector": [1, NaN]}', '"vector" must be a non-empty list of finite numbers'),
    ({"vector": [1, 2], "id": 1.5}, '"id" must be a string or an integer'),
    ({"vector": [1, 2], "namespace": 3}, '"namespace" must be a string'),
    ({"vector": [1, 2], "filter": {"year": {"$regex": "x"}}}, r"q.jsonl:1: filter.year.$regex: unsupported operator"),
    ({"vector": [1, 2], "filter": []}, "q.jsonl:1: filter: a Pinecone filter must be an object"),
    ({"vector": [1, 2], "sparse": {"indices": [1, 1], "values": [1, 2]}}, '"sparse" repeats an index'),
    ({"vector": [1, 2], "sparse": {"indices": [1], "values": [1, 2]}}, "of the same length"),
    ({"vector": [1, 2], "sparse": {"indices": [-1], "values": [1]}}, "from 0 to 2^32 - 1"),
    ({"vector": [1, 2], "sparse": {"indices": [1], "values": [None]}}, '"sparse" values must be finite numbers'),
    ({"vector": [1, 2], "sparse": [1, 2]}, '"sparse" must be {"indices"'),
]


@pytest.mark.parametrize(("line", "message"), BAD_LINES, ids=[m for _, m in BAD_LINES])
def test_a_bad_line_is_one_line_naming_file_and_line(tmp_path: Path, line: Any, message: str) -> None:
    path = jsonl(tmp_path, line)
    with pytest.raises(UsageError) as caught:
        load_query_file(path)
    text = str(caught.value)
    assert message in text and "\n" not in text
    assert text.startswith(str(tmp_path))


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: jsonl(p, {"vector": [1, 2]}, {"vector": [1, 2, 3]}), "q.jsonl:2: vector has dimension 3"),
        (lambda p: jsonl(p, {"vector": [1], "id": "a"}, {"vector": [2], "id": "a"}), 'two lines have the same "id"'),
        (lambda p: jsonl(p, ""), "holds no queries"),
        (lambda p: (p / "q.csv").write_text("1,2") and p / "q.csv", "use a .npy array"),
        (lambda p: p / "absent.jsonl", "absent.jsonl not found"),
        (lambda p: (p / "q.jsonl").write_bytes(b'{"vector": [1]}\n\xff\xfe\n') and p / "q.jsonl", "not UTF-8"),
        (lambda p: (p / "q.npy").write_text("junk") and p / "q.npy", "is not a .npy array"),
    ],
)
def test_bad_files_are_one_line(tmp_path: Path, make: Any, message: str) -> None:
    with pytest.raises(UsageError) as caught:
        load_query_file(make(tmp_path))
    assert message in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.ones(4), "non-empty 2-D numeric array"),
        (np.zeros((0, 4)), "non-empty 2-D numeric array"),
        (np.array([["a", "b"]]), "non-empty 2-D numeric array"),
        (np.array([[1.0, np.nan], [0, 0]]), "row 0 holds NaN or infinity"),
        (np.array([[0.0, 0], [1.0, np.inf]]), "row 1 holds NaN or infinity"),
    ],
)
def test_bad_npy_arrays(tmp_path: Path, array: np.ndarray, message: str) -> None:
    path = tmp_path / "q.npy"
    np.save(path, array)
    with pytest.raises(UsageError, match=message):
        load_query_file(path)


def test_a_pickled_npy_is_refused_not_unpickled(tmp_path: Path) -> None:
    path = tmp_path / "q.npy"
    np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(UsageError, match=r"is not a \.npy array"):
        load_query_file(path)


# -- what the source can answer ----------------------------------------------------------------------------
EDGE = CollectionSchema(2, Distance.COSINE, backend="qdrant-edge")
PINECONE = CollectionSchema(2, Distance.COSINE, backend="pinecone", index_config_reported=False)


def test_another_dimension_is_refused(tmp_path: Path) -> None:
    queries = load_query_file(jsonl(tmp_path, {"vector": [1, 2, 3]}))
    with pytest.raises(DimensionMismatchError, match="dimension 3 but the source has dimension 2"):
        check_against_source(queries, EDGE, "qdrant-edge:///src")


def test_sparse_queries_need_a_source_with_sparse_vectors(tmp_path: Path) -> None:
    queries = load_query_file(
        jsonl(
            tmp_path,
            {"vector": [1, 2]},
            {"vector": [1, 2], "id": "hybrid-7", "sparse": {"indices": [1], "values": [1]}},
        )
    )
    with pytest.raises(UsageError) as caught:
        check_against_source(queries, PINECONE, "pinecone://idx")
    assert str(caught.value).startswith("query 'hybrid-7' (query file q.jsonl) has a sparse vector but the source")
    assert "no sparse vectors" in str(caught.value)


def test_namespaces_need_a_partitioned_source_and_stay_inside_its_uri(tmp_path: Path) -> None:
    queries = load_query_file(jsonl(tmp_path, {"vector": [1, 2], "namespace": "b"}))
    with pytest.raises(
        UsageError, match=r"name namespaces \('b'\) but the source qdrant-edge:///src \(qdrant-edge\) has none"
    ):
        check_against_source(queries, EDGE, "qdrant-edge:///src")
    check_against_source(queries, PINECONE, "pinecone://idx")
    check_against_source(queries, PINECONE, "pinecone://idx?namespace=b", confined_to="b")
    with pytest.raises(UsageError, match=r"ask namespace 'b' but the source URI .* is confined to namespace 'a'"):
        check_against_source(queries, PINECONE, "pinecone://idx?namespace=a", confined_to="a")


def test_filters_parse_into_the_tree(tmp_path: Path) -> None:
    queries = load_query_file(jsonl(tmp_path, {"vector": [1, 2], "filter": {"source": "wiki"}}))
    assert queries.filters == (Match("source", "wiki"),)
    assert queries.raw_filters == ({"source": "wiki"},)
