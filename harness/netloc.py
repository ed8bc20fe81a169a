"""Where a server listens and whether an address stays on this machine, decided once.

Used by both offline servers (``ragmig serve-pinecone``, ``ragmig serve-qdrant``: refuse to bind a
non-loopback address without an API key), the fault proxy (only loopback upstreams), the Pinecone
adapter (plain http for a loopback host without a scheme) and store identity (any spelling of
loopback names the same store).
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from harness.errors import UsageError

__all__ = ["bind_socket", "hostname_of", "is_loopback"]


def hostname_of(host: str) -> str:
    """The bare host name of ``host``, which may carry a scheme, a port or IPv6 brackets, lower-cased."""
    text = host.strip()
    if "://" in text:
        return (urlsplit(text).hostname or "").lower()
    if text.startswith("[") and "]" in text:
        return text[1 : text.index("]")].lower()
    if text.count(":") == 1:  # host:port (an IPv6 address has several colons)
        text = text.split(":", 1)[0]
    return text.lower()


def is_loopback(host: str) -> bool:
    """True when ``host`` (a name, an address, ``host:port`` or a URL) stays on this machine:
    ``localhost`` and ``*.localhost``, 127.0.0.0/8 and ``::1``."""
    name = hostname_of(host)
    if name in ("localhost", "ip6-localhost") or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


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
