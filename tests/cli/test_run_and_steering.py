"""``ragmig run / status / rollback / pause / resume``: exit codes and one-line mistakes (the controller
itself runs against real processes in tests/e2e)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from harness.cli import app
from harness.migration.journal import Journal

runner = CliRunner()


def _journal(path: Path, phase: str) -> Path:
    with Journal(path) as journal:
        journal.transition(1.0, phase, read_percent=25.0, write_mode="dual_source_first", canary_step=1)
        journal.append(
            "health",
            {
                "check": "canary step 2 (25 %)",
                "outcome": "pass",
                "requests": 120,
                "error_rate": 0.0,
                "p99_ms": 12.5,
                "counted_as": "pass",
            },
            at=2.0,
        )
    return path


@pytest.mark.parametrize("command", [["status"], ["pause"], ["resume"], ["rollback", "--reason", "x"]])
def test_a_missing_journal_is_one_line_and_exit_2(tmp_path: Path, command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--journal", str(tmp_path / "nope.sqlite")])
    assert result.exit_code == 2
    assert result.stderr.strip().count("\n") == 0 and "no journal at" in result.stderr
    assert not (tmp_path / "nope.sqlite").exists()


def test_status_shows_phase_percent_mode_checks_outbox_and_orphans(tmp_path: Path) -> None:
    journal = _journal(tmp_path / "j.sqlite", "canary")
    result = runner.invoke(app, ["status", "--journal", str(journal)])
    assert result.exit_code == 0, result.output
    for text in (
        "phase: canary",
        "reads on target: 25 %",
        "dual_source_first",
        "outbox: 0 pending",
        "orphaned writes: not checked",
        "requests 120",
        "p99 12.5 ms",
    ):
        assert text in result.stdout, text
    data = json.loads(runner.invoke(app, ["status", "--journal", str(journal), "--json"]).stdout)
    assert data["phase"] == "canary" and data["health_checks"][0]["requests"] == 120


def test_rollback_pause_resume_are_queued_in_the_journal(tmp_path: Path) -> None:
    journal = _journal(tmp_path / "j.sqlite", "canary")
    for args in (["pause"], ["resume"], ["rollback", "--reason", "pager"]):
        result = runner.invoke(app, [*args, "--journal", str(journal)])
        assert result.exit_code == 0 and "requested" in result.stdout
    with Journal(journal) as jnl:
        assert [(c.command, c.reason) for c in jnl.pending_commands()] == [
            ("pause", None),
            ("resume", None),
            ("rollback", "pager"),
        ]


@pytest.mark.parametrize("phase", ["completed", "rolled_back", "blocked"])
def test_nothing_to_roll_back_is_exit_2(tmp_path: Path, phase: str) -> None:
    journal = _journal(tmp_path / "j.sqlite", phase)
    result = runner.invoke(app, ["rollback", "--journal", str(journal), "--reason", "x"])
    assert result.exit_code == 2 and f"is {phase}" in result.stderr
    with Journal(journal) as jnl:
        assert jnl.pending_commands() == []


def _config(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "m.toml"
    path.write_text(f'source = "exact://a"\ntarget = "exact://b"\njournal = "{tmp_path / "j.sqlite"}"\n' + extra)
    return path


FLAGS_AND_METRICS = '[flags]\nprovider = "flagd-file"\npath = "f.json"\n[metrics]\nprovider = "prometheus"\nurl = "http://127.0.0.1:9"\n'


@pytest.mark.parametrize(
    ("extra", "says"),
    [("", '[flags] provider = "flagd-file"'), ('[flags]\nprovider = "flagd-file"\npath = "f.json"\n', "[metrics]")],
)
def test_run_without_flags_or_metrics_other_processes_can_reach_is_exit_2(
    tmp_path: Path, extra: str, says: str
) -> None:
    result = runner.invoke(app, ["run", "--config", str(_config(tmp_path, extra))])
    assert result.exit_code == 2 and says in result.stderr


def test_run_over_a_journal_in_progress_needs_resume(tmp_path: Path) -> None:
    config = _config(tmp_path, FLAGS_AND_METRICS)
    _journal(tmp_path / "j.sqlite", "canary")
    result = runner.invoke(app, ["run", "--config", str(config)])
    assert result.exit_code == 2 and "pass --resume" in result.stderr
