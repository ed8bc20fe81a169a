"""The ``ragmig`` entry point itself: help, and one line + exit 2 for every mistake a user can make."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

RAGMIG = [sys.executable, "-m", "harness.cli"]
COMMANDS = ("certify", "migrate", "gameday", "plan", "serve-pinecone", "bench", "demo")


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*RAGMIG, *args], capture_output=True, text=True, timeout=120, cwd=cwd)


def test_help_lists_every_command() -> None:
    out = run("--help")
    assert out.returncode == 0, out.stderr
    for command in COMMANDS:
        assert command in out.stdout


@pytest.mark.parametrize(
    "args",
    [
        ("certify", "--source", "nonsense://x", "--target", "exact://t"),
        ("migrate", "--source", "qdrant-edge:///does/not/exist", "--target", "exact://t"),
        ("plan", "--config", "/does/not/exist.toml"),
        ("bench", "--only", "no_such_benchmark"),
        ("gameday", "--scenario", "no_such_scenario"),
    ],
)
def test_user_mistakes_print_one_line_and_exit_2(args: tuple[str, ...], tmp_path: Path) -> None:
    extra = ("--json", str(tmp_path / "v.json")) if args[0] in {"certify", "migrate"} else ()
    out = run(*args, *extra, cwd=tmp_path)
    assert out.returncode == 2, (out.stdout, out.stderr)
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith("ragmig: error: ")
    assert "Traceback" not in out.stderr + out.stdout
    assert not (tmp_path / "v.json").exists()  # a failed start writes no verdict
    assert not (tmp_path / "ragmig-journal.sqlite").exists()  # ... and no journal


def test_malformed_toml_config_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "migration.toml"
    bad.write_text("source = 'exact://a'\n[canary\n")
    out = run("plan", "--config", str(bad))
    assert out.returncode == 2
    assert len(out.stderr.strip().splitlines()) == 1
    assert "migration.toml" in out.stderr
