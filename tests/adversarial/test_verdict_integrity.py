"""Adversarial certification, one row per way to make ``ragmig certify`` say "pass" without the right.

Every row runs real ``ragmig certify`` processes (or, for the plugin rows, a real ``pytest`` session of
the certification suite) on Qdrant Edge pairs or on a Pinecone (the project's server) → Edge pair, and
states how the target or the run is made, the verdict and exit code it must give, and the check ids
that must fail or be in ``error``. A run that could not finish is ``error`` (exit 2), never ``pass``;
a mistake in the inputs is one line on stderr, exit 2, and no verdict at all.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.stores import open_store
from harness.verify import LATENCY_CHECK_IDS, PARITY_CHECK_IDS, QUALITY_CHECK_IDS, SCHEMA_CHECK_IDS
from tests.adversarial.conftest import Fault, Outcome, PineconePair, corpus, edge, ragmig

SCHEMA, PARITY, QUALITY, LATENCY = (
    frozenset(SCHEMA_CHECK_IDS),
    frozenset(PARITY_CHECK_IDS),
    frozenset(QUALITY_CHECK_IDS),
    frozenset(LATENCY_CHECK_IDS),
)


@pytest.fixture(scope="module")
def edge_stores(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Every Edge store the rows use, built once: URIs by name."""
    root = tmp_path_factory.mktemp("edge")
    batches = corpus()
    stores = {"source": edge(root / "source", batches)}
    shutil.copytree(root / "source", root / "copy")
    stores["copy"] = f"qdrant-edge://{root / 'copy'}"
    shutil.copytree(root / "source", root / "missing")
    missing = open_store(f"qdrant-edge://{root / 'missing'}")
    missing.delete([5, 6, 7])
    missing.close()
    stores["missing"] = f"qdrant-edge://{root / 'missing'}"
    (root / "link").symlink_to(root / "source", target_is_directory=True)
    stores["symlink"] = f"qdrant-edge://{root / 'link'}"
    stores["source-with-params"] = f"qdrant-edge://{root / 'source'}?hnsw_ef=64"
    stores["hnsw-weak"] = edge(root / "hnsw-weak", batches, params="m=4&ef_construct=8")
    stores["hnsw-strong"] = edge(root / "hnsw-strong", batches, params="m=32&ef_construct=200")
    stores["float16"] = edge(root / "float16", batches, datatype="float16")
    (root / "accept-float16.toml").write_text('accept = ["schema.datatype"]\n')
    (root / "accept-parity.toml").write_text('accept = ["schema.datatype", "parity.ids"]\n')
    stores["accept-float16"] = str(root / "accept-float16.toml")
    stores["accept-parity"] = str(root / "accept-parity.toml")
    return stores


@dataclass(frozen=True)
class Row:
    """One adversarial case: how it is made, and what certify must answer."""

    name: str
    how: str
    args: Callable[[dict[str, str]], list[str]]  # certify arguments, from the stores' URIs
    verdict: str | None  # None: a usage error, no verdict written
    code: int
    failing: frozenset[str] = frozenset()
    erroring: frozenset[str] = frozenset()
    says: tuple[str, str] = ("", "")  # (check id or "stderr", a fragment it must contain)
    fault: Fault | None = None  # Pinecone rows: what the source's server does wrong


def pair(target: str, *extra: str) -> Callable[[dict[str, str]], list[str]]:
    return lambda s: ["--source", s["source"], "--target", s[target], "--queries", "20", *extra]


