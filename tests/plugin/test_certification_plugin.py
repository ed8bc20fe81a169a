"""The certification suite as users run it: ``pytest --pyargs scenarios.certification --source --target``.

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
        "--pyargs", "scenarios.certification", "--source", source.uri, "--target", target.uri,
        "--queries", "25", "--verdict-json", "verdict.json", *extra,
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
    result = run_suite(pytester, exact_pair, "--thresholds", "gates.toml")
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(["*FAILED*test_latency.py::test_latency*latency.p99*"])
