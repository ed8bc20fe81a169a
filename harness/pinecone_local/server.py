"""``ragmig serve-pinecone``: the Pinecone-compatible server in the foreground (uvicorn)."""

from __future__ import annotations

import sys
from pathlib import Path

import uvicorn

from harness.errors import UsageError
from harness.netloc import bind_socket, is_loopback
from harness.pinecone_local.app import create_app
from harness.pinecone_local.engine import Engine


def serve(host: str, port: int, data_dir: Path | None, api_key: str | None) -> None:
    """Serve the control and data planes on ``host:port`` until interrupted (blocking).

    Indexes persist in ``data_dir`` when given: every acknowledged write is in the mutation log (synced
    before the response) and snapshots compact it; start-up loads both. In memory otherwise. With
    ``api_key`` every request, admin included, must carry it; without one only a loopback address may
    be bound (``UsageError`` otherwise), so an open server is never reachable from another machine.
    """
    if api_key is None and not is_loopback(host):
        raise UsageError(
            f"refusing to serve on {host} without --api-key: every endpoint, the admin fault hooks included, "
            "would be open to the network; pass --api-key (or RAGMIG_PINECONE_SERVER_KEY), or bind 127.0.0.1"
        )
    if api_key is not None and not api_key.strip():
        raise UsageError("--api-key is empty; pass a non-empty key")
    engine = Engine(data_dir=data_dir)
    try:
        sock = bind_socket(host, port)
    except BaseException:
        engine.close()
        raise
    bound_host, bound_port = sock.getsockname()[:2]
    where = (
        f"data dir {engine.data_dir}, {engine.replayed} logged write(s) replayed"
        if engine.data_dir is not None
        else "in memory"
    )
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
