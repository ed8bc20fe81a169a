"""The flagd flag file: written atomically by the controller, read by OpenFeature's flagd provider.

The canary's promise is checked through the provider an application uses: 100,000 random user ids
evaluated at every step land on the target in the step's share (within one point), and a user on the
target never goes back to the source as the percentage rises.
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

import numpy as np
import pytest
from openfeature.contrib.provider.flagd import FlagdProvider
from openfeature.evaluation_context import EvaluationContext

from harness.errors import ConfigError
from harness.migration.flags import FlagStore, WriteMode
from harness.migration.flags_flagd import READ_TARGET_FLAG, FlagdFileFlags, read_flag_file
from harness.migration.flags_openfeature import WRITE_MODE_FLAG
from harness.service.flags import FlagdFileReader, flagd_file_provider

USERS = 100_000
STEPS = (5.0, 25.0, 50.0, 100.0)


def _served_percent(provider: FlagdProvider) -> float:
    details = provider.resolve_string_details(READ_TARGET_FLAG, "source", EvaluationContext(targeting_key="probe"))
    return float((details.flag_metadata or {}).get("readPercent", -1))


def _wait_until_served(provider: FlagdProvider, percent: float) -> None:
    deadline = time.monotonic() + 10.0
    while _served_percent(provider) != percent:
        assert time.monotonic() < deadline, f"the provider never picked up {percent} %"
        time.sleep(0.02)  # the provider polls the file; bounded wait for its reload


def test_100k_users_through_the_flagd_provider_each_step_within_one_point_and_nobody_leaves(tmp_path: Path) -> None:
    path = tmp_path / "flags.json"
    flags = FlagdFileFlags(path)
    provider = flagd_file_provider(path, poll_ms=20)
    provider.initialize(EvaluationContext())
    rng = random.Random(20261130)
    users = [f"user-{rng.getrandbits(64):016x}" for _ in range(USERS)]
    try:
        on_target = np.zeros(USERS, dtype=bool)
        for percent in STEPS:
            flags.set_read_percent(percent)
            _wait_until_served(provider, percent)
            now = np.fromiter(
                (
                    provider.resolve_string_details(
                        READ_TARGET_FLAG, "source", EvaluationContext(targeting_key=u)
                    ).value
                    == "target"
                    for u in users
                ),
                dtype=bool,
                count=USERS,
            )
            share = 100.0 * now.mean()
            assert abs(share - percent) <= 1.0, f"{share:.2f} % on the target at step {percent} %"
            left = int(np.sum(on_target & ~now))
            assert left == 0, f"{left} users went back to the source when the percentage rose to {percent} %"
            on_target = now
        flags.set_read_percent(0.0)  # a rollback sends everyone back at once
        _wait_until_served(provider, 0.0)
        assert all(
            provider.resolve_string_details(READ_TARGET_FLAG, "source", EvaluationContext(targeting_key=u)).value
            == "source"
            for u in users[:2000]
        )
    finally:
        provider.shutdown()


def test_the_file_is_flagds_format_and_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "flags.json"
    flags: FlagStore = FlagdFileFlags(path)
    flags.set_read_percent(25)
    flags.set_write_mode(WriteMode.DUAL_SOURCE_FIRST)
    document = json.loads(path.read_text())
    assert document["$schema"] == "https://flagd.dev/schema/v0/flags.json"
    assert document["flags"][READ_TARGET_FLAG]["targeting"] == {"fractional": [["target", 2500], ["source", 7500]]}
    assert document["flags"][WRITE_MODE_FLAG]["defaultVariant"] == "dual_source_first"
    assert flags.read_percent() == 25.0 and flags.write_mode() is WriteMode.DUAL_SOURCE_FIRST
    # A controller restarted on the same file serves what it served.
    again = FlagdFileFlags(path)
    assert again.read_percent() == 25.0 and again.write_mode() is WriteMode.DUAL_SOURCE_FIRST


@pytest.mark.parametrize("percent", [-0.01, 100.01, float("nan")])
def test_a_percentage_outside_0_100_is_refused_and_the_file_is_untouched(tmp_path: Path, percent: float) -> None:
    path = tmp_path / "flags.json"
    flags = FlagdFileFlags(path, read_percent=5)
    before = path.read_bytes()
    with pytest.raises(ValueError):
        flags.set_read_percent(percent)
    assert path.read_bytes() == before


@pytest.mark.parametrize(
    "text",
    [
        "",
        "{",
        '{"flags": {}}',
        json.dumps({"flags": {READ_TARGET_FLAG: {"targeting": {"fractional": [["target", -1]]}}}}),
    ],
)
def test_a_file_not_in_the_shape_is_one_config_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "flags.json"
    path.write_text(text)
    with pytest.raises(ConfigError, match=r"flags\.json"):
        read_flag_file(path)


def test_the_application_reads_the_file_through_openfeature_and_sees_changes(tmp_path: Path) -> None:
    path = tmp_path / "flags.json"
    flags = FlagdFileFlags(path)
    with FlagdFileReader(path, poll_ms=20) as reader:  # its file watcher stops with the test
        assert reader.backend_for("user-1") == "source" and reader.write_mode() is WriteMode.SOURCE_ONLY
        flags.set_read_percent(100)
        flags.set_write_mode(WriteMode.DUAL_TARGET_FIRST)
        deadline = time.monotonic() + 10.0
        while reader.write_mode() is not WriteMode.DUAL_TARGET_FIRST:
            assert time.monotonic() < deadline
            time.sleep(0.02)  # bounded wait for the provider's reload
        assert reader.backend_for("user-1") == "target" and reader.read_percent() == 100.0
        with pytest.raises(Exception, match="ragmig run"):
            reader.set_read_percent(0)
