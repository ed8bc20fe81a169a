"""``ragmig certify``: check the inputs, run the certification suite as a pytest session, summarise.

Everything a user can get wrong ends as one line and exit 2 before any work, with no report written.
This process checks the arguments: a bad URI, the same store on both sides, a thresholds file that does
not validate, an output path that cannot be written, ``--k`` above 1,000, a bad ``--workers``, a query file
(``--query-vectors``) that does not parse, a ``--cluster`` that does not answer. The stores are checked by
the suite's session as it starts, before any test runs, where they are opened once for the whole run
(``harness.verify.preflight``): a collection that does not exist, a host that does not answer, ``--k`` or
``--queries`` above what the source holds, a query file the source cannot answer (another dimension,
sparse queries without sparse vectors, namespaces it does not have). The session hands such a line back
and this process raises it as its own.

Progress: the child's stderr is pytest's to capture, so the suite reports its phases (scans, ground
truth, queries) as events on an inherited pipe (``harness.progress``); this process shows them on its
stderr — bars on a terminal, a plain line every few seconds otherwise, nothing with ``-q``.

The suite runs in a child ``python -m pytest`` rather than ``pytest.main`` in this process:
- a clean interpreter: no pytest state, warning filters or imported conftests left over from a caller
  (``certify_command`` is also called from inside pytest sessions and from the orchestrator);
- the stores are opened there only, once (a Qdrant Edge shard directory admits one process at a time);
- its own throwaway ini file and rootdir, so a ``pytest.ini`` in the user's working directory (addopts,
  ``filterwarnings = error``, plugins) cannot change what certification means.
Credentials reach the child through the environment only (never argv; a URI cannot hold one). The child
dies with this process (``run_child``).

The child writes its reports into a private directory; this process then writes them to the paths the
user gave, each replaced atomically. A run that did not complete — a check family raised, the child
died or wrote no verdict, this process was interrupted — is ``error`` (exit 2) in every output: the
JSON says ``"verdict": "error"`` with ``incomplete``, the HTML banner says INCOMPLETE, the JUnit holds an
``<error>``. Never a stale or a passing report.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import sys
import tempfile
import threading
from datetime import UTC, datetime
from pathlib import Path

from harness import console
from harness.errors import UsageError
from harness.model import Check, Status, Verdict
from harness.outputs import check_writable, write_bytes_atomic, write_text_atomic
from harness.parallel.engine import check_cluster, hash_seed_env, resolve_workers
from harness.progress import PROGRESS_FD_ENV, progress_for, relay
from harness.redact import redact_text, redact_uri
from harness.reporting.html import report_page
from harness.reporting.junit import write_junit
from harness.reporting.session import ChildRun, child_env, child_pytest_args, run_child
from harness.stores import parse_store_uri, same_store
from harness.units import duration
from harness.verify import CHECK_IDS, load_thresholds
from harness.verify.preflight import one_line, read_failure
from harness.verify.run import MAX_K

JUNIT_SUITE = "ragmig-certify"
"""The JUnit testsuite name of certify's ``--junit`` (one testcase per check id, ``ragmig-certify.FAMILY``)."""