EDGE_ROWS = [
    Row("identical copy", "a byte copy of the source shard", pair("copy"), "pass", 0),
    Row(
        "records missing",
        "the copy with ids 5, 6, 7 deleted",
        pair("missing"),
        "fail",
        1,
        failing=frozenset({"parity.count", "parity.ids"}),
    ),
    Row(
        "queries 10^12",
        "identical copy, --queries 1000000000000",
        lambda s: ["--source", s["source"], "--target", s["copy"], "--queries", "1000000000000"],
        None,
        2,
        says=("stderr", "--queries 1,000,000,000,000 is more than the 600 records the source holds"),
    ),
    Row(
        "k 10^9",
        "identical copy, --k 1000000000",
        lambda s: ["--source", s["source"], "--target", s["copy"], "--k", "1000000000"],
        None,
        2,
        says=("stderr", "--k must be between 1 and 1,000, got 1,000,000,000"),
    ),
    Row(
        "k above the source's size",
        "identical copy, --k 601 on 600 records",
        lambda s: ["--source", s["source"], "--target", s["copy"], "--k", "601"],
        None,
        2,
        says=("stderr", "--k 601 is more than the 600 records the source holds"),
    ),
    Row(
        "same store via a symlink",
        "the target is a symlink to the source's directory",
        pair("symlink"),
        None,
        2,
        says=("stderr", "--source and --target name the same store"),
    ),
    Row(
        "same Edge directory, other query params",
        "the source's own directory with ?hnsw_ef=64",
        pair("source-with-params"),
        None,
        2,
        says=("stderr", "--source and --target name the same store"),
    ),
    Row(
        "weaker HNSW",
        "the corpus in a shard with m=4, ef_construct=8",
        pair("hnsw-weak"),
        "pass",
        0,
        says=("schema.hnsw", "HNSW weaker on the target (m 16 → 4, ef_construct 100 → 8 (also the default query ef))"),
    ),
    Row(
        "stronger HNSW",
        "the corpus in a shard with m=32, ef_construct=200",
        pair("hnsw-strong"),
        "pass",
        0,
        says=("schema.hnsw", "HNSW stronger on the target (m 16 → 32, ef_construct 100 → 200"),
    ),
    Row(
        "float16 target",
        "the corpus in a float16 shard",
        pair("float16"),
        "fail",
        1,
        failing=frozenset({"schema.datatype"}),
        says=("schema.datatype", "vector datatype float32 → float16: the target stores each component with fewer bits"),
    ),
    Row(
        "float16 target, accepted",
        'the float16 shard, thresholds accept = ["schema.datatype"]',
        lambda s: [*pair("float16")(s), "--thresholds", s["accept-float16"]],
        "pass",
        0,
        says=("schema.datatype", 'accepted as deliberate by the thresholds file (accept = ["schema.datatype"])'),
    ),
    Row(
        "a data check accepted",
        'identical copy, thresholds accept = ["schema.datatype", "parity.ids"]',
        lambda s: [*pair("copy")(s), "--thresholds", s["accept-parity"]],
        None,
        2,
        says=("stderr", "'parity.ids' cannot be accepted: parity checks judge the data"),
    ),
]

# The source's server misbehaves at one request of the suite; the Edge target is a faithful copy.
PINECONE_ROWS = [
    Row(
        "exception in the schema family",
        "the suite's first describe of the source answers 501",
        pair("target"),
        "error",
        2,
        erroring=SCHEMA,
        fault=Fault("GET", r"^/indexes/", nth=-1),  # nth: right after certify's own validation (set below)
    ),
    Row(
        "exception in the parity family",
        "the scan's first fetch answers 501",
        pair("target"),
        "error",
        2,
        erroring=PARITY,
        fault=Fault("GET", r"/vectors/fetch$"),
    ),
    Row(
        "exception in the quality family",
        "the first query answers 501",
        pair("target"),
        "error",
        2,
        erroring=QUALITY,
        fault=Fault("POST", r"/query$"),
    ),
    Row(
        "exception in the quality and latency families",
        "every query answers 501 (latency is measured on the quality family's searches)",
        pair("target"),
        "error",
        2,
        erroring=QUALITY | LATENCY,
        fault=Fault("POST", r"/query$", times=10**9),
    ),
]

KILLED = Row(
    "source killed mid-scan",
    "the source's server goes down at the scan's second fetch (500, then it stops listening)",
    pair("target"),
    "error",
    2,
    erroring=PARITY | QUALITY | LATENCY,
    fault=Fault("GET", r"/vectors/fetch$", nth=1, dies=True),
)


def assert_row(row: Row, outcome: Outcome) -> None:
    context = f"{row.name}: {outcome.stdout[-2000:]}{outcome.stderr}"
    assert outcome.code == row.code, context
    if row.verdict is None:
        assert outcome.verdict is None and outcome.html is None and outcome.junit is None, context
        assert len(outcome.stderr.strip().splitlines()) == 1 and "Traceback" not in outcome.stderr, context
    else:
        assert outcome.verdict is not None, context
        assert outcome.verdict["verdict"] == row.verdict, context
        assert outcome.statuses("fail") == row.failing, context
        assert outcome.statuses("error") == row.erroring, context
        assert ("incomplete" in outcome.verdict) == (row.verdict == "error"), context
    where, fragment = row.says
    if where == "stderr":
        assert fragment in outcome.stderr, context
    elif where:
        assert fragment in outcome.check(where)["message"], outcome.check(where)


