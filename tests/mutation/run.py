"""``make mutation``: mutation testing of the judging code with mutmut, one module at a time.

For each module of ``tests/mutation/config.toml`` (or those named on the command line) this prepares a
work directory ``build/mutation/<module>/`` — a generated ``pyproject.toml`` (the project's pytest
settings plus a ``[tool.mutmut]`` section naming that module and its test subset) and links to the
project's ``harness``, ``tests``, ``scenarios`` and root ``conftest.py`` — runs ``mutmut run`` there,
and reads the results back. mutmut copies the package into ``mutants/`` and never touches the
project's files; each mutant runs in a forked child with only the subset's tests that call the mutated
function, under a CPU-time limit (not a wall-clock one: a busy machine makes it slower, not wrong).

Incremental: a work directory is kept between runs, and mutmut re-tests only the mutants of functions
whose code changed. When the test subset or any test file changed, the module's results are thrown away
and it runs again in full (``--keep`` keeps them; ``--survivors`` re-tests only the current survivors,
for iterating on a test). ``--fresh`` always starts over.

The report (``reports/mutation/REPORT.md`` and ``results.json``): per module mutants, killed, survivors,
equivalent (``tests/mutation/equivalent.toml``, matched by patch hash) and the score killed ÷ (mutants −
equivalent); every survivor with its diff. Exit status 1 when a module is below its floor.

Run: ``make mutation`` or ``.venv/bin/python -m tests.mutation.run [MODULE ...] [--max-children N]``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import tomllib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.outputs import write_text_atomic

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
CONFIG = HERE / "config.toml"
EQUIVALENT = HERE / "equivalent.toml"
WORK = ROOT / "build" / "mutation"
REPORT_DIR = ROOT / "reports" / "mutation"
LINKED = ("harness", "tests", "scenarios", "conftest.py")

KILLED = frozenset({"killed", "timeout", "segfault", "caught by type check"})
"""mutmut statuses that mean the tests noticed the mutant (a timeout or a kill by the CPU limit too)."""

# Run inside a module's work directory: every mutant's status and, for those not killed, its diff.
_COLLECT = """
import json, sys
from mutmut.__main__ import SourceFileMutationData, walk_mutatable_files
from mutmut.mutation.diff_apply import get_diff_for_mutant
from mutmut.stats import status_by_exit_code
killed = set(json.loads(sys.argv[1]))
out = []
for path in walk_mutatable_files():
    data = SourceFileMutationData(path=path)
    data.load()
    for name, code in sorted(data.exit_code_by_key.items()):
        status = status_by_exit_code[code]
        diff = "" if status in killed else get_diff_for_mutant(name, path=path)
        out.append({"name": name, "path": str(path), "status": status, "diff": diff})
print(json.dumps(out))
"""


# -- configuration ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Module:
    """One mutated module and its test subset."""

    path: str
    tests: tuple[str, ...]
    floor: float

    @property
    def slug(self) -> str:
        return self.path.replace("/", "_").replace("*", "all").removesuffix(".py")


@dataclass(frozen=True)
class Equivalent:
    """A mutant listed as equivalent in ``equivalent.toml``."""

    module: str
    patch: str
    reason: str
    change: str = ""


def load_config(path: Path = CONFIG) -> tuple[list[Module], dict[str, Any]]:
    """The modules of the config file, in file order, and its defaults."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    defaults = dict(data.get("defaults", {}))
    floor = float(defaults.get("floor", 0.9))
    modules = [
        Module(name, tuple(entry["tests"]), float(entry.get("floor", floor)))
        for name, entry in data.get("modules", {}).items()
    ]
    return modules, defaults


