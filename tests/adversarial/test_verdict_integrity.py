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
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from harness.stores import open_store
from harness.stores.qdrant_edge import copy_shard
from harness.verify import LATENCY_CHECK_IDS, PARITY_CHECK_IDS, QUALITY_CHECK_IDS, SCHEMA_CHECK_IDS
from tests.adversarial.conftest import (
    Fault,
    FaultyPineconeServer,
    Outcome,
    PineconePair,
    corpus,
    edge,
    make_pinecone_pair,
    ragmig,
)

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
    copy_shard(root / "source", root / "copy")
    stores["copy"] = f"qdrant-edge://{root / 'copy'}"
    copy_shard(root / "source", root / "missing")
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
    # The scan fetches what it lists in requests of up to 1000 ids (stores/pinecone.py FETCH_CHUNK): the
    # 300-record source is one fetch, so the server dies at the scan's second list call instead.
    "the source's server goes down at the scan's second list call (500, then it stops listening)",
    pair("target"),
    "error",
    2,
    erroring=PARITY | QUALITY | LATENCY,
    fault=Fault("GET", r"/vectors/list$", nth=1, dies=True),
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


@pytest.fixture(scope="module")
def edge_runs(edge_stores: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Callable[[Row], Outcome]:
    """Certify an Edge row (once per module: later tests reuse what it gave)."""
    done: dict[str, Outcome] = {}

    def run(row: Row) -> Outcome:
        if row.name not in done:
            done[row.name] = ragmig(tmp_path_factory.mktemp("edge-run"), "certify", *row.args(edge_stores))
        return done[row.name]

    return run


@pytest.mark.parametrize("row", EDGE_ROWS, ids=lambda r: r.name)
def test_edge_pairs(row: Row, edge_runs: Callable[[Row], Outcome]) -> None:
    assert_row(row, edge_runs(row))


def test_an_accepted_change_is_listed_and_the_other_checks_still_judge(edge_runs: Callable[[Row], Outcome]) -> None:
    outcome = edge_runs(next(row for row in EDGE_ROWS if row.name == "float16 target, accepted"))
    assert outcome.verdict is not None
    assert outcome.verdict["accepted"] == ["schema.datatype"]
    assert outcome.check("schema.datatype")["status"] == "warn"
    # float16 holds these vectors within tolerance: every data check that applies to an Edge pair passes.
    # Edge → Edge has no id mapping and no namespaces: those checks are skipped, with their reasons.
    unmapped = {"parity.mapping", "quality.namespaces"}
    assert outcome.statuses("skip") >= unmapped
    assert outcome.statuses("pass") >= (PARITY | QUALITY) - outcome.statuses("skip")
    assert not (outcome.statuses("fail") | outcome.statuses("error")) & (PARITY | QUALITY)


def aimed(row: Row, pair_: PineconePair) -> Fault:
    """A fresh copy of the row's fault, aimed past certify's own validation when its ``nth`` is negative."""
    assert row.fault is not None
    fault = Fault(**{k: v for k, v in vars(row.fault).items() if k not in ("seen", "injected")})
    if fault.nth < 0:
        fault.nth = pair_.validation_gets
    return fault


def certify_with_fault(row: Row, pair_: PineconePair, out_dir: Path) -> Outcome:
    fault = aimed(row, pair_)
    pair_.server.faults.faults = [fault]
    try:
        outcome = ragmig(out_dir, "certify", *row.args({"source": pair_.source, "target": pair_.target}), env=pair_.env)
    finally:
        pair_.server.faults.faults = []
    assert fault.injected >= 1, f"{row.name}: the fault never fired, the row tested nothing"
    if fault.dies:
        assert pair_.server.faults.dead and fault.seen >= 2, "the server did not die mid-scan"
    return outcome


@pytest.fixture(scope="module")
def incomplete_runs(
    shared_pinecone_pair: PineconePair, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[Row, Outcome]]:
    """Each failing-family row and the killed source, certified once with every report written."""
    runs = {}
    for row in PINECONE_ROWS:
        runs[row.name] = (row, certify_with_fault(row, shared_pinecone_pair, tmp_path_factory.mktemp("run")))
    server = FaultyPineconeServer()  # the killed row takes its server down: it gets one of its own
    try:
        killed_pair = make_pinecone_pair(server, tmp_path_factory.mktemp("killed"))
        runs[KILLED.name] = (KILLED, certify_with_fault(KILLED, killed_pair, tmp_path_factory.mktemp("run")))
    finally:
        server.stop()
    return runs


INCOMPLETE = [row.name for row in (*PINECONE_ROWS, KILLED)]


@pytest.mark.parametrize("name", INCOMPLETE)
def test_pinecone_source_failing_mid_run(name: str, incomplete_runs: dict[str, tuple[Row, Outcome]]) -> None:
    row, outcome = incomplete_runs[name]
    assert_row(row, outcome)
    if row is KILLED:  # what ran before the source died still counts
        assert outcome.statuses("pass") >= {"schema.dimension", "schema.distance", "schema.datatype"}


# -- an incomplete run is "error" in every output --------------------------------------------------------
@pytest.mark.parametrize("name", INCOMPLETE)
def test_incomplete_json_says_error_and_what_did_not_complete(
    name: str, incomplete_runs: dict[str, tuple[Row, Outcome]]
) -> None:
    row, outcome = incomplete_runs[name]
    assert outcome.code == 2 and outcome.verdict is not None
    assert outcome.verdict["verdict"] == "error"
    families = sorted({cid.split(".")[0] for cid in row.erroring})
    for family in families:
        assert f"{family}.* did not complete: TransientStoreError: Pinecone" in outcome.verdict["incomplete"]
    for cid in row.erroring:
        assert outcome.check(cid)["message"].startswith("did not complete: TransientStoreError")


@pytest.mark.parametrize("name", INCOMPLETE)
def test_incomplete_html_shows_the_incomplete_banner(
    name: str, incomplete_runs: dict[str, tuple[Row, Outcome]]
) -> None:
    _, outcome = incomplete_runs[name]
    assert outcome.html is not None
    assert '<div class="banner error" role="status">Certification verdict: INCOMPLETE' in outcome.html
    assert "The run did not complete, so this is not a pass" in outcome.html
    assert "Certification verdict: PASS" not in outcome.html and 'class="banner pass"' not in outcome.html


@pytest.mark.parametrize("name", INCOMPLETE)
def test_incomplete_junit_holds_an_error_per_check_that_did_not_complete(
    name: str, incomplete_runs: dict[str, tuple[Row, Outcome]]
) -> None:
    row, outcome = incomplete_runs[name]
    assert outcome.junit is not None
    suite = ET.fromstring(outcome.junit)
    errored = {case.get("name") for case in suite.iter("testcase") if case.find("error") is not None}
    assert errored == set(row.erroring)
    for case in suite.iter("testcase"):
        if case.find("error") is not None:
            assert "TransientStoreError" in (case.find("error").get("message") or "")  # type: ignore[union-attr]


@pytest.mark.parametrize("name", INCOMPLETE)
def test_incomplete_terminal_summary_says_error(name: str, incomplete_runs: dict[str, tuple[Row, Outcome]]) -> None:
    _, outcome = incomplete_runs[name]
    assert "verdict: ERROR" in outcome.stdout and "PASS" not in outcome.stdout
    # Progress lines of the phases that ran come first; the one error line ends stderr.
    lines = outcome.stderr.strip().splitlines()
    assert lines[-1].startswith("ragmig: error: certification did not complete:")
    assert [line for line in lines if line.startswith("ragmig: error:")] == lines[-1:]


def test_the_incomplete_banner_is_unmistakable_in_a_browser(
    incomplete_runs: dict[str, tuple[Row, Outcome]], tmp_path: Path
) -> None:
    """Headless Chromium renders the killed-source report: the striped INCOMPLETE banner is on screen
    (its orange border and dark stripes), and no green pass banner is."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if browser is None:
        pytest.skip("no chromium binary on PATH (CI installs the Debian 'chromium' package)")
    Image = pytest.importorskip("PIL.Image")
    _, outcome = incomplete_runs[KILLED.name]
    assert outcome.html is not None
    page, shot = tmp_path / "report.html", tmp_path / "shot.png"
    page.write_text(outcome.html)
    subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
         f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1280,1600", f"--screenshot={shot}", page.as_uri()],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    pixels = np.asarray(Image.open(shot).convert("RGB"), dtype=np.int16).reshape(-1, 3)

    def near(colour: tuple[int, int, int]) -> int:
        return int((np.abs(pixels - np.asarray(colour)).max(axis=1) <= 12).sum())

    assert near((0xFF, 0x8C, 0x00)) > 1_000  # the orange border
    assert near((0x3D, 0x1A, 0x00)) + near((0x5C, 0x27, 0x00)) > 10_000  # the dark stripes
    assert near((0xDA, 0xFB, 0xE1)) < 500  # no pass banner (one would fill ~30,000 pixels)


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
