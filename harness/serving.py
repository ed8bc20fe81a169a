"""An ASGI app served by uvicorn on a free loopback port in a background thread, started and stopped once.

The in-process test servers (``PineconeServer``, ``QdrantServer``) both run this way; a crash is what
their ``ragmig serve-*`` commands in a child process are for.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import uvicorn

from harness.netloc import bind_socket

__all__ = ["LOOPBACK", "ThreadedServer"]

LOOPBACK = "127.0.0.1"


class ThreadedServer:
    """``start(app)`` binds a free loopback port and waits (bounded) until requests are accepted;
    ``stop()`` is a clean shutdown (the app's lifespan shutdown runs), forced after ``timeout_s``."""

    def __init__(self, name: str, startup_timeout_s: float) -> None:
        self.name = name
        self.startup_timeout_s = startup_timeout_s
        self.port = 0
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None

    def start(self, app: Any) -> int:
        """Serve ``app``; returns the port. Raises RuntimeError if it does not start within the bound."""
        if self._thread is not None:
            raise RuntimeError(f"{self.name} is already running")
        sock = bind_socket(LOOPBACK, 0)
        self.port = sock.getsockname()[1]
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on"))
        self._server = server
        self._thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name=f"{self.name}:{self.port}", daemon=True
        )
        self._thread.start()
        # A bounded wait for the server's own readiness flag: real start-up I/O, not a timed test.
        deadline = time.monotonic() + self.startup_timeout_s
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                sock.close()
                raise RuntimeError(f"{self.name} did not start within {self.startup_timeout_s:g} s")
            time.sleep(0.005)
        return self.port

    def stop(self, timeout_s: float = 15.0) -> None:
        """Ask the server to exit and wait at most ``timeout_s``; then force it and wait as long again."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        server.should_exit = True
        thread.join(timeout_s)
        if thread.is_alive():
            server.force_exit = True
            thread.join(timeout_s)
        self._server = self._thread = None
        self.port = 0
