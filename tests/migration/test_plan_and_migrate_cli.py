"""``ragmig plan`` renders the config's runbook; ``ragmig migrate`` exit codes 0 / 1 / 2."""

from __future__ import annotations

import json
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
        "1.00%",
        f"{t.p99_ms_max:g} ms",
        f"{t.cache_hit_rate_min:g}",
        f"α = {t.mann_whitney_alpha:g}",
        f"ratio > {1 + t.latency_tolerance:.2f}",
        f"difference > {t.latency_min_effect_ms:g} ms",
        f"| {t.failure_limit} |",
        f"fewer than {t.min_samples}",
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


def test_migrate_with_findings_exits_1(edge_pair: Any, tmp_path: Path) -> None:
    source_uri, target_uri = edge_pair
    target = open_store(target_uri)
    target.create(CollectionSchema(dimension=8, distance=Distance.COSINE))
    target.upsert(records(range(90_000, 90_012)))  # 12 foreign points the source does not have
    target.close()
    result = runner.invoke(
        app, ["migrate", "--source", source_uri, "--target", target_uri, "--journal", str(tmp_path / "j.sqlite")]
    )
    assert result.exit_code == 1, result.output
    assert "FAIL parity.ids" in result.stdout and "verdict: fail" in result.stdout


def test_migrate_refuses_a_journal_of_another_migration(edge_pair: Any, tmp_path: Path) -> None:
    source_uri, target_uri = edge_pair
    journal = tmp_path / "j.sqlite"
    with Journal(journal) as j:
        j.set(source="qdrant-edge:/elsewhere", target="qdrant-edge:/other")
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
