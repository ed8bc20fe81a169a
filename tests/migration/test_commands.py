"""Steering a running orchestrator from another process through its journal: rollback, pause, resume.

The "other process" is a second ``Journal`` connection on the same file (what ``ragmig rollback`` opens);
the orchestrator runs on a ManualClock, and requests are placed by observed progress (the flags).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.clock import ManualClock
from harness.migration.journal import Journal
from harness.migration.orchestrator import Phase
from tests.migration.test_orchestrator import setup  # noqa: F401  (the fixture)


def test_a_rollback_request_is_taken_at_the_next_health_check(setup: Any, tmp_path: Path) -> None:  # noqa: F811
    s = setup()
    other = Journal(s.journal.path)
    requested: list[int] = []

    def tick(now: float, percent: float) -> None:
        if percent == 25.0 and not requested:
            other.request("rollback", "on-call saw something")
            requested.append(max(e.seq for e in other.events()))

    s.traffic.when = lambda now, percent: tick(now, percent)
    assert s.orchestrator().run() is Phase.ROLLED_BACK
    rollback = next(e for e in s.journal.events("decision") if e.data["decision"] == "rollback")
    assert rollback.data["reason"] == "manual rollback: on-call saw something"
    # No health check ran between the request and the rollback: it was taken at the very next tick.
    assert not [e for e in s.journal.events("health") if requested[0] < e.seq < rollback.seq]
    assert s.flags.read_percent() == 0.0 and s.journal.state().read_percent == 0.0
    (command,) = other.commands()
    assert command.taken_wall is not None and command.outcome == "rolled back"
    assert [a.key for a in s.sink.alerts] == ["rolled_back"]
    other.close()


def test_pause_holds_the_step_while_checks_go_on_and_resume_lets_it_promote(setup: Any) -> None:  # noqa: F811
    s = setup()
    other = Journal(s.journal.path)
    paused_at: list[float] = []

    def tick(now: float, percent: float) -> None:
        if percent == 25.0 and not paused_at:
            other.request("pause")
            paused_at.append(now)
        elif paused_at and now - paused_at[0] >= 20 * s.config.canary.health_interval_s and s.orchestrator_paused():
            other.request("resume")

    s.orchestrator_paused = lambda: bool(other.get("paused", False))
    s.traffic.when = lambda now, percent: tick(now, percent)
    assert s.orchestrator().run() is Phase.COMPLETED
    paused_checks = [e.data for e in s.journal.events("health") if e.data.get("paused")]
    # Twenty health intervals at 25 % (the bake is 5), none promoted while paused.
    assert len(paused_checks) >= 19 and {c["read_percent"] for c in paused_checks} == {25.0}
    assert [c.command for c in other.commands()] == ["pause", "resume"]
    other.close()


def test_a_pause_before_a_phase_waits_there_until_resumed(setup: Any) -> None:  # noqa: F811
    s = setup()
    other = Journal(s.journal.path)
    other.request("pause")

    class ResumingClock(ManualClock):
        """Another shell resumes after the controller waited five intervals."""

        def sleep(self, seconds: float) -> None:
            super().sleep(seconds)
            if len(self.sleeps) == 5:
                other.request("resume")

    s.clock = ResumingClock()
    orchestrator = s.orchestrator(clock=s.clock)
    assert orchestrator.run(stop_at=Phase.DUAL_WRITE) is Phase.DUAL_WRITE
    assert s.clock.sleeps[:5] == [s.config.canary.health_interval_s] * 5
    assert s.journal.state().phase == "dual_write"
    other.close()


def test_a_rollback_of_a_finished_migration_is_noted_not_done(setup: Any) -> None:  # noqa: F811
    s = setup()
    orchestrator = s.orchestrator()
    assert orchestrator.run() is Phase.COMPLETED
    s.journal.request("rollback", "too late")
    assert orchestrator.poll_commands() is False
    (command,) = s.journal.commands()
    assert command.outcome == "nothing to roll back: the migration is completed"
    assert s.journal.state().phase == "completed" and s.flags.read_percent() == 100.0


def test_retry_resolves_the_rollback_alert(setup: Any) -> None:  # noqa: F811
    s = setup()
    orchestrator = s.orchestrator()
    orchestrator.run(stop_at=Phase.CANARY)
    orchestrator.rollback("by hand")
    orchestrator.retry()
    # Only the rollback's own alerts: a warm-up against the bare target (no serving path here) times real
    # queries, and on a busy machine it may also alert that it did not settle.
    fired, resolved = [a for a in s.sink.alerts if a.key == "rolled_back"]
    assert (fired.key, fired.resolved, fired.phase) == ("rolled_back", False, "rolled_back")
    assert (resolved.key, resolved.resolved) == ("rolled_back", True)
    assert s.journal.get("alerts_firing") == {}
