"""``--ragmig-sample N``: the certification suite's parity family runs sampled (pytester, in process, so the
``exact://`` stores built here are the ones the suite opens)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import numpy as np
import pytest

from harness.model import CollectionSchema, Distance, RecordBatch
from harness.stores.exact import ExactStore
from harness.verify import PARITY_CHECK_IDS

DIM, N = 8, 800


@pytest.fixture
def pair(request: pytest.FixtureRequest) -> Iterator[tuple[ExactStore, ExactStore]]:
    rng = np.random.default_rng(9)
    batch = RecordBatch.build(range(N), rng.standard_normal((N, DIM)), [{"n": i} for i in range(N)])
    stores = (ExactStore(f"sample-src-{request.node.name}"), ExactStore(f"sample-tgt-{request.node.name}"))
    for store in stores:
        store.create(CollectionSchema(DIM, Distance.COSINE))
        store.upsert(batch)
    stores[1].delete([3, 300])
    yield stores
    for store in stores:
        store.drop()


def _run(pytester: pytest.Pytester, pair: tuple[ExactStore, ExactStore], *extra: str) -> pytest.RunResult:
    return pytester.runpytest(
        "-p", "no:randomly", "--pyargs", "scenarios.certification", "--ragmig-source", pair[0].uri,
        "--ragmig-target", pair[1].uri, "--ragmig-queries", "0", "--ragmig-verdict-json", "verdict.json", *extra,
    )  # fmt: skip


def test_sampled_parity_finds_what_its_sample_holds_and_states_the_bound(
    pytester: pytest.Pytester, pair: tuple[ExactStore, ExactStore]
) -> None:
    result = _run(pytester, pair, "--ragmig-sample", str(N))  # every record
    result.assert_outcomes(passed=3, failed=1)
    checks = {c["id"]: c for c in json.loads((pytester.path / "verdict.json").read_text())["checks"]}
    assert set(PARITY_CHECK_IDS) <= set(checks)
    assert sorted(checks["parity.ids"]["details"]["missing"]) == [3, 300]
    assert checks["parity.ids"]["details"]["mode"] == "sampled"
    assert "at 99 % confidence" in checks["parity.ids"]["message"]


def test_a_sample_below_one_is_a_usage_error(pytester: pytest.Pytester, pair: tuple[ExactStore, ExactStore]) -> None:
    result = _run(pytester, pair, "--ragmig-sample", "0")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--ragmig-sample must be at least 1, got 0*"])
    assert not (pytester.path / "verdict.json").exists()
