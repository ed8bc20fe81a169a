"""``ragmig run`` as the controller of real processes: Prometheus, Alertmanager, the query service, load.

Every wait polls the journal or the flag file with a bound; kills are placed by observed progress.
"""

from __future__ import annotations

import subprocess
import sys

import httpx

from harness.migration.flags_flagd import read_flag_file
from tests.e2e.conftest import STEPS, wait_for


def _transitions(run) -> list[dict]:
    return [e.data for e in run.events("transition")]


def test_a_healthy_migration_goes_5_25_50_100_and_completes(live_run) -> None:
    run = live_run()
    controller = run.start()
    code = run.wait_exit(controller)
    assert code == 0, controller.tail()
    steps = []
    for t in _transitions(run):
        if t["to"] == "canary" and t["read_percent"] > 0 and (not steps or steps[-1] != t["read_percent"]):
            steps.append(t["read_percent"])
    assert steps == STEPS
    assert run.state().phase == "completed"
    assert read_flag_file(run.flags) == (100.0, read_flag_file(run.flags)[1])
    assert str(read_flag_file(run.flags)[1]) == "target_only"
    health = [e.data for e in run.events("health") if e.data.get("check", "").startswith("canary")]
    assert health and all(h["outcome"] != "fail" for h in health)
    # The figures came from Prometheus: requests counted on the target cohort at every promoted step.
    assert max(h["requests"] for h in health) >= 5
    assert run.load.failed == 0


def test_an_error_spike_on_the_target_rolls_back_within_failure_limit_and_alerts_through_alertmanager(
    live_run, monitoring
) -> None:
    run = live_run()
    controller = run.start()
    wait_for(lambda: run.flag_percent() >= STEPS[0], 90, "the canary's first step in the flag file")
    # The spike: every target search fails from now on (the service's fault layer on the target path).
    httpx.post(f"{run.url}/admin/faults", json={"backend": "target", "search_error_rate": 1.0}).raise_for_status()
    spike_seq = max(e.seq for e in run.events())
    code = run.wait_exit(controller)
    assert code == 1, controller.tail()
    assert run.state().phase == "rolled_back"
    assert run.flag_percent() == 0.0
    checks = [e for e in run.events("health") if e.seq > spike_seq]
    rollback = next(e for e in run.events("decision") if e.data["decision"] == "rollback")
    before_rollback = [e for e in checks if e.seq < rollback.seq]
    failed = [e for e in before_rollback if e.data["counted_as"] == "fail"]
    # Every target search failing is an outage: a severe breach rolls back at the first check that sees
    # it (never later than failure_limit failed checks). Checks with too few requests to judge hold (under
    # no_data_policy "hold", however busy the machine); at most one judged check may straddle the spike's start.
    judged = [e for e in before_rollback if e.data["counted_as"] != "no_data"]
    assert 1 <= len(failed) <= 3 and len(judged) <= len(failed) + 1
    assert "error_rate" in before_rollback[-1].data["failed"]
    assert before_rollback[-1].data["severe"] or len(failed) == 3
    # Alertmanager routed the rollback alert to the receiver, with the migration's labels.
    name = run.config.read_text().split('name = "')[1].split('"')[0]

    def routed() -> list[dict]:
        return [
            a
            for a in monitoring.receiver.alerts()
            if a["labels"].get("migration") == name and a["labels"].get("alertname") == "RagmigRolledBack"
        ]

    (alert, *_) = wait_for(routed, 30, "the rollback alert through Alertmanager")
    assert alert["status"] == "firing"
    assert alert["labels"]["severity"] == "critical" and alert["labels"]["phase"] == "rolled_back"


def test_ragmig_rollback_from_another_shell_puts_the_flag_file_at_0_within_one_health_interval(live_run) -> None:
    run = live_run(canary={"bake_time_s": [3.0, 30.0, 30.0, 30.0]})
    controller = run.start()
    wait_for(lambda: run.flag_percent() >= STEPS[1], 90, "the canary's second step in the flag file")
    requested = subprocess.run(
        [sys.executable, "-m", "harness.cli", "rollback", "--journal", str(run.journal), "--reason", "pager says so"],
        capture_output=True,
        text=True,
        env={**__import__("os").environ, **run.env},
        check=False,
    )
    assert requested.returncode == 0, requested.stderr
    request_seq = max(e.seq for e in run.events())
    wait_for(lambda: run.flag_percent() == 0.0, 30, "the flag file at 0 %")
    assert run.wait_exit(controller) == 1
    rollback = next(e for e in run.events("decision") if e.data["decision"] == "rollback")
    assert "manual rollback: pager says so" in rollback.data["reason"]
    # Taken at the first health check after the request: no health check ran in between (one may
    # have been under way as the request landed).
    between = [e for e in run.events("health") if request_seq < e.seq < rollback.seq]
    assert len(between) <= 1
    assert run.state().phase == "rolled_back"


def test_sigkill_mid_canary_then_resume_continues_at_the_same_step(live_run) -> None:
    run = live_run(canary={"bake_time_s": [3.0, 6.0, 3.0, 3.0]})
    controller = run.start()

    def at_second_step() -> bool:
        return any(t["to"] == "canary" and t["read_percent"] == STEPS[1] for t in _transitions(run))

    wait_for(at_second_step, 90, "the journal at the canary's second step")
    controller.kill()
    state = run.state()
    assert state.phase == "canary"
    killed_at = max(e.seq for e in run.events())
    # Journal first, flags follow: the file never holds more than the journal.
    assert run.flag_percent() <= state.read_percent
    resumed = run.start(resume=True)
    assert run.wait_exit(resumed) == 0, resumed.tail()
    after = [e for e in run.events() if e.seq > killed_at]
    info = next(e for e in after if e.kind == "info" and "resumed from the journal" in e.data["message"])
    assert info.data["canary_step"] == state.canary_step
    shifts = [e.data for e in after if e.kind == "transition"]
    # The same step again, no reset to 0 %, no jump ahead, then onwards to completion.
    assert shifts[0]["canary_step"] == state.canary_step and shifts[0]["read_percent"] == STEPS[state.canary_step]
    percents = [s["read_percent"] for s in shifts]
    assert percents == sorted(percents) and 0.0 not in percents
    assert run.state().phase == "completed"
