"""Command-line conventions: ``--version``, ``-q``/``-v``, readable ``--help`` on every command, and
``ragmig bench`` exiting 1 when a figure misses its limit."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from harness._version import __version__
from harness.cli import app

RAGMIG = [sys.executable, "-m", "harness.cli"]


def run(*args: str, cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run([*RAGMIG, *args], capture_output=True, text=True, timeout=timeout, cwd=cwd, env=env)


def command_names() -> list[str]:
    """Every command registered on the app (including those added after this test was written)."""
    import typer.main

    group = typer.main.get_command(app)
    return sorted(group.commands)  # type: ignore[attr-defined]


def test_version_prints_the_package_version() -> None:
    out = run("--version")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"ragmig {__version__}"


@pytest.mark.parametrize("command", [None, *command_names()])
def test_help_names_every_value_in_plain_words(command: str | None) -> None:
    out = run(*([command] if command else []), "--help")
    assert out.returncode == 0, out.stderr
    # typer's raw type labels (<bool>, <list[str]>, <int range>, <path>, <str>) never reach the user.
    assert not re.search(r"<[a-z][a-z_\[\] ]*>", out.stdout), out.stdout
    assert "--help" in out.stdout


def test_the_global_options_are_explained() -> None:
    out = run("--help")
    assert "Print only errors and the final verdict line." in out.stdout
    assert "-vv: DEBUG logs" in out.stdout


def test_quiet_and_verbose_together_is_a_usage_error() -> None:
    out = run("-q", "-v", "bench", "--only", "pinecone_upsert_vps")
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == ["ragmig: error: --quiet and --verbose contradict each other; give one"]


def test_bench_exits_1_when_a_figure_misses_an_impossible_limit(tmp_path: Path) -> None:
    report = tmp_path / "bench.json"
    limit = "pinecone_upsert_vps=>= 1e12"  # a trillion vectors per second: no machine meets it
    out = run("bench", "--only", "pinecone_upsert_vps", "--limit", limit, "--json", str(report), timeout=300)
    assert out.returncode == 1, out.stdout + out.stderr
    [row] = json.loads(report.read_text())["benchmarks"]
    assert row["name"] == "pinecone_upsert_vps" and row["ok"] is False
    assert row["target"] == ">= 5000 and >= 1e+12" and row["details"]["added_limit"] == ">= 1e+12"
    assert row["value"] > 0 and row["details"]["count_after"] == row["details"]["vectors"]  # it really ran
    assert out.stdout.strip().splitlines()[-1] == "bench: 0/1 figures within their limits; missed: pinecone_upsert_vps"


def test_quiet_bench_prints_only_the_verdict_line_and_its_exit_code_follows_the_figure(tmp_path: Path) -> None:
    # Whether this machine, busy or idle, meets pinecone_upsert_vps's own limit is not this test's business:
    # the JSON says whether it did, and -q must print exactly the one line that matches, with its exit code.
    report = tmp_path / "bench.json"
    out = run("-q", "bench", "--only", "pinecone_upsert_vps", "--json", str(report), timeout=300)
    [row] = json.loads(report.read_text())["benchmarks"]
    if row["ok"]:
        expected = (0, ["bench: 1/1 figures within their limits"])
    else:
        expected = (1, ["bench: 0/1 figures within their limits; missed: pinecone_upsert_vps"])
    assert (out.returncode, out.stdout.strip().splitlines()) == expected, out.stderr
    assert row["value"] > 0 and row["details"]["count_after"] == row["details"]["vectors"]  # it really ran


@pytest.mark.parametrize(
    "limit",
    ["pinecone_upsert_vps", "no_such_bench=>= 1", "pinecone_upsert_vps=~1", "pinecone_upsert_vps=>= nan", "=>= 1"],
)
def test_a_malformed_limit_is_one_line_and_exit_2_before_any_benchmark_runs(limit: str, tmp_path: Path) -> None:
    report = tmp_path / "bench.json"
    out = run("bench", "--limit", limit, "--json", str(report))
    assert out.returncode == 2
    assert len(out.stderr.strip().splitlines()) == 1 and out.stderr.startswith("ragmig: error: --limit")
    assert out.stdout == "" and not report.exists()
