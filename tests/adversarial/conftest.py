"""Helpers for adversarial certification: real ``ragmig certify`` processes on Qdrant Edge pairs and on
a Pinecone (the project's server) → Edge pair whose server misbehaves on cue.

- ``ragmig(...)`` runs the installed ``ragmig`` console script as a child process and returns what it
  printed, its exit code and the reports it wrote (the verdict JSON parsed).
- ``FaultyPineconeServer`` is the project's Pinecone-compatible app (``create_app``) served on a free
  loopback port behind ``RequestFaults``: an ASGI layer that fails chosen requests (by method, path and
  position in the stream of matching requests) — or takes the whole server down at one. Decisions are
  made per request as it arrives, so where a fault lands never depends on timing.
- ``edge(...)`` builds an Edge shard from record batches (closed again, so a child process can open it).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from harness.datasets import synthetic_corpus
from harness.model import CollectionSchema, Distance, RecordBatch
from harness.netloc import bind_socket
from harness.pinecone_local.app import create_app
from harness.pinecone_local.engine import Engine
from harness.stores import open_store

RAGMIG = str(Path(sys.executable).with_name("ragmig"))
N, DIM = 600, 16
PINECONE_N = 300  # the Pinecone source: 3 list pages of 100

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


# -- running ragmig ------------------------------------------------------------------------------------
@dataclass
class Outcome:
    """What one ``ragmig`` process did."""

    code: int
    stdout: str
    stderr: str
    verdict: dict[str, Any] | None
    html: str | None
    junit: str | None

    def statuses(self, status: str) -> set[str]:
        """Ids of the verdict's checks with ``status``."""
        assert self.verdict is not None, self.stderr
        return {c["id"] for c in self.verdict["checks"] if c["status"] == status}

    def check(self, check_id: str) -> dict[str, Any]:
        assert self.verdict is not None, self.stderr
        return next(c for c in self.verdict["checks"] if c["id"] == check_id)


def ragmig(
    out_dir: Path, *args: str, env: dict[str, str] | None = None, reports: bool = True, timeout_s: float = 300
) -> Outcome:
    """Run ``ragmig ARGS`` (for ``certify``, with ``--json``/``--html``/``--junit`` into ``out_dir``)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"json": out_dir / "verdict.json", "html": out_dir / "report.html", "junit": out_dir / "junit.xml"}
    extra = [part for key, path in paths.items() for part in (f"--{key}", str(path))] if reports else []
    proc = subprocess.run(
        [RAGMIG, *args, *extra],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=timeout_s,
        check=False,
    )
    return Outcome(
        code=proc.returncode,
        stdout=proc.stdout,
        stderr=proc.stderr,
        verdict=json.loads(paths["json"].read_text()) if paths["json"].exists() else None,
        html=paths["html"].read_text() if paths["html"].exists() else None,
        junit=paths["junit"].read_text() if paths["junit"].exists() else None,
    )


# -- Edge stores ---------------------------------------------------------------------------------------
def corpus(n: int = N, seed: int = 31) -> list[RecordBatch]:
    return list(synthetic_corpus(n, DIM, seed=seed, batch_size=200))


def edge(path: Path, batches: list[RecordBatch], *, params: str = "", datatype: str = "float32") -> str:
    """An Edge shard at ``path`` holding ``batches`` (creation options in ``params``); returns its URI."""
    uri = f"qdrant-edge://{path}{'?' + params if params else ''}"
    store = open_store(uri)
    store.create(CollectionSchema(DIM, Distance.COSINE, datatype=datatype))
    for batch in batches:
        store.upsert(batch)
    store.close()
    return uri


# -- a Pinecone-compatible server that fails on cue ----------------------------------------------------
@dataclass
class Fault:
    """Fail the ``nth`` request (0-based) matching ``method`` and ``path`` (a regex) and ``times - 1`` more
    after it with ``status``; ``dies``: from that request on the server answers nothing more and stops."""

    method: str
    path: str
    nth: int = 0
    times: int = 1
    status: int = 501  # a 5xx the SDK does not retry: one request, one failure
    dies: bool = False
    seen: int = 0
    injected: int = 0

    def hit(self, method: str, path: str) -> bool:
        if method != self.method or not re.search(self.path, path):
            return False
        self.seen += 1
        if self.seen - 1 < self.nth or (not self.dies and self.injected >= self.times):
            return False
        self.injected += 1
        return True


@dataclass
class RequestFaults:
    """ASGI layer over the Pinecone-compatible app: logs every request and applies ``faults``."""

    app: Callable[[Scope, Receive, Send], Awaitable[None]]
    faults: list[Fault] = field(default_factory=list)
    log: list[str] = field(default_factory=list)
    dead: bool = False
    on_death: Callable[[], None] = lambda: None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        self.log.append(f"{method} {path}")
        fault = next((f for f in self.faults if f.hit(method, path)), None)
        if fault is not None and fault.dies and not self.dead:
            self.dead = True
            self.on_death()
        if fault is None and not self.dead:
            await self.app(scope, receive, send)
            return
        status = 500 if self.dead else fault.status if fault else 500
        body = json.dumps({"error": {"code": "UNKNOWN", "message": "fault injected by the test"}}).encode()
        await send(
            {"type": "http.response.start", "status": status, "headers": [(b"content-type", b"application/json")]}
        )
        await send({"type": "http.response.body", "body": body})


class FaultyPineconeServer:
    """The project's Pinecone-compatible app on a free loopback port, behind ``RequestFaults``."""

    def __init__(self) -> None:
        self.engine = Engine()
        self.faults = RequestFaults(create_app(self.engine), on_death=self._die)
        sock = bind_socket("127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        self._server = uvicorn.Server(uvicorn.Config(self.faults, log_level="critical", access_log=False))
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10  # bounded wait for the server's own readiness flag
        while not self._server.started:
            assert self._thread.is_alive() and time.monotonic() < deadline, "server did not start"
            time.sleep(0.005)

    def _die(self) -> None:
        self._server.should_exit = True  # stops listening: later connections are refused

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(15)


@dataclass
class PineconePair:
    """A Pinecone source on a ``FaultyPineconeServer``, its Edge copy, and what ``ragmig certify``'s own
    validation sends the source before the suite starts (so a fault can be aimed past it)."""

    server: FaultyPineconeServer
    source: str
    target: str
    env: dict[str, str]
    validation_gets: int  # GET /indexes/NAME requests of certify's validation, before the suite's first


@pytest.fixture
def fresh_pinecone_pair(tmp_path: Path) -> Iterator[PineconePair]:
    """A pair on a server of its own (for a test that takes the server down)."""
    server = FaultyPineconeServer()
    try:
        yield make_pinecone_pair(server, tmp_path)
    finally:
        server.stop()


@pytest.fixture(scope="module")
def shared_pinecone_pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PineconePair]:
    """A pair shared by a module's tests; each sets ``server.faults.faults`` before it certifies."""
    server = FaultyPineconeServer()
    try:
        yield make_pinecone_pair(server, tmp_path_factory.mktemp("pinecone-pair"))
    finally:
        server.stop()


