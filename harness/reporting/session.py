"""Run a scenario suite as a child pytest session (used by ``ragmig certify`` and ``ragmig gameday``).

A child interpreter gives a clean session: a user's own ``pytest.ini``/``conftest.py``/``PYTEST_ADDOPTS``
and the other pytest plugins installed beside the harness cannot change the result (a throwaway ini and
rootdir; conftest files only from the suite's own package, ``--confcutdir``, not from a project directory
above it, where a virtualenv or an editable install may live; plugin autoloading off, only the plugins
the suite uses named with ``-p``; a scrubbed environment), and stores the parent opened for validation
are closed by then. It also starts faster: no conftest, hypothesis or anyio import it does not need.

The child never outlives its parent (``run_child``): on Linux it asks the kernel for SIGKILL when the
parent dies (``prctl(PR_SET_PDEATHSIG)``, so even a SIGKILLed parent takes it along and the Qdrant Edge
shard it holds is free again), and SIGTERM / SIGINT sent to the parent are forwarded to it.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

PR_SET_PDEATHSIG = 1  # linux/prctl.h
FORWARDED_SIGNALS = (signal.SIGTERM, signal.SIGINT)
SIGNAL_POLL_S = 0.2  # longest delay before a signal received by this process reaches the child
SCRUBBED_ENV = ("PYTEST_ADDOPTS", "PYTEST_PLUGINS")  # a caller's pytest settings must not reach the suite
CHILD_PLUGINS = ("harness.plugin", "pytest_html.plugin", "pytest_html.fixtures", "pytest_metadata.plugin")
"""The plugin modules a suite session loads, named by module (``-p html`` would make pytest warn that the
stdlib's ``html`` cannot be rewritten): the harness's own options and hooks, pytest-html and the
pytest-metadata it reads; with autoloading off, no other installed plugin."""


def child_pytest_args(workdir: Path, suite: str, *, ini_lines: tuple[str, ...] = ()) -> list[str]:
    """``python -m pytest`` arguments running the installed package ``suite`` (e.g.
    ``scenarios.certification``) with a throwaway ini written into ``workdir``."""
    ini = workdir / "pytest.ini"
    ini.write_text("\n".join(("[pytest]", "addopts =", *ini_lines)) + "\n")
    spec = importlib.util.find_spec(suite)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"the scenario suite {suite} is not an installed package")
    plugins = [part for name in CHILD_PLUGINS for part in ("-p", name)]
    return [
        sys.executable,
        "-m",
        "pytest",
        "-c",
        str(ini),
        "--rootdir",
        str(workdir),
        "--confcutdir",
        str(spec.submodule_search_locations[0]),
        *plugins,
        "-p",
        "no:cacheprovider",
        "-q",
        "--tb=short",
        "--pyargs",
        suite,
    ]


def child_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a child session: the caller's (credentials travel here, never in argv) without
    the variables that would change what pytest runs (``SCRUBBED_ENV``), plugin autoloading off (the
    suite's plugins are named in ``child_pytest_args``)."""
    env = dict(os.environ if environ is None else environ)
    for name in SCRUBBED_ENV:
        env.pop(name, None)
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    return env


@dataclass(frozen=True, slots=True)
class ChildRun:
    """How a child session ended: its exit code, its output, and the signal the parent passed on (if any)."""

    returncode: int
    stdout: str
    stderr: str
    signal: int | None = None


def run_child(args: Sequence[str], *, cwd: Path, env: Mapping[str, str], pass_fds: Sequence[int] = ()) -> ChildRun:
    """Run ``args`` to completion, its output captured, tied to this process's life (module docstring).
    ``pass_fds``: descriptors the child inherits (e.g. the write end of a progress pipe).

    SIGTERM or SIGINT received meanwhile is forwarded to the child (only when called from the main
    thread, where Python delivers signals); ``ChildRun.signal`` then names it. A signal this process
    ignores (a background job of a non-interactive shell ignores SIGINT) stays ignored, here and in the
    child, which inherits the ignoring: catching it here would forward it to a child that cannot hear it.
    """
    received: list[int] = []
    proc = subprocess.Popen(
        list(args),
        cwd=cwd,
        env=dict(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        pass_fds=tuple(pass_fds),
        preexec_fn=_die_with_parent_hook(),  # only a pre-resolved prctl and getppid run after fork
    )

    def forward(signum: int, frame: FrameType | None) -> None:
        received.append(signum)
        with suppress(ProcessLookupError):
            proc.send_signal(signum)

    previous = {}
    if threading.current_thread() is threading.main_thread():
        heard = [sig for sig in FORWARDED_SIGNALS if signal.getsignal(sig) is not signal.SIG_IGN]
        previous = {sig: signal.signal(sig, forward) for sig in heard}
    try:
        while True:
            # Wake up now and then: a signal may land in another thread (a store's native threads), and
            # Python runs its handler only when the main thread runs again.
            try:
                stdout, stderr = proc.communicate(timeout=SIGNAL_POLL_S)
                break
            except subprocess.TimeoutExpired:
                continue
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if proc.poll() is None:  # we are leaving on an exception: never leave the child behind
            proc.kill()
            proc.wait()
    return ChildRun(proc.returncode, stdout or "", stderr or "", received[0] if received else None)


def _die_with_parent_hook() -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the kernel SIGKILL the child when this process dies (Linux), else None.

    ``prctl`` is resolved here, in the parent: after ``fork`` the child only calls it. If the parent died
    before the request took effect, the child's parent is no longer us, and it exits at once.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def die_with_parent() -> None:
        prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        if os.getppid() != parent:
            os._exit(1)

    return die_with_parent
