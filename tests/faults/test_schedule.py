"""Timed fault schedules: bursts, flapping and ramps put their plans in force at the right moments."""

from __future__ import annotations

import math

import pytest

from harness.clock import ManualClock
from harness.errors import ConfigError, TransientStoreError
from harness.faults import FaultPlan, FaultSchedule, FaultyStore, Segment
from harness.stores.exact import ExactStore
from tests.faults.conftest import records

FAIL = FaultPlan(write_error_rate=1.0)


def _fails(store: FaultyStore, pid: int) -> bool:
    try:
        store.upsert(records([pid]))
    except TransientStoreError:
        return True
    return False


def test_a_burst_is_in_force_for_its_span_only(exact: ExactStore, clock: ManualClock) -> None:
    store = FaultyStore(exact, clock=clock)
    store.follow(FaultSchedule.burst(FAIL, at=10.0, duration=5.0))  # started at t=100
    seen = []
    for t in (100.0, 109.999, 110.0, 114.999, 115.0, 200.0):
        clock.advance(t - clock.now())
        seen.append(_fails(store, int(t * 1000)))
    assert seen == [False, False, True, True, False, False]


def test_flapping_alternates_forever_or_for_its_cycles(exact: ExactStore, clock: ManualClock) -> None:
    schedule = FaultSchedule.flapping(FAIL, period=20.0, on=10.0)
    assert [schedule.plan_at(t) is FAIL for t in (0, 9.9, 10, 19.9, 20, 30, 1e6 + 5)] == [
        True,
        True,
        False,
        False,
        True,
        False,
        True,
    ]
    limited = FaultSchedule.flapping(FAIL, period=20.0, on=10.0, cycles=2)
    assert limited.plan_at(25.0) is FAIL and limited.plan_at(45.0) is None and limited.end == 40.0
    store = FaultyStore(exact, clock=clock)
    store.follow(schedule.shifted(5.0))
    assert not _fails(store, 1)
    clock.advance(5.0)
    assert _fails(store, 2)


def test_a_ramp_steps_a_field_and_holds_the_last_value() -> None:
    ramp = FaultSchedule.ramp("latency_ms", 0.0, 40.0, duration=40.0, steps=4)
    assert [ramp.plan_at(t).latency_ms for t in (0, 9.9, 10, 25, 39.9, 1e9)] == [10, 10, 20, 30, 40, 40]  # type: ignore[union-attr]
    assert ramp.plan_at(-1) is None
    no_hold = FaultSchedule.ramp("search_error_rate", 0.0, 0.5, duration=20.0, steps=2, hold=False)
    assert no_hold.plan_at(19.0).search_error_rate == 0.5 and no_hold.plan_at(20.0) is None  # type: ignore[union-attr]


def test_outside_the_schedule_the_stores_own_plan_applies_and_clear_stops_both(
    exact: ExactStore, clock: ManualClock
) -> None:
    store = FaultyStore(exact, FaultPlan(latency_ms=3.0), clock=clock)
    store.follow(
        FaultSchedule.burst(FaultPlan(latency_ms=50.0), at=0.0, duration=10.0)
        + FaultSchedule.burst(FAIL, at=5, duration=1)
    )
    assert store.plan.latency_ms == 50.0
    clock.advance(5.5)
    assert store.plan is FAIL  # where segments overlap, the last listed wins
    clock.advance(5.0)
    assert store.plan.latency_ms == 3.0
    store.follow(FaultSchedule.burst(FAIL, at=0.0, duration=10.0))
    assert store.plan is FAIL
    store.clear()
    assert store.plan == FaultPlan()


@pytest.mark.parametrize(
    "make",
    [
        lambda: Segment(5.0, 5.0, FAIL),
        lambda: Segment(math.inf, math.inf, FAIL),
        lambda: FaultSchedule.flapping(FAIL, period=10.0, on=10.0),
        lambda: FaultSchedule.ramp("latency_ms", 0, 1, duration=1, steps=0),
        lambda: FaultSchedule.ramp("no_such_field", 0, 1, duration=1, steps=1),
    ],
)
def test_impossible_schedules_are_config_errors(make: object) -> None:
    with pytest.raises(ConfigError, match="fault schedule"):
        make()  # type: ignore[operator]
