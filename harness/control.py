"""``ragmig run`` (the orchestrator as a controller process) and ``ragmig status / rollback / pause /
resume`` (steering it from another shell, through its journal).

Exit codes (design.md): ``run`` 0 completed, 1 rolled back or blocked (the migration decided not to
move traffic), 2 error (one line on stderr; the journal keeps where it stopped: rerun with
``--resume``). The others: 0 done, 2 usage error (no such journal, nothing to roll back).
"""

from __future__ import annotations

import json
import signal
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from harness.errors import HarnessError, UsageError
from harness.migration.journal import Journal
from harness.redact import redact_text

__all__ = ["request_command", "run_command", "status_command", "status_report"]

_TERMINAL = ("completed", "rolled_back", "blocked")


class _Stopped(Exception):
    """SIGTERM: stop where we are; the journal keeps the state for ``--resume``."""


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise _Stopped


def run_command(config_path: Path, resume: bool, *, out: TextIO | None = None) -> int:
    """Run the migration ``config_path`` describes to its end (see the module docstring)."""
    from harness.assembly import build_migration
    from harness.migration.config import load_config
    from harness.migration.orchestrator import Phase

    out = out or sys.stdout
    config = load_config(config_path)
    # A controller steers applications in other processes: they can read neither in-memory flags nor
    # in-process metrics (those serve `ragmig demo` and the game days, which run the application inside).
    if config.flags.provider != "flagd-file":
        raise UsageError(
            f'{config_path}: `ragmig run` needs [flags] provider = "flagd-file" with the path the applications read'
        )
    if config.metrics.provider != "prometheus":
        raise UsageError(f'{config_path}: `ragmig run` needs [metrics] provider = "prometheus" with its url')
    journal_path = Path(config.journal)
    if journal_path.exists():
        with Journal(journal_path) as journal:
            state = journal.state()
        if state.phase != "idle" and not resume:
            raise UsageError(
                f"journal {journal_path} holds this migration in phase {state.phase}; "
                "pass --resume to continue it (or use another journal to start over)"
            )
    elif resume:
        print(f"nothing to resume in {journal_path}: starting the migration", file=out)
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    migration = None
    try:
        migration = build_migration(config, progress=sys.stderr.isatty())
        orchestrator = migration.orchestrator
        state = migration.journal.state()
        print(
            f"ragmig run: {config.migration_name}: {redact_text(config.source)} -> {redact_text(config.target)}; "
            f"phase {state.phase}, reads on target {state.read_percent:g} %; journal {journal_path}",
            file=out,
            flush=True,
        )
        phase = orchestrator.run()
        state = migration.journal.state()
    except _Stopped:
        print(f"ragmig run: stopped by SIGTERM; resume with `ragmig run --config {config_path} --resume`", file=out)
        return 2
    except UsageError:
        raise
    except HarnessError as exc:
        print(
            f"ragmig: error: {redact_text(str(exc))} (the journal {journal_path} keeps where it stopped: "
            "rerun with --resume)",
            file=sys.stderr,
        )
        return 2
    finally:
        signal.signal(signal.SIGTERM, previous)
        if migration is not None:
            migration.close()
    print(f"ragmig run: {phase}" + (f": {state.reason}" if state.reason else ""), file=out)
    if phase is Phase.COMPLETED:
        return 0
    return 1


def _open_existing(journal: Path) -> Journal:
    if not journal.is_file():
        raise UsageError(f"no journal at {journal}; give the `journal` path of the migration's config")
    return Journal(journal)


def status_report(journal: Journal, health_checks: int = 5) -> dict[str, Any]:
    """Where the migration stands, as JSON-ready data: phase, read percentage, write mode, paused, the
    controller's last sign of life, the last ``health_checks`` checks with their figures, outbox depth,
    the last orphaned-write check, and commands still pending."""
    state = journal.state()
    controller = journal.get("controller")
    health = [e for e in journal.events("health") if e.data.get("check") not in ("warm_up", "orphaned_writes")]
    orphans = [e.data for e in journal.events("health") if e.data.get("check") == "orphaned_writes"]
    pending = journal.outbox.size()
    return {
        "phase": state.phase,
        "read_percent": state.read_percent,
        "write_mode": state.write_mode,
        "canary_step": state.canary_step,
        "consecutive_failures": state.consecutive_failures,
        "paused": bool(journal.get("paused", False)),
        "reason": state.reason,
        "source": state.source,
        "target": state.target,
        "controller": controller,
        "controller_seen_s_ago": (time.time() - float(controller["seen_wall"])) if controller else None,
        "health_checks": [{"at": e.at, **e.data} for e in health[-health_checks:]],
        "outbox": {
            "pending": pending,
            "target": journal.outbox.size("target"),
            "source": journal.outbox.size("source"),
        },
        "orphaned_writes": orphans[-1] if orphans else None,
        "alerts_firing": sorted(dict(journal.get("alerts_firing", {}))),
        "pending_commands": [
            {"seq": c.seq, "command": c.command, "reason": c.reason} for c in journal.pending_commands()
        ],
    }


