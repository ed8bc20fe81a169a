"""``PineconeServer``: the Pinecone-compatible server on a free loopback port, in a background thread.

    with PineconeServer() as server:
        pc = Pinecone(api_key="any", host=server.url)
        ...
        server.set_faults("my-index", error_rate=0.5, retry_after_s=0)

Stopping it is a clean shutdown: lagged writes are applied and, with a ``data_dir``, every index is
saved, so a new server on the same directory sees everything.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import Any

from harness.clock import Clock
from harness.pinecone_local.app import create_app
from harness.pinecone_local.engine import Engine
from harness.pinecone_local.faults import FaultConfig
from harness.serving import LOOPBACK, ThreadedServer


class PineconeServer:
    """Start on ``__enter__`` (or :meth:`start`), stop on ``__exit__`` (or :meth:`stop`).

    ``url`` is the control-plane host (``http://127.0.0.1:PORT``); :meth:`index_host` gives an
    index's data-plane host. ``engine`` exposes the in-process engine for fault hooks and checks.
    """

    def __init__(
        self,
        data_dir: Path | None = None,
        api_key: str | None = None,
        clock: Clock | None = None,
        startup_timeout_s: float = 60.0,
        snapshot_interval_s: float = 5.0,
    ) -> None:
        self.data_dir = data_dir
        self.api_key = api_key
        self.clock = clock
        self.startup_timeout_s = startup_timeout_s
        self.snapshot_interval_s = snapshot_interval_s
        self.engine: Engine | None = None
        self.app: Any = None
        self.port = 0
        self._serving = ThreadedServer("Pinecone-compatible server", startup_timeout_s)

    @property
    def url(self) -> str:
        """The control-plane URL, ``http://127.0.0.1:PORT``."""
        if not self.port:
            raise RuntimeError("PineconeServer is not running; use it as a context manager or call start()")
        return f"http://{LOOPBACK}:{self.port}"

    def index_host(self, name: str) -> str:
        """The data-plane host of index ``name`` (``http://127.0.0.1:PORT/data/NAME``)."""
        return f"{self.url}/data/{name}"

    def set_faults(self, index: str, **settings: Any) -> FaultConfig:
        """Set game-day faults on ``index`` (fields of :class:`FaultConfig`); returns the setting."""
        return self._engine().set_faults(index, **settings)

    def clear_faults(self, index: str | None = None) -> None:
        """Switch faults off for ``index`` (every index when None)."""
        self._engine().clear_faults(index)

    def _engine(self) -> Engine:
        if self.engine is None:
            raise RuntimeError("PineconeServer is not running")
        return self.engine

    def start(self) -> PineconeServer:
        """Bind a free loopback port, start serving, and wait (bounded) until requests are accepted."""
        if self._serving.running:
            raise RuntimeError("PineconeServer is already running")
        self.engine = Engine(data_dir=self.data_dir, clock=self.clock)
        self.app = create_app(self.engine, api_key=self.api_key, snapshot_interval_s=self.snapshot_interval_s)
        self.port = self._serving.start(self.app)
        return self

    def stop(self, timeout_s: float = 15.0) -> None:
        """Clean shutdown (lagged writes applied, indexes saved); waits at most ``timeout_s``."""
        self._serving.stop(timeout_s)
        self.port = 0

    def __enter__(self) -> PineconeServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
