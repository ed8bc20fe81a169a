"""Progress of long phases (scans, ground truth, queries) on stderr: a seam, and where it is shown.

Code that works in phases takes a ``Progress`` and reports through it::

    with progress.phase("scanning source", total=count, unit="records") as advance:
        for batch in batches:
            advance(len(batch))

Where it goes is the caller's choice: ``NO_PROGRESS`` (tests, ``-q``), ``RichProgress`` (bars on a
terminal), ``LineProgress`` (a plain line every ``interval_s`` seconds and at the end of each phase, for
logs and CI), or ``EventProgress`` — JSON lines on a file descriptor, which a parent process reads back
with ``relay`` and shows its own way. ``ragmig certify`` runs its suite in a child pytest session whose
stderr pytest captures, so the child reports through an inherited pipe (``PROGRESS_FD_ENV``) and the
parent draws the bars. ``progress_for(stream)`` picks bars for a terminal and lines otherwise.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from typing import IO, Any, Protocol

__all__ = [
    "NO_PROGRESS",
    "PROGRESS_FD_ENV",
    "EventProgress",
    "LineProgress",
    "Progress",
    "RichProgress",
    "progress_for",
    "progress_from_env",
    "relay",
]

PROGRESS_FD_ENV = "RAGMIG_PROGRESS_FD"
"""The environment variable naming the file descriptor a child writes progress events to."""
Advance = Callable[[int], None]


class Progress(Protocol):
    """Where phases report how far they are."""

    def phase(self, name: str, total: int | None = None, unit: str = "") -> contextlib.AbstractContextManager[Advance]:
        """A context for one phase; the value it gives is called with each step's amount of work."""
        ...


class _NoProgress:
    @contextlib.contextmanager
    def phase(self, name: str, total: int | None = None, unit: str = "") -> Iterator[Advance]:
        yield lambda n: None


NO_PROGRESS: Progress = _NoProgress()
"""Says nothing."""


class LineProgress:
    """A plain line when a phase starts, every ``interval_s`` seconds while it runs, and when it ends."""

    def __init__(
        self,
        write: Callable[[str], None],
        *,
        interval_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        prefix: str = "ragmig",
    ) -> None:
        self.write = write
        self.interval_s = interval_s
        self.clock = clock
        self.prefix = prefix

    @contextlib.contextmanager
    def phase(self, name: str, total: int | None = None, unit: str = "") -> Iterator[Advance]:
        started = last = self.clock()
        done = 0
        self.write(f"{self.prefix}: {name}{f' ({total:,} {unit})' if total is not None else ''} ...\n")

        def advance(n: int) -> None:
            nonlocal done, last
            done += n
            now = self.clock()
            if now - last >= self.interval_s:
                last = now
                share = f" ({100 * done / total:.0f} %)" if total else ""
                of = f"/{total:,}" if total is not None else ""
                self.write(f"{self.prefix}: {name}: {done:,}{of} {unit}{share}\n")

        yield advance
        self.write(f"{self.prefix}: {name}: done, {done:,} {unit} in {self.clock() - started:.1f} s\n")


class RichProgress:
    """Rich bars on a terminal (stderr), one per phase, left in place when the phase ends."""

    def __init__(self, console: Any = None) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[unit]}"),
            TimeElapsedColumn(),
            console=console or Console(stderr=True),
        )
        self._open = 0
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def phase(self, name: str, total: int | None = None, unit: str = "") -> Iterator[Advance]:
        with self._lock:
            if self._open == 0:
                self._progress.start()
            self._open += 1
        task = self._progress.add_task(name, total=total, unit=unit)
        try:
            yield lambda n: self._progress.advance(task, n)
            if total is None:
                self._progress.update(task, total=self._progress.tasks[task].completed)
        finally:
            with self._lock:
                self._open -= 1
                if self._open == 0:
                    self._progress.stop()


class EventProgress:
    """Phases as JSON lines on ``stream`` (another process shows them: ``relay``). Steps are sent at most
    every ``interval_s`` seconds, and at the end of each phase."""

    def __init__(
        self, stream: IO[str], *, interval_s: float = 0.2, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.stream = stream
        self.interval_s = interval_s
        self.clock = clock
        self._lock = threading.Lock()

    def _send(self, event: dict[str, Any]) -> None:
        with self._lock, contextlib.suppress(OSError, ValueError):  # the reader went away: keep working
            self.stream.write(json.dumps(event) + "\n")
            self.stream.flush()

    @contextlib.contextmanager
    def phase(self, name: str, total: int | None = None, unit: str = "") -> Iterator[Advance]:
        self._send({"phase": name, "total": total, "unit": unit})
        pending = 0
        last = self.clock()

        def advance(n: int) -> None:
            nonlocal pending, last
            pending += n
            now = self.clock()
            if now - last >= self.interval_s:
                self._send({"advance": pending})
                pending, last = 0, now

        try:
            yield advance
        finally:
            self._send({"advance": pending, "end": True})


def relay(stream: IO[str], sink: Progress) -> None:
    """Show on ``sink`` the events an ``EventProgress`` wrote to ``stream``, until end of file (one phase
    at a time; lines that are not events are ignored)."""
    phase: contextlib.AbstractContextManager[Advance] | None = None
    advance: Advance | None = None
    for line in stream:
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if not isinstance(event, dict):
            continue
        if "phase" in event:
            if phase is not None:
                phase.__exit__(None, None, None)
            phase = sink.phase(str(event["phase"]), event.get("total"), str(event.get("unit") or ""))
            advance = phase.__enter__()
        elif advance is not None:
            advance(int(event.get("advance") or 0))
            if event.get("end") and phase is not None:
                phase.__exit__(None, None, None)
                phase = advance = None
    if phase is not None:
        phase.__exit__(None, None, None)


def progress_for(stream: IO[str]) -> Progress:
    """Bars when ``stream`` is a terminal, plain lines otherwise."""
    if stream.isatty():
        from rich.console import Console

        return RichProgress(Console(file=stream))

    def write(text: str) -> None:
        stream.write(text)
        stream.flush()

    return LineProgress(write)


def progress_from_env() -> Progress | None:
    """An ``EventProgress`` on the descriptor ``PROGRESS_FD_ENV`` names (a child of ``ragmig certify``), or None."""
    raw = os.environ.get(PROGRESS_FD_ENV)
    if not raw:
        return None
    try:
        return EventProgress(os.fdopen(int(raw), "w", buffering=1, encoding="utf-8"))
    except (OSError, ValueError):
        return None
