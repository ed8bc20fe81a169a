"""``make planted``: the bugs issue 16 found surviving the suite, planted again one at a time.

``index.toml`` lists them: each entry names a small unified diff in this directory that introduces one
bug into today's code, the bullet of issue 16 it reproduces, and the tests that must catch it. The runner
(``python -m tests.mutation.planted [NAME ...]``, see ``__main__``) copies the project's ``harness``,
``tests`` and ``scenarios`` (a few MB) to a temporary directory, applies the diff there with
``git apply``, and runs the listed tests in that copy; ``guard`` makes the test session refuse to run
unless the copy's modules are the ones imported. ``tests/mutation/test_planted_index.py`` keeps the index
honest without running anything: every diff still applies to the current code and every test exists.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tomllib
from dataclasses import dataclass
from pathlib import Path

__all__ = ["COPIED", "HERE", "INDEX", "ROOT", "Planted", "apply", "changed_paths", "load_index", "make_copy"]

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
INDEX = HERE / "index.toml"
COPIED = ("harness", "tests", "scenarios", "conftest.py", "pyproject.toml")
"""What a temporary copy holds: the package, the suite and the pytest settings (nothing big)."""
_IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", ".hypothesis", "*.egg-info")
_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]*$")


@dataclass(frozen=True)
class Planted:
    """One planted bug: its diff, the issue's bullet, the tests that must catch it and why they do."""

    name: str
    bullet: str
    tests: tuple[str, ...]
    why: str

    @property
    def diff(self) -> Path:
        return HERE / f"{self.name}.diff"

    def modules(self) -> list[str]:
        """The dotted names of the ``harness`` modules the diff changes (what the guard checks)."""
        return [
            path.removesuffix(".py").replace("/", ".")
            for path in changed_paths(self.diff.read_text(encoding="utf-8"))
            if path.startswith("harness/") and path.endswith(".py")
        ]


def load_index(path: Path = INDEX) -> list[Planted]:
    """The index's entries in file order; a malformed entry is an error naming it."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    out: list[Planted] = []
    for i, entry in enumerate(data.get("planted", [])):
        missing = [key for key in ("name", "bullet", "tests", "why") if not entry.get(key)]
        if missing:
            raise ValueError(f"{path.name}: entry {i + 1} lacks {', '.join(missing)}")
        if not _NAME.match(entry["name"]):
            raise ValueError(f"{path.name}: entry {i + 1}: name {entry['name']!r} is not lower-case-with-dashes")
        out.append(Planted(entry["name"], entry["bullet"], tuple(entry["tests"]), entry["why"]))
    names = [p.name for p in out]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise ValueError(f"{path.name}: names listed twice: {', '.join(duplicated)}")
    return out


def changed_paths(diff: str) -> list[str]:
    """The files a unified diff changes (from its ``+++ b/...`` lines), in order."""
    return [line[len("+++ b/") :].split("\t")[0] for line in diff.splitlines() if line.startswith("+++ b/")]


def _git(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    # GIT_CEILING_DIRECTORIES: a copy under a directory that happens to be a repository stays a plain
    # directory to git apply (paths relative to the copy, not to that repository).
    env = {**os.environ, "GIT_CEILING_DIRECTORIES": str(cwd.parent)}
    return subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=False)


def apply(diff: Path, directory: Path, *, check: bool = False, reverse: bool = False) -> str:
    """Apply ``diff`` to the files under ``directory`` (``check``: only say whether it would apply;
    ``reverse``: un-apply). Returns git's complaint, or "" when it applies."""
    args = ["apply", "--whitespace=nowarn"] + (["--check"] if check else []) + (["--reverse"] if reverse else [])
    done = _git([*args, str(diff)], directory)
    return "" if done.returncode == 0 else (done.stderr.strip() or f"git apply exited {done.returncode}")


def make_copy(directory: Path, root: Path = ROOT) -> Path:
    """Copy ``COPIED`` of ``root`` into ``directory`` (created); returns ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    for name in COPIED:
        source = root / name
        if source.is_dir():
            shutil.copytree(source, directory / name, ignore=_IGNORED, symlinks=True)
        else:
            shutil.copy2(source, directory / name)
    return directory
