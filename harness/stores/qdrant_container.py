"""A real Qdrant server in Docker (testcontainers), for running the ``qdrant://`` adapter against.

``docker_available()`` probes the engine cheaply (one ``GET /_ping`` on its socket, 2 s timeout) so tests
can skip with the reason; ``qdrant_server()`` starts ``qdrant/qdrant`` and yields its ``qdrant://`` base.
"""

from __future__ import annotations

import importlib.util
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

from harness.errors import StoreUnreachableError

QDRANT_IMAGE = "qdrant/qdrant:v1.16.2"
PING_TIMEOUT_S = 2.0
_DEFAULT_SOCKET = "/var/run/docker.sock"


def _docker_endpoint() -> tuple[str, str | tuple[str, int]]:
    """("unix", path) or ("tcp", (host, port)) of the engine named by ``DOCKER_HOST`` (or the default socket)."""
    host = os.environ.get("DOCKER_HOST", f"unix://{_DEFAULT_SOCKET}")
    parts = urlsplit(host)
    if parts.scheme == "unix":
        return "unix", parts.path or _DEFAULT_SOCKET
    if parts.scheme in ("tcp", "http", "https") and parts.hostname:
        return "tcp", (parts.hostname, parts.port or 2375)
    return "unsupported", host


def docker_available() -> tuple[bool, str]:
    """(True, "") when a Docker engine answers ``/_ping`` and testcontainers is installed (the ``docker``
    extra); otherwise (False, why) for a skip message."""
    kind, where = _docker_endpoint()
    if kind == "unsupported":
        return False, f"DOCKER_HOST={where!r} is not a unix:// or tcp:// address"
    if kind == "unix" and not os.path.exists(str(where)):
        return False, f"no Docker engine: {where} does not exist (set DOCKER_HOST to use another one)"
    family = socket.AF_UNIX if kind == "unix" else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.settimeout(PING_TIMEOUT_S)
            sock.connect(where)
            sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            reply = sock.recv(256)
    except OSError as exc:
        return False, f"no Docker engine reachable at {where}: {exc}"
    if not reply.startswith(b"HTTP/") or b" 200 " not in reply.split(b"\r\n", 1)[0]:
        return False, f"Docker engine at {where} did not answer /_ping with 200"
    if importlib.util.find_spec("testcontainers") is None:
        return False, "testcontainers is not installed (pip install 'rag-migration-harness[docker]')"
    return True, ""


@contextmanager
def qdrant_server(image: str = QDRANT_IMAGE) -> Iterator[str]:
    """Start a throw-away Qdrant server; yields ``qdrant://HOST:PORT`` (append ``/COLLECTION``).

    Raises ``StoreUnreachableError`` when no Docker engine is reachable (check ``docker_available()`` first).
    """
    ok, why = docker_available()
    if not ok:
        raise StoreUnreachableError(why)
    from testcontainers.community.qdrant import QdrantContainer  # heavy; only when Docker is there

    with QdrantContainer(image=image) as container:
        yield f"qdrant://{container.get_container_host_ip()}:{container.exposed_rest_port}"