def _figure(value: Any, unit: str = "", scale: float = 1.0, digits: int = 1) -> str:
    if value is None:
        return "-"
    return f"{float(value) * scale:.{digits}f}{unit}"


def status_command(journal: Path, as_json: bool, *, out: TextIO | None = None) -> int:
    """Print where the migration in ``journal`` stands (``--json``: the ``status_report`` data)."""
    out = out or sys.stdout
    with _open_existing(journal) as jnl:
        report = status_report(jnl)
    if as_json:
        print(json.dumps(report, indent=2, default=str), file=out)
        return 0
    add = lambda line: print(line, file=out)  # noqa: E731
    paused = " (PAUSED)" if report["paused"] else ""
    add(f"phase: {report['phase']}{paused}")
    add(f"reads on target: {report['read_percent']:g} %   write mode: {report['write_mode']}")
    if report["reason"]:
        add(f"reason: {report['reason']}")
    controller = report["controller"]
    if controller:
        add(
            f"controller: pid {controller.get('pid')}, last seen {report['controller_seen_s_ago']:.1f} s ago "
            f"(health checks every {controller.get('health_interval_s')} s)"
        )
    else:
        add("controller: none has run this journal yet")
    outbox = report["outbox"]
    add(f"outbox: {outbox['pending']} pending (target {outbox['target']}, source {outbox['source']})")
    orphans = report["orphaned_writes"]
    add(
        "orphaned writes: "
        + (
            f"{orphans.get('count', 0)} at the last check (ids {orphans.get('ids', [])[:10]})"
            if orphans
            else "not checked"
        )
    )
    if report["alerts_firing"]:
        add(f"alerts firing: {', '.join(report['alerts_firing'])}")
    for command in report["pending_commands"]:
        add(f"pending command #{command['seq']}: {command['command']} ({command['reason'] or 'no reason'})")
    checks = report["health_checks"]
    add(f"last {len(checks)} health checks:" if checks else "health checks: none yet")
    for check in checks:
        add(
            f"  {check.get('check')}: {check.get('outcome')} (counted {check.get('counted_as')}); "
            f"requests {check.get('requests')}, errors {_figure(check.get('error_rate'), ' %', 100, 2)}, "
            f"p99 {_figure(check.get('p99_ms'), ' ms')}, cache hits {_figure(check.get('cache_hit_rate'), ' %', 100)}, "
            f"Mann-Whitney p {_figure(check.get('mann_whitney_p'), '', 1, 3)}"
            + (f"; {'; '.join(check.get('reasons', []))}" if check.get("reasons") else "")
        )
    return 0


def request_command(
    journal: Path, command: str, reason: str | None, wait_s: float, *, out: TextIO | None = None
) -> int:
    """Queue ``command`` (rollback, pause, resume) for the controller running ``journal``; with
    ``wait_s`` > 0, wait that long (s) for it to be taken and print the outcome."""
    out = out or sys.stdout
    with _open_existing(journal) as jnl:
        state = jnl.state()
        if command == "rollback" and state.phase in (*_TERMINAL, "idle"):
            raise UsageError(f"nothing to roll back: the migration in {journal} is {state.phase}")
        if command in ("pause", "resume") and state.phase in _TERMINAL:
            raise UsageError(f"nothing to {command}: the migration in {journal} is {state.phase}")
        request = jnl.request(command, reason)
        jnl.append("info", {"message": f"{command} requested", "command": request.seq, "reason": reason}, at=0.0)
        controller = jnl.get("controller")
        if controller:
            seen = time.time() - float(controller["seen_wall"])
            interval = float(controller.get("health_interval_s", 0))
            print(
                f"{command} requested (#{request.seq}); the controller (pid {controller.get('pid')}, last seen "
                f"{seen:.1f} s ago) takes it at its next health check (every {interval:g} s)",
                file=out,
            )
        else:
            print(f"{command} requested (#{request.seq}); no controller has run this journal yet", file=out)
        deadline = time.monotonic() + wait_s
        while wait_s > 0:
            taken = next((c for c in jnl.commands() if c.seq == request.seq and c.taken_wall is not None), None)
            if taken is not None:
                print(f"taken: {taken.outcome}", file=out)
                return 0
            if time.monotonic() >= deadline:
                print(f"not taken within {wait_s:g} s: is `ragmig run` running on this journal?", file=out)
                return 0
            time.sleep(0.1)  # polls the journal until the controller took the command, bounded by wait_s
    return 0
