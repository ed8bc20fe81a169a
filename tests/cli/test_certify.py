"""``ragmig certify`` end to end: Qdrant Edge and qdrant-client local directories as source and target
(``exact://`` stores live in one process, and certify runs its suite in a child process)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from typer.testing import CliRunner

from harness.cli import app
from harness.datasets import synthetic_corpus
from harness.model import CollectionSchema, Distance, RecordBatch
from harness.stores import open_store
from harness.stores.qdrant_edge import copy_shard
from harness.verify import CHECK_IDS

N, DIM = 3000, 32
LOCAL_N = 400
SECRET = "pcsk_certifysecret0123456789"
EVIL = "<script>alert('certify')</script>"


def fill(uri: str, batches: list[RecordBatch]) -> str:
    store = open_store(uri)
    store.create(CollectionSchema(DIM, Distance.COSINE))
    for batch in batches:
        store.upsert(batch)
    store.close()  # the child process must be able to open it
    return uri


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """URIs of: an Edge source, an identical Edge copy, a broken Edge copy; a qdrant-local source and its Edge copy."""
    root = tmp_path_factory.mktemp("certify")
    batches = list(synthetic_corpus(N, DIM, seed=21, batch_size=1000))
    source = fill(f"qdrant-edge://{root / 'source'}", batches)
    copy_shard(root / "source", root / "copy")
    copy_shard(root / "source", root / "broken")
    broken = open_store(f"qdrant-edge://{root / 'broken'}")
    broken.delete([5, 6, 7])
    evil = RecordBatch.concat(batches).take([10, 11])
    broken.upsert(RecordBatch(evil.ids, evil.vectors, tuple({**p, "text": EVIL} for p in evil.payloads)))
    broken.close()
    # qdrant-client local mode writes point by point into SQLite: keep its pair small.
    small = list(synthetic_corpus(LOCAL_N, DIM, seed=22, batch_size=LOCAL_N))
    return {
        "source": source,
        "copy": f"qdrant-edge://{root / 'copy'}",
        "broken": f"qdrant-edge://{root / 'broken'}",
        "local": fill(f"qdrant-local://{root / 'local'}/docs", small),
        "local-copy": fill(f"qdrant-edge://{root / 'local-copy'}", small),
    }


def certify(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["certify", *args])
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def failing_run(stores: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """One certification of the broken copy with every report written (shared by several tests)."""
    out = tmp_path_factory.mktemp("reports")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PINECONE_API_KEY", SECRET)
        mp.setenv("QDRANT_API_KEY", SECRET)
        code, stdout, stderr = certify(
            "--source", stores["source"], "--target", stores["broken"], "--queries", "30",
            "--html", str(out / "report.html"), "--json", str(out / "verdict.json"), "--junit", str(out / "junit.xml"),
        )  # fmt: skip
    return {"code": code, "stdout": stdout, "stderr": stderr, "out": out}


def test_identical_copy_exits_0_with_a_passing_verdict(stores: dict[str, str], tmp_path: Path) -> None:
    code, stdout, stderr = certify(
        "--source", stores["source"], "--target", stores["copy"], "--queries", "30", "--json", str(tmp_path / "v.json")
    )
    assert code == 0, stdout + stderr
    verdict = json.loads((tmp_path / "v.json").read_text())
    assert verdict["verdict"] == "pass"
    statuses = {c["id"]: c["status"] for c in verdict["checks"]}
    # Edge → Edge: no id mapping, no sparse vectors, no namespaces
    assert statuses == {
        **dict.fromkeys(CHECK_IDS, "pass"),
        "parity.mapping": "skip",
        "parity.sparse": "skip",
        "quality.namespaces": "skip",
    }
    assert "verdict: PASS" in stdout


def test_findings_exit_1_and_every_report_is_written(failing_run: dict[str, object]) -> None:
    assert failing_run["code"] == 1, failing_run["stdout"]
    out = failing_run["out"]
    assert isinstance(out, Path)
    verdict = json.loads((out / "verdict.json").read_text())
    assert {"schema_version", "tool", "verdict", "source", "target", "checks", "duration_s"} <= set(verdict)
    assert verdict["verdict"] == "fail"
    assert [c["id"] for c in verdict["checks"]] == list(CHECK_IDS)
    for check in verdict["checks"]:
        assert set(check) == {"id", "status", "observed", "expected", "message", "details"}
    by_id = {c["id"]: c for c in verdict["checks"]}
    assert by_id["parity.ids"]["details"]["missing"] == [5, 6, 7]
    assert by_id["parity.payloads"]["details"]["mismatch_count"] == 2
    assert set(verdict["source"]) == {"uri", "count", "schema"} and verdict["source"]["count"] == N
    # JUnit: one testcase per check id of the JSON, in its order; a failed check is a <failure>.
    suites = ET.parse(out / "junit.xml").getroot()
    cases = list(suites.iter("testcase"))
    assert [case.get("name") for case in cases] == [c["id"] for c in verdict["checks"]]
    assert len(cases) == len(verdict["checks"]) == int(suites.get("tests", "-1"))
    failures = {case.get("name") for case in cases if case.find("failure") is not None}
    assert (
        failures
        == {c["id"] for c in verdict["checks"] if c["status"] == "fail"}
        == {"parity.count", "parity.ids", "parity.payloads"}
    )
    warned = {case.get("name") for case in cases if case.find("properties/property[@name='warn']") is not None}
    assert warned == {c["id"] for c in verdict["checks"] if c["status"] == "warn"}
    assert "parity.ids" in str(failing_run["stdout"]) and "verdict: FAIL" in str(failing_run["stdout"])


def test_the_html_report_escapes_payloads_and_is_self_contained(failing_run: dict[str, object]) -> None:
    out = failing_run["out"]
    assert isinstance(out, Path)
    page = (out / "report.html").read_text()
    assert "<script>alert(" not in page
    assert "Certification verdict: FAIL" in page
    assert page.count("<svg") >= 2  # recall distribution and latency CDF in the summary
    # No external resources: nothing the page loads (src=, <link href=) points outside the file.
    loaded = re.findall(r'src="([^"]*)"', page) + re.findall(r'<link[^>]*href="([^"]*)"', page)
    assert not [ref for ref in loaded if ref and not ref.startswith(("#", "data:"))]


def test_no_api_key_reaches_any_output(failing_run: dict[str, object]) -> None:
    out = failing_run["out"]
    assert isinstance(out, Path)
    for name in ("report.html", "verdict.json", "junit.xml"):
        assert SECRET not in (out / name).read_text(), name
    assert SECRET not in str(failing_run["stdout"]) + str(failing_run["stderr"])


def test_a_qdrant_local_source_certifies_with_index_config_not_comparable(
    stores: dict[str, str], tmp_path: Path
) -> None:
    code, stdout, _ = certify(
        "--source",
        stores["local"],
        "--target",
        stores["local-copy"],
        "--queries",
        "20",
        "--json",
        str(tmp_path / "v.json"),
    )
    verdict = json.loads((tmp_path / "v.json").read_text())
    hnsw = next(c for c in verdict["checks"] if c["id"] == "schema.hnsw")
    assert hnsw["status"] == "warn"
    assert hnsw["message"].startswith("not comparable: qdrant-local cannot report its index config")
    assert code == 0, stdout  # warnings are findings to read, not failures


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--source", "nonsense://x"], "unknown store scheme 'nonsense'"),
        (["--source", "qdrant-edge:///no/such/shard"], "/no/such/shard does not exist"),
        (["--source", "exact://in-memory"], "exact:// stores live inside one process"),
        (["--target", "qdrant-local:///no/such/dir/docs"], "target store"),
        (["--source", "qdrant://127.0.0.1:1/docs"], "cannot reach Qdrant at 127.0.0.1:1"),
    ],
)
def test_usage_errors_exit_2_with_one_line(stores: dict[str, str], args: list[str], fragment: str) -> None:
    base = {"--source": stores["source"], "--target": stores["copy"]}
    merged = [*args] + [part for key, value in base.items() if key not in args for part in (key, value)]
    code, stdout, stderr = certify(*merged)
    assert code == 2
    assert fragment in stderr
    assert len(stderr.strip().splitlines()) == 1
    assert "Traceback" not in stdout + stderr


@pytest.mark.parametrize(
    ("toml", "fragment"),
    [
        ("recal_min = 0.9\n", "unknown key 'recal_min'"),
        ('p99_ms_max = "fast"\n', "'p99_ms_max' must be a number"),
        ("overlap_min = [\n", "malformed TOML"),
    ],
)
def test_bad_thresholds_file_exits_2_naming_the_key(
    stores: dict[str, str], tmp_path: Path, toml: str, fragment: str
) -> None:
    path = tmp_path / "gates.toml"
    path.write_text(toml)
    code, _, stderr = certify("--source", stores["source"], "--target", stores["copy"], "--thresholds", str(path))
    assert code == 2
    assert fragment in stderr and "gates.toml" in stderr
    assert len(stderr.strip().splitlines()) == 1


def test_strict_thresholds_turn_a_pass_into_findings(stores: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "strict.toml"
    path.write_text("p99_ms_max = 0.000001\n")
    code, stdout, _ = certify(
        "--source", stores["source"], "--target", stores["copy"], "--queries", "5", "--thresholds", str(path)
    )
    assert code == 1
    assert "latency.p99" in stdout


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def test_the_report_renders_in_a_headless_browser(failing_run: dict[str, object], tmp_path: Path) -> None:
    browser = chromium()
    if browser is None:
        pytest.skip("no chromium binary on PATH (CI installs the Debian 'chromium' package)")
    out = failing_run["out"]
    assert isinstance(out, Path)
    dom = subprocess.run(
        [
            browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
            "--dump-dom", (out / "report.html").as_uri(),
        ],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    # pytest-html builds its results table with JavaScript: rows in the DOM prove the page ran.
    assert "results-table-row" in dom
    for check_id in CHECK_IDS:
        assert check_id in dom, check_id
    assert dom.count("<svg") >= 4  # summary plots plus the quality and latency families' own
    assert "&lt;script&gt;alert" in dom and "<script>alert(" not in dom


def test_the_verdict_carries_schema_version_2_times_and_gates(failing_run: dict[str, object]) -> None:
    out = failing_run["out"]
    assert isinstance(out, Path)
    verdict = json.loads((out / "verdict.json").read_text())
    assert verdict["schema_version"] == 2
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", verdict["started_at"])
    assert verdict["started_at"] < verdict["finished_at"]
    assert verdict["thresholds"]["overlap_min"] == 0.9 and verdict["accepted"] == []
    assert "incomplete" not in verdict


@pytest.mark.parametrize(
    ("args", "code", "fragment"),
    [
        (["--k", "1000"], 0, ""),  # just inside: at most 1,000 neighbours
        (["--k", "1001"], 2, "--k must be between 1 and 1,000, got 1,001"),
        (["--k", "0"], 2, "--k must be between 1 and 1,000, got 0"),
        (["--queries", "0"], 2, "--queries must be at least 1, got 0"),
        ([f"--queries={N + 1}"], 2, f"--queries {N + 1:,} is more than the {N:,} records the source holds"),
    ],
)
def test_bounds_are_checked_before_any_work(
    stores: dict[str, str], tmp_path: Path, args: list[str], code: int, fragment: str
) -> None:
    queries = [] if any(a.startswith("--queries") for a in args) else ["--queries", "5"]
    exit_code, stdout, stderr = certify(
        "--source", stores["source"], "--target", stores["copy"], *queries, *args, "--json", str(tmp_path / "v.json")
    )
    assert exit_code == code, stdout + stderr
    if code == 2:
        assert fragment in stderr and len(stderr.strip().splitlines()) == 1
        assert not (tmp_path / "v.json").exists()


def test_the_defaults_fit_a_source_smaller_than_them(tmp_path: Path) -> None:
    small = list(synthetic_corpus(6, DIM, seed=23, batch_size=6))
    source = fill(f"qdrant-edge://{tmp_path / 'small'}", small)
    target = fill(f"qdrant-edge://{tmp_path / 'small-copy'}", small)
    code, stdout, stderr = certify("--source", source, "--target", target, "--json", str(tmp_path / "v.json"))
    assert code == 0, stdout + stderr
    verdict = json.loads((tmp_path / "v.json").read_text())
    recall = next(c for c in verdict["checks"] if c["id"] == "quality.recall_target")
    assert recall["details"]["queries"] == 6 and recall["details"]["k"] == 6


def test_a_bad_output_path_fails_before_any_work_and_leaves_what_exists(stores: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "v.json").write_text("an earlier verdict\n")
    code, _, stderr = certify(
        "--source", stores["source"], "--target", stores["copy"], "--json", str(tmp_path / "v.json"),
        "--html", str(tmp_path),
    )  # fmt: skip
    assert code == 2 and "--html path" in stderr and "is a directory" in stderr
    assert (tmp_path / "v.json").read_text() == "an earlier verdict\n"


def test_a_callers_pytest_settings_cannot_deselect_a_family(
    stores: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTEST_ADDOPTS", "-k test_schema")
    code, stdout, _ = certify(
        "--source", stores["source"], "--target", stores["copy"], "--queries", "5", "--json", str(tmp_path / "v.json")
    )
    assert code == 0, stdout
    verdict = json.loads((tmp_path / "v.json").read_text())
    assert [c["id"] for c in verdict["checks"]] == list(CHECK_IDS)


def test_a_suite_that_wrote_no_verdict_is_reported_as_error_in_every_output() -> None:
    from harness.reporting.certify import JUNIT_SUITE, _final_verdict
    from harness.reporting.html import report_page
    from harness.reporting.junit import junit_xml
    from harness.reporting.session import ChildRun

    crashed = ChildRun(
        3, "", "INTERNAL> RuntimeError: boom\nERROR: pytest crashed with key pcsk_certifysecret0123456789"
    )
    verdict = _final_verdict(None, crashed, "qdrant-edge:///s", "qdrant-edge:///t", "2026-01-01T00:00:00.000Z")
    assert verdict.exit_code == 2 and not verdict.checks
    assert verdict.incomplete is not None and "wrote no verdict (pytest exit 3)" in verdict.incomplete
    assert SECRET not in verdict.to_json()
    page = report_page(verdict)
    assert "Certification verdict: INCOMPLETE" in page and SECRET not in page
    suite = ET.fromstring(junit_xml(verdict, JUNIT_SUITE))
    errors = [case for case in suite.iter("testcase") if case.find("error") is not None]
    assert [(case.get("classname"), case.get("name")) for case in errors] == [("ragmig-certify.run", "run")]
    assert SECRET not in junit_xml(verdict, JUNIT_SUITE)


def test_a_verdict_missing_a_family_is_completed_with_errors() -> None:
    from harness.model import Check, Status, Verdict
    from harness.reporting.certify import _final_verdict
    from harness.reporting.session import ChildRun

    recorded = Verdict(checks=tuple(Check(cid, Status.PASS) for cid in CHECK_IDS if not cid.startswith("latency.")))
    verdict = _final_verdict(recorded, ChildRun(0, "", ""), "s", "t", "2026-01-01T00:00:00.000Z")
    assert verdict.verdict is Status.ERROR and verdict.incomplete == "latency.* did not run"
    assert {c.id for c in verdict.checks if c.status is Status.ERROR} == {"latency.p50", "latency.p99"}


PLANTED_PLUGIN = """
import os
from pathlib import Path


