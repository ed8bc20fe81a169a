"""Healthy migration: with nothing wrong, the orchestrator promotes step by step (5 → 25 → 50 → 100 %)
to completed, raises no alarm, and loses no write — under real locust load over HTTP.

Steady state: the service answers from the source within the gates. Method: the full migration while
locust users query the service. Expected: completed, read percentage 5 → 25 → 50 → 100, no failed
health check, no alert, every acknowledged write on the target, and the service's ``/metrics`` request
total equal to locust's count (see ``IN_FLIGHT`` below). Protection removed: the chapter's sketch,
5 % then straight to 100 % — not promoted step by step, so the check fails.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from harness.clock import SystemClock
from harness.migration.orchestrator import Phase
from harness.model import Check
from harness.stores.base import iter_batches
from scenarios.gameday.stack import GameDayStack, MigrationRun, gameday_check

SCENARIO = "healthy_migration"
STEPS = [5.0, 25.0, 50.0, 100.0]
SKETCH_STEPS = [5.0, 100.0]  # the chapter's sketch: a 5 % canary, then everything at once
LOCUST_USERS = 12
LOCUST_MAX_S = 300.0
"""Locust runs until the migration has ended (a busy machine makes it slower), at most this long."""
IN_FLIGHT = LOCUST_USERS
"""Locust counts a request when its response arrives; the service counts it before answering. When
locust stops, each user has at most one request in flight that the service counted and locust did not,
so 0 ≤ service total − harness queries − locust requests ≤ users (and no locust failures)."""
UPSERT_SHARE = 0.05
LOAD_ID_BASE = 1_000_000_000  # the locustfile's first upserted id
REALTIME_CONFIG: dict[str, Any] = {
    "flag_propagation_s": 0.2,
    "canary": {"bake_time_s": 2.0, "health_interval_s": 0.5, "window_s": 10.0, "live_bake_s": 1.0},
    # Seconds, not minutes, of real load: a 5 % gate at 90 % confidence needs 45 clean canary requests a
    # step (a 1 % gate at 99 % would need 459, more than 12 locust users send to a 5 % step in seconds).
    "thresholds": {"max_hold_s": 10.0, "error_rate_max": 0.05, "confidence": 0.9},
    "backfill": {"backoff_base_s": 0.05, "backoff_max_s": 0.5},
}


def run_healthy_migration(stack: GameDayStack, protection: bool = True, load: str = "locust") -> Check:
    """The healthy migration under ``load`` ("locust": real HTTP load, SystemClock; "inprocess":
    ManualClock and the traffic hook). ``protection=False`` uses the sketch's steps (5 → 100)."""
    source, source_uri = stack.exact_source()
    target_uri = stack.edge_uri("target")
    target = stack.edge_store(target_uri)
    steps = STEPS if protection else SKETCH_STEPS
    if load == "locust":
        run = stack.run(
            "healthy migration under locust",
            source,
            target,
            source_uri=source_uri,
            target_uri=target_uri,
            config={**REALTIME_CONFIG, "canary": {**REALTIME_CONFIG["canary"], "steps": steps}},
            clock=SystemClock(),
            inprocess_load=False,
        )
        return _under_locust(stack, run)
    run = stack.run(
        "healthy migration",
        source,
        target,
        source_uri=source_uri,
        target_uri=target_uri,
        config={"canary": {"steps": steps}},
    )
    steady = run.steady_state()
    if not steady["holds"]:
        return gameday_check(
            SCENARIO, False, observed=steady, expected="steady state", message="steady state did not hold", runs=[run]
        )
    phase = run.migrate()
    return _judge(run, phase, load={})


def _judge(run: MigrationRun, phase: Phase, load: dict[str, Any]) -> Check:
    summary = run.summary()
    lost = run.lost_writes(run.target, mapped=True)
    problems = []
    if phase is not Phase.COMPLETED:
        problems.append(f"ended {phase} ({summary['reason']})")
    if summary["read_percent_steps"] != STEPS:
        problems.append(
            "not promoted step by step: read % went "
            + " → ".join(f"{p:g}" for p in summary["read_percent_steps"])
            + f", expected {' → '.join(f'{p:g}' for p in STEPS)}"
        )
    if summary["failed_health_checks"]:
        problems.append(f"{summary['failed_health_checks']} failed health checks ({summary['failed_reasons']})")
    if summary["alerts"]:
        problems.append(f"alerts: {summary['alerts']}")
    if lost:
        problems.append(f"{len(lost)} acknowledged writes missing on the target")
    problems.extend(load.get("problems", []))
    message = (
        "promoted 5 → 25 → 50 → 100 % to completed, no alarm, nothing lost" if not problems else "; ".join(problems)
    )
    return gameday_check(
        SCENARIO,
        not problems,
        observed={"phase": str(phase), "read_percent_steps": summary["read_percent_steps"]},
        expected={"phase": "completed", "read_percent_steps": STEPS},
        message=message,
        runs=[run],
        lost_writes=lost,
        load=load.get("stats", {}),
    )


