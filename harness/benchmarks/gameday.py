"""``gameday_suite_s``: wall seconds of the whole game-day suite on the embedded stack (≤ 120 on 2 cores).

It runs ``ragmig gameday --json`` in a child process exactly as a user would — every scenario, the
locust run included — and reports the wall time from start to exit. The row is ok only when the time
is within the bound AND every scenario met its expectation (a fast failing suite is not a result).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness.benchmarks import BenchResult, within

TARGET = "<= 120"  # seconds, 2 cores


def gameday_suite_s() -> BenchResult:
    """Wall seconds of ``ragmig gameday`` over every scenario, with each scenario's status in details."""
    with tempfile.TemporaryDirectory(prefix="ragmig-bench-gameday-") as workdir:
        verdict_path = Path(workdir) / "gameday.json"
        command = [sys.executable, "-m", "harness.cli", "gameday", "--json", str(verdict_path)]
        cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        proc = subprocess.run(command, cwd=workdir, capture_output=True, text=True, env=os.environ.copy(), check=False)
        seconds = time.perf_counter() - started
        cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
        verdict = json.loads(verdict_path.read_text()) if verdict_path.exists() else {"checks": []}
    statuses = {c["id"].removeprefix("gameday."): c["status"] for c in verdict.get("checks", [])}
    details: dict[str, object] = {
        "exit_code": proc.returncode,
        "scenarios": statuses,
        "suite_duration_s": verdict.get("duration_s"),
        "cores": os.cpu_count(),
        # CPU seconds of the suite's process tree (what a busy machine does not inflate) and the load then.
        "cpu_s": round((cpu_after.ru_utime + cpu_after.ru_stime) - (cpu_before.ru_utime + cpu_before.ru_stime), 1),
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }
    failed = sorted(name for name, status in statuses.items() if status != "pass")
    if proc.returncode != 0:
        details["error"] = f"scenarios not met: {', '.join(failed)}" if failed else proc.stderr.strip()[-300:]
    return BenchResult(
        name="gameday_suite_s",
        value=seconds,
        unit="s",
        target=TARGET,
        ok=within(seconds, TARGET) and proc.returncode == 0,
        details=details,
    )
