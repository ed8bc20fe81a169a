"""``ragmig plan`` renders the config's runbook; ``ragmig migrate`` exit codes 0 / 1 / 2."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from harness.cli import app
from harness.migration.config import load_config
from harness.migration.journal import Journal
from harness.model import CollectionSchema, Distance
from harness.stores import open_store
from tests.migration.conftest import records

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
runner = CliRunner()


def test_plan_writes_every_phase_step_and_rollback_trigger(tmp_path: Path) -> None:
    config_path = EXAMPLES / "pinecone-to-qdrant.toml"
    out = tmp_path / "runbook.md"
    result = runner.invoke(app, ["plan", "--config", str(config_path), "--out", str(out)])
    assert result.exit_code == 0, result.output
    text = out.read_text()
    config = load_config(config_path)
    for phase in ("dual_write", "backfill", "verify", "shadow", "warm_up", "canary", "live", "completed"):
        assert f"`{phase}`" in text
    for i, percent in enumerate(config.canary.steps):  # every step with its bake time
        weight = round(percent * 100)
        flag = f'`ragmig.read-target=["target", {weight}], ["source", {10_000 - weight}]`'
        assert f"| {i + 1} | {percent:g} % | {flag} |" in text
    assert '| 1 | 5 % | `ragmig.read-target=["target", 500], ["source", 9500]` | 15 min |' in text
    t = config.thresholds
    for number in (
        "| 1 % |",
        "with 99 % confidence",
        "| 50 % |",  # severe
        f"{t.p99_ms_max:g} ms",
        f"{t.cache_hit_rate_min:g}",
        f"α = {t.mann_whitney_alpha:g}",
        f"ratio > {1 + t.latency_tolerance:.2f}",
        f"difference > {t.latency_min_effect_ms:g} ms",
        f"| {t.failure_limit} |",
        f"each side ≥ {t.min_samples} requests",
        "≥ 459 canary requests",
        "Parity gate before every irreversible step",
    ):
        assert number in text, number
    # The commands are the real ones: the controller, and steering it from another shell.
    assert f"ragmig run --config {config_path}\n" in text and f"ragmig run --config {config_path} --resume" in text
    for command in ("status", "pause", "resume"):
        assert f"ragmig {command} --journal ragmig-rag-docs.sqlite" in text
    assert "ragmig rollback --journal ragmig-rag-docs.sqlite --reason '<why>'" in text
    assert "Orchestrator.rollback" not in text
    assert "ragmig certify --source 'pinecone://rag-docs?host=http://127.0.0.1:5081'" in text
    assert "--target 'qdrant://127.0.0.1:6333/rag_docs?m=16&ef_construct=128'" in text
    assert "__id__" in text and "__namespace__" in text and "$nin" in text and "squared" in text
    assert "https://hooks.example.com/…" in text and "/services/ragmig" not in text  # webhook path is a secret
    assert "alertmanager http://127.0.0.1:9093/…" in text


def test_plan_of_a_qdrant_source_has_no_pinecone_section() -> None:
    result = runner.invoke(app, ["plan", "--config", str(EXAMPLES / "qdrant-to-qdrant.toml")])
    assert result.exit_code == 0
    assert "| 1 | 1 % |" in result.stdout and "Pinecone → Qdrant specifics" not in result.stdout


def test_plan_with_a_bad_config_exits_2_with_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('source = "exact://a"\ntarget = "exact://b"\n[canary]\nsteps = [5, 50]\n')
    result = runner.invoke(app, ["plan", "--config", str(bad)])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "canary.steps" in lines[0] and str(bad) in lines[0]


@pytest.fixture
def edge_pair(tmp_path: Path) -> Any:
    source_uri, target_uri = f"qdrant-edge://{tmp_path / 'src'}", f"qdrant-edge://{tmp_path / 'tgt'}"
    source = open_store(source_uri)
    source.create(CollectionSchema(dimension=8, distance=Distance.COSINE))
    source.upsert(records(range(1500)))
    source.close()
    return source_uri, target_uri


def test_migrate_verified_exits_0_and_writes_the_verdict(edge_pair: Any, tmp_path: Path) -> None:
    source_uri, target_uri = edge_pair
    verdict_path = tmp_path / "verdict.json"
    args = [
        "migrate",
        "--source",
        source_uri,
        "--target",
        target_uri,
        "--journal",
        str(tmp_path / "j.sqlite"),
        "--batch-size",
        "400",
        "--json",
        str(verdict_path),
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "verdict: pass" in result.stdout and json.loads(verdict_path.read_text())["verdict"] == "pass"
    # Rerun with --resume: nothing left to copy, verified again.
    again = runner.invoke(app, [*args, "--resume"])
    assert again.exit_code == 0 and "resuming from the checkpoint: 1500 records" in again.stdout


def _count(uri: str) -> int:
    store = open_store(uri)
    try:
        return store.count() if store.exists() else -1
    finally:
        store.close()


def _migrate(source_uri: str, target_uri: str, tmp_path: Path, *extra: str) -> Any:
    args = ["migrate", "--source", source_uri, "--target", target_uri, "--journal", str(tmp_path / "j.sqlite")]
    return runner.invoke(app, [*args, *extra])


def _one_line_exit_2(result: Any, *needles: str) -> None:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output, result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.fixture
def foreign_target(edge_pair: Any) -> Any:
    """The source pair, with a target that already holds 12 points the source does not have."""
    source_uri, target_uri = edge_pair
    target = open_store(target_uri)
    target.create(CollectionSchema(dimension=8, distance=Distance.COSINE))
    target.upsert(records(range(90_000, 90_012)))
    target.close()
    return source_uri, target_uri


def test_migrate_into_a_foreign_non_empty_target_exits_2_before_writing_a_point(
    foreign_target: Any, tmp_path: Path
) -> None:
    source_uri, target_uri = foreign_target
    result = _migrate(source_uri, target_uri, tmp_path, "--json", str(tmp_path / "v.json"))
    _one_line_exit_2(result, "already holds 12 records", "--into-existing")
    assert _count(target_uri) == 12  # not one point written
    assert not (tmp_path / "j.sqlite").exists() and not (tmp_path / "v.json").exists()


def test_migrate_into_existing_copies_and_names_it_in_the_verdict(foreign_target: Any, tmp_path: Path) -> None:
    source_uri, target_uri = foreign_target
    verdict_path = tmp_path / "v.json"
    result = _migrate(source_uri, target_uri, tmp_path, "--into-existing", "--json", str(verdict_path))
    assert result.exit_code == 1, result.output  # the 12 foreign points are a finding
    assert "FAIL parity.ids" in result.stdout and "verdict: fail" in result.stdout
    assert "it held 12 records before this copy" in result.stdout
    verdict = json.loads(verdict_path.read_text())
    assert verdict["target"]["into_existing"] == {"records_before": 12}
    assert verdict["started_at"] and verdict["finished_at"] and verdict["started_at"] <= verdict["finished_at"]
    assert _count(target_uri) == 1512


def test_a_target_this_journal_created_is_resumed_and_restarted_without_the_flag(
    edge_pair: Any, tmp_path: Path
) -> None:
    source_uri, target_uri = edge_pair
    assert _migrate(source_uri, target_uri, tmp_path).exit_code == 0
    again = _migrate(source_uri, target_uri, tmp_path)  # starting over into the target it created
    assert again.exit_code == 0 and "starting over (1500 records were copied before" in again.stdout
    with Journal(tmp_path / "j.sqlite") as journal:
        assert journal.get("target_created") == target_uri


@pytest.mark.parametrize(
    ("target_schema", "target_option", "needle"),
    [
        (CollectionSchema(dimension=8, distance=Distance.DOT), "", "distance: cosine on the source, dot on the target"),
        (CollectionSchema(dimension=16, distance=Distance.COSINE), "", "dimension: 8 on the source, 16 on the target"),
        (
            CollectionSchema(dimension=8, distance=Distance.COSINE, datatype="float16"),
            "",
            "datatype: float32 on the source, float16 on the target",
        ),
        (None, "?distance=euclid", "distance: cosine on the source, euclid on the target"),
    ],
)
def test_an_incompatible_target_exits_2_before_the_first_batch(
    edge_pair: Any, tmp_path: Path, target_schema: CollectionSchema | None, target_option: str, needle: str
) -> None:
    source_uri, target_uri = edge_pair
    if target_schema is not None:
        target = open_store(target_uri)
        target.create(target_schema)
        target.close()
    result = _migrate(source_uri, target_uri + target_option, tmp_path)
    _one_line_exit_2(result, needle)
    assert _count(target_uri) == (-1 if target_schema is None else 0)  # not created, nothing copied
    assert not (tmp_path / "j.sqlite").exists()


def test_the_same_store_on_both_sides_exits_2(edge_pair: Any, tmp_path: Path) -> None:
    source_uri, _ = edge_pair
    result = _migrate(source_uri, source_uri.replace("/src", "/./src") + "/", tmp_path)
    _one_line_exit_2(result, "same store")
    assert _count(source_uri) == 1500


def test_resume_with_a_mistyped_journal_exits_2_and_creates_nothing(edge_pair: Any, tmp_path: Path) -> None:
    source_uri, target_uri = edge_pair
    result = runner.invoke(
        app,
        [
            "migrate",
            "--source",
            source_uri,
            "--target",
            target_uri,
            "--journal",
            str(tmp_path / "typo.sqlite"),
            "--resume",
        ],
    )
    _one_line_exit_2(result, "typo.sqlite does not exist", "drop --resume")
    assert not (tmp_path / "typo.sqlite").exists() and _count(target_uri) == -1


def test_an_unwritable_report_path_exits_2_before_any_work(edge_pair: Any, tmp_path: Path) -> None:
    source_uri, target_uri = edge_pair
    (tmp_path / "adir").mkdir()
    result = _migrate(source_uri, target_uri, tmp_path, "--json", str(tmp_path / "adir"))
    _one_line_exit_2(result, "is a directory")
    assert _count(target_uri) == -1 and not (tmp_path / "j.sqlite").exists()


def test_html_and_junit_reports_are_written(edge_pair: Any, tmp_path: Path) -> None:
    source_uri, target_uri = edge_pair
    html, junit = tmp_path / "r" / "m.html", tmp_path / "r" / "m.xml"
    result = _migrate(source_uri, target_uri, tmp_path, "--html", str(html), "--junit", str(junit))
    assert result.exit_code == 0, result.output
    page = html.read_text()
    assert "ragmig migrate: PASS" in page
    assert "Migration verification: PASS" in page and "Certification verdict" not in page
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == "0" and suite.get("errors") == "0"
    names = [case.get("name") for case in suite.iter("testcase")]
    assert "parity.ids" in names and len(names) == len(set(names))


def test_a_corrupt_journal_exits_2_and_stays_byte_identical(edge_pair: Any, tmp_path: Path) -> None:
    source_uri, target_uri = edge_pair
    assert _migrate(source_uri, target_uri, tmp_path).exit_code == 0
    journal = tmp_path / "j.sqlite"
    damaged = journal.read_bytes()[:8192]
    journal.write_bytes(damaged)
    result = _migrate(source_uri, target_uri, tmp_path, "--resume")
    _one_line_exit_2(result, str(journal), "truncated")
    assert journal.read_bytes() == damaged


def test_migrate_refuses_a_journal_of_another_migration(edge_pair: Any, tmp_path: Path) -> None:
    source_uri, target_uri = edge_pair
    journal = tmp_path / "j.sqlite"
    with Journal(journal) as j:
        j.set(source="qdrant-edge:/elsewhere", target="qdrant-edge:/other")
        j.note_attempt(10)
        j.advance("cursor", 10)
    result = runner.invoke(
        app, ["migrate", "--source", source_uri, "--target", target_uri, "--journal", str(journal), "--resume"]
    )
    assert result.exit_code == 2
    assert "holds a migration of" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_migrate_with_a_bad_uri_exits_2(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["migrate", "--source", "mysql://x", "--target", "exact://y", "--journal", str(tmp_path / "j.sqlite")]
    )
    assert result.exit_code == 2 and "unknown store scheme" in result.stderr