def _under_locust(stack: GameDayStack, run: MigrationRun) -> Check:
    import httpx

    from harness.load import LoadStats, run_load
    from harness.service import requests_total, serve_in_thread

    results: list[LoadStats | BaseException] = []
    migrated = threading.Event()
    env = {
        "RAGMIG_LOAD_KEYS": str(stack.sizes.keys),
        "RAGMIG_LOAD_POPULATION": str(stack.sizes.users),
        "RAGMIG_LOAD_UPSERT_SHARE": str(UPSERT_SHARE),
        "RAGMIG_LOAD_DIMENSION": str(stack.sizes.dimension),
        "RAGMIG_LOAD_UPSERT_ID_BASE": str(LOAD_ID_BASE),
    }

    def load() -> None:
        try:
            results.append(
                run_load(
                    endpoint.url,
                    users=LOCUST_USERS,
                    spawn_rate=LOCUST_USERS,
                    run_time_s=LOCUST_MAX_S,
                    out_dir=stack.root / "locust",
                    env=env,
                    until=migrated,
                )
            )
        except BaseException as exc:  # handed to the scenario thread below
            results.append(exc)

    with serve_in_thread(run.service) as endpoint:
        thread = threading.Thread(target=load, name="locust-runner", daemon=True)
        thread.start()
        run.clock.sleep(3.0)  # locust's start-up (a real wait: its users are arriving)
        try:
            steady = run.steady_state(ticks=4)
            phase = run.migrate() if steady["holds"] else run.phase
        finally:
            migrated.set()
        thread.join(timeout=LOCUST_MAX_S + 90)
        scraped = httpx.get(f"{endpoint.url}/metrics", timeout=10).text
    outcome = results[0] if results else RuntimeError("locust did not finish")
    if isinstance(outcome, BaseException):
        return gameday_check(
            SCENARIO,
            False,
            observed=str(outcome),
            expected="locust load",
            message=f"load failed: {outcome}",
            runs=[run],
        )
    service_total = requests_total(scraped)
    upserts_ok = _sample(scraped, "ragmig_writes_total", op="upsert", outcome="ok")
    on_target = sum(
        1 for batch in iter_batches(run.target) for pid in batch.ids if isinstance(pid, int) and pid >= LOAD_ID_BASE
    )
    user_requests = service_total - run.harness_queries
    query_row = outcome.endpoint("/query")
    unanswered = user_requests - query_row.requests
    problems = []
    if not steady["holds"]:
        problems.append(f"steady state did not hold under load: {steady}")
    if outcome.failures:
        problems.append(f"locust saw {outcome.failures} failed requests")
    if on_target != upserts_ok:
        problems.append(f"{upserts_ok} upserts acknowledged by the service, {on_target} of them on the target")
    if not 0 <= unanswered <= IN_FLIGHT:
        problems.append(
            f"/metrics counted {user_requests} user queries, locust {query_row.requests}: "
            f"more than the {IN_FLIGHT} that can be in flight"
        )
    stats = {
        **outcome.to_dict(),
        "service_requests_total": service_total,
        "harness_queries": run.harness_queries,
        "service_user_queries": user_requests,
        "in_flight_at_stop": unanswered,
        "in_flight_bound": IN_FLIGHT,
        "upserts_acknowledged": upserts_ok,
        "load_records_on_target": on_target,
    }
    return _judge(run, phase, {"problems": problems, "stats": stats})


def _sample(metrics_text: str, name: str, **labels: str) -> int:
    """The value of one labelled sample in a Prometheus exposition (0 when absent)."""
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(metrics_text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return int(sample.value)
    return 0


@pytest.mark.ragmig_gameday
def test_healthy_migration(stack: GameDayStack, harness_checks: Any) -> None:
    check = harness_checks.add(run_healthy_migration(stack))
    assert check.status == "pass", check.message
