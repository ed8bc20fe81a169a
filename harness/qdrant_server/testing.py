"""``QdrantServer``: the Qdrant-compatible server on a free loopback port, in a background thread.

    with QdrantServer(tmp_path) as server:
        client = QdrantClient(url=server.url)
        store = open_store(f"{server.uri}/my_collection")

Stopping it closes (and flushes) every shard, so a new server on the same directory sees everything;
a crash is what ``ragmig serve-qdrant`` in a child process is for.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from types import TracebackType

import uvicorn

from harness.netloc import bind_socket
from harness.qdrant_server.app import create_app
from harness.qdrant_server.registry import Registry

__all__ = ["QdrantServer"]

LOOPBACK = "127.0.0.1"


class QdrantServer:
    """Start on ``__enter__`` (or :meth:`start`), stop on ``__exit__`` (or :meth:`stop`)."""

    def __init__(
        self,
        data_dir: Path,
        *,
        api_key: str | None = None,
        read_only_api_key: str | None = None,
        optimize_quiet_s: float = 1.0,
        startup_timeout_s: float = 10.0,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.api_key = api_key
        self.read_only_api_key = read_only_api_key
        self.optimize_quiet_s = optimize_quiet_s
        self.startup_timeout_s = startup_timeout_s
        self.registry: Registry | None = None
        self.port = 0
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (what ``QdrantClient(url=...)`` takes)."""
        if not self.port:
            raise RuntimeError("QdrantServer is not running; use it as a context manager or call start()")
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def uri(self) -> str:
        """``qdrant://127.0.0.1:PORT`` (append ``/COLLECTION`` for a store URI)."""
        return f"qdrant://{LOOPBACK}:{self.port}"

    def start(self) -> QdrantServer:
        """Bind a free loopback port, start serving, and wait (bounded) until requests are accepted."""
        if self._thread is not None:
            raise RuntimeError("QdrantServer is already running")
        self.registry = Registry(self.data_dir, optimize_quiet_s=self.optimize_quiet_s)
        app = create_app(self.registry, api_key=self.api_key, read_only_api_key=self.read_only_api_key)
        sock = bind_socket(LOOPBACK, 0)
        self.port = sock.getsockname()[1]
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on"))
        self._server = server
        self._thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name=f"qdrant-server:{self.port}", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + self.startup_timeout_s
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                sock.close()
                raise RuntimeError(f"Qdrant-compatible server did not start within {self.startup_timeout_s:g} s")
            time.sleep(0.005)  # a bounded wait for the server's own readiness flag
        return self

    def stop(self, timeout_s: float = 15.0) -> None:
        """Clean shutdown (every shard closed and flushed); waits at most ``timeout_s``."""
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

    def __enter__(self) -> QdrantServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
