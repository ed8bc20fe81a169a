"""Flags through OpenFeature's in-memory provider: set at run time, per instance, restored from a journal."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.migration.flags import FlagStore, WriteMode
from harness.migration.flags_openfeature import InMemoryFlags, OpenFeatureFlags
from harness.migration.journal import Journal


def test_openfeature_flags_change_at_run_time() -> None:
    flags: FlagStore = OpenFeatureFlags()
    assert flags.read_percent() == 0.0 and flags.write_mode() is WriteMode.SOURCE_ONLY
    flags.set_read_percent(25)
    flags.set_write_mode(WriteMode.DUAL_SOURCE_FIRST)
    assert flags.read_percent() == 25.0 and flags.write_mode() is WriteMode.DUAL_SOURCE_FIRST


def test_two_migrations_in_one_process_have_their_own_flags() -> None:
    a, b = OpenFeatureFlags(), OpenFeatureFlags()
    a.set_read_percent(50)
    assert b.read_percent() == 0.0


def test_values_are_restored_from_the_journal(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite") as journal:
        OpenFeatureFlags(journal).set_read_percent(5)
        OpenFeatureFlags(journal).set_write_mode(WriteMode.DUAL_TARGET_FIRST)
        again = OpenFeatureFlags(journal)
        assert again.read_percent() == 5.0 and again.write_mode() is WriteMode.DUAL_TARGET_FIRST


@pytest.mark.parametrize("flags", [OpenFeatureFlags(), InMemoryFlags()], ids=["openfeature", "in-memory"])
def test_a_percentage_outside_0_100_is_refused(flags: FlagStore) -> None:
    with pytest.raises(ValueError):
        flags.set_read_percent(101)
    assert flags.read_percent() == 0.0
