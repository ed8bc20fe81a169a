"""``ragmig serve-pinecone``: the Pinecone-compatible server in the foreground (uvicorn)."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import uvicorn

from harness.errors import UsageError
from harness.pinecone_local.app import create_app
from harness.pinecone_local.engine import Engine


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0 = any free port); a busy port is a UsageError."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY on accepted connections only when the
    # listening socket says TCP, and without it every response waits ~40 ms on delayed ACKs.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise UsageError(
            f"cannot listen on {host}:{port} ({exc.strerror or exc}); pick another --port or stop what is using it"
        ) from None
    except (OverflowError, TypeError) as exc:
        sock.close()
        raise UsageError(f"invalid --host/--port {host}:{port} ({exc})") from None
    return sock


def serve(host: str, port: int, data_dir: Path | None, api_key: str | None) -> None:
    """Serve the control and data planes on ``host:port`` until interrupted (blocking).

    Indexes persist in ``data_dir`` when given (saved every few seconds and on a clean shutdown,
    loaded on start); in memory otherwise. With ``api_key`` every request must carry it.
    """
    engine = Engine(data_dir=data_dir)
    sock = bind_socket(host, port)
    bound_host, bound_port = sock.getsockname()[:2]
    where = f"data dir {engine.data_dir}" if engine.data_dir is not None else "in memory"
    print(
        f"ragmig serve-pinecone: http://{bound_host}:{bound_port} ({where}; "
        f"{len(engine.list_indexes())} index(es) loaded)",
        file=sys.stderr,
        flush=True,
    )
    config = uvicorn.Config(
        create_app(engine, api_key=api_key),
        log_level="warning",
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=10,
    )
    try:
        uvicorn.Server(config).run(sockets=[sock])
    except KeyboardInterrupt:
        # uvicorn re-raises the Ctrl-C it caught after its graceful shutdown (lifespan included, so
        # every index is saved by now): that is the normal way to stop this server, not an error.
        pass
    finally:
        sock.close()
    print(f"ragmig serve-pinecone: stopped ({where})", file=sys.stderr, flush=True)
