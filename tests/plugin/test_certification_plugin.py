"""The certification suite as users run it: ``pytest --pyargs scenarios.certification --ragmig-source --ragmig-target``.

pytester runs the sessions in this process, so ``exact://`` stores built here are the ones the suite
opens.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import numpy as np
import pytest

from harness.model import CollectionSchema, Distance, RecordBatch
from harness.stores.exact import ExactStore
from harness.verify import CHECK_IDS

DIM = 16
N = 1500


@pytest.fixture
def exact_pair(request: pytest.FixtureRequest) -> Iterator[tuple[ExactStore, ExactStore]]:
    """Two exact stores holding the same 1,500 records; each test breaks the target its own way."""
    rng = np.random.default_rng(3)
    batch = RecordBatch.build(range(N), rng.standard_normal((N, DIM)), [{"doc": f"d{i}", "n": i} for i in range(N)])
    stores = (ExactStore(f"plugin-src-{request.node.name}"), ExactStore(f"plugin-tgt-{request.node.name}"))
    for store in stores:
        store.create(CollectionSchema(DIM, Distance.COSINE))
        store.upsert(batch)
    yield stores
    for store in stores:
        store.drop()


def run_suite(pytester: pytest.Pytester, pair: tuple[ExactStore, ExactStore], *extra: str) -> pytest.RunResult:
    source, target = pair
    return pytester.runpytest(
        "-p", "no:randomly", "--strict-markers", "--pyargs", "scenarios.certification",
        "--ragmig-source", source.uri, "--ragmig-target", target.uri, "--ragmig-queries", "25",
        "--ragmig-verdict-json", "verdict.json", *extra,
    )  # fmt: skip


def test_identical_stores_pass_all_four_families(
    pytester: pytest.Pytester, exact_pair: tuple[ExactStore, ExactStore]
) -> None:
    result = run_suite(pytester, exact_pair, "-v")
    result.assert_outcomes(passed=4)
    # The families run in the verdict's order: schema, parity, quality, latency.
    result.stdout.fnmatch_lines(["*test_schema.py::test_schema PASSED*", "*test_parity.py::test_parity PASSED*",
                                 "*test_quality.py::test_quality PASSED*", "*test_latency.py::test_latency PASSED*"])  # fmt: skip
    verdict = json.loads((pytester.path / "verdict.json").read_text())
    assert verdict["verdict"] == "pass"
    assert [c["id"] for c in verdict["checks"]] == list(CHECK_IDS)
    assert verdict["source"]["uri"] == exact_pair[0].uri and verdict["target"]["count"] == N


def test_a_broken_target_fails_only_the_family_that_sees_it(
    pytester: pytest.Pytester, exact_pair: tuple[ExactStore, ExactStore]
) -> None:
    exact_pair[1].delete([4, 8, 15, 16, 23, 42])
    result = run_suite(pytester, exact_pair)
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(["*FAILED*test_parity.py::test_parity*parity.count*"])
    verdict = json.loads((pytester.path / "verdict.json").read_text())
    ids = next(c for c in verdict["checks"] if c["id"] == "parity.ids")
    assert ids["details"]["missing"] == [4, 8, 15, 16, 23, 42]


def test_the_html_report_leads_with_the_verdict(
    pytester: pytest.Pytester, exact_pair: tuple[ExactStore, ExactStore]
) -> None:
    run_suite(pytester, exact_pair, "--html", "report.html", "--self-contained-html").assert_outcomes(passed=4)
    page = (pytester.path / "report.html").read_text()
    assert "Certification verdict: PASS" in page
    assert page.index("Certification verdict") < page.index('id="results-table"')
    assert page.count("<svg") >= 2


def test_a_thresholds_file_reaches_the_gates(
    pytester: pytest.Pytester, exact_pair: tuple[ExactStore, ExactStore]
) -> None:
    pytester.makefile(".toml", gates="p99_ms_max = 0.000001\n")
    result = run_suite(pytester, exact_pair, "--ragmig-thresholds", "gates.toml")
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(["*FAILED*test_latency.py::test_latency*latency.p99*"])


def test_the_verdict_names_the_gates_in_force_and_the_run_times(
    pytester: pytest.Pytester, exact_pair: tuple[ExactStore, ExactStore]
) -> None:
    pytester.makefile(".toml", gates="p99_ms_max = 750\n")
    run_suite(pytester, exact_pair, "--ragmig-thresholds", "gates.toml").assert_outcomes(passed=4)
    verdict = json.loads((pytester.path / "verdict.json").read_text())
    assert verdict["thresholds"]["p99_ms_max"] == 750
    assert verdict["thresholds"]["recall_target_min"] == 0.95  # the defaults in force are named too
    assert verdict["started_at"] < verdict["finished_at"]
    assert verdict["accepted"] == []


def test_query_vectors_from_a_npy_file_replace_the_sampled_queries(
    pytester: pytest.Pytester, exact_pair: tuple[ExactStore, ExactStore]
) -> None:
    np.save(pytester.path / "queries.npy", np.random.default_rng(9).standard_normal((7, DIM)).astype(np.float32))
    run_suite(pytester, exact_pair, "--ragmig-query-vectors", "queries.npy").assert_outcomes(passed=4)
    verdict = json.loads((pytester.path / "verdict.json").read_text())
    recall = next(c for c in verdict["checks"] if c["id"] == "quality.recall_target")
    assert recall["details"]["queries"] == 7
    assert recall["details"]["queries_sampled_from_source"] is False


# A plugin that drops the target store just before the named family's setup: a store that disappears.
DROPPER = """
import pytest
from harness.stores.exact import ExactStore

