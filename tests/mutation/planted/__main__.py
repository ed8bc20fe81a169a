"""``make planted``: plant each bug of ``index.toml`` in a temporary copy and run the tests that must catch it.

For each chosen entry (all by default): copy ``harness``, ``tests``, ``scenarios`` and the pytest settings
to a fresh temporary directory, apply the entry's diff there with ``git apply``, and run its tests in
that copy (``python -m pytest -x`` with the copy as the working directory and first on ``PYTHONPATH``, so
the test process and every ``ragmig`` or ``python`` child it starts import the patched package; the
``guard`` plugin stops the session if they do not). A failing test kills the bug; all passing means it
SURVIVED. ``--each`` runs every listed test without stopping at the first failure and says which of
them caught the bug (each listed test should). Before the mutants, the same tests run once on an unpatched copy (the baseline): a test that
fails without the bug proves nothing, so a failing baseline ends the run.

Exit status 0 when every planted bug was killed, 1 when one survived, the baseline failed, a diff no
longer applies or (``--each``) a listed test did not catch its bug. Not in CI; run it after changing a judge or its tests (``make planted``, or
``.venv/bin/python -m tests.mutation.planted NAME ...`` for some).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.mutation.planted import Planted, apply, load_index, make_copy
from tests.mutation.planted.guard import COPY_ENV, GUARD_EXIT, MODULES_ENV

KILLED, SURVIVED, ERROR = "killed", "SURVIVED", "ERROR"
_FAILED = re.compile(r"^(?:FAILED|ERROR) (.+?)(?: - .*)?$", re.MULTILINE)


@dataclass(frozen=True)
class Result:
    """One planted bug's run: its status, the first test that failed (when killed), the seconds it took,
    and for an error what went wrong."""

    planted: Planted
    status: str
    caught_by: str = ""
    seconds: float = 0.0
    detail: str = ""
    missed_by: tuple[str, ...] = ()


def run_tests(copy: Path, tests: Sequence[str], modules: Sequence[str], *, stop_first: bool) -> tuple[int, str]:
    """Run ``tests`` in ``copy`` (see the module docstring); returns pytest's exit status and output."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(copy), *filter(None, [os.environ.get("PYTHONPATH")])]),
        "PYTHONDONTWRITEBYTECODE": "1",
        COPY_ENV: str(copy),
        MODULES_ENV: ",".join(modules),
    }
    # The session's temporary directories live in the copy: they go when it goes, kept shards included.
    command = [sys.executable, "-m", "pytest", "-q", "-rfE", f"--basetemp={copy / '.pytest-tmp'}"]
    command += ["-p", "tests.mutation.planted.guard", *tests]
    if stop_first:
        command.insert(4, "-x")
    done = subprocess.run(command, cwd=copy, env=env, capture_output=True, text=True, check=False)
    return done.returncode, done.stdout + done.stderr


def _tail(text: str, lines: int = 30) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


def failed_tests(output: str) -> list[str]:
    """The node ids pytest's short summary (``-rfE``) names as failed or errored."""
    return _FAILED.findall(output)


def listed_that_failed(listed: Sequence[str], failed: Sequence[str]) -> list[str]:
    """The listed tests (paths, node ids) one of whose items is among ``failed``."""
    return [t for t in listed if any(f == t or f.startswith((t + "::", t + "[")) for f in failed)]


def run_planted(planted: Planted, scratch: Path, *, each: bool = False) -> Result:
    """Plant one bug in a fresh copy under ``scratch`` and run its tests (``each``: all of them)."""
    started = time.monotonic()
    copy = make_copy(Path(tempfile.mkdtemp(prefix=f"{planted.name}-", dir=scratch)))
    try:
        return _run_in(planted, copy, started, each=each)
    finally:
        shutil.rmtree(copy, ignore_errors=True)


def _run_in(planted: Planted, copy: Path, started: float, *, each: bool) -> Result:
    complaint = apply(planted.diff, copy)
    if complaint:
        return Result(planted, ERROR, detail=f"{planted.diff.name} does not apply: {complaint}")
    code, output = run_tests(copy, planted.tests, planted.modules(), stop_first=not each)
    seconds = time.monotonic() - started
    if code == 1:
        failed = failed_tests(output)
        if each:
            caught = listed_that_failed(planted.tests, failed)
            missed = tuple(t for t in planted.tests if t not in caught)
            return Result(planted, KILLED, ", ".join(caught) or "(see pytest's output)", seconds, missed_by=missed)
        return Result(planted, KILLED, failed[0] if failed else "(see pytest's output)", seconds)
    if code == 0:
        return Result(planted, SURVIVED, seconds=seconds)
    what = "the guard found the unpatched package imported" if code == GUARD_EXIT else f"pytest exited {code}"
    return Result(planted, ERROR, seconds=seconds, detail=f"{what}:\n{_tail(output)}")


def baseline(chosen: Sequence[Planted], scratch: Path) -> tuple[bool, str, float]:
    """Every chosen entry's tests on one unpatched copy: (all passed, pytest's output, seconds)."""
    started = time.monotonic()
    copy = make_copy(scratch / "baseline")
    tests = list(dict.fromkeys(t for p in chosen for t in p.tests))
    modules = sorted({m for p in chosen for m in p.modules()})
    code, output = run_tests(copy, tests, modules, stop_first=False)
    return code == 0, output, time.monotonic() - started


def main(argv: Sequence[str] | None = None) -> int:
    index = load_index()
    parser = argparse.ArgumentParser(prog="python -m tests.mutation.planted", description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="entries of tests/mutation/planted/index.toml (default: all)")
    parser.add_argument("--no-baseline", action="store_true", help="skip the run of the tests on the unpatched copy")
    parser.add_argument("--each", action="store_true", help="run every listed test; say which caught each bug")
    args = parser.parse_args(argv)
    by_name = {p.name: p for p in index}
    unknown = [n for n in args.names if n not in by_name]
    if unknown:
        parser.error(f"not in index.toml: {', '.join(unknown)} (known: {', '.join(by_name)})")
    chosen = [by_name[n] for n in args.names] if args.names else index
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="ragmig-planted-") as scratch:
        if not args.no_baseline:
            ok, output, seconds = baseline(chosen, Path(scratch))
            print(
                f"baseline (unpatched copy, {len(chosen)} entries' tests): {'pass' if ok else 'FAILED'}, {seconds:.1f} s"
            )
            if not ok:
                print(_tail(output, 60))
                print("the listed tests must pass without the planted bugs: fix them first")
                return 1
        results = []
        for planted in chosen:
            result = run_planted(planted, Path(scratch), each=args.each)
            results.append(result)
            caught = f" by {result.caught_by}" if result.caught_by else ""
            print(f"{result.status:<8} {planted.name}{caught} ({result.seconds:.1f} s)", flush=True)
            if result.missed_by:
                print(f"  not caught by: {', '.join(result.missed_by)}")
            if result.detail:
                print("  " + result.detail.replace("\n", "\n  "))
    killed = sum(r.status == KILLED for r in results)
    print(
        f"{killed}/{len(results)} planted bugs killed, {sum(r.status == SURVIVED for r in results)} survived, "
        f"{sum(r.status == ERROR for r in results)} errors; {time.monotonic() - started:.0f} s in all"
    )
    missed = [r.planted.name for r in results if r.missed_by]
    if missed:
        print(f"listed tests that did not catch their bug (drop them from index.toml): {', '.join(missed)}")
    return 0 if killed == len(results) and not missed else 1


if __name__ == "__main__":
    sys.exit(main())
