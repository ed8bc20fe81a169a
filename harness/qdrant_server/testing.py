"""``QdrantServer``: the Qdrant-compatible server on a free loopback port, in a background thread.

    with QdrantServer(tmp_path) as server:
        client = QdrantClient(url=server.url)
        store = open_store(f"{server.uri}/my_collection")

Stopping it closes (and flushes) every shard, so a new server on the same directory sees everything;
a crash is what ``ragmig serve-qdrant`` in a child process is for.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType

from harness.qdrant_server.app import create_app
from harness.qdrant_server.registry import Registry
from harness.serving import LOOPBACK, ThreadedServer

__all__ = ["QdrantServer"]


class QdrantServer:
    """Start on ``__enter__`` (or :meth:`start`), stop on ``__exit__`` (or :meth:`stop`)."""

    def __init__(
        self,
        data_dir: Path,
        *,
        api_key: str | None = None,
        read_only_api_key: str | None = None,
        optimize_quiet_s: float = 1.0,
        startup_timeout_s: float = 60.0,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.api_key = api_key
        self.read_only_api_key = read_only_api_key
        self.optimize_quiet_s = optimize_quiet_s
        self.startup_timeout_s = startup_timeout_s
        self.registry: Registry | None = None
        self.port = 0
        self._serving = ThreadedServer("Qdrant-compatible server", startup_timeout_s)

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
        if self._serving.running:
            raise RuntimeError("QdrantServer is already running")
        self.registry = Registry(self.data_dir, optimize_quiet_s=self.optimize_quiet_s)
        app = create_app(self.registry, api_key=self.api_key, read_only_api_key=self.read_only_api_key)
        self.port = self._serving.start(app)
        return self

    def stop(self, timeout_s: float = 15.0) -> None:
        """Clean shutdown (every shard closed and flushed); waits at most ``timeout_s``."""
        self._serving.stop(timeout_s)
        self.port = 0

    def __enter__(self) -> QdrantServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
