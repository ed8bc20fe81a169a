"""The Pinecone-compatible ASGI app: control plane, per-index data plane, admin fault hooks.

Routes (shared/reference/pinecone-wire.md):
- control plane: ``GET/POST /indexes``, ``GET/PATCH/DELETE /indexes/{name}`` in the 2026-07 shapes
  (``schema`` + ``deployment``), or the flat 2026-04 shapes when ``X-Pinecone-Api-Version: 2026-04``;
- data plane under ``/data/{index}/…`` (an index's ``host`` is ``http://HOST:PORT/data/{index}``);
  a data-plane path without that prefix goes to the only index when exactly one exists, the way
  Pinecone Local serves one index per port;
- ``GET/POST/DELETE /_admin/indexes/{name}/faults``: game-day faults (see faults.py).

Errors: control plane ``{"error": {"code", "message"}, "status"}``, data plane
``{"code", "message", "details": []}``, 401 as text/plain. Any error leaves the server serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import time
from collections.abc import AsyncIterator, Callable
from urllib.parse import parse_qsl, unquote

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from harness.pinecone_local import wire
from harness.pinecone_local.api_errors import InvalidArgument, NotFound, RequestError
from harness.pinecone_local.calls import Call, control_error, data_error
from harness.pinecone_local.control import admin_call, control_call
from harness.pinecone_local.dataplane import data_call
from harness.pinecone_local.engine import Engine

log = logging.getLogger(__name__)


DATA_ROOTS = frozenset({"vectors", "query", "describe_index_stats", "namespaces", "records", "bulk"})
_DRAIN_LIMIT_BYTES = 64 * 1024 * 1024


def _segments(raw_path: bytes) -> tuple[str, ...]:
    # Split the raw path before percent-decoding: a namespace may contain "/" (sent as %2F).
    return tuple(unquote(part) for part in raw_path.decode("latin-1").split("/") if part)


def _sole_index(engine: Engine) -> str:
    names = [spec.name for spec in engine.list_indexes()]
    if len(names) == 1:
        return names[0]
    if not names:
        raise NotFound("No index exists; create one, then use its host (http://HOST:PORT/data/INDEX)")
    raise InvalidArgument(
        f"{len(names)} indexes exist; address one through its host, http://HOST:PORT/data/INDEX "
        "(describe_index returns it)"
    )


def create_app(engine: Engine | None = None, api_key: str | None = None, snapshot_interval_s: float = 5.0) -> Starlette:
    """The ASGI app over ``engine`` (a fresh in-memory one by default).

    With ``api_key`` every request must carry ``Api-Key: <api_key>`` (else 401). When the engine
    has a data dir, changed indexes are saved every ``snapshot_interval_s`` seconds (0 = only at
    shutdown) and everything, lagged writes included, is saved on a clean shutdown.
    """
    eng = engine if engine is not None else Engine()

    async def handle(request: Request) -> Response:
        scope = request.scope
        segments = _segments(scope.get("raw_path") or scope["path"].encode())
        if api_key is not None:
            given = request.headers.get("api-key", "")
            if not hmac.compare_digest(given.encode(), api_key.encode()):
                return PlainTextResponse("Invalid API Key" if given else "Missing Api-Key header", 401)
        if segments[:1] == ("indexes",) or segments[:2] == ("_admin", "indexes"):
            error: ErrorShape = control_error
        else:
            error = _data_error
        try:
            body = await _read_body(request)
        except RequestError as exc:
            return error(exc.status, exc.code, exc.message)
        call = Call(
            method=request.method,
            segments=segments,
            query=tuple(parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)),
            body=body,
            host=request.headers.get("host") or "{}:{}".format(*(scope.get("server") or ("127.0.0.1", 80))),
            api_version=request.headers.get("x-pinecone-api-version", ""),
        )
        if segments[:1] == ("indexes",):
            return await _guard(error, lambda: control_call(eng, call))
        if len(segments) == 4 and segments[:2] == ("_admin", "indexes") and segments[3] == "faults":
            return await _guard(error, lambda: admin_call(eng, call))
        if len(segments) >= 2 and segments[0] == "data":
            index_name = segments[1]
            data = Call(call.method, segments[2:], call.query, call.body, call.host, call.api_version)
        elif segments[:1] and segments[0] in DATA_ROOTS:
            try:
                index_name, data = _sole_index(eng), call
            except RequestError as exc:
                return error(exc.status, exc.code, exc.message)
        else:
            return control_error(404, "NOT_FOUND", f"No route {call.method} {scope['path']}")
        injector = eng.fault_injector(index_name)
        if injector is not None:
            decision = injector.decide()
            if decision.delay_s > 0:
                await asyncio.sleep(decision.delay_s)  # real I/O wait: the client sees a slow server
            if decision.error_status is not None:
                reason = "Too many requests" if decision.error_status == 429 else "Service unavailable"
                return data_error(
                    decision.error_status,
                    f"{reason} (injected fault on index {index_name!r})",
                    {"Retry-After": f"{decision.retry_after_s:g}"},
                )
        return await _guard(error, lambda: data_call(eng, index_name, data))

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        saver = None
        if eng.data_dir is not None and snapshot_interval_s > 0:
            saver = asyncio.create_task(_save_periodically(eng, snapshot_interval_s))
        try:
            yield
        finally:
            if saver is not None:
                saver.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await saver
            await run_in_threadpool(eng.close)

    methods = ["GET", "POST", "PATCH", "PUT", "DELETE"]
    app = Starlette(routes=[Route("/{path:path}", handle, methods=methods)], lifespan=lifespan)
    app.state.engine = eng
    app.state.api_key = api_key
    return app


ErrorShape = Callable[[int, str, str], Response]


def _data_error(status: int, _code: str, message: str) -> Response:
    return data_error(status, message)


async def _read_body(request: Request) -> bytes:
    """The request body; over the 2 MB request limit, a 413 (after draining the body, see below)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size <= wire.MAX_REQUEST_BYTES:
            chunks.append(chunk)
        elif size > _DRAIN_LIMIT_BYTES:
            break
    # An oversized body is read to the end but not kept: answering before the client has sent
    # it all would reset the connection, and the SDK would retry a transport error instead of
    # raising PayloadTooLargeError.
    wire.check_body_size(size)
    return b"".join(chunks)


async def _guard(error: ErrorShape, work: Callable[[], Response]) -> Response:
    """Run ``work`` off the event loop; a refused request becomes its error response, a bug a 500."""
    try:
        return await run_in_threadpool(work)
    except RequestError as exc:
        return error(exc.status, exc.code, exc.message)
    except Exception as exc:  # the server must keep serving whatever one request does
        log.exception("internal error")
        return error(500, "UNKNOWN", f"Internal error: {type(exc).__name__}: {exc}")


async def _save_periodically(engine: Engine, interval_s: float) -> None:
    """Save changed indexes every ``interval_s`` seconds, backing off so saving takes at most ~10 % of the time.

    A snapshot rewrites a whole index, so during a long backfill a fixed short interval would make
    saving cost grow with the index; waiting 10× the last save's duration bounds that overhead.
    """
    wait_s = interval_s
    while True:
        await asyncio.sleep(wait_s)
        started = time.monotonic()
        try:
            await run_in_threadpool(engine.save)
        except Exception:  # keep saving later; a transient disk error must not stop the server
            log.exception("periodic snapshot failed")
        wait_s = max(interval_s, 10 * (time.monotonic() - started))
