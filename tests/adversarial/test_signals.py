"""The certification suite dies with ``ragmig certify``: SIGTERM, SIGINT and SIGKILL of a real certify
process on an Edge pair leave no child pytest session behind, and the Edge shards open again at once.

Each kill is placed by observation, not by time: the test waits until the child session holds the
source shard open, stops it there (SIGSTOP, until the kernel reports it stopped), signals certify, and —
for the forwarded signals — waits until the signal is pending in the child before letting it run again.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.stores import open_store
from harness.stores.qdrant_edge import copy_shard
from tests.adversarial.conftest import RAGMIG, N, corpus, edge

DEADLINE_S = 120.0  # a bound on waiting for a process to reach a state, never an expected duration


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("signals")
    edge(root / "source", corpus())
    copy_shard(root / "source", root / "target")
    return root / "source", root / "target"


def wait_for(what: str, condition: Callable[[], object], *watched: int) -> object:
    """Poll ``condition`` until it is truthy (bounded by ``DEADLINE_S``); return its value. On a time-out
    the message shows the signal state of the ``watched`` processes and their threads."""
    deadline = time.monotonic() + DEADLINE_S
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}\n" + "\n".join(map(signal_state, watched))
        time.sleep(0.01)


def signal_state(pid: int) -> str:
    """Each thread of ``pid``: its state, kernel wait channel and signal masks (for a failure message)."""
    lines = []
    try:
        tasks = sorted(Path(f"/proc/{pid}/task").iterdir(), key=lambda p: int(p.name))
    except (FileNotFoundError, ProcessLookupError):
        return f"{pid}: gone"
    for task in tasks:
        try:
            status = dict(line.split(":", 1) for line in (task / "status").read_text().splitlines() if ":" in line)
            wchan = (task / "wchan").read_text()
        except (FileNotFoundError, ProcessLookupError):
            continue
        fields = ("Name", "State", "SigPnd", "ShdPnd", "SigBlk", "SigIgn", "SigCgt")
        lines.append(f"{pid}/{task.name} wchan={wchan} " + " ".join(f"{f}={status.get(f, '').strip()}" for f in fields))
    return "\n".join(lines)


def stat_fields(pid: int) -> list[str] | None:
    """``/proc/PID/stat`` after the command name: state, ppid, ... (None when the process is gone)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return text.rsplit(")", 1)[1].split()


def gone(pid: int) -> bool:
    """The process has exited: every thread of it, not only its leader.

    A zombie nobody reaped yet holds no files and no locks, but ``/proc/PID/stat`` is the leader's: under
    SIGKILL the leader can turn zombie while another thread still holds the file table (and the Edge
    shard's lock) on its way out. Threads that finished are gone from ``/proc/PID/task``.
    """
    fields = stat_fields(pid)
    if fields is None:
        return True
    try:
        threads = [entry.name for entry in Path(f"/proc/{pid}/task").iterdir()]
    except (FileNotFoundError, ProcessLookupError):
        return True
    for tid in threads:
        try:
            state = Path(f"/proc/{pid}/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            continue
        if state not in ("Z", "X"):
            return False
    return True


def child_holding(parent: int, directory: Path) -> int | None:
    """The pid of a child of ``parent`` with a file under ``directory`` open, if any."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = stat_fields(int(entry.name))
        if fields is None or int(fields[1]) != parent:
            continue
        try:
            targets = [os.readlink(fd) for fd in (entry / "fd").iterdir()]
        except (FileNotFoundError, PermissionError, ProcessLookupError):
            continue
        if any(t.startswith(str(directory)) for t in targets):
            return int(entry.name)
    return None


def stopped(pid: int) -> bool:
    """The process is stopped: a signal sent to it now stays pending until SIGCONT."""
    fields = stat_fields(pid)
    return fields is not None and fields[0] == "T"


def pending(pid: int, sig: int) -> bool:
    """``sig`` is pending in ``pid`` (thread or process-wide), or the process is already gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return True
    masks = [int(line.split()[1], 16) for line in status.splitlines() if line.startswith(("SigPnd:", "ShdPnd:"))]
    return any(mask & (1 << (sig - 1)) for mask in masks)


def hear_sigint() -> None:
    """Start certify as an interactive shell would: SIGINT not ignored. A suite launched as a background
    job of a script ignores SIGINT, and certify then rightly keeps ignoring it (tests/unit/test_child_signals.py)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL], ids=lambda s: s.name)
def test_the_child_session_dies_with_certify(sig: signal.Signals, pair: tuple[Path, Path], tmp_path: Path) -> None:
    source, target = pair
    verdict_path = tmp_path / "verdict.json"
    certify = subprocess.Popen(
        [RAGMIG, "certify", "--source", f"qdrant-edge://{source}", "--target", f"qdrant-edge://{target}",
         "--queries", "20", "--json", str(verdict_path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=hear_sigint,
    )  # fmt: skip
    try:
        child = wait_for(
            "the suite to open the source shard",
            lambda: certify.poll() is None and child_holding(certify.pid, source),
        )
        assert isinstance(child, int)
        os.kill(child, signal.SIGSTOP)  # pinned mid-run, holding the shard
        wait_for("the child session to stop", lambda: stopped(child))
        os.kill(certify.pid, sig)
        if sig != signal.SIGKILL:
            wait_for(f"certify to pass {sig.name} on", lambda: pending(child, sig), certify.pid, child)
            os.kill(child, signal.SIGCONT)
        stdout, stderr = certify.communicate(timeout=DEADLINE_S)
        wait_for("the child session to exit", lambda: gone(child))
    finally:
        if certify.poll() is None:
            certify.kill()
            certify.communicate()  # also closes the pipes

    # The shards are free again at once: the next certification can open them.
    for shard in (source, target):
        store = open_store(f"qdrant-edge://{shard}")
        try:
            assert store.count() == N
        finally:
            store.close()
    if sig == signal.SIGKILL:
        assert certify.returncode == -signal.SIGKILL
        assert not verdict_path.exists()  # nothing was left to write it: certainly no passing verdict
        return
    assert certify.returncode == (130 if sig == signal.SIGINT else 128 + sig), stdout + stderr
    verdict = json.loads(verdict_path.read_text())
    assert verdict["verdict"] == "error"
    assert f"ragmig certify was interrupted by {sig.name}" in verdict["incomplete"]