def pytest_collection_modifyitems(config, items):
    Path(os.environ["PLANTED_PLUGIN_MARKER"]).write_text("loaded")
    items[:] = [item for item in items if "schema" in item.name]
"""


def plant_plugin(site: Path) -> None:
    """A pytest plugin installed in ``site`` (a ``pytest11`` entry point, as pip would install it) that
    keeps only the schema family."""
    site.mkdir()
    (site / "planted_plugin.py").write_text(PLANTED_PLUGIN)
    info = site / "planted_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: planted-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[pytest11]\nplanted = planted_plugin\n")


def test_an_installed_pytest_plugin_does_not_reach_the_suite(
    stores: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site, marker = tmp_path / "site", tmp_path / "marker"
    plant_plugin(site)
    monkeypatch.setenv("PYTHONPATH", str(site))
    monkeypatch.setenv("PLANTED_PLUGIN_MARKER", str(marker))
    # The plugin is real: a plain pytest session in this environment loads it.
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_one.py").write_text("def test_one():\n    pass\n")
    plain = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path / "tests")],
        capture_output=True, text=True, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert marker.read_text() == "loaded", plain.stdout + plain.stderr
    marker.unlink()

    code, stdout, _ = certify(
        "--source", stores["source"], "--target", stores["copy"], "--queries", "5", "--json", str(tmp_path / "v.json")
    )
    assert code == 0, stdout
    assert [c["id"] for c in json.loads((tmp_path / "v.json").read_text())["checks"]] == list(CHECK_IDS)
    assert not marker.exists()


def test_the_suite_session_loads_conftest_files_only_from_its_own_package(tmp_path: Path) -> None:
    import scenarios.certification
    from harness.reporting.session import CHILD_PLUGINS, child_env, child_pytest_args

    args = child_pytest_args(tmp_path, "scenarios.certification")
    package = Path(scenarios.certification.__file__).parent
    assert args[args.index("--confcutdir") + 1] == str(package)
    assert [args[i + 1] for i, a in enumerate(args) if a == "-p"] == [*CHILD_PLUGINS, "no:cacheprovider"]
    assert child_env({"PYTEST_ADDOPTS": "-x", "HOME": "/h"}) == {"HOME": "/h", "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    with pytest.raises(RuntimeError, match="not an installed package"):
        child_pytest_args(tmp_path, "scenarios.certification.test_schema")


def test_a_bound_the_session_refuses_leaves_what_exists(stores: dict[str, str], tmp_path: Path) -> None:
    """``--queries`` above the source's count is found by the suite's session, where the stores are open:
    still one line, exit 2, and an earlier report untouched."""
    (tmp_path / "v.json").write_text("an earlier verdict\n")
    (tmp_path / "r.html").write_text("an earlier report\n")
    code, stdout, stderr = certify(
        "--source", stores["source"], "--target", stores["copy"], f"--queries={N + 1}",
        "--json", str(tmp_path / "v.json"), "--html", str(tmp_path / "r.html"),
    )  # fmt: skip
    assert code == 2, stdout + stderr
    assert stderr.strip().splitlines() == [
        f"ragmig: error: --queries {N + 1:,} is more than the {N:,} records the source holds; sample at most {N:,}"
    ]
    assert (tmp_path / "v.json").read_text() == "an earlier verdict\n"
    assert (tmp_path / "r.html").read_text() == "an earlier report\n"


def test_ragmig_certify_itself_never_loads_a_shard(
    stores: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stores are opened by the suite's session only (once, for the whole run): in this process, loading an
    Edge shard fails, and the certification passes all the same."""
    import qdrant_edge

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("ragmig certify loaded a shard in its own process")

    monkeypatch.setattr(qdrant_edge.EdgeShard, "load", refuse)
    code, stdout, stderr = certify(
        "--source", stores["source"], "--target", stores["copy"], "--queries", "5", "--json", str(tmp_path / "v.json")
    )  # fmt: skip
    assert code == 0, stdout + stderr
    assert json.loads((tmp_path / "v.json").read_text())["verdict"] == "pass"
