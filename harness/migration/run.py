"""``ragmig migrate``: preflight, a resumable backfill with a durable checkpoint, then verification.

Exit codes: 0 copied and verified, 1 verification failed, 2 usage / store error (one line on stderr).

Before the first write (``preflight.py``): every output path is writable, ``--resume`` names an existing
journal of this source → target, source and target are different stores, the target's schema is
compatible, and a target that already holds records was created by this journal (or ``--into-existing``
says to copy over them). A refusal writes nothing: no journal, no report, no point.

The journal keeps the checkpoint across crashes: rerun with ``--resume`` to continue from the last
acknowledged batch. Dual-write is the orchestrator's business; this command only copies and certifies.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from harness.clock import SystemClock
from harness.errors import HarnessError, UsageError
from harness.migration.backfill import Backfill, BackfillProgress
from harness.migration.journal import Journal
from harness.migration.preflight import (
    TargetPlan,
    check_distinct,
    check_resume_journal,
    check_target,
    same_migration,
)
from harness.model import Check, Verdict
from harness.outputs import check_writable, write_text_atomic
from harness.parallel import Access, Engine, access_of, engine_for, resolve_workers
from harness.parallel.engine import seed_is_fixed
from harness.parallel.held import WorkerStore
from harness.redact import redact_text
from harness.stores.base import VectorStore
from harness.stores.uri import parse_store_uri

__all__ = ["Renderer", "migrate_command", "read_in_worker"]

Renderer = Callable[[Verdict], str]
"""Renders a verdict as a report file's text (JSON, HTML, JUnit XML)."""

_TARGET_CREATED = "target_created"  # journal state: the target URI this journal created


def _claim_journal(journal: Journal, source: str, target: str, resume: bool) -> None:
    """Refuse a journal of another migration, and ``--resume`` of a journal that holds none (read only)."""
    state = journal.state()
    if state.source is not None and not (same_migration(state.source, source) and same_migration(state.target, target)):
        raise UsageError(
            f"journal {journal.path} holds a migration of {state.source} -> {state.target}; "
            "use another --journal for this source and target"
        )
    if resume and state.source is None:
        raise UsageError(
            f"--resume: journal {journal.path} holds no migration; check the path, or drop --resume to start one"
        )


def _start(journal: Journal, source: str, target: str, resume: bool, plan: TargetPlan, out: TextIO) -> None:
    """Record this run in the journal (after the preflight passed): the pair, the checkpoint to start
    from, and — before the backfill creates it — that this journal creates the target."""
    checkpoint = journal.checkpoint()
    if resume:
        print(f"resuming from the checkpoint: {checkpoint.done} records already copied", file=out)
    elif checkpoint.status != "new":
        print(
            f"starting over ({checkpoint.done} records were copied before; pass --resume to continue instead)",
            file=out,
        )
        journal.reset_checkpoint()
    journal.set(source=source, target=target)
    if not plan.exists:
        journal.set(**{_TARGET_CREATED: target})  # committed before the target is created
    if plan.into_existing:
        print(
            f"copying into an existing target that held {plan.records_before} records (--into-existing): "
            "records with the same ids are overwritten",
            file=out,
        )


