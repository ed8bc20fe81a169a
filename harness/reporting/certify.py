"""``ragmig certify``: check the inputs, run the certification suite as a pytest session, summarise.

Everything a user can get wrong is checked here first, in this process, so it ends as one line and
exit 2: a bad URI, a thresholds file that does not validate, a collection that does not exist, a host
that does not answer. Only then does the suite run.

The suite runs in a child ``python -m pytest`` rather than ``pytest.main`` in this process:
- a clean interpreter: no pytest state, warning filters or imported conftests left over from a caller
  (``certify_command`` is also called from inside pytest sessions and from the orchestrator);
- an Edge shard directory admits one handle per process at a time, and the stores this process opened
  to validate them are closed before the child opens them;
- its own throwaway ini file and rootdir, so a ``pytest.ini`` in the user's working directory (addopts,
  ``filterwarnings = error``, plugins) cannot change what certification means.
Credentials reach the child through the environment only (never argv; a URI cannot hold one).
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path

from harness.errors import HarnessError, StoreUnreachableError, UsageError
from harness.model import Status, Verdict
from harness.redact import redact_text
from harness.reporting.session import child_pytest_args
from harness.stores import open_store, parse_store_uri
from harness.verify import CHECK_IDS, load_thresholds


def certify_command(
    source: str,
    target: str,
    queries: int,
    k: int,
    thresholds: Path | None,
    html: Path | None,
    json_path: Path | None,
    junit: Path | None,
) -> int:
    """Certify ``target`` against ``source``; returns 0 pass, 1 findings (``UsageError`` → the CLI's exit 2)."""
    if queries < 1 or k < 1:
        raise UsageError(f"--queries and --k must be at least 1 (got {queries} and {k})")
    for uri in (source, target):
        parse_store_uri(uri)  # InvalidURIError names the accepted schemes
    if thresholds is not None:
        load_thresholds(thresholds)
    for role, uri in (("source", source), ("target", target)):
        check_store(uri, role)

    with tempfile.TemporaryDirectory(prefix="ragmig-certify-") as workdir:
        verdict_path = json_path.resolve() if json_path is not None else Path(workdir) / "verdict.json"
        verdict_path.unlink(missing_ok=True)  # a stale verdict must never be read as this run's
        args = [
            *child_pytest_args(
                Path(workdir),
                "scenarios.certification",
                ini_lines=("render_collapsed = none", "junit_suite_name = ragmig-certify"),
            ),
            "--source",
            source,
            "--target",
            target,
            "--queries",
            str(queries),
            "--k",
            str(k),
            "--verdict-json",
            str(verdict_path),
        ]
        if thresholds is not None:
            args += ["--thresholds", str(thresholds.resolve())]
        if html is not None:
            args += ["--html", str(html.resolve()), "--self-contained-html"]
        if junit is not None:
            args += ["--junitxml", str(junit.resolve())]
        proc = subprocess.run(args, cwd=workdir, capture_output=True, text=True, env=os.environ.copy(), check=False)
        verdict = _read_verdict(verdict_path, proc)

    _print_summary(verdict, html, verdict_path if json_path is not None else None, junit)
    return 0 if verdict.passed else 1


def check_store(uri: str, role: str) -> None:
    """Open the store at ``uri`` and read its schema and count; ``UsageError`` (one line) if that fails."""
    store = open_store(uri)
    try:
        if not store.exists():
            hint = (
                "; exact:// stores live inside one process, use a qdrant-edge:// or qdrant-local:// directory"
                if uri.lower().startswith("exact:")
                else ""
            )
            raise UsageError(f"{role} store {store.uri} does not exist{hint}")
        store.describe()
        store.count()
    except UsageError as exc:
        message = str(exc)
        raise UsageError(_one_line(message if message.startswith(role) else f"{role}: {message}")) from None
    except HarnessError as exc:
        raise StoreUnreachableError(_one_line(f"{role} store {store.uri} cannot be read: {exc}")) from None
    finally:
        store.close()


def _read_verdict(path: Path, proc: subprocess.CompletedProcess[str]) -> Verdict:
    """The verdict the suite wrote; ``UsageError`` when the suite did not complete every check family."""
    try:
        verdict = Verdict.from_dict(json.loads(path.read_text()))
    except (OSError, ValueError, KeyError):
        raise UsageError(_incomplete(proc, "it wrote no verdict")) from None
    missing = [cid for cid in CHECK_IDS if cid not in {c.id for c in verdict.checks}]
    if missing:
        raise UsageError(_incomplete(proc, f"checks {', '.join(missing)} did not run"))
    return verdict


def _incomplete(proc: subprocess.CompletedProcess[str], what: str) -> str:
    """One line saying why the suite stopped, from its last error line."""
    lines = [line.strip() for line in (proc.stdout + "\n" + proc.stderr).splitlines() if line.strip()]
    errors = [line.removeprefix("E").strip() for line in lines if line.startswith("E ")]
    cause = errors[-1] if errors else (lines[-1] if lines else "no output")
    return _one_line(f"certification did not complete ({what}; pytest exit {proc.returncode}): {cause}")


def _one_line(message: str) -> str:
    return redact_text(" ".join(message.split()))


def _print_summary(verdict: Verdict, html: Path | None, json_path: Path | None, junit: Path | None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False)
    colours = {"pass": "green", "fail": "red", "warn": "yellow", "skip": "dim"}
    table = Table(title=f"ragmig certify: {verdict.source.get('uri')} → {verdict.target.get('uri')}")
    for column in ("check", "status", "observed", "expected"):
        table.add_column(column, overflow="fold")
    for check in verdict.checks:
        status = str(check.status)
        table.add_row(check.id, f"[{colours[status]}]{status}[/]", _cell(check.observed), _cell(check.expected))
    console.print(table)
    for check in verdict.checks:
        if check.status in (Status.FAIL, Status.WARN):
            console.print(f"[{colours[str(check.status)]}]{check.id}[/]: {_cell(check.message, 400)}")
    word = "[bold green]PASS[/]" if verdict.passed else "[bold red]FAIL[/]"
    console.print(f"verdict: {word} in {verdict.duration_s:.1f} s")
    for label, path in (("html", html), ("json", json_path), ("junit", junit)):
        if path is not None:
            console.print(f"{label}: {path}")


def _cell(value: object, limit: int = 40) -> str:
    from rich.markup import escape

    text = value if isinstance(value, str) else json.dumps(value, default=str)
    text = redact_text(text)
    return escape(text if len(text) <= limit else text[: limit - 1] + "…")