FAMILY = {family!r}
TARGET = {target!r}

@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    if item.name == f"test_{{FAMILY}}":
        ExactStore(TARGET).drop()
"""


@pytest.mark.parametrize(
    ("family", "errors"),
    [
        ("schema", {"schema", "parity", "quality", "latency"}),
        ("parity", {"parity", "quality", "latency"}),
    ],
)
def test_a_store_that_disappears_mid_run_makes_its_families_error_never_pass(
    pytester: pytest.Pytester, exact_pair: tuple[ExactStore, ExactStore], family: str, errors: set[str]
) -> None:
    pytester.makepyfile(dropper=DROPPER.format(family=family, target=exact_pair[1].name))
    pytester.syspathinsert()
    result = run_suite(pytester, exact_pair, "-p", "dropper", "--junitxml", "junit.xml")
    result.assert_outcomes(passed=4 - len(errors), errors=len(errors))
    verdict = json.loads((pytester.path / "verdict.json").read_text())
    assert verdict["verdict"] == "error"
    by_status: dict[str, set[str]] = {}
    for check in verdict["checks"]:
        by_status.setdefault(check["status"], set()).add(check["id"].split(".")[0])
    assert by_status["error"] == errors
    assert "CollectionNotFoundError" in verdict["incomplete"]
    junit = (pytester.path / "junit.xml").read_text()
    assert junit.count("<error") == len(errors)


# -- query files (--ragmig-query-vectors) ---------------------------------------------------------------------
def test_a_jsonl_query_file_is_asked_instead_of_sampled_queries(
    pytester: pytest.Pytester, exact_pair: tuple[ExactStore, ExactStore]
) -> None:
    rng = np.random.default_rng(5)
    lines = [json.dumps({"id": f"q{i}", "vector": rng.standard_normal(DIM).tolist(), "filter": {"n": {"$lt": 700}}})
             for i in range(12)]  # fmt: skip
    (pytester.path / "asked.jsonl").write_text("\n".join(lines) + "\n")
    run_suite(pytester, exact_pair, "--ragmig-query-vectors", "asked.jsonl").assert_outcomes(passed=4)
    checks = {c["id"]: c for c in json.loads((pytester.path / "verdict.json").read_text())["checks"]}
    assert checks["quality.recall_target"]["details"]["query_origin"] == "query file asked.jsonl"
    assert checks["quality.recall_target"]["details"]["leave_one_out"] is False
    filtered = checks["quality.filtered"]
    rows = filtered["details"]["filters"]
    # The same in-process engine, the same records: the counts cannot differ and are not asked.
    assert [(r["origin"], r["queries"], r["source_count"], r["target_count"]) for r in rows] == [
        ("query file", 12, None, None)
    ]
    assert filtered["details"]["counts_implied"] is True and "match counts not asked" in filtered["message"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"vector": [1, 2]}\n', "have dimension 2 but the source has dimension 16"),
        ('{"vector": "x"}\n', 'asked.jsonl:1: "vector" must be a non-empty list of finite numbers'),
        (json.dumps({"vector": [0.0] * DIM, "filter": {"n": {"$near": 3}}}) + "\n", "filter.n.$near: unsupported"),
        (json.dumps({"vector": [0.0] * DIM, "sparse": {"indices": [1], "values": [1.0]}}) + "\n", "no sparse vectors"),
        (
            json.dumps({"vector": [0.0] * DIM, "namespace": "tenant"}) + "\n",
            "ask namespace 'tenant', which holds no records",
        ),
    ],
)
def test_a_bad_query_file_is_a_usage_error_with_no_verdict(
    pytester: pytest.Pytester, exact_pair: tuple[ExactStore, ExactStore], content: str, message: str
) -> None:
    (pytester.path / "asked.jsonl").write_text(content)
    result = run_suite(pytester, exact_pair, "--ragmig-query-vectors", "asked.jsonl")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert message in result.stderr.str()
    assert not (pytester.path / "verdict.json").exists()