class _PlainProgress:
    """Progress lines for output that is not a terminal: one about every 10 % of the records."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.last_tenth = -1

    def __call__(self, p: BackfillProgress) -> None:
        tenth = int(10 * p.done / p.total) if p.total else 10
        if tenth != self.last_tenth:
            self.last_tenth = tenth
            print(f"backfill: {p.done}/{p.total} records ({p.vectors_per_s:,.0f} vectors/s)", file=self.out, flush=True)


def _summary_line(check: Check) -> str:
    observed = "" if check.observed is None else f" observed={check.observed}"
    expected = "" if check.expected is None else f" expected={check.expected}"
    return redact_text(f"  {str(check.status).upper():4} {check.id}{observed}{expected} {check.message}".rstrip())


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _json(verdict: Verdict) -> str:
    return verdict.to_json() + "\n"


def migrate_command(
    source: str,
    target: str,
    journal: Path,
    batch_size: int,
    resume: bool,
    json_path: Path | None,
    *,
    verifier: Callable[[VectorStore, VectorStore], Verdict],
    into_existing: bool = False,
    reports: Mapping[Path, Renderer] | None = None,
    out: TextIO | None = None,
    workers: int | str = 1,
    cluster: str | None = None,
    payload_indexes: Mapping[str, str] | None = None,
) -> int:
    """Preflight, backfill ``source`` into ``target`` with the checkpoint in ``journal``, then verify with
    ``verifier`` (the CLI passes ``harness.verify.run_verification``).

    ``payload_indexes`` (field → type, ``--payload-index``) are created with a target the backfill creates
    (with the keyword index on ``__namespace__`` a Pinecone → Qdrant target always gets).
    ``json_path`` gets the JSON verdict; ``reports`` maps more output paths to their renderers (HTML,
    JUnit). All are checked writable before any work and written atomically at the end — also when a
    store failed mid-run (an ``error`` verdict, so a stale pass is never left behind).

    ``workers`` / ``cluster``: with more than one worker (a local Dask cluster; "auto" from the source's
    count) or a remote scheduler, the source is read in a worker process while this one writes, and the
    verification scans on the same cluster: ``verifier`` is then called with ``engine=`` (as
    ``run_verification`` accepts).

    Returns 0 when verified, 1 when verification failed, 2 when a store failed (the checkpoint is kept).
    ``UsageError`` (a refusal of the preflight, a bad URI, a journal of another migration) propagates
    before anything was written: the CLI prints it.
    """
    from harness.stores import open_store  # adapters are imported per scheme, on use

    out = out or sys.stdout
    started_at, started = _now(), time.monotonic()
    outputs: dict[Path, Renderer] = dict(reports or {})
    if json_path is not None:
        outputs[json_path] = _json
    for path in outputs:
        check_writable(path, "report")
    if resume:
        check_resume_journal(journal)
    check_distinct(source, target)
    journal_existed = journal.exists()
    clock = SystemClock()
    src = open_store(source)
    try:
        tgt = open_store(target)
    except BaseException:
        src.close()
        raise
    plan: TargetPlan | None = None
    engine: Engine | None = None
    try:
        # Fail fast on a source that is not there, before a journal file is created for nothing.
        source_schema = src.describe()
        engine = _engine(workers, cluster, src)
        if engine is not None:  # refused before a journal exists: the workers must make this process's keys
            engine.check_same_hashing()
        jnl = Journal(journal)
        try:
            _claim_journal(jnl, src.uri, tgt.uri, resume)
            plan = check_target(
                src,
                source_schema,
                tgt,
                created_by_journal=same_migration(jnl.get(_TARGET_CREATED), tgt.uri),
                into_existing=into_existing,
                journal=journal,
            )
        except BaseException:
            jnl.close()
            if not journal_existed:  # a refusal leaves no journal behind
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{journal}{suffix}").unlink(missing_ok=True)
            raise
        with jnl:
            _start(jnl, src.uri, tgt.uri, resume, plan, out)
            if plan.into_existing:
                jnl.append(
                    "info", {"message": "into existing target", "records_before": plan.records_before}, at=clock.now()
                )
            reader = src if engine is None else read_in_worker(engine, src)
            backfill = Backfill(
                reader,
                tgt,
                jnl,
                batch_size=batch_size,
                progress="auto",
                on_batch=None if sys.stderr.isatty() else _PlainProgress(out),
                payload_indexes=payload_indexes,
            )
            result = backfill.run()
            jnl.append("info", {"message": "backfill finished", **result.to_dict()}, at=clock.now())
            print(
                f"backfill {result.status}: {result.done} records in the checkpoint, {result.copied} copied now "
                f"in {result.copy_s:.1f} s ({result.vectors_per_s:,.0f} vectors/s), optimize {result.optimize_s:.1f} s, "
                f"{result.retries} retries",
                file=out,
            )
            print("verifying the target against the source ...", file=out, flush=True)
            verdict = verifier(src, tgt) if engine is None else verifier(reader, tgt, engine=engine)  # type: ignore[call-arg]
            jnl.append(
                "decision",
                {"decision": "verified" if verdict.passed else "verification failed", "verdict": str(verdict.verdict)},
                at=clock.now(),
            )
    except UsageError:
        raise
    except HarnessError as exc:
        reason = redact_text(str(exc))
        failed = Verdict(
            checks=(),
            source={"uri": src.uri},
            target={"uri": tgt.uri},
            incomplete=f"the migration did not complete: {reason}",
        )
        _write_reports(outputs, _stamped(failed, plan, started_at, started), out)
        print(f"ragmig: error: {reason} (the checkpoint in {journal} is kept: rerun with --resume)", file=sys.stderr)
        return 2
    finally:
        try:
            if engine is not None:
                engine.close()
        finally:
            src.close()
            tgt.close()
    verdict = _stamped(verdict, plan, started_at, started)
    for check in verdict.checks:
        print(_summary_line(check), file=out)
    if plan is not None and plan.into_existing:
        print(f"into an existing target: it held {plan.records_before} records before this copy", file=out)
    print(f"verdict: {verdict.verdict}", file=out)
    _write_reports(outputs, verdict, out)
    return verdict.exit_code


def _engine(workers: int | str, cluster: str | None, source: VectorStore) -> Engine | None:
    """The Dask engine of ``--workers`` / ``--cluster`` (None: everything in this process)."""
    if not cluster and workers in (None, "auto") and not seed_is_fixed():
        return None  # a local cluster could not make this process's parity keys (ragmig migrate sets the seed)
    if not cluster:
        records = 2 * source.count() if workers in (None, "auto") else 0
        workers = resolve_workers(workers, records)
    return engine_for(int(workers), cluster)


def read_in_worker(engine: Engine, source: VectorStore) -> VectorStore:
    """``source`` read by the first worker (this process writes meanwhile); a store that lives in this
    process (``exact://``) stays here. An exclusive store (Qdrant Edge) is closed here first."""
    try:
        scheme = parse_store_uri(source.uri).scheme
    except HarnessError:
        return source
    if access_of(scheme) is Access.LOCAL:
        return source
    source.close()  # reopened by the worker; an Edge shard admits one process at a time
    return WorkerStore(engine, source.uri, engine.workers()[0])


def _stamped(verdict: Verdict, plan: TargetPlan | None, started_at: str, started: float) -> Verdict:
    """``verdict`` with this run's timestamps and, for ``--into-existing``, the target's prior records."""
    target = dict(verdict.target)
    if plan is not None and plan.into_existing:
        target["into_existing"] = {"records_before": plan.records_before}
    return dataclasses.replace(
        verdict,
        target=target,
        started_at=started_at,
        finished_at=_now(),
        duration_s=time.monotonic() - started,
    )


def _write_reports(outputs: Mapping[Path, Renderer], verdict: Verdict, out: TextIO) -> None:
    for path, render in outputs.items():
        write_text_atomic(path, render(verdict))
        print(f"wrote {path}", file=out)
