"""Silent data loss (issue 15's false promote): from the canary's first step on, the target acknowledges
every write but silently drops one record in five — and the controller crashes once on the way.

Steady state: users are served by the source within the gates. Method: the migration under load; when
the canary begins, the target's write path drops 20 % of records while answering "ok"
(``FaultyStore(drop_write_rate=0.2)``); at the canary's first tick the controller dies and is resumed
from the journal. Expected: the read-your-writes probes (at the latest the parity gate before
``live``) find the drop; the migration is **blocked**, never completed; the blocked decision lists
exactly the dropped ids (the log of acknowledged writes survived the crash), each is replayed from the
source and reads back equal, and an alert went out. Protection removed: the parity gate and the probes
off — the migration completes with acknowledged writes missing on the target, and nothing said so.
"""

from __future__ import annotations

from typing import Any

import pytest

from harness.migration.orchestrator import Phase
from harness.model import Check
from scenarios.gameday.stack import GameDayStack, MigrationRun, gameday_check

SCENARIO = "silent_data_loss"
DROP_RATE = 0.2


def run_silent_data_loss(stack: GameDayStack, protection: bool = True) -> Check:
    """A target that drops acknowledged writes; with ``protection`` the parity gate must block it."""
    source, source_uri = stack.exact_source()
    run = stack.run_to_edge(
        "target drops 20 % of acknowledged writes",
        source,
        source_uri,
        # Replays go through the same dropping target: enough rounds that every dropped record lands.
        config={"parity_gate": {"replay_rounds": 8}} if protection else {"parity_gate": {"enabled": False}},
    )

    dropping: list[object] = []

    def drop_writes(r: MigrationRun, now: float) -> None:
        if r.flags.read_percent() > 0 and not dropping:
            r.target.set_faults(drop_write_rate=DROP_RATE)
            dropping.append(r.mark("target drops 20 % of acknowledged writes"))

    run.tick_hooks.append(drop_writes)
    run.crash_when(lambda r, now: r.flags.read_percent() > 0)
    steady = run.steady_state()
    phase = run.migrate()
    run.target.clear()
    dropped = sorted(set(run.target.dropped_ids))
    blocked = [e.data for e in run.orchestrator.timeline("decision") if e.data.get("decision") == "blocked"]
    listed = sorted(blocked[-1]["ids"]) if blocked else []
    still = blocked[-1]["still_differ"] if blocked else []
    lost = run.lost_writes(run.target, mapped=True)
    alerts = [a.title for a in run.alerts.alerts]
    problems: list[str] = []
    if not steady["holds"]:
        problems.append("steady state did not hold before the migration")
    if not dropped:
        problems.append("the target dropped no write: nothing to find")
    if phase is Phase.COMPLETED:
        problems.append(
            f"completed with {len(lost)} acknowledged writes missing on the target (ids {lost[:10]}); "
            f"alerts: {alerts or 'none'}"
        )
    elif phase is not Phase.BLOCKED:
        problems.append(f"ended {phase}, not blocked by the parity gate ({run.summary()['reason']})")
    else:
        if listed != dropped:
            problems.append(f"the block listed {listed}, the target dropped {dropped}")
        if still or lost:
            problems.append(f"after the replay {len(lost)} acknowledged writes are still missing: {lost[:10]}")
        if "acknowledged writes missing on the target" not in alerts:
            problems.append(f"no alert (alerts: {alerts})")
    if not run.crashes:
        problems.append("the controller never crashed: the scenario's crash did not happen")
    message = (
        f"blocked {blocked[-1]['before'] if blocked else ''}: listed exactly the dropped writes ({len(dropped)}: "
        f"{dropped[:5]}{' …' if len(dropped) > 5 else ''}), replayed them from the source (all on the target now) "
        f"and alerted; the log of acknowledged writes survived a controller crash"
        if not problems
        else "; ".join(problems)
    )
    return gameday_check(
        SCENARIO,
        not problems,
        observed={"phase": str(phase), "dropped": len(dropped), "listed": len(listed), "missing_after": len(lost)},
        expected={"phase": "blocked", "listed": "exactly the dropped ids", "missing_after": 0},
        message=message,
        runs=[run],
        dropped_ids=dropped,
        listed_ids=listed,
        missing_after=lost,
        crashes=run.crashes,
    )


@pytest.mark.ragmig_gameday
def test_silent_data_loss(stack: GameDayStack, harness_checks: Any) -> None:
    check = harness_checks.add(run_silent_data_loss(stack))
    assert check.status == "pass", check.message
