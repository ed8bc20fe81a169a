"""Every game-day scenario has teeth: with its protection removed, the same run reports its check failed.

Each test calls the scenario's own ``run_<scenario>(stack, protection=False)`` and asserts the check
``gameday.<scenario>`` fails, for the reason the protection exists (not merely "something failed").
"""

from __future__ import annotations

from harness.model import Check, Status
from scenarios.gameday.stack import GameDayStack
from scenarios.gameday.test_baseline_degradation import run_baseline_degradation
from scenarios.gameday.test_cache_hidden_errors import run_cache_hidden_errors
from scenarios.gameday.test_canary_error_spike import run_canary_error_spike
from scenarios.gameday.test_cold_cache import run_cold_cache
from scenarios.gameday.test_error_burst import run_error_burst
from scenarios.gameday.test_error_flapping import run_error_flapping
from scenarios.gameday.test_healthy_error_rate import run_healthy_error_rate
from scenarios.gameday.test_healthy_migration import SKETCH_STEPS, run_healthy_migration
from scenarios.gameday.test_latency_regression import run_latency_regression
from scenarios.gameday.test_missed_writes import INSERTED, UPDATED, run_missed_writes
from scenarios.gameday.test_namespace_collision import SHARED, run_namespace_collision
from scenarios.gameday.test_orphaned_writes import ROGUE_INSERTS, ROGUE_UPDATES, run_orphaned_writes
from scenarios.gameday.test_pinecone_rate_limits import run_pinecone_rate_limits
from scenarios.gameday.test_schema_drift import run_schema_drift
from scenarios.gameday.test_silent_data_loss import run_silent_data_loss
from scenarios.gameday.test_target_outage import run_target_outage


def failed(check: Check, scenario: str) -> Check:
    assert check.id == f"gameday.{scenario}"
    assert check.status is Status.FAIL, check.message
    return check


def only_run(check: Check) -> dict:
    runs = check.details["runs"]
    assert len(runs) == 1
    return runs[0]


def test_schema_drift_without_the_verification_gate_goes_live_on_the_degraded_target(stack: GameDayStack) -> None:
    check = failed(run_schema_drift(stack, protection=False), "schema_drift")
    run = only_run(check)
    assert run["final_phase"] == "completed"
    assert run["max_read_percent"] == 100.0 and run["user_queries_on_target"] > 0
    assert "users read the degraded target" in check.message


def test_missed_writes_without_dual_write_lists_exactly_the_missed_ids(stack: GameDayStack) -> None:
    check = failed(run_missed_writes(stack, protection=False), "missed_writes")
    parity = check.details["parity"]["protected_run"]
    assert parity["missing"] == sorted(INSERTED)
    assert parity["vectors_differ"] == sorted(UPDATED)
    assert sorted(check.details["missed_ids"]) == sorted([*INSERTED, *UPDATED])
    assert only_run(check)["final_phase"] == "blocked"


def test_cold_cache_without_warm_up_is_detected(stack: GameDayStack) -> None:
    check = failed(run_cold_cache(stack, protection=False), "cold_cache")
    run = only_run(check)
    assert run["failed_health_checks"] >= 1
    assert "p99" in check.observed["protected_run"]["detected"]
    assert "warm-up skipped" in run["decisions"]


def test_orphaned_writes_without_the_watch_go_unreported(stack: GameDayStack) -> None:
    check = failed(run_orphaned_writes(stack, protection=False), "orphaned_writes")
    assert check.details["orphaned_ids"] == []
    assert sorted(check.details["rogue_writes"]) == sorted([*ROGUE_INSERTS, *ROGUE_UPDATES])
    assert "orphaned writes" not in only_run(check)["alerts"]


def test_error_spike_without_a_reachable_failure_limit_never_rolls_back(stack: GameDayStack) -> None:
    check = failed(run_canary_error_spike(stack, protection=False), "canary_error_spike")
    run = only_run(check)
    assert run["final_phase"] == "completed"
    assert "rollback" not in run["decisions"]
    assert "error_rate" in run["failed_reasons"]
    assert "no rollback" in check.message


