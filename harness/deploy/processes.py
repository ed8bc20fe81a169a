"""``ManagedProcess``: a child process with its log in a file, a bounded readiness wait, and a clean stop."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import httpx

__all__ = ["ManagedProcess", "free_port", "wait_http"]


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, timeout_s: float = 30.0, process: subprocess.Popen[bytes] | None = None) -> None:
    """Poll ``url`` until it answers 2xx (bounded by ``timeout_s``); ``RuntimeError`` when the process
    exited first or the time ran out."""
    deadline = time.monotonic() + timeout_s
    last = ""
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{url}: the process exited with {process.returncode} before it was ready")
        try:
            if httpx.get(url, timeout=1.0).is_success:
                return
        except httpx.HTTPError as exc:
            last = str(exc)
        time.sleep(0.1)  # a real start-up wait, polled and bounded
    raise RuntimeError(f"{url} not ready within {timeout_s:g} s ({last})")


class ManagedProcess:
    """``argv`` started in its own process group, output to ``log``; ``stop()`` sends SIGTERM, then
    SIGKILL after ``grace_s``."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log: Path,
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log = Path(log)
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as handle:  # the child keeps its own copy of the descriptor
            self.process = subprocess.Popen(
                self.argv,
                stdout=handle,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **(env or {})},
                cwd=cwd,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        """The child's pid."""
        return self.process.pid

    def alive(self) -> bool:
        """True while the child runs."""
        return self.process.poll() is None

    def wait_ready(self, url: str, timeout_s: float = 30.0) -> ManagedProcess:
        """Wait until ``url`` answers (see ``wait_http``); the log's tail is in the error otherwise."""
        try:
            wait_http(url, timeout_s, self.process)
        except RuntimeError as exc:
            raise RuntimeError(f"{self.name}: {exc}\n{self.tail()}") from None
        return self

    def tail(self, lines: int = 30) -> str:
        """The last ``lines`` of the log."""
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, grace_s: float = 10.0) -> int | None:
        """SIGTERM, then SIGKILL after ``grace_s``; returns the exit code."""
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=grace_s)
        return self.process.returncode

    def kill(self) -> None:
        """SIGKILL at once (a crash)."""
        if self.alive():
            self.process.kill()
            self.process.wait(timeout=10)
