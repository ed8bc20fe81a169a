"""``FaultProxy``: a loopback TCP/HTTP fault proxy with run-time toxics, after Toxiproxy.

Put it between a client and any HTTP store (the Pinecone-compatible server, a Qdrant server)::

    with FaultProxy("127.0.0.1", server.port, seed=7) as proxy:
        index = pc.index(host=f"{proxy.url}/data/{name}")   # the data plane, through the proxy
        with proxy.toxics(error_rate=0.5, error_status=429, retry_after_s=0):
            index.upsert(...)          # half the requests get a 429; the SDK's retries get through

Toxics (``Toxics``, all off by default, switched with ``set_toxics`` / ``clear`` / ``with toxics(...)``):

- ``latency_ms`` ± ``jitter_ms`` before each response (downstream) and ``upstream_latency_ms`` ±
  ``upstream_jitter_ms`` before each request is forwarded (per chunk in TCP mode);
- ``bandwidth_kbps``: downstream bytes paced to this many KiB/s;
- ``reset_rate``: the connection is reset (RST) instead of answering;
- ``timeout_rate``: the request is swallowed and nothing passes; the connection is closed after
  ``timeout_s`` seconds (0: held until the toxics change or the proxy stops), like Toxiproxy's timeout;
- HTTP only — ``error_rate``: the proxy answers ``error_status`` (5xx or 429, with ``Retry-After:
  retry_after_s`` when given) itself WITHOUT forwarding, so the store never sees the request;
  ``paths`` limits the HTTP toxics (reset, timeout, error) to paths starting with one of the prefixes.

In HTTP mode (the default) the proxy parses HTTP/1.1 requests (request line, headers,
``Content-Length`` or chunked body) and responses, so keep-alive connections keep working across
injected answers and pipelined requests are answered in order (one at a time). Decisions are drawn
per request (per connection in TCP mode) from one ``random.Random(seed)``: the same seed and the same
request sequence inject the same faults. The proxy listens on 127.0.0.1 only and forwards only to a
loopback upstream. Every injected fault is appended to ``fault_log``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import random
import socket
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http import HTTPStatus
from types import TracebackType
from typing import Any

from harness.clock import Clock, SystemClock
from harness.errors import ConfigError
from harness.faults.events import FaultEvent, FaultKind
from harness.netloc import is_loopback

__all__ = ["FaultProxy", "Toxics"]

_HEAD_LIMIT = 1 << 20  # largest request/response head we accept (bytes)
_CHUNK = 1 << 16
_STARTUP_TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class Toxics:
    """The proxy's faults. Latencies in ms, rates as fractions 0–1, bandwidth in KiB/s, times in s."""

    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    upstream_latency_ms: float = 0.0
    upstream_jitter_ms: float = 0.0
    bandwidth_kbps: float = 0.0
    reset_rate: float = 0.0
    timeout_rate: float = 0.0
    timeout_s: float = 0.0
    error_rate: float = 0.0
    error_status: int = 503
    retry_after_s: float | None = None
    paths: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in ("latency_ms", "jitter_ms", "upstream_latency_ms", "upstream_jitter_ms", "bandwidth_kbps"):
            if not getattr(self, name) >= 0:
                raise ConfigError(f"toxics: {name} must be >= 0, got {getattr(self, name)}")
        for name in ("reset_rate", "timeout_rate", "error_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"toxics: {name} must be a fraction within 0..1, got {getattr(self, name)}")
        if not (self.error_status == 429 or 500 <= self.error_status <= 599):
            raise ConfigError(f"toxics: error_status must be 429 or a 5xx status, got {self.error_status}")
        if self.timeout_s < 0 or (self.retry_after_s is not None and self.retry_after_s < 0):
            raise ConfigError("toxics: timeout_s and retry_after_s must be >= 0")
        object.__setattr__(self, "paths", tuple(self.paths))

    def applies_to(self, path: str) -> bool:
        """Whether the HTTP toxics apply to a request for ``path``."""
        return not self.paths or any(path.startswith(prefix) for prefix in self.paths)


NO_TOXICS = Toxics()


class _Decision:
    FORWARD = "forward"
    RESET = "reset"
    TIMEOUT = "timeout"
    ERROR = "error"


@dataclass(slots=True)
class _Request:
    method: str
    path: str
    raw: bytes
    close_after: bool


class _BadRequest(Exception):
    pass


def _parse_head(head: bytes) -> tuple[list[str], dict[str, str]]:
    """Start line split in three and headers (lower-cased names; repeated headers joined by ',')."""
    lines = head.decode("latin-1").split("\r\n")
    start = lines[0].split(" ", 2)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise _BadRequest(f"malformed header line {line!r}")
        key = name.strip().lower()
        headers[key] = f"{headers[key]},{value.strip()}" if key in headers else value.strip()
    return start, headers


def _wants_close(version: str, headers: dict[str, str]) -> bool:
    tokens = {t.strip().lower() for t in headers.get("connection", "").split(",")}
    return "close" in tokens or (version == "HTTP/1.0" and "keep-alive" not in tokens)


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes | None:
    """The raw body as framed on the wire; None when it runs until the connection closes."""
    if "chunked" in headers.get("transfer-encoding", "").lower():
        parts: list[bytes] = []
        while True:
            line = await reader.readuntil(b"\r\n")
            parts.append(line)
            size = int(line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while True:  # trailers, then the empty line
                    trailer = await reader.readuntil(b"\r\n")
                    parts.append(trailer)
                    if trailer == b"\r\n":
                        return b"".join(parts)
            parts.append(await reader.readexactly(size + 2))
    if "content-length" in headers:
        try:
            length = int(headers["content-length"])
        except ValueError as exc:
            raise _BadRequest("malformed Content-Length") from exc
        return await reader.readexactly(length) if length > 0 else b""
    return None


def _local_response(status: int, retry_after_s: float | None, close: bool) -> bytes:
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    body = json.dumps({"error": {"code": status, "message": f"{phrase} (injected by FaultProxy)"}}).encode()
    head = [f"HTTP/1.1 {status} {phrase}", "Content-Type: application/json", f"Content-Length: {len(body)}"]
    if retry_after_s is not None:
        head.append(f"Retry-After: {retry_after_s:g}")
    if close:
        head.append("Connection: close")
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


class FaultProxy:
    """A loopback proxy to ``upstream_host:upstream_port`` with switchable toxics; a context manager.

    ``http=False`` proxies raw TCP (gRPC, anything): HTTP toxics are ignored and reset/timeout are
    decided once per connection. The event loop runs in a daemon thread of its own.
    """

    def __init__(
        self,
        upstream_host: str,
        upstream_port: int,
        *,
        listen_port: int = 0,
        seed: int = 0,
        http: bool = True,
        toxics: Toxics | None = None,
        clock: Clock | None = None,
    ) -> None:
        if not is_loopback(upstream_host):
            raise ConfigError(f"FaultProxy forwards to loopback only, got upstream host {upstream_host!r}")
        self.upstream_host = upstream_host
        self.upstream_port = upstream_port
        self.listen_port = listen_port
        self.http = http
        self.clock = clock or SystemClock()
        self._toxics = toxics or NO_TOXICS
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._log: list[FaultEvent] = []
        self._forwarded = 0
        self._connections = 0
        self._port: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self._released: asyncio.Event | None = None

    # -- lifecycle -------------------------------------------------------------------------------------
    @property
    def port(self) -> int:
        """The port the proxy listens on (127.0.0.1)."""
        if self._port is None:
            raise RuntimeError("FaultProxy is not running; use it as a context manager or call start()")
        return self._port

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FaultProxy:
        """Start listening; returns once the port is bound (at most ~10 s)."""
        if self._thread is not None:
            return self
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=self._run_loop, args=(loop,), name="fault-proxy", daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start_server(), loop).result(timeout=_STARTUP_TIMEOUT_S)
        return self

    def stop(self) -> None:
        """Close the listener and every connection, stop the loop thread; idempotent."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self._stop_server(), loop).result(timeout=_STARTUP_TIMEOUT_S)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=_STARTUP_TIMEOUT_S)
        self._loop = self._thread = None
        self._port = None

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @staticmethod
    def _run_loop(loop: asyncio.AbstractEventLoop) -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _start_server(self) -> None:
        self._released = asyncio.Event()
        self._server = await asyncio.start_server(self._on_connection, "127.0.0.1", self.listen_port, limit=_HEAD_LIMIT)
        self._port = self._server.sockets[0].getsockname()[1]

    async def _stop_server(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._handlers):
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
        await asyncio.sleep(0)  # let the transports' close callbacks run before the loop stops

    # -- toxics ----------------------------------------------------------------------------------------
    def set_toxics(self, toxics: Toxics | None = None, /, **changes: Any) -> Toxics:
        """Replace the toxics with ``toxics`` (or none) updated by ``changes``; returns the previous ones.

        Applies to requests that arrive from now on; connections held by a timeout toxic with
        ``timeout_s == 0`` are released (closed).
        """
        new = dataclasses.replace(toxics or NO_TOXICS, **changes) if changes else (toxics or NO_TOXICS)
        previous, self._toxics = self._toxics, new
        loop, released = self._loop, self._released
        if loop is not None and released is not None:
            loop.call_soon_threadsafe(released.set)
        return previous

    def clear(self) -> None:
        """No toxics from now on."""
        self.set_toxics(NO_TOXICS)

    @contextmanager
    def toxics(self, toxics: Toxics | None = None, /, **changes: Any) -> Iterator[FaultProxy]:
        """Inject ``toxics`` updated by ``changes`` inside the block, then restore the previous ones."""
        previous = self.set_toxics(toxics, **changes)
        try:
            yield self
        finally:
            self.set_toxics(previous)

    @property
    def fault_log(self) -> tuple[FaultEvent, ...]:
        """Every injected fault so far (resets, timeouts, injected HTTP errors), in order."""
        with self._lock:
            return tuple(self._log)

    @property
    def forwarded(self) -> int:
        """Requests (HTTP mode) or connections (TCP mode) passed through to the upstream."""
        with self._lock:
            return self._forwarded

    @property
    def connections(self) -> int:
        """Client connections accepted so far."""
        with self._lock:
            return self._connections

    def _record(self, op: str, kind: FaultKind, detail: str = "") -> None:
        with self._lock:
            self._log.append(FaultEvent(at=self.clock.now(), op=op, kind=kind, detail=detail))

    def _decide(self, toxics: Toxics, path: str | None) -> str:
        if path is not None and not toxics.applies_to(path):
            return _Decision.FORWARD
        rng = self._rng
        if toxics.reset_rate and rng.random() < toxics.reset_rate:
            return _Decision.RESET
        if toxics.timeout_rate and rng.random() < toxics.timeout_rate:
            return _Decision.TIMEOUT
        if path is not None and toxics.error_rate and rng.random() < toxics.error_rate:
            return _Decision.ERROR
        return _Decision.FORWARD

    def _delay_s(self, base_ms: float, jitter_ms: float) -> float:
        jitter = self._rng.uniform(-jitter_ms, jitter_ms) if jitter_ms else 0.0
        return max(0.0, base_ms + jitter) / 1000.0

    # -- connections -----------------------------------------------------------------------------------
    async def _on_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        with self._lock:
            self._connections += 1
        try:
            if self.http:
                await self._serve_http(reader, writer)
            else:
                await self._serve_tcp(reader, writer)
        except (
            ConnectionError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            OSError,
            _BadRequest,
            ValueError,
        ):
            pass  # a peer went away or spoke garbage: nothing more to answer
        finally:
            self._handlers.discard(task)
            writer.close()

    async def _reset(self, writer: asyncio.StreamWriter, op: str) -> None:
        self._record(op, FaultKind.RESET)
        sock = writer.get_extra_info("socket")
        if sock is not None:
            # SO_LINGER with a zero timeout makes close() send RST instead of FIN.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()

    async def _hang(self, toxics: Toxics, op: str) -> None:
        self._record(op, FaultKind.TIMEOUT, f"closed after {toxics.timeout_s:g}s" if toxics.timeout_s else "held")
        assert self._released is not None
        self._released.clear()
        if toxics.timeout_s:
            await asyncio.sleep(toxics.timeout_s)
        else:
            await self._released.wait()

    async def _send(self, writer: asyncio.StreamWriter, data: bytes, toxics: Toxics) -> None:
        if toxics.bandwidth_kbps <= 0:
            writer.write(data)
            await writer.drain()
            return
        rate = toxics.bandwidth_kbps * 1024.0  # bytes per second
        step = max(1, int(rate * 0.01))  # ~10 ms slices
        for start in range(0, len(data), step):
            piece = data[start : start + step]
            writer.write(piece)
            await writer.drain()
            await asyncio.sleep(len(piece) / rate)

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        toxics = self._toxics
        decision = self._decide(toxics, None)
        if decision == _Decision.RESET:
            await self._reset(writer, "tcp")
            return
        if decision == _Decision.TIMEOUT:
            await self._hang(toxics, "tcp")
            return
        up_reader, up_writer = await asyncio.open_connection(self.upstream_host, self.upstream_port, limit=_HEAD_LIMIT)
        with self._lock:
            self._forwarded += 1
        try:
            await asyncio.gather(
                self._pipe(reader, up_writer, upstream=True), self._pipe(up_reader, writer, upstream=False)
            )
        finally:
            up_writer.close()

    async def _pipe(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter, *, upstream: bool) -> None:
        while data := await src.read(_CHUNK):
            toxics = self._toxics
            if upstream:
                delay = self._delay_s(toxics.upstream_latency_ms, toxics.upstream_jitter_ms)
            else:
                delay = self._delay_s(toxics.latency_ms, toxics.jitter_ms)
            if delay:
                await asyncio.sleep(delay)
            if upstream:
                dst.write(data)
                await dst.drain()
            else:
                await self._send(dst, data, toxics)
        if dst.can_write_eof():
            dst.write_eof()

    async def _read_request(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> _Request | None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return None  # the client closed between requests
        start, headers = _parse_head(head)
        if len(start) != 3 or not start[2].startswith("HTTP/"):
            raise _BadRequest(f"malformed request line {start!r}")
        method, target, version = start
        if headers.get("expect", "").lower() == "100-continue":
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            await writer.drain()
        body = await _read_body(reader, headers)
        if body is None:
            body = b""  # a request without Content-Length or chunked framing has no body (RFC 9112 §6.3)
        path = target.split("?", 1)[0]
        return _Request(method, path, head + body, _wants_close(version, headers))

    async def _read_response(self, reader: asyncio.StreamReader, method: str) -> tuple[bytes, bool]:
        """The upstream's raw response and whether the connection must close after it."""
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            start, headers = _parse_head(head)
            status = int(start[1]) if len(start) >= 2 and start[1].isdigit() else 0
            if 100 <= status < 200 and status != 101:
                continue  # interim responses: the client already had our own 100 Continue
            break
        close = _wants_close(start[0], headers)
        if method == "HEAD" or status in (204, 304):
            return head, close
        body = await _read_body(reader, headers)
        if body is None:
            return head + await reader.read(), True
        return head + body, close

    async def _serve_http(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        try:
            while True:
                try:
                    request = await self._read_request(reader, writer)
                except _BadRequest:
                    writer.write(_local_response(400, None, close=True))
                    await writer.drain()
                    return
                if request is None:
                    return
                toxics = self._toxics
                op = f"{request.method} {request.path}"
                decision = self._decide(toxics, request.path)
                if decision == _Decision.RESET:
                    await self._reset(writer, op)
                    return
                if decision == _Decision.TIMEOUT:
                    await self._hang(toxics, op)
                    return
                if decision == _Decision.ERROR:
                    self._record(op, FaultKind.HTTP_ERROR, str(toxics.error_status))
                    await self._send(
                        writer, _local_response(toxics.error_status, toxics.retry_after_s, request.close_after), toxics
                    )
                    if request.close_after:
                        return
                    continue
                delay = self._delay_s(toxics.upstream_latency_ms, toxics.upstream_jitter_ms)
                if delay:
                    await asyncio.sleep(delay)
                response, upstream = await self._forward(request, upstream)
                with self._lock:
                    self._forwarded += 1
                delay = self._delay_s(toxics.latency_ms, toxics.jitter_ms)
                if delay:
                    await asyncio.sleep(delay)
                await self._send(writer, response, toxics)
                if upstream is None or request.close_after:
                    return
        finally:
            if upstream is not None:
                upstream[1].close()

    async def _forward(
        self, request: _Request, upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None
    ) -> tuple[bytes, tuple[asyncio.StreamReader, asyncio.StreamWriter] | None]:
        """Send ``request`` upstream and read its response; reconnects once if a kept-alive upstream closed.

        Returns the response and the upstream connection to reuse (None when it must close).
        """
        for attempt in (0, 1):
            fresh = upstream is None
            if upstream is None:
                upstream = await asyncio.open_connection(self.upstream_host, self.upstream_port, limit=_HEAD_LIMIT)
            up_reader, up_writer = upstream
            try:
                up_writer.write(request.raw)
                await up_writer.drain()
                response, close = await self._read_response(up_reader, request.method)
            except (ConnectionError, asyncio.IncompleteReadError):
                up_writer.close()
                upstream = None
                if fresh or attempt:
                    raise
                continue  # the idle upstream connection had been closed: retry once on a new one
            if close:
                up_writer.close()
                return response, None
            return response, upstream
        raise AssertionError("unreachable")
