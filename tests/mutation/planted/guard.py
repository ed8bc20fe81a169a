"""A pytest plugin the planted-bug runner loads (``-p tests.mutation.planted.guard``): before any test
runs, it checks that ``harness``, ``tests`` and every module the diff changed were imported from the
temporary copy (``RAGMIG_PLANTED_COPY``), and ends the session with ``GUARD_EXIT`` otherwise — a test
that passed against the unpatched package would report a planted bug as survived, one that failed for
another reason as killed.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path

import pytest

GUARD_EXIT = 17
COPY_ENV = "RAGMIG_PLANTED_COPY"
MODULES_ENV = "RAGMIG_PLANTED_MODULES"


def imported_outside(copy: Path, modules: list[str]) -> list[str]:
    """``name (file)`` of each of ``harness``, ``tests`` and ``modules`` not imported from ``copy``."""
    out = []
    for name in ["harness", "tests", *modules]:
        module = importlib.import_module(name)
        origin = Path(module.__file__ or "").resolve()
        if not origin.is_relative_to(copy):
            out.append(f"{name} ({origin})")
    return out


def pytest_sessionstart(session: pytest.Session) -> None:
    copy = os.environ.get(COPY_ENV)
    if not copy:
        return
    modules = [m for m in os.environ.get(MODULES_ENV, "").split(",") if m]
    wrong = imported_outside(Path(copy).resolve(), modules)
    if wrong:
        pytest.exit(f"planted-bug guard: imported outside the patched copy {copy}: {', '.join(wrong)}", GUARD_EXIT)