def certify_command(
    source: str,
    target: str,
    queries: int | None,
    k: int | None,
    thresholds: Path | None,
    html: Path | None,
    json_path: Path | None,
    junit: Path | None,
    sample: int | None = None,
    workers: int | str = "auto",
    cluster: str | None = None,
    query_vectors: Path | None = None,
) -> int:
    """Certify ``target`` against ``source``: 0 pass, 1 findings, 2 incomplete run (``error``); a bad
    input is a ``UsageError`` (the CLI's one line and exit 2) raised before any work.

    ``queries`` / ``k`` default to 200 / 10, fewer when the source holds fewer records; given explicitly,
    more than the source holds (or ``k`` above 1,000) is a usage error. ``sample``: sampled parity over that
    many source records (``harness.verify.sample``) instead of the full scan; with it ``queries`` may be 0
    (quality not measured, so neither store is read in full). ``query_vectors``: a query file
    (``harness.verify.queries``) asked instead of sampled queries. ``workers``: worker processes of a local
    Dask cluster for the scan ("auto" from the stores' counts, see ``harness.parallel.resolve_workers``);
    ``cluster``: a remote scheduler's address instead (checked to answer before any work).
    """
    if query_vectors is not None and queries is not None:
        raise UsageError("--queries samples queries from the source and --query-vectors gives them: give one")
    if queries is not None and queries < (0 if sample is not None else 1):
        # With --sample, --queries 0 leaves quality out: neither store is read in full.
        raise UsageError(
            f"--queries must be at least 1, got {queries}"
            + (" (--queries 0 measures no quality: only with --sample)" if queries == 0 else "")
        )
    if k is not None and not 1 <= k <= MAX_K:
        raise UsageError(f"--k must be between 1 and {MAX_K:,}, got {k:,}")
    if sample is not None and sample < 1:
        raise UsageError(f"--sample must be at least 1, got {sample}")
    for uri in (source, target):
        parse_store_uri(uri)  # InvalidURIError names the accepted schemes
    if same_store(source, target):
        raise UsageError(
            f"--source and --target name the same store ({redact_uri(target)}); certify a copy against its source"
        )
    if thresholds is not None:
        load_thresholds(thresholds)
    outputs = {"html": html, "json": json_path, "junit": junit}
    for what, path in outputs.items():
        if path is not None:
            check_writable(path, f"--{what}")
    if query_vectors is not None:
        from harness.verify.queries import load_query_file

        # A file that does not parse fails here; the session checks it against the source.
        load_query_file(query_vectors)
    if workers != "auto":
        resolve_workers(workers, 0)  # a bad count is a usage error before any work
    if cluster:
        check_cluster(cluster)

    started_at = _utc_now()
    with tempfile.TemporaryDirectory(prefix="ragmig-certify-") as tmp:
        workdir = Path(tmp)
        reports = {"html": workdir / "report.html", "json": workdir / "verdict.json"}
        preflight_file = workdir / "preflight.json"
        args = [
            *child_pytest_args(
                workdir,
                "scenarios.certification",
                ini_lines=("render_collapsed = none",),
            ),
            "--ragmig-source",
            source,
            "--ragmig-target",
            target,
            "--ragmig-verdict-json",
            str(reports["json"]),
            "--ragmig-preflight",
            str(preflight_file),
        ]
        if queries is not None:
            args += ["--ragmig-queries", str(queries)]
        if k is not None:
            args += ["--ragmig-k", str(k)]
        if thresholds is not None:
            args += ["--ragmig-thresholds", str(thresholds.resolve())]
        if sample is not None:
            args += ["--ragmig-sample", str(sample)]
        args += ["--ragmig-workers", str(workers)]
        if cluster:
            args += ["--ragmig-cluster", cluster]
        if query_vectors is not None:
            args += ["--ragmig-query-vectors", str(query_vectors.resolve())]
        if html is not None:
            args += ["--html", str(reports["html"]), "--self-contained-html"]
        child = _run_with_progress(args, workdir)
        refused = read_failure(preflight_file)
        if refused is not None and child.signal is None:
            raise refused  # a store the session refused before any work: one line, nothing written
        recorded = _read_verdict(reports["json"])
        verdict = _final_verdict(recorded, child, source, target, started_at)
        # The child's own HTML tells the same story only when its verdict is the final one.
        consistent = recorded is not None and recorded.verdict is verdict.verdict
        if json_path is not None:
            write_text_atomic(json_path, verdict.to_json() + "\n")
        if html is not None:
            made = reports["html"]
            write_bytes_atomic(
                html, made.read_bytes() if consistent and made.exists() else report_page(verdict).encode()
            )
        if junit is not None:  # one testcase per check id, whatever the pytest tests were
            write_junit(junit, verdict, JUNIT_SUITE)

    _print_summary(verdict, html, json_path, junit)
    if child.signal is not None:
        if child.signal == signal.SIGINT:
            raise KeyboardInterrupt
        raise SystemExit(128 + child.signal)
    return verdict.exit_code


def _run_with_progress(args: list[str], workdir: Path) -> ChildRun:
    """Run the suite; its progress events (an inherited pipe) are shown on stderr unless ``-q``."""
    env = child_env()
    env.update(hash_seed_env())  # a partitioned verification needs its workers' string hashing (engine.py)
    if console.verbosity() <= console.QUIET:
        return run_child(args, cwd=workdir, env=env)
    read_fd, write_fd = os.pipe()
    reader = os.fdopen(read_fd, encoding="utf-8", errors="replace")
    shower = threading.Thread(target=relay, args=(reader, progress_for(sys.stderr)), daemon=True)
    shower.start()
    try:
        return run_child(args, cwd=workdir, env={**env, PROGRESS_FD_ENV: str(write_fd)}, pass_fds=(write_fd,))
    finally:
        os.close(write_fd)  # the child has exited: the reader sees the end of the events
        shower.join(timeout=5)
        reader.close()


