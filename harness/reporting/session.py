"""Run a scenario suite as a child pytest session (used by ``ragmig certify`` and ``ragmig gameday``).

A child interpreter gives a clean session: a user's own ``pytest.ini``/``conftest.py`` cannot change the
result (a throwaway ini and rootdir), and stores the parent opened for validation are closed by then.
"""

from __future__ import annotations

import sys
from pathlib import Path


def child_pytest_args(workdir: Path, suite: str, *, ini_lines: tuple[str, ...] = ()) -> list[str]:
    """``python -m pytest`` arguments running the installed package ``suite`` (e.g.
    ``scenarios.certification``) with a throwaway ini written into ``workdir``."""
    ini = workdir / "pytest.ini"
    ini.write_text("\n".join(("[pytest]", "addopts =", *ini_lines)) + "\n")
    return [
        sys.executable,
        "-m",
        "pytest",
        "-c",
        str(ini),
        "--rootdir",
        str(workdir),
        "-p",
        "no:cacheprovider",
        "-q",
        "--tb=short",
        "--pyargs",
        suite,
    ]