@pytest.mark.parametrize("row", EDGE_ROWS, ids=lambda r: r.name)
def test_edge_pairs(row: Row, edge_stores: dict[str, str], tmp_path: Path) -> None:
    assert_row(row, ragmig(tmp_path, "certify", *row.args(edge_stores)))


def test_an_accepted_change_is_listed_and_the_other_checks_still_judge(edge_stores: dict[str, str], tmp_path: Path) -> None:
    outcome = ragmig(tmp_path, "certify", *pair("float16")(edge_stores), "--thresholds", edge_stores["accept-float16"])
    assert outcome.verdict is not None
    assert outcome.verdict["accepted"] == ["schema.datatype"]
    assert outcome.check("schema.datatype")["status"] == "warn"
    assert outcome.statuses("pass") >= PARITY | QUALITY  # float16 holds these vectors within tolerance


def aimed(row: Row, pair_: PineconePair) -> Fault:
    assert row.fault is not None
    fault = Fault(**{k: v for k, v in vars(row.fault).items() if k not in ("seen", "injected")})
    if fault.nth < 0:  # past certify's own validation requests
        fault.nth = pair_.validation_gets
    return fault


@pytest.mark.parametrize("row", PINECONE_ROWS, ids=lambda r: r.name)
def test_pinecone_source_with_a_failing_family(row: Row, shared_pinecone_pair: PineconePair, tmp_path: Path) -> None:
    fault = aimed(row, shared_pinecone_pair)
    shared_pinecone_pair.server.faults.faults = [fault]
    try:
        outcome = ragmig(tmp_path, "certify", *row.args({"source": shared_pinecone_pair.source,
                                                          "target": shared_pinecone_pair.target}),
                         env=shared_pinecone_pair.env)  # fmt: skip
    finally:
        shared_pinecone_pair.server.faults.faults = []
    assert fault.injected >= 1, "the fault never fired: the row tested nothing"
    assert_row(row, outcome)


def test_the_source_killed_mid_scan(fresh_pinecone_pair: PineconePair, tmp_path: Path) -> None:
    fault = aimed(KILLED, fresh_pinecone_pair)
    fresh_pinecone_pair.server.faults.faults = [fault]
    args = KILLED.args({"source": fresh_pinecone_pair.source, "target": fresh_pinecone_pair.target})
    outcome = ragmig(tmp_path, "certify", *args, env=fresh_pinecone_pair.env)
    assert fresh_pinecone_pair.server.faults.dead and fault.seen >= 2
    assert_row(KILLED, outcome)
    assert outcome.statuses("pass") >= {"schema.dimension", "schema.distance", "schema.datatype"}


# -- the pytest plugin: the suite selected without its stores -------------------------------------------
@pytest.mark.parametrize(
    ("stores", "missing"),
    [
        ((), "--ragmig-source and --ragmig-target are missing or empty"),
        (("--ragmig-source=", "--ragmig-target="), "--ragmig-source and --ragmig-target are missing or empty"),
        (("--ragmig-source", "qdrant-edge:///tmp/x"), "--ragmig-target is missing or empty"),
    ],
    ids=["no stores", "empty stores", "one store"],
)
def test_plugin_rows(stores: tuple[str, ...], missing: str, tmp_path: Path) -> None:
    """What an unset CI variable produces: a pytest usage error (exit 4), and no verdict file at all."""
    verdict = tmp_path / "verdict.json"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--pyargs", "scenarios.certification",
         *stores, "--ragmig-verdict-json", str(verdict)],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
        env={k: v for k, v in os.environ.items() if k not in ("PYTEST_ADDOPTS", "PYTEST_PLUGINS")},
    )  # fmt: skip
    assert proc.returncode == pytest.ExitCode.USAGE_ERROR, proc.stdout + proc.stderr
    assert f"the certification suite needs both stores: {missing}" in proc.stderr
    assert not verdict.exists()