def _read_verdict(path: Path) -> Verdict | None:
    """The verdict the suite wrote, or None when it wrote none (or not a verdict)."""
    try:
        return Verdict.from_dict(json.loads(path.read_text()))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _final_verdict(recorded: Verdict | None, child: ChildRun, source: str, target: str, started_at: str) -> Verdict:
    """The verdict to report: the suite's own, made ``error`` when it did not cover every check family or
    this process was interrupted; an empty ``error`` verdict saying why when the suite wrote none."""
    if recorded is None:
        return Verdict(
            checks=(),
            source={"uri": redact_uri(source)},
            target={"uri": redact_uri(target)},
            started_at=started_at,
            finished_at=_utc_now(),
            incomplete=_why_no_verdict(child),
        )
    reasons = [recorded.incomplete] if recorded.incomplete else []
    checks = list(recorded.checks)
    families = dict.fromkeys(cid.split(".")[0] for cid in CHECK_IDS)
    for family in families:
        if not any(c.id.startswith(f"{family}.") for c in checks):
            ids = [cid for cid in CHECK_IDS if cid.startswith(f"{family}.")]
            checks += [
                Check(cid, Status.ERROR, None, None, "did not complete: the suite recorded nothing") for cid in ids
            ]
            reasons.append(f"{family}.* did not run")
    if child.signal is not None:
        reasons.append(f"ragmig certify was interrupted by {signal.Signals(child.signal).name}")
    if not reasons:
        return recorded
    return dataclasses.replace(recorded, checks=tuple(checks), incomplete="; ".join(dict.fromkeys(reasons)))


def _why_no_verdict(child: ChildRun) -> str:
    """One line saying why the suite wrote no verdict, from its last error line."""
    if child.signal is not None:
        return f"ragmig certify was interrupted by {signal.Signals(child.signal).name} before the suite wrote a verdict"
    lines = [line.strip() for line in (child.stdout + "\n" + child.stderr).splitlines() if line.strip()]
    errors = [line.removeprefix("E").strip() for line in lines if line.startswith(("E ", "ERROR"))]
    cause = errors[-1] if errors else (lines[-1] if lines else "no output")
    return one_line(f"the certification suite wrote no verdict (pytest exit {child.returncode}): {cause}")


def _utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


COLOURS = {"pass": "green", "fail": "red", "warn": "yellow", "skip": "dim", "error": "bold magenta"}


def _print_summary(verdict: Verdict, html: Path | None, json_path: Path | None, junit: Path | None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False)
    table = Table(title=f"ragmig certify: {verdict.source.get('uri')} → {verdict.target.get('uri')}")
    # Fits 80 columns: ids and statuses never wrap; a long value is cut with "…" (the JSON has it whole).
    table.add_column("check", no_wrap=True)
    table.add_column("status", no_wrap=True)
    for column in ("observed", "expected"):
        table.add_column(column, no_wrap=True, overflow="ellipsis", max_width=20)
    for check in verdict.checks:
        status = str(check.status)
        table.add_row(
            check.id,
            f"[{COLOURS[status]}]{status}[/]",
            _value(check.id, check.observed),
            _value(check.id, check.expected),
        )
    console.print(table)
    for check in verdict.checks:
        if check.status in (Status.FAIL, Status.WARN) or (check.status is Status.ERROR and not verdict.incomplete):
            console.print(f"[{COLOURS[str(check.status)]}]{check.id}[/]: {_cell(check.message, 400)}")
    outcome = verdict.verdict
    if outcome is Status.ERROR:
        why = verdict.incomplete or "a check could not run"
        console.print(
            f"verdict: [bold magenta]ERROR[/] — the run did not complete, this is not a pass: {_cell(why, 600)}"
        )
        print(f"ragmig: error: certification did not complete: {one_line(why)}", file=sys.stderr)
    else:
        word = "[bold green]PASS[/]" if outcome is Status.PASS else "[bold red]FAIL[/]"
        console.print(f"verdict: {word} in {duration(verdict.duration_s)}")
    for label, path in (("html", html), ("json", json_path), ("junit", junit)):
        if path is not None:
            console.print(f"{label}: {path}")


def _value(check_id: str, value: object) -> str:
    """A check's observed or expected value for the terminal table: short, with its unit (latencies in
    ms, counts with thousands separators, fractions to 3 digits, mappings as ``key value, …``)."""
    from rich.markup import escape

    def text(v: object) -> str:
        if v is None:
            return "—"
        if isinstance(v, bool):
            return str(v).lower()
        if isinstance(v, int):
            return f"{v:,}"
        if isinstance(v, float):
            return f"{v:.3g} ms" if check_id.startswith("latency.") else f"{v:.3g}"
        if isinstance(v, dict):
            return ", ".join(f"{k} {text(x)}" for k, x in v.items()) or "none"
        if isinstance(v, list | tuple):
            return ", ".join(text(x) for x in v) or "none"
        return str(v)

    return escape(redact_text(text(value)))


def _cell(value: object, limit: int = 40) -> str:
    from rich.markup import escape

    text = value if isinstance(value, str) else json.dumps(value, default=str)
    text = redact_text(text)
    return escape(text if len(text) <= limit else text[: limit - 1] + "…")
