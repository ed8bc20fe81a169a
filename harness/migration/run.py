"""``ragmig migrate``: a resumable backfill with a durable checkpoint, then verification.

Exit codes: 0 copied and verified, 1 verification failed, 2 usage / store error (one line on stderr).
The journal keeps the checkpoint across crashes: rerun with ``--resume`` to continue from the last
acknowledged batch. Dual-write is the orchestrator's business; this command only copies and certifies.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from harness.clock import SystemClock
from harness.errors import HarnessError, UsageError
from harness.migration.backfill import Backfill, BackfillProgress
from harness.migration.journal import Journal
from harness.model import Check, Verdict
from harness.redact import redact_text
from harness.stores.base import VectorStore

__all__ = ["migrate_command"]


def _claim_journal(journal: Journal, source: str, target: str, resume: bool, out: TextIO) -> None:
    """Tie the journal to this source → target; refuse one that belongs to another migration."""
    state = journal.state()
    checkpoint = journal.checkpoint()
    if state.source is not None and (state.source, state.target) != (source, target):
        raise UsageError(
            f"journal {journal.path} holds a migration of {state.source} -> {state.target}; "
            "use another --journal for this source and target"
        )
    if resume:
        if checkpoint.status == "new":
            print("nothing to resume in the journal: starting the copy from the first record", file=out)
        else:
            print(f"resuming from the checkpoint: {checkpoint.done} records already copied", file=out)
    elif checkpoint.status != "new":
        print(
            f"starting over ({checkpoint.done} records were copied before; pass --resume to continue instead)",
            file=out,
        )
        journal.reset_checkpoint()
    journal.set(source=source, target=target)


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
    return f"  {str(check.status).upper():4} {check.id}{observed}{expected} {check.message}".rstrip()


def migrate_command(
    source: str,
    target: str,
    journal: Path,
    batch_size: int,
    resume: bool,
    json_path: Path | None,
    *,
    verifier: Callable[[VectorStore, VectorStore], Verdict],
    out: TextIO | None = None,
) -> int:
    """Backfill ``source`` into ``target`` with the checkpoint in ``journal``, then verify with ``verifier``
    (the CLI passes ``harness.verify.run_verification``).

    Returns 0 when verified, 1 when verification failed, 2 when a store failed (the checkpoint is kept).
    ``UsageError`` (bad URI, missing source, a journal of another migration) propagates: the CLI prints it.
    """
    from harness.stores import open_store  # adapters are imported per scheme, on use

    out = out or sys.stdout
    clock = SystemClock()
    src = open_store(source)
    try:
        tgt = open_store(target)
    except BaseException:
        src.close()
        raise
    try:
        # Fail fast on a source that is not there, before a journal file is created for nothing.
        src.describe()
        with Journal(journal) as jnl:
            _claim_journal(jnl, src.uri, tgt.uri, resume, out)
            backfill = Backfill(
                src,
                tgt,
                jnl,
                batch_size=batch_size,
                progress="auto",
                on_batch=None if sys.stderr.isatty() else _PlainProgress(out),
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
            verdict = verifier(src, tgt)
            jnl.append(
                "decision",
                {"decision": "verified" if verdict.passed else "verification failed", "verdict": str(verdict.verdict)},
                at=clock.now(),
            )
    except UsageError:
        raise
    except HarnessError as exc:
        print(
            f"ragmig: error: {redact_text(str(exc))} (the checkpoint in {journal} is kept: rerun with --resume)",
            file=sys.stderr,
        )
        return 2
    finally:
        src.close()
        tgt.close()
    for check in verdict.checks:
        print(_summary_line(check), file=out)
    print(f"verdict: {verdict.verdict}", file=out)
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(verdict.to_json() + "\n")
        print(f"wrote {json_path}", file=out)
    return 0 if verdict.passed else 1
