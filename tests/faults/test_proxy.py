"""FaultProxy in front of a tiny echo app and of the Pinecone-compatible server (real SDK)."""

from __future__ import annotations

import re
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from harness.errors import ConfigError
from harness.faults import FaultKind, FaultProxy, Toxics


class EchoServer:
    """A Starlette app on uvicorn in a thread that counts the requests it saw."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        self.port = 0

        async def echo(request: Request) -> Response:
            body = await request.body()
            self.hits.append(f"{request.method} {request.url.path}")
            return JSONResponse({"method": request.method, "body": body.decode(), "query": request.url.query})

        async def stream(request: Request) -> Response:
            self.hits.append("GET /stream")

            async def parts() -> AsyncIterator[bytes]:
                for i in range(5):
                    yield f"part{i};".encode()

            return StreamingResponse(parts(), media_type="text/plain")  # chunked transfer encoding

        async def big(request: Request) -> Response:
            self.hits.append("GET /big")
            return Response(b"x" * int(request.query_params["n"]), media_type="application/octet-stream")

        app = Starlette(
            routes=[
                Route("/echo", echo, methods=["GET", "POST", "HEAD"]),
                Route("/stream", stream),
                Route("/big", big),
            ]
        )
        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off", ws="none")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> EchoServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:  # bounded wait for real start-up I/O
            assert self.thread.is_alive() and time.monotonic() < deadline, "echo server did not start"
            time.sleep(0.01)
        self.port = self.server.servers[0].sockets[0].getsockname()[1]
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture(scope="module")
def echo() -> Iterator[EchoServer]:
    with EchoServer() as server:
        yield server


@pytest.fixture
def proxy(echo: EchoServer) -> Iterator[FaultProxy]:
    echo.hits.clear()
    with FaultProxy("127.0.0.1", echo.port, seed=4) as p:
        yield p


def test_passes_requests_through_on_one_keep_alive_connection(proxy: FaultProxy, echo: EchoServer) -> None:
    with httpx.Client(base_url=proxy.url) as client:
        for i in range(10):
            response = client.post("/echo", params={"i": i}, content=f"body-{i}")
            assert response.json() == {"method": "POST", "body": f"body-{i}", "query": f"i={i}"}
        assert client.get("/stream").text == "part0;part1;part2;part3;part4;"
        assert client.head("/echo").status_code == 200
        assert len(client.get("/big", params={"n": 300_000}).content) == 300_000
    assert proxy.forwarded == 13 and len(echo.hits) == 13
    assert proxy.connections == 1
    assert proxy.fault_log == ()


def test_injected_429_with_retry_after_is_not_forwarded_and_keeps_the_connection(
    proxy: FaultProxy, echo: EchoServer
) -> None:
    with httpx.Client(base_url=proxy.url) as client:
        with proxy.toxics(error_rate=1.0, error_status=429, retry_after_s=2):
            response = client.post("/echo", content="lost")
        assert response.status_code == 429
        assert response.headers["retry-after"] == "2"
        assert response.json()["error"]["code"] == 429
        assert echo.hits == []  # the upstream never saw it
        assert client.post("/echo", content="next").json()["body"] == "next"
    assert proxy.connections == 1
    assert [(e.op, e.kind, e.detail) for e in proxy.fault_log] == [("POST /echo", FaultKind.HTTP_ERROR, "429")]


def test_error_rate_is_seeded_and_deterministic(echo: EchoServer) -> None:
    def statuses(seed: int) -> list[int]:
        proxy = FaultProxy("127.0.0.1", echo.port, seed=seed, toxics=Toxics(error_rate=0.5))
        with proxy, httpx.Client(base_url=proxy.url) as client:
            return [client.get("/echo").status_code for _ in range(40)]

    first = statuses(21)
    assert first == statuses(21)
    assert first != statuses(22)
    assert set(first) == {200, 503}
    assert 10 <= first.count(503) <= 30


def test_pipelined_requests_are_answered_in_order(proxy: FaultProxy, echo: EchoServer) -> None:
    proxy.set_toxics(error_rate=1.0, paths=("/big",))  # only the middle request is answered locally
    pipelined = (
        b"POST /echo?n=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\none"
        b"GET /big?n=5 HTTP/1.1\r\nHost: x\r\n\r\n"
        b"POST /echo?n=3 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nthree\r\n0\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as sock:
        sock.sendall(pipelined)
        received = b""
        while received.count(b"HTTP/1.1 ") < 3 or not received.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)
            assert chunk, f"connection closed early: {received!r}"
            received += chunk
    statuses = re.findall(rb"HTTP/1\.1 (\d{3}) ", received)
    assert statuses == [b"200", b"503", b"200"]
    assert received.index(b'"body":"one"') < received.index(b"503") < received.index(b'"body":"three"')
    assert echo.hits == ["POST /echo", "POST /echo"]


def test_connection_reset(proxy: FaultProxy, echo: EchoServer) -> None:
    proxy.set_toxics(reset_rate=1.0)
    with httpx.Client(base_url=proxy.url) as client, pytest.raises(httpx.TransportError):
        client.get("/echo")
    assert [e.kind for e in proxy.fault_log] == [FaultKind.RESET]
    assert echo.hits == []
    proxy.clear()
    assert httpx.get(f"{proxy.url}/echo").status_code == 200


def test_timeout_holds_the_request_until_the_client_gives_up(proxy: FaultProxy, echo: EchoServer) -> None:
    proxy.set_toxics(timeout_rate=1.0)
    with httpx.Client(base_url=proxy.url, timeout=0.3) as client, pytest.raises(httpx.ReadTimeout):
        client.get("/echo")
    proxy.set_toxics(timeout_rate=1.0, timeout_s=0.05)  # closes after 50 ms instead
    with httpx.Client(base_url=proxy.url, timeout=5) as client, pytest.raises(httpx.RemoteProtocolError):
        client.get("/echo")
    assert [e.kind for e in proxy.fault_log] == [FaultKind.TIMEOUT, FaultKind.TIMEOUT]
    assert echo.hits == []


def test_latency_and_bandwidth_slow_responses_down(proxy: FaultProxy) -> None:
    # Lower bounds only: an injected wait can be longer than asked, never shorter.
    with httpx.Client(base_url=proxy.url) as client:
        with proxy.toxics(latency_ms=120, upstream_latency_ms=80):
            started = time.monotonic()
            assert client.get("/echo").status_code == 200
            assert time.monotonic() - started >= 0.2
        with proxy.toxics(bandwidth_kbps=200):
            started = time.monotonic()
            assert len(client.get("/big", params={"n": 60 * 1024}).content) == 60 * 1024
            assert time.monotonic() - started >= 0.25


def test_tcp_mode_passes_bytes_and_resets_per_connection(echo: EchoServer) -> None:
    with FaultProxy("127.0.0.1", echo.port, http=False) as p:
        with httpx.Client(base_url=p.url) as client:
            assert client.post("/echo", content="raw").json()["body"] == "raw"
            assert client.get("/stream").text.startswith("part0;")
        p.set_toxics(reset_rate=1.0)
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{p.url}/echo")
        assert [e.op for e in p.fault_log] == ["tcp"]


def test_forwards_to_loopback_only_and_validates_toxics() -> None:
    with pytest.raises(ConfigError, match="loopback"):
        FaultProxy("10.1.2.3", 80)
    with pytest.raises(ConfigError, match="error_status"):
        Toxics(error_status=404)
    with pytest.raises(ConfigError, match="reset_rate"):
        Toxics(reset_rate=2.0)


# -- in front of the Pinecone-compatible server, through the real SDK ---------------------------------


@pytest.fixture
def pinecone_index(request: pytest.FixtureRequest) -> Iterator[tuple[Any, str]]:
    """(control-plane client, index name) of a fresh 2-d index on the session's Pinecone server."""
    pytest.importorskip("harness.pinecone_local.testing", reason="the Pinecone-compatible server is not built yet")
    from pinecone import Pinecone, ServerlessSpec
    from pinecone._internal.bulk.registry import get_registry
    from pinecone._internal.http_client import get_budget_registry

    server = request.getfixturevalue("pinecone_server")
    # The SDK's retry budget is process-wide per host name: start from a full one.
    get_budget_registry()._reset()
    get_registry()._reset()
    pc = Pinecone(api_key="proxy-test", host=server.url)
    name = f"proxy-{uuid.uuid4().hex[:10]}"
    pc.create_index(name=name, dimension=2, metric="dotproduct", spec=ServerlessSpec(cloud="aws", region="us-east-1"))
    yield pc, name
    pc.delete_index(name)
    pc.close()
    get_budget_registry()._reset()
    get_registry()._reset()