def test_latency_regression_without_the_comparison_goes_live(stack: GameDayStack) -> None:
    check = failed(run_latency_regression(stack, protection=False), "latency_regression")
    run = only_run(check)
    assert run["final_phase"] == "completed"
    assert "latency_regression" not in run["failed_reasons"] and "p99" not in run["failed_reasons"]


def test_healthy_migration_with_the_sketch_steps_is_not_promoted_step_by_step(stack: GameDayStack) -> None:
    check = failed(run_healthy_migration(stack, protection=False, load="inprocess"), "healthy_migration")
    assert only_run(check)["read_percent_steps"] == SKETCH_STEPS
    assert "not promoted step by step" in check.message


def test_target_outage_without_retries_or_resume_aborts_the_migration(stack: GameDayStack) -> None:
    check = failed(run_target_outage(stack, protection=False), "target_outage")
    run = only_run(check)
    assert run["final_phase"] == "backfill" and "unavailable" in run["error"]
    assert "aborted the migration" in check.message


def test_pinecone_429s_without_backfill_retries_abort_the_copy(stack: GameDayStack) -> None:
    check = failed(run_pinecone_rate_limits(stack, protection=False), "pinecone_rate_limits")
    run = only_run(check)
    assert run["final_phase"] in ("dual_write", "backfill") and "429" in run["error"]


def test_namespace_blind_ids_overwrite_silently_and_verification_reports_it(stack: GameDayStack) -> None:
    check = failed(run_namespace_collision(stack, protection=False), "namespace_collision")
    assert check.observed["target_points"] < 2 * SHARED
    assert check.observed["collapsed_sample"] > 0
    assert {"parity.count", "parity.ids"} <= set(check.details["failed_checks"])
    assert "silent overwrite" in check.message


def test_silent_data_loss_without_the_parity_gate_completes_with_writes_missing(stack: GameDayStack) -> None:
    check = failed(run_silent_data_loss(stack, protection=False), "silent_data_loss")
    run = only_run(check)
    assert run["final_phase"] == "completed"
    assert check.details["missing_after"] and set(check.details["missing_after"]) <= set(check.details["dropped_ids"])
    assert "acknowledged writes missing on the target" not in run["alerts"]
    assert "completed with" in check.message


def test_error_flapping_without_a_reachable_failure_limit_is_not_rolled_back_by_its_failed_checks(
    stack: GameDayStack,
) -> None:
    check = failed(run_error_flapping(stack, protection=False), "error_flapping")
    run = only_run(check)
    assert run["failed_health_checks"] >= 3  # the failures were seen, and did not count
    assert "failed health checks in this step" not in (run["reason"] or "")
    assert "no rollback by the failed checks" in check.message


def test_one_error_burst_with_failure_limit_1_rolls_a_healthy_target_back(stack: GameDayStack) -> None:
    check = failed(run_error_burst(stack, protection=False), "error_burst")
    run = only_run(check)
    assert run["final_phase"] == "rolled_back" and run["read_percent_steps"] == [5.0, 25.0]
    assert "1 failed health check in this step (failure_limit 1)" in run["reason"]


def test_a_healthy_error_rate_judged_one_interval_at_a_time_is_rolled_back(stack: GameDayStack) -> None:
    check = failed(run_healthy_error_rate(stack, protection=False), "healthy_error_rate")
    run = only_run(check)
    assert run["final_phase"] == "rolled_back" and "not enough evidence" in run["reason"]


def test_store_errors_behind_the_cache_go_unreported_when_store_calls_are_not_judged(stack: GameDayStack) -> None:
    check = failed(run_cache_hidden_errors(stack, protection=False), "cache_hidden_errors")
    run = only_run(check)
    assert run["final_phase"] == "completed" and "target store calls failing behind the cache" not in run["alerts"]
    assert check.observed["store_call_error_rate"] > 0.01 > check.observed["user_error_rate"]


def test_a_degrading_target_behind_a_degrading_baseline_goes_live_without_its_reference(stack: GameDayStack) -> None:
    check = failed(run_baseline_degradation(stack, protection=False), "baseline_degradation")
    healthy, degraded = check.details["runs"]
    assert healthy["final_phase"] == "completed" and "baseline degraded" in healthy["alerts"]
    assert degraded["final_phase"] == "completed" and "latency_reference" not in degraded["failed_reasons"]
    assert "went unnoticed" in check.message
