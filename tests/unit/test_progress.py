"""Progress of long phases: plain lines, rich bars, and events relayed from a child process."""

from __future__ import annotations

import io
import os
import threading

from rich.console import Console

from harness.progress import NO_PROGRESS, EventProgress, LineProgress, RichProgress, progress_for, relay


class Ticks:
    """A clock that moves only when told (seconds)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_plain_lines_at_the_start_every_interval_and_at_the_end() -> None:
    lines: list[str] = []
    clock = Ticks()
    progress = LineProgress(lines.append, interval_s=5.0, clock=clock)
    with progress.phase("scanning the source", total=1000, unit="records") as advance:
        advance(100)  # t = 0: too soon for a line
        clock.now = 5.0
        advance(400)
        clock.now = 7.0
        advance(500)
    assert lines == [
        "ragmig: scanning the source (1,000 records) ...\n",
        "ragmig: scanning the source: 500/1,000 records (50 %)\n",
        "ragmig: scanning the source: done, 1,000 records in 7.0 s\n",
    ]


def test_no_progress_says_nothing() -> None:
    with NO_PROGRESS.phase("anything", 3) as advance:
        advance(3)


def test_rich_bars_on_a_terminal() -> None:
    out = io.StringIO()
    progress = RichProgress(Console(file=out, force_terminal=True, width=100))
    with progress.phase("exact ground truth", total=10, unit="vectors") as advance:
        advance(10)
    shown = out.getvalue()
    assert "exact ground truth" in shown and "10/10" in shown and "vectors" in shown


def test_a_stream_that_is_not_a_terminal_gets_lines() -> None:
    assert isinstance(progress_for(io.StringIO()), LineProgress)


def test_events_written_by_a_child_are_shown_by_the_parent() -> None:
    read_fd, write_fd = os.pipe()
    lines: list[str] = []
    shown = LineProgress(lines.append, interval_s=0.0)
    reader = os.fdopen(read_fd, encoding="utf-8")
    relayed = threading.Thread(target=relay, args=(reader, shown))
    relayed.start()
    with os.fdopen(write_fd, "w", encoding="utf-8") as writer:
        child = EventProgress(writer, interval_s=0.0)
        with child.phase("queries on the target", total=4, unit="queries") as advance:
            advance(1)
            advance(3)
        writer.write("not an event\n")
        with child.phase("filtered searches", total=None, unit="filters") as advance:
            advance(2)
    relayed.join(timeout=10)
    reader.close()
    assert lines[0] == "ragmig: queries on the target (4 queries) ...\n"
    assert "ragmig: queries on the target: done, 4 queries in" in "".join(lines)
    assert lines[-1].startswith("ragmig: filtered searches: done, 2 filters in")


def test_a_parent_that_went_away_does_not_stop_the_child() -> None:
    stream = io.StringIO()
    stream.close()
    with EventProgress(stream).phase("scanning the target", 5, "records") as advance:
        advance(5)  # the write fails quietly
