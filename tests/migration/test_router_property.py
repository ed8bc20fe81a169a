"""The router's split, stickiness and monotonicity, as properties over random users and steps."""

from __future__ import annotations

import random

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.migration.router import BUCKETS, Backend, Router, bucket_of, threshold_for

USERS = 100_000


def _buckets(seed: int) -> np.ndarray:
    rng = random.Random(seed)
    return np.fromiter((bucket_of(f"user-{rng.getrandbits(64):x}") for _ in range(USERS)), dtype=np.int64, count=USERS)


@settings(max_examples=4, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), extra_steps=st.lists(st.floats(0.0, 100.0), min_size=1, max_size=5))
def test_split_is_within_one_point_of_every_step_for_100k_users(seed: int, extra_steps: list[float]) -> None:
    buckets = _buckets(seed)
    for percent in [5.0, 25.0, 50.0, 100.0, *extra_steps]:
        on_target = float(np.mean(buckets < threshold_for(percent))) * 100.0
        assert abs(on_target - percent) <= 1.0, f"{on_target:.2f} % of users on target at step {percent} %"


@settings(max_examples=200)
@given(user=st.text(min_size=1, max_size=40), low=st.floats(0.0, 100.0), high=st.floats(0.0, 100.0))
def test_a_user_on_the_target_stays_there_when_the_percentage_rises(user: str, low: float, high: float) -> None:
    low, high = min(low, high), max(low, high)
    router = Router()
    if router.route(user, low) is Backend.TARGET:
        assert router.route(user, high) is Backend.TARGET
    # Sticky: another router (another process) puts the same user in the same place.
    assert Router().route(user, low) is router.route(user, low)
    assert router.route(user, 0.0) is Backend.SOURCE
    assert router.route(user, 100.0) is Backend.TARGET


def test_buckets_cover_the_whole_range_evenly() -> None:
    buckets = _buckets(1)
    counts = np.bincount(buckets // (BUCKETS // 10), minlength=10)
    assert counts.min() > 0.9 * USERS / 10 and counts.max() < 1.1 * USERS / 10
