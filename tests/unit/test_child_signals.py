"""``run_child`` passes SIGINT on to the child session, unless this process ignores SIGINT.

A background job of a non-interactive shell (``cmd &`` in a script, a CI step run so) starts with SIGINT
ignored, and the child inherits that. Catching SIGINT in the parent then would "forward" it to a child
that cannot hear it: the parent would wait for a whole suite and then claim it was interrupted. Each case
runs in its own interpreter, so this session's own handlers are untouched.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

PARENT = r"""
import json, os, signal, sys
from pathlib import Path
from harness.reporting.session import run_child

# Whatever this test session was started with: "default" as an interactive shell starts a command.
signal.signal(signal.SIGINT, signal.SIG_IGN if sys.argv[1] == "ignored" else signal.default_int_handler)
CHILD = '''
import os, signal, threading
print(repr(signal.getsignal(signal.SIGINT)), flush=True)
try:
    os.kill(os.getppid(), signal.SIGINT)
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
        threading.Event().wait(120)  # a bound: the parent passes SIGINT on at its next wake-up
        print("never interrupted", flush=True)
except KeyboardInterrupt:
    print("interrupted", flush=True)
    raise SystemExit(130)
'''
run = run_child([sys.executable, "-c", CHILD], cwd=Path.cwd(), env=os.environ)
print(json.dumps({"returncode": run.returncode, "stdout": run.stdout.split(), "signal": run.signal,
                  "parent_after": repr(signal.getsignal(signal.SIGINT))}))
"""


def run_parent(mode: str, tmp_path: Path) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONHASHSEED"}
    done = subprocess.run(
        [sys.executable, "-c", PARENT, mode], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert isinstance(result, dict)
    return result


def test_sigint_reaches_a_child_that_hears_it(tmp_path: Path) -> None:
    result = run_parent("default", tmp_path)
    assert result["stdout"] == ["<built-in", "function", "default_int_handler>", "interrupted"]
    assert result["returncode"] == 130 and result["signal"] == 2
    assert result["parent_after"] == "<built-in function default_int_handler>"  # restored


def test_an_ignored_sigint_stays_ignored_in_parent_and_child(tmp_path: Path) -> None:
    result = run_parent("ignored", tmp_path)
    assert result["stdout"] == ["<Handlers.SIG_IGN:", "1>"]
    assert result["returncode"] == 0 and result["signal"] is None  # nothing was claimed to be interrupted
    assert result["parent_after"] == "<Handlers.SIG_IGN: 1>"
