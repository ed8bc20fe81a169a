"""``PineconeServer``: the Pinecone-compatible server on a free loopback port, in a background thread.

    with PineconeServer() as server:
        pc = Pinecone(api_key="any", host=server.url)
        ...
        server.set_faults("my-index", error_rate=0.5, retry_after_s=0)

Stopping it is a clean shutdown: lagged writes are applied and, with a ``data_dir``, every index is
saved, so a new server on the same directory sees everything.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import uvicorn

from harness.clock import Clock
from harness.netloc import bind_socket
from harness.pinecone_local.app import create_app
from harness.pinecone_local.engine import Engine
from harness.pinecone_local.faults import FaultConfig

LOOPBACK = "127.0.0.1"


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
        startup_timeout_s: float = 10.0,
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
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

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
        if self._thread is not None:
            raise RuntimeError("PineconeServer is already running")
        self.engine = Engine(data_dir=self.data_dir, clock=self.clock)
        self.app = create_app(self.engine, api_key=self.api_key, snapshot_interval_s=self.snapshot_interval_s)
        sock = bind_socket(LOOPBACK, 0)
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self.app, log_level="warning", access_log=False, lifespan="on")
        server = uvicorn.Server(config)
        self._server = server
        self._thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name=f"pinecone-local:{self.port}", daemon=True
        )
        self._thread.start()
        # A bounded wait for the server's own readiness flag: real start-up I/O, not a timed test.
        deadline = time.monotonic() + self.startup_timeout_s
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                sock.close()
                raise RuntimeError(f"Pinecone-compatible server did not start within {self.startup_timeout_s:g} s")
            time.sleep(0.005)
        return self

    def stop(self, timeout_s: float = 15.0) -> None:
        """Clean shutdown (lagged writes applied, indexes saved); waits at most ``timeout_s``."""
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

    def __enter__(self) -> PineconeServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