def load_equivalents(path: Path = EQUIVALENT) -> list[Equivalent]:
    """The equivalent mutants listed in ``path``; a malformed entry is an error naming it."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    out = []
    for i, entry in enumerate(data.get("equivalent", [])):
        missing = [key for key in ("module", "patch", "reason") if not str(entry.get(key, "")).strip()]
        if missing:
            raise SystemExit(f"{path}: equivalent entry {i + 1} lacks {', '.join(missing)}")
        out.append(Equivalent(entry["module"], entry["patch"], entry["reason"], entry.get("change", "")))
    return out


# -- mutants ---------------------------------------------------------------------------------------------
def changed_lines(diff: str) -> list[str]:
    """The removed and added lines of a unified diff, stripped, with the nearest context line before and
    after them (two identical edits in one function, e.g. ``observed`` → ``None`` in two ``Check(...)``
    calls, differ in their neighbours); headers and the rest of the context are left out."""
    body = [line for line in diff.splitlines() if not line.startswith(("+++", "---", "@@"))]
    changed = [i for i, line in enumerate(body) if line[:1] in "+-"]
    if not changed:
        return []
    before = [body[changed[0] - 1]] if changed[0] > 0 else []
    after = [body[changed[-1] + 1]] if changed[-1] + 1 < len(body) else []
    return [line[:1] + line[1:].strip() for line in before + body[changed[0] : changed[-1] + 1] + after]


def function_of(mutant: str) -> str:
    """The mutated function of a mutmut mutant name (``x_f__mutmut_3`` → ``f``, ``xǁCǁm__mutmut_1`` → ``C.m``)."""
    generated = mutant.rpartition(".")[2].rpartition("__mutmut_")[0]
    return generated.removeprefix("x_").removeprefix("xǁ").replace("ǁ", ".")


def patch_hash(module: str, mutant: str, diff: str) -> str:
    """12 hex digits naming a mutant by what it changes: module, function, changed lines (not line numbers
    or the mutant's number, which shift when the code around it changes)."""
    text = "\n".join([module, function_of(mutant), *changed_lines(diff)])
    return hashlib.sha256(text.encode()).hexdigest()[:12]


@dataclass
class Outcome:
    """One module's run."""

    module: Module
    mutants: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    error: str = ""

    def of(self, *statuses: str) -> list[dict[str, Any]]:
        return [m for m in self.mutants if m["status"] in statuses]

    @property
    def killed(self) -> int:
        return sum(1 for m in self.mutants if m["status"] in KILLED and not m.get("equivalent"))

    @property
    def equivalent(self) -> list[dict[str, Any]]:
        return [m for m in self.mutants if m.get("equivalent")]

    @property
    def survivors(self) -> list[dict[str, Any]]:
        return [m for m in self.mutants if m["status"] not in KILLED and not m.get("equivalent")]

    @property
    def counted(self) -> int:
        return len(self.mutants) - len(self.equivalent)

    @property
    def score(self) -> float | None:
        return self.killed / self.counted if self.counted else None

    @property
    def ok(self) -> bool:
        return not self.error and (self.score is None or self.score >= self.module.floor)


def mark_equivalents(outcome: Outcome, equivalents: Sequence[Equivalent]) -> None:
    """Flag the outcome's surviving mutants listed in ``equivalents`` (a killed one is not equivalent).

    A patch hash two survivors share cannot tell them apart: neither is excluded, and the report says so.
    """
    listed = {(e.module, e.patch): e for e in equivalents}
    for mutant in outcome.mutants:
        mutant["patch"] = patch_hash(outcome.module.path, mutant["name"], mutant["diff"]) if mutant["diff"] else ""
    shared = Counter(m["patch"] for m in outcome.mutants if m["patch"])
    for mutant in outcome.mutants:
        entry = listed.get((outcome.module.path, mutant["patch"]))
        if entry is None or mutant["status"] in KILLED:
            continue
        if shared[mutant["patch"]] > 1:
            mutant["ambiguous"] = True
        else:
            mutant["equivalent"] = entry.reason


# -- running ---------------------------------------------------------------------------------------------
def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")


def work_pyproject(module: Module) -> str:
    """The work directory's pyproject.toml: the project's pytest settings and this module's mutmut section."""
    pytest_ini = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["pytest"]["ini_options"]
    mutmut = {
        "source_paths": ["harness"],
        "only_mutate": [module.path],
        "pytest_add_cli_args_test_selection": list(module.tests),
        "also_copy": ["conftest.py", "scenarios"],
        "use_setproctitle": False,
    }
    lines = ["# Generated by tests/mutation/run.py for one module; do not edit.", "[tool.pytest.ini_options]"]
    lines += [f"{key} = {_toml_value(value)}" for key, value in pytest_ini.items()]
    lines += ["", "[tool.mutmut]"] + [f"{key} = {_toml_value(value)}" for key, value in mutmut.items()]
    return "\n".join(lines) + "\n"


def tests_fingerprint(module: Module) -> str:
    """Changes when the module's subset, any test file or the mutmut version changes."""
    from importlib.metadata import version

    h = hashlib.sha256(f"{module.tests}\n{version('mutmut')}\n{work_pyproject(module)}".encode())
    for path in sorted([ROOT / "conftest.py", *(ROOT / "tests").rglob("*.py")]):
        h.update(str(path.relative_to(ROOT)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def prepare(module: Module, *, fresh: bool, keep: bool) -> Path:
    """The module's work directory, reset when ``fresh`` or when its tests changed (unless ``keep``)."""
    work = WORK / module.slug
    stamp = work / "tests.fingerprint"
    fingerprint = tests_fingerprint(module)
    stale = stamp.exists() and stamp.read_text() != fingerprint and not keep
    if fresh or stale:
        shutil.rmtree(work / "mutants", ignore_errors=True)
    work.mkdir(parents=True, exist_ok=True)
    for name in LINKED:
        link = work / name
        if not link.is_symlink():
            link.symlink_to(ROOT / name)
    (work / "pyproject.toml").write_text(work_pyproject(module), encoding="utf-8")
    stamp.write_text(fingerprint)
    return work


def collect(work: Path) -> list[dict[str, Any]]:
    """Every mutant of the work directory's last run (status, and the diff of those not killed)."""
    done = subprocess.run(
        [sys.executable, "-c", _COLLECT, json.dumps(sorted(KILLED))],
        cwd=work,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"reading mutmut's results in {work} failed: {done.stderr.strip()[-2000:]}")
    return list(json.loads(done.stdout))


def run_module(module: Module, *, max_children: int, fresh: bool, keep: bool, survivors: bool) -> Outcome:
    """Run mutmut on one module in its work directory and read the results back."""
    work = prepare(module, fresh=fresh, keep=keep)
    names: list[str] = []
    if survivors and (work / "mutants").exists():
        names = [m["name"] for m in collect(work) if m["status"] not in KILLED]
        if not names:
            print(f"{module.path}: no survivors to re-test")
    started = time.monotonic()
    log = work / "mutmut.log"
    print(f"{module.path}: mutmut run in {work.relative_to(ROOT)} (log: {log.relative_to(ROOT)})", flush=True)
    if not (survivors and not names):
        with log.open("w", encoding="utf-8") as out:
            done = subprocess.run(
                [str(Path(sys.executable).with_name("mutmut")), "run", "--max-children", str(max_children), *names],
                cwd=work,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
                check=False,
            )
        if done.returncode != 0:
            tail = log.read_text(encoding="utf-8", errors="replace")[-3000:]
            return Outcome(
                module, seconds=time.monotonic() - started, error=f"mutmut exited {done.returncode}:\n{tail}"
            )
    outcome = Outcome(module, collect(work), seconds=time.monotonic() - started)
    unchecked = outcome.of("not checked")
    if unchecked:
        outcome.error = f"{len(unchecked)} mutants were not checked (the run was interrupted?)"
    return outcome


# -- the report ------------------------------------------------------------------------------------------
def _pct(score: float | None) -> str:
    return "—" if score is None else f"{100 * score:.1f} %"


def render(outcomes: Sequence[Outcome], equivalents: Sequence[Equivalent], started: datetime, tool: str) -> str:
    """REPORT.md: the per-module table, every survivor with its diff, the equivalent mutants.

    ``tool`` names the mutation tool and its version (``mutmut 3.3.1``), as the run found it installed.
    """
    total = sum(o.seconds for o in outcomes)
    lines = [
        "# Mutation report",
        "",
        f"{tool}, started {started:%Y-%m-%d %H:%M} UTC, {total / 60:.1f} min in all. "
        "Score = killed ÷ (mutants − equivalent); a timeout counts as killed.",
        "",
        "| module | mutants | killed | survived | no tests | equivalent | score | floor | time |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for o in outcomes:
        survived = sum(1 for m in o.survivors if m["status"] != "no tests")
        no_tests = sum(1 for m in o.survivors if m["status"] == "no tests")
        verdict = "" if o.ok else " ✗"
        lines.append(
            f"| `{o.module.path}` | {len(o.mutants)} | {o.killed} | {survived} | {no_tests} | {len(o.equivalent)} "
            f"| {_pct(o.score)}{verdict} | {_pct(o.module.floor)} | {o.seconds / 60:.1f} min |"
        )
    errors = [o for o in outcomes if o.error]
    if errors:
        lines += ["", "## Errors", ""]
        for o in errors:
            lines += [f"### `{o.module.path}`", "", "```", o.error, "```", ""]
    lines += ["", "## Survivors", ""]
    for o in outcomes:
        if not o.survivors:
            continue
        lines += [f"### `{o.module.path}` ({len(o.survivors)})", ""]
        for m in o.survivors:
            note = " (listed as equivalent, but another mutant has the same patch hash)" if m.get("ambiguous") else ""
            lines += [
                f"#### `{m['name']}` — {m['status']}, patch `{m['patch']}`{note}",
                "",
                "```diff",
                m["diff"],
                "```",
                "",
            ]
    if not any(o.survivors for o in outcomes):
        lines += ["None.", ""]
    lines += ["## Equivalent mutants (excluded from the score)", ""]
    shown = False
    for o in outcomes:
        for m in o.equivalent:
            shown = True
            lines.append(f"- `{o.module.path}` `{m['name']}` (patch `{m['patch']}`): {m['equivalent']}")
    if not shown:
        lines.append("None.")
    ran = {o.module.path for o in outcomes if not o.error}
    seen = {(o.module.path, m["patch"]) for o in outcomes for m in o.mutants}
    stale = [e for e in equivalents if e.module in ran and (e.module, e.patch) not in seen]
    if stale:
        lines += ["", "## Listed as equivalent but no longer generated (remove from equivalent.toml)", ""]
        lines += [f"- `{e.module}` patch `{e.patch}`: {e.change or e.reason}" for e in stale]
    return "\n".join(lines).rstrip() + "\n"


def results_json(outcomes: Iterable[Outcome]) -> str:
    return json.dumps(
        [
            {
                "module": o.module.path,
                "mutants": len(o.mutants),
                "killed": o.killed,
                "equivalent": len(o.equivalent),
                "score": o.score,
                "floor": o.module.floor,
                "seconds": round(o.seconds, 1),
                "error": o.error,
                "survivors": [{k: m[k] for k in ("name", "status", "patch", "diff")} for m in o.survivors],
            }
            for o in outcomes
        ],
        indent=2,
        ensure_ascii=False,
    )


# -- command line ----------------------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> int:
    modules, defaults = load_config()
    parser = argparse.ArgumentParser(prog="make mutation", description=__doc__.split("\n\n")[0])
    parser.add_argument("modules", nargs="*", help="modules of tests/mutation/config.toml (default: all)")
    parser.add_argument("--max-children", type=int, default=int(defaults.get("max_children", 2)))
    parser.add_argument("--fresh", action="store_true", help="forget earlier results and run everything")
    parser.add_argument("--keep", action="store_true", help="keep earlier results even if tests changed")
    parser.add_argument(
        "--survivors",
        action="store_true",
        help="re-test only the current survivors (add --keep after editing a test, or every earlier result is forgotten)",
    )
    parser.add_argument("--report-dir", type=Path, default=REPORT_DIR)
    args = parser.parse_args(argv)
    by_path = {m.path: m for m in modules}
    unknown = [name for name in args.modules if name not in by_path]
    if unknown:
        parser.error(f"not in {CONFIG.relative_to(ROOT)}: {', '.join(unknown)} (known: {', '.join(by_path)})")
    chosen = [by_path[name] for name in args.modules] if args.modules else modules
    missing = [t for m in chosen for t in m.tests if not (ROOT / t.split("::")[0]).exists()]
    if missing:
        parser.error(f"test paths in {CONFIG.relative_to(ROOT)} that do not exist: {', '.join(missing)}")
    from importlib.metadata import version

    equivalents = load_equivalents()
    started = datetime.now(UTC)
    outcomes = []
    for module in chosen:
        outcome = run_module(
            module, max_children=args.max_children, fresh=args.fresh, keep=args.keep, survivors=args.survivors
        )
        mark_equivalents(outcome, equivalents)
        outcomes.append(outcome)
        print(
            f"{module.path}: {outcome.killed}/{outcome.counted} killed ({_pct(outcome.score)}), "
            f"{len(outcome.survivors)} survivors, {len(outcome.equivalent)} equivalent, "
            f"{outcome.seconds / 60:.1f} min" + (f" — ERROR {outcome.error.splitlines()[0]}" if outcome.error else ""),
            flush=True,
        )
        args.report_dir.mkdir(parents=True, exist_ok=True)  # written after each module: a long run shows progress
        write_text_atomic(
            args.report_dir / "REPORT.md", render(outcomes, equivalents, started, f"mutmut {version('mutmut')}")
        )
        write_text_atomic(args.report_dir / "results.json", results_json(outcomes) + "\n")
    print(f"report: {args.report_dir / 'REPORT.md'}")
    return 0 if all(o.ok for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