def make_pinecone_pair(server: FaultyPineconeServer, tmp_path: Path) -> PineconePair:
    source, target, env = pinecone_pair(server, tmp_path)
    # Certify against a target that does not exist: only the validation runs, so what it sends is known.
    refused = ragmig(tmp_path / "calibrate", "certify", "--source", source, "--target", f"qdrant-edge://{tmp_path / 'none'}",
                     env=env, reports=False)  # fmt: skip
    assert refused.code == 2 and "does not exist" in refused.stderr, refused.stderr
    gets = sum(1 for line in server.faults.log if line.startswith("GET /indexes/"))
    server.faults.log.clear()
    return PineconePair(server, source, target, env, gets)


def pinecone_pair(server: FaultyPineconeServer, tmp_path: Path) -> tuple[str, str, dict[str, str]]:
    """A Pinecone source (string ids, one namespace) on ``server`` and its Edge copy made by ``ragmig
    migrate``; returns (source URI, target URI, the environment naming the server)."""
    env = {"PINECONE_CONTROLLER_HOST": server.url}
    name = f"adv-{uuid.uuid4().hex[:8]}"
    source_uri = f"pinecone://{name}"
    previous = os.environ.get("PINECONE_CONTROLLER_HOST")
    os.environ["PINECONE_CONTROLLER_HOST"] = server.url
    try:
        store = open_store(source_uri)
        store.create(CollectionSchema(DIM, Distance.COSINE))
        for batch in synthetic_corpus(PINECONE_N, DIM, seed=41, batch_size=100, id_kind="str"):
            store.upsert(batch)
        assert store.wait_until_visible(PINECONE_N)  # type: ignore[attr-defined]
        store.close()
    finally:
        if previous is None:
            os.environ.pop("PINECONE_CONTROLLER_HOST", None)
        else:
            os.environ["PINECONE_CONTROLLER_HOST"] = previous
    target_uri = f"qdrant-edge://{tmp_path / 'pinecone-copy'}"
    migrated = ragmig(
        tmp_path / "migrate",
        "migrate",
        "--source",
        source_uri,
        "--target",
        target_uri,
        "--journal",
        str(tmp_path / "journal.sqlite"),
        env=env,
        reports=False,
    )
    assert migrated.code == 0, migrated.stdout + migrated.stderr
    server.faults.log.clear()
    return source_uri, target_uri, env
