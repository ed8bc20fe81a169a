"""Writing reports, verdicts and runbooks safely: checked before the work, replaced atomically after it.

A command checks every output path it was given *before* it starts (``check_writable``), so a typo in
``--json`` fails in a second rather than after an hour of copying; and writes each file to a temporary
sibling that is renamed over the destination (``write_text_atomic``), so a crash or a full disk leaves
either the old file or the new one, never half of one.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from harness.errors import UsageError

__all__ = ["check_writable", "write_bytes_atomic", "write_text_atomic"]


def check_writable(path: Path, what: str = "output") -> None:
    """``UsageError`` (one line) unless ``path`` can be written: not a directory, and its directory exists
    (or can be created) and is writable. Creates nothing but missing parent directories."""
    path = Path(path)
    if path.is_dir():
        raise UsageError(f"{what} path {path} is a directory; give a file name")
    parent = path.parent if str(path.parent) else Path(".")
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create the directory of {what} path {path}: {exc.strerror or exc}") from None
    if not parent.is_dir():
        raise UsageError(f"{what} path {path}: {parent} is not a directory")
    try:  # a real probe: permission bits say nothing for root or on a read-only file system
        fd, probe = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".probe", dir=parent)
    except OSError as exc:
        raise UsageError(f"{what} path {path}: directory {parent} is not writable ({exc.strerror or exc})") from None
    os.close(fd)
    os.unlink(probe)
    if path.exists() and not os.access(path, os.W_OK):
        raise UsageError(f"{what} path {path} exists and is not writable")


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary sibling renamed over it (fsynced before the rename)."""
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path: Path, text: str) -> None:
    """``write_bytes_atomic`` of ``text`` encoded as UTF-8."""
    write_bytes_atomic(path, text.encode("utf-8"))
