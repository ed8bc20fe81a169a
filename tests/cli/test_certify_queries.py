"""``ragmig migrate`` → ``ragmig certify`` for a Pinecone index with namespaces, filters and a query file:
payload indexes created by the migration, per-namespace and per-filter results in the JSON and the
HTML (checked in headless Chromium), query-file mistakes as one line, progress on stderr."""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from harness.cli import app
from harness.model import CollectionSchema, Distance, RecordBatch
from harness.pinecone_local.testing import PineconeServer
from harness.stores import open_store
from harness.stores.pinecone import PineconeStore

DIM = 16
PER_NAMESPACE = 150
NAMESPACES = ("", "tenant-b")
EVIL = "<script>alert('filters')</script>"


def ragmig(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def pinecone_env(pinecone_server: PineconeServer) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PINECONE_CONTROLLER_HOST", pinecone_server.url)
        mp.delenv("PINECONE_API_KEY", raising=False)
        yield


@pytest.fixture(scope="module")
def index(pinecone_env: None) -> Iterator[str]:
    """A Pinecone index with two namespaces; ``tags`` holds [] in a fifth of the records, ``label`` is
    a keyword that holds markup."""
    uri = f"pinecone://certify-queries-{uuid.uuid4().hex[:8]}"
    store = open_store(uri)
    assert isinstance(store, PineconeStore)
    store.create(CollectionSchema(DIM, Distance.COSINE))
    rng = np.random.default_rng(6)
    for ns in NAMESPACES:
        payloads = [
            {"year": 2000 + i % 20, "label": EVIL if i % 4 else "plain", "tags": [] if i % 5 == 0 else ["a"]}
            for i in range(PER_NAMESPACE)
        ]
        store.upsert(
            RecordBatch.build(
                [f"doc-{i}" for i in range(PER_NAMESPACE)],
                rng.standard_normal((PER_NAMESPACE, DIM)),
                payloads,
                namespaces=[ns] * PER_NAMESPACE,
            )
        )
    assert store.wait_until_visible(len(NAMESPACES) * PER_NAMESPACE)
    store.close()
    yield uri
    store = open_store(uri)
    assert isinstance(store, PineconeStore)
    store.drop()
    store.close()


@pytest.fixture(scope="module")
def migrated(index: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    root = tmp_path_factory.mktemp("migrated")
    target = f"qdrant-edge://{root / 'target'}"
    code, stdout, stderr = ragmig(
        "migrate", "--source", index, "--target", target, "--journal", str(root / "j.sqlite"),
        "--payload-index", "year=integer", "--payload-index", "label=keyword",
    )  # fmt: skip
    assert code == 0, stdout + stderr
    return target


@pytest.fixture(scope="module")
def certified(index: str, migrated: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    out = tmp_path_factory.mktemp("reports")
    code, stdout, stderr = ragmig(
        "certify", "--source", index, "--target", migrated, "--queries", "60",
        "--html", str(out / "report.html"), "--json", str(out / "verdict.json"),
    )  # fmt: skip
    return {"code": code, "stdout": stdout, "stderr": stderr, "out": out}


def test_migrate_creates_the_namespace_index_and_the_ones_asked_for(migrated: str) -> None:
    store = open_store(migrated)
    try:
        assert store.describe().payload_indexes == {"__namespace__": "keyword", "year": "integer", "label": "keyword"}
    finally:
        store.close()


def test_certify_passes_and_reports_per_namespace_and_per_filter(certified: dict[str, object]) -> None:
    assert certified["code"] == 0, certified["stdout"]
    out = certified["out"]
    assert isinstance(out, Path)
    verdict = json.loads((out / "verdict.json").read_text())
    checks = {c["id"]: c for c in verdict["checks"]}
    assert verdict["verdict"] == "pass"
    assert checks["schema.payload_indexes"]["status"] == "pass"
    namespaces = checks["quality.namespaces"]
    assert namespaces["status"] == "pass"
    assert {r["namespace"] for r in namespaces["details"]["namespaces"]} == set(NAMESPACES)
    filtered = checks["quality.filtered"]
    assert filtered["status"] == "warn" and "known differences: exists_empty_list" in filtered["message"]
    assert checks["quality.recall_target"]["details"]["leave_one_out"] is True
    assert "sampled from the source, each scored leave-one-out" in checks["quality.recall_target"]["message"]


def test_certify_shows_progress_on_stderr(certified: dict[str, object]) -> None:
    stderr = certified["stderr"]
    assert isinstance(stderr, str)
    for phase in ("scanning the source (300 records)", "scanning the target", "exact ground truth",
                  "queries on the target", "filtered searches"):  # fmt: skip
        assert f"ragmig: {phase}" in stderr, stderr
    assert "ragmig: scanning the source: done, 300 records in" in stderr


def test_quiet_certify_shows_no_progress(index: str, migrated: str) -> None:
    code, stdout, stderr = ragmig("-q", "certify", "--source", index, "--target", migrated, "--queries", "20")
    assert code == 0, stdout + stderr
    assert "ragmig: scanning" not in stderr


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if found is None:
        pytest.skip("no chromium binary on PATH (CI installs the Debian 'chromium' package)")
    return found


def test_the_html_tables_render_escaped_in_a_headless_browser(certified: dict[str, object], tmp_path: Path) -> None:
    out = certified["out"]
    assert isinstance(out, Path)
    dom = subprocess.run(
        [
            chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
            "--dump-dom", (out / "report.html").as_uri(),
        ],
        capture_output=True, text=True, timeout=90, check=True,
    ).stdout  # fmt: skip
    assert "results-table-row" in dom  # pytest-html's JavaScript ran
    assert 'class="ragmig-namespaces"' in dom and "Per namespace" in dom
    assert 'class="ragmig-filters"' in dom and "Per filter" in dom
    assert "tenant-b" in dom and "exists_empty_list" in dom
    for header in ("source matches", "target matches", "top-k overlap", "known difference"):
        assert header in dom
    # The label filter shows the markup as text, never as a script.
    assert "&lt;script&gt;alert('filters')&lt;/script&gt;" in dom
    assert "<script>alert('filters')" not in dom


# -- query files on the command line ------------------------------------------------------------------------
def test_a_query_file_with_namespaces_and_filters_certifies(index: str, migrated: str, tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    path = tmp_path / "asked.jsonl"
    path.write_text(
        "".join(
            json.dumps(
                {"vector": rng.standard_normal(DIM).tolist(), "namespace": ns, "filter": {"year": {"$lt": 2010}}}
            )
            + "\n"
            for ns in NAMESPACES
            for _ in range(12)
        )
    )
    code, stdout, stderr = ragmig(
        "certify",
        "--source",
        index,
        "--target",
        migrated,
        "--query-vectors",
        str(path),
        "--json",
        str(tmp_path / "v.json"),
    )
    assert code == 0, stdout + stderr
    checks = {c["id"]: c for c in json.loads((tmp_path / "v.json").read_text())["checks"]}
    assert checks["quality.recall_target"]["details"]["query_origin"] == "query file asked.jsonl"
    assert checks["quality.namespaces"]["status"] == "pass"
    rows = checks["quality.filtered"]["details"]["filters"]
    assert {r["namespace"] for r in rows} == set(NAMESPACES)
    before_2010 = sum(1 for i in range(PER_NAMESPACE) if i % 20 < 10)  # per namespace: the scope is real
    assert all(r["origin"] == "query file" and r["source_count"] == r["target_count"] == before_2010 for r in rows)


@pytest.mark.parametrize(
    ("content", "extra", "fragment"),
    [
        ('{"vector": [1, 2]}\n', (), "have dimension 2 but the source has dimension 16"),
        ('{"vector": [1], "sprase": {}}\n', (), "asked.jsonl:1: unknown key(s) ['sprase']"),
        (
            json.dumps({"vector": [0.5] * DIM, "sparse": {"indices": [1], "values": [2.0]}}) + "\n",
            (),
            "has a sparse vector but the source pinecone://",
        ),
        (json.dumps({"vector": [0.5] * DIM, "namespace": "nobody"}) + "\n", (), "namespace 'nobody'"),
        (json.dumps({"vector": [0.5] * DIM}) + "\n", ("--queries", "5"), "give one"),
    ],
)
def test_query_file_mistakes_are_one_line_and_exit_2(
    index: str, migrated: str, tmp_path: Path, content: str, extra: tuple[str, ...], fragment: str
) -> None:
    path = tmp_path / "asked.jsonl"
    path.write_text(content)
    report = tmp_path / "v.json"
    code, stdout, stderr = ragmig(
        "certify", "--source", index, "--target", migrated, "--query-vectors", str(path), "--json", str(report), *extra
    )
    assert code == 2, stdout + stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("ragmig: error:") and fragment in lines[0], stderr
    assert "Traceback" not in stdout + stderr
