"""Outputs are checked before the work and replaced atomically after it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness.errors import UsageError
from harness.outputs import check_writable, write_text_atomic


def test_a_directory_or_an_unwritable_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="is a directory"):
        check_writable(tmp_path, "--json")
    # /proc takes no new files, whoever asks (root included): the probe really tries.
    with pytest.raises(UsageError, match="not writable"):
        check_writable(Path("/proc/ragmig-verdict.json"), "--json")
    check_writable(tmp_path / "new" / "v.json")
    assert sorted(p.name for p in (tmp_path / "new").iterdir()) == []  # the probe left nothing behind


def test_a_file_where_a_directory_belongs_is_refused(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(UsageError):
        check_writable(tmp_path / "file" / "v.json")


def test_atomic_write_replaces_whole_and_leaves_the_old_file_on_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "sub" / "verdict.json"
    write_text_atomic(out, "first")
    write_text_atomic(out, "second")
    assert out.read_text() == "second"

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)  # the write itself fails after the bytes went out
    with pytest.raises(OSError, match="No space"):
        write_text_atomic(out, "third, half written")
    assert out.read_text() == "second"
    assert sorted(p.name for p in out.parent.iterdir()) == ["verdict.json"]
