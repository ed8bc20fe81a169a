"""``ragmig serve-qdrant``: the Qdrant-compatible server in the foreground (uvicorn)."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import uvicorn

from harness.errors import UsageError
from harness.netloc import bind_socket, is_loopback
from harness.qdrant_server.app import create_app
from harness.qdrant_server.registry import Registry

__all__ = ["serve"]


def serve(
    host: str,
    port: int,
    data_dir: Path,
    api_key: str | None = None,
    *,
    read_only_api_key: str | None = None,
    optimize_quiet_s: float = 1.0,
) -> None:
    """Serve Qdrant's REST API over Edge shards in ``data_dir`` on ``host:port`` until interrupted.

    Binding anything but loopback without ``api_key`` is a ``UsageError``: the server would take
    writes from anyone who can reach it. Collections persist in ``data_dir`` (Edge's WAL: an
    acknowledged write survives a crash of this process).
    """
    if not is_loopback(host) and not api_key:
        raise UsageError(
            f"refusing to serve on {host} without an API key: anyone who can reach it could write; "
            "pass --api-key (or RAGMIG_QDRANT_SERVER_KEY) or bind 127.0.0.1"
        )
    if optimize_quiet_s < 0:
        raise UsageError(f"--optimize-after must be 0 (only on request) or more seconds, got {optimize_quiet_s:g}")
    data_dir = Path(data_dir)
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot use --data-dir {data_dir}: {exc.strerror or exc}") from None
    sock = bind_socket(host, port)
    try:
        registry = Registry(data_dir, optimize_quiet_s=optimize_quiet_s)
    except Exception as exc:
        sock.close()
        raise UsageError(f"cannot open the collections in {data_dir}: {exc}") from None
    bound_host, bound_port = sock.getsockname()[:2]
    auth = "api key required" if api_key else "no api key"
    print(
        f"ragmig serve-qdrant: http://{bound_host}:{bound_port} (data dir {data_dir}; "
        f"{len(registry.names())} collection(s) loaded; {auth})",
        file=sys.stderr,
        flush=True,
    )
    config = uvicorn.Config(
        create_app(registry, api_key=api_key, read_only_api_key=read_only_api_key),
        log_level="warning",
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=10,
    )
    # uvicorn shuts down gracefully on SIGTERM (closing every shard), then re-raises the signal to the
    # handler that was there before: make that a no-op so a SIGTERM stop exits 0, like Ctrl-C.
    previous = signal.signal(signal.SIGTERM, lambda *_: None)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    except KeyboardInterrupt:
        pass  # Ctrl-C is the normal way to stop it; the lifespan closed (flushed) every shard
    finally:
        signal.signal(signal.SIGTERM, previous)
        sock.close()
    print(f"ragmig serve-qdrant: stopped (data dir {data_dir})", file=sys.stderr, flush=True)