def test_pinecone_sdk_gives_up_with_rate_limit_error_after_its_retries(
    pinecone_index: tuple[Any, str], request: pytest.FixtureRequest
) -> None:
    from pinecone.errors import RateLimitError

    pc, name = pinecone_index
    server = request.getfixturevalue("pinecone_server")
    with FaultProxy("127.0.0.1", server.port, seed=1) as proxy:
        index = pc.index(host=f"{proxy.url}/data/{name}")
        index.upsert(vectors=[("a", [1.0, 0.0]), ("b", [0.0, 1.0])])
        with proxy.toxics(error_rate=1.0, error_status=429, retry_after_s=0), pytest.raises(RateLimitError):
            index.query(vector=[1.0, 0.0], top_k=1)
        assert [e.kind for e in proxy.fault_log] == [FaultKind.HTTP_ERROR] * 4  # first attempt + 3 retries
        assert [m.id for m in index.query(vector=[1.0, 0.0], top_k=1).matches] == ["a"]
        index.close()


def test_pinecone_sdk_retries_get_through_half_the_requests_failing(
    pinecone_index: tuple[Any, str], request: pytest.FixtureRequest
) -> None:
    pc, name = pinecone_index
    server = request.getfixturevalue("pinecone_server")
    # Seed 9's draws fail 12 requests in runs of at most three (the SDK makes four attempts).
    with FaultProxy("127.0.0.1", server.port, seed=9) as proxy:
        index = pc.index(host=f"{proxy.url}/data/{name}")
        index.upsert(vectors=[("a", [1.0, 0.0]), ("b", [0.0, 1.0])])
        proxy.set_toxics(error_rate=0.5, error_status=429, retry_after_s=0, paths=(f"/data/{name}/query",))
        answers = [index.query(vector=[0.0, 1.0], top_k=1).matches[0].id for _ in range(12)]
        assert answers == ["b"] * 12
        assert len(proxy.fault_log) == 12
        index.close()
