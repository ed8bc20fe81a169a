"""The router's buckets pinned: fixed users → fixed buckets in every process, the edge buckets at 0 % and
100 %, the percentage's range, the salt; and the flagd ``fractional`` split applications really evaluate.

A hash change that reshuffles users mid-canary moves users between source and target while the read
percentage stays put: these values are a stored format and must never change.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from openfeature.evaluation_context import EvaluationContext

from harness.migration.flags_flagd import READ_TARGET_FLAG, FlagdFileFlags
from harness.migration.router import BUCKETS, Backend, Router, bucket_of, threshold_for
from harness.service.flags import flagd_file_provider

GOLDEN = {
    "alice": 9440,
    "bob": 7814,
    "carol": 1714,
    "user-1": 2343,
    "user-42": 3742,
    "tenant-7:dave": 3731,
    "ü-ünïcode": 1969,
    "": 4899,
}
"""bucket_of(user) with the default salt "ragmig"."""
GOLDEN_SALTED = {
    "alice": 4632,
    "bob": 7991,
    "carol": 783,
    "user-1": 2693,
    "user-42": 5240,
    "tenant-7:dave": 4045,
    "ü-ünïcode": 2661,
    "": 7860,
}
"""bucket_of(user, salt="tenant-1")."""
FIRST_BUCKET_USER = "user-13489"  # bucket 0: the first user to move, the last to stay after a rollback
LAST_BUCKET_USER = "user-3950"  # bucket 9,999: on the target only at 100 %


def test_fixed_users_land_in_fixed_buckets() -> None:
    assert {user: bucket_of(user) for user in GOLDEN} == GOLDEN
    assert {user: bucket_of(user, "tenant-1") for user in GOLDEN_SALTED} == GOLDEN_SALTED
    assert bucket_of(FIRST_BUCKET_USER) == 0 and bucket_of(LAST_BUCKET_USER) == BUCKETS - 1


@pytest.mark.parametrize("hash_seed", ["0", "1", "4242"])
def test_buckets_are_the_same_in_other_processes_whatever_their_hash_seed(hash_seed: str) -> None:
    # Python's str hash() is salted per process: a router using it would pass in-process tests and move
    # users whenever a process restarts.
    code = (
        "import json, sys\n"
        "from harness.migration.router import bucket_of\n"
        "users = json.loads(sys.argv[1])\n"
        "print(json.dumps([[bucket_of(u) for u in users], [bucket_of(u, 'tenant-1') for u in users]]))\n"
    )
    users = list(GOLDEN)
    done = subprocess.run(
        [sys.executable, "-c", code, json.dumps(users)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONHASHSEED": hash_seed},
        timeout=120,
        check=True,
    )
    plain, salted = json.loads(done.stdout)
    assert plain == [GOLDEN[u] for u in users]
    assert salted == [GOLDEN_SALTED[u] for u in users]


def test_thresholds_count_buckets_at_the_percentages_edges() -> None:
    assert [threshold_for(p) for p in (0.0, 0.01, 5.0, 25.0, 50.0, 99.99, 100.0)] == [
        0,
        1,
        500,
        2500,
        5000,
        9999,
        10_000,
    ]


def test_bucket_zero_is_on_the_source_at_zero_percent_and_the_first_to_move() -> None:
    router = Router()
    assert router.route(FIRST_BUCKET_USER, 0.0) is Backend.SOURCE  # a rollback to 0 % brings everyone back
    assert router.route(FIRST_BUCKET_USER, 0.01) is Backend.TARGET
    assert router.route(LAST_BUCKET_USER, 0.01) is Backend.SOURCE


def test_the_last_bucket_is_on_the_target_only_at_one_hundred_percent() -> None:
    router = Router()
    assert router.route(LAST_BUCKET_USER, 99.99) is Backend.SOURCE
    assert router.route(LAST_BUCKET_USER, 100.0) is Backend.TARGET
    assert router.route(FIRST_BUCKET_USER, 100.0) is Backend.TARGET


@pytest.mark.parametrize(("user", "percent", "side"), [
    ("carol", 17.14, Backend.SOURCE),  # bucket 1714: threshold 1714 is not above it
    ("carol", 17.15, Backend.TARGET),  # threshold 1715
    ("alice", 94.40, Backend.SOURCE),
    ("alice", 94.41, Backend.TARGET),
])  # fmt: skip
def test_a_user_moves_exactly_when_the_threshold_passes_its_bucket(user: str, percent: float, side: Backend) -> None:
    assert Router().route(user, percent) is side


@pytest.mark.parametrize("percent", [-0.1, 100.1, math.nan, math.inf, -math.inf])
def test_a_percentage_outside_0_to_100_is_refused(percent: float) -> None:
    with pytest.raises(ValueError, match=r"read percentage must be within 0\.\.100"):
        threshold_for(percent)
    with pytest.raises(ValueError, match="read percentage"):
        Router().route("alice", percent)


def test_a_salted_router_uses_its_salt() -> None:
    salted, plain = Router(salt="tenant-1"), Router()
    # alice: bucket 9440 unsalted, 4632 salted; carol: 1714 unsalted, 783 salted.
    assert salted.route("alice", 50.0) is Backend.TARGET and plain.route("alice", 50.0) is Backend.SOURCE
    assert salted.route("carol", 10.0) is Backend.TARGET and plain.route("carol", 10.0) is Backend.SOURCE
    for user, bucket in GOLDEN_SALTED.items():
        assert salted.route(user, bucket / 100.0) is Backend.SOURCE
        assert salted.route(user, (bucket + 1) / 100.0) is Backend.TARGET


# -- the flagd fractional split (what applications evaluate) ------------------------------------------------
FLAGD_USERS = ["alice", "bob", "carol", "user-1", "user-42", "tenant-7:dave", "ü-ünïcode", "user-13489", "user-3950"]
FLAGD_TARGET = {
    0.0: set(),
    10.0: {"carol", "ü-ünïcode"},
    50.0: {"alice", "carol", "ü-ünïcode", "user-13489", "user-3950"},
    90.0: {"alice", "bob", "carol", "user-1", "user-42", "ü-ünïcode", "user-13489", "user-3950"},
    100.0: set(FLAGD_USERS),
}
"""Who the flagd provider puts on the target at each percentage (murmur3 of flag key + user id)."""


@pytest.mark.parametrize("percent", sorted(FLAGD_TARGET))
def test_the_flagd_provider_splits_fixed_users_the_same_way_every_time(tmp_path: Path, percent: float) -> None:
    path = tmp_path / "flags.json"
    FlagdFileFlags(path, read_percent=percent)
    provider = flagd_file_provider(path, poll_ms=1000)
    provider.initialize(EvaluationContext())
    try:
        served = {
            user
            for user in FLAGD_USERS
            if provider.resolve_string_details(READ_TARGET_FLAG, "source", EvaluationContext(targeting_key=user)).value
            == "target"
        }
    finally:
        provider.shutdown()
    assert served == FLAGD_TARGET[percent]
