"""The Qdrant-compatible ASGI app (Starlette): Qdrant's REST routes over a ``Registry`` of Edge shards.

Routes (Qdrant 1.x paths and bodies; ``NAME`` a collection):

| method | path | does |
|---|---|---|
| GET | ``/``, ``/healthz``, ``/livez``, ``/readyz`` | version / liveness (no API key needed, as in Qdrant) |
| GET | ``/collections`` | list collections |
| GET, PUT, PATCH, DELETE | ``/collections/NAME`` | info / create / update (and trigger optimization) / delete |
| GET | ``/collections/NAME/exists`` | ``{"exists": bool}`` |
| PUT | ``/collections/NAME/points`` | upsert (``batch`` or ``points``) |
| POST | ``/collections/NAME/points`` | retrieve by ids |
| GET | ``/collections/NAME/points/ID`` | one point |
| POST | ``/collections/NAME/points/{delete,scroll,count}`` | delete (ids or filter) / scroll / count |
| POST | ``/collections/NAME/points/{query,query/batch,search,search/batch}`` | nearest-vector search |
| POST, PUT | ``/collections/NAME/points/payload`` | set / overwrite payload |
| POST | ``/collections/NAME/points/payload/{delete,clear}`` | delete payload keys / clear payload |
| PUT, DELETE | ``/collections/NAME/index``, ``/collections/NAME/index/FIELD`` | payload indexes |

API keys as Qdrant checks them: ``api-key: KEY`` or ``Authorization: Bearer KEY``; none → 401 "Must
provide an API key or an Authorization bearer token", a wrong one → 401 "Invalid API key or JWT" (plain
text); the read-only key on a write → 403 "Forbidden: Global manage access is required". Keys are
compared in constant time and never logged.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from qdrant_client.http import models as m
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from harness.qdrant_server import points
from harness.qdrant_server.registry import Registry
from harness.qdrant_server.wire import (
    MAX_REQUEST_BYTES,
    ApiError,
    error_response,
    forbidden,
    format_error,
    json_body,
    ok_response,
    parse,
    unauthorized,
)

__all__ = ["create_app", "qdrant_api_version"]

log = logging.getLogger(__name__)

_DRAIN_LIMIT_BYTES = 2 * MAX_REQUEST_BYTES
Handler = Callable[[Registry, dict[str, str], Any], Any]


def qdrant_api_version() -> str:
    """The Qdrant version whose REST models this server speaks: the installed qdrant-client's (its
    models are generated from that Qdrant release's OpenAPI)."""
    try:
        return version("qdrant-client")
    except PackageNotFoundError:  # pragma: no cover - qdrant-client is a dependency
        return "1.0.0"


async def _read_body(request: Request) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size <= MAX_REQUEST_BYTES:
            chunks.append(chunk)
        elif size > _DRAIN_LIMIT_BYTES:
            break
    # An oversized body is read (not kept) before answering: answering early resets the connection.
    if size > MAX_REQUEST_BYTES:
        raise format_error(
            "JSON body", f"JSON payload ({size} bytes) is larger than allowed (limit: {MAX_REQUEST_BYTES} bytes)."
        )
    return b"".join(chunks)


def create_app(registry: Registry, *, api_key: str | None = None, read_only_api_key: str | None = None) -> Starlette:
    """The ASGI app serving ``registry``; with ``api_key`` (and optionally ``read_only_api_key``) every
    request but ``/``, ``/healthz``, ``/livez`` and ``/readyz`` must carry a key."""
    keys = [(k.encode(), writes) for k, writes in ((api_key, True), (read_only_api_key, False)) if k]

    def authorize(request: Request, write: bool) -> Response | None:
        if not keys:
            return None
        given = request.headers.get("api-key")
        if given is None:
            authorization = request.headers.get("authorization", "")
            given = authorization[7:] if authorization.startswith("Bearer ") else None
        if given is None:
            return unauthorized("Must provide an API key or an Authorization bearer token")
        for key, may_write in keys:
            if hmac.compare_digest(given.encode(), key):
                if write and not may_write:
                    error = forbidden("Global manage access is required")
                    return error_response(error.status, error.message)
                return None
        return unauthorized("Invalid API key or JWT")

    def endpoint(handler: Handler, *, write: bool = False, model: Any = None) -> Callable[[Request], Any]:
        async def handle(request: Request) -> Response:
            started = time.perf_counter()
            denied = authorize(request, write)
            if denied is not None:
                return denied
            try:
                raw = await _read_body(request)
                body = None
                if model is not None:
                    data = json_body(raw)
                    if data is None:
                        raise format_error("JSON body", "EOF while parsing a value at line 1 column 0")
                    body = parse(model, data)
                params = dict(request.path_params)
                result = await run_in_threadpool(handler, registry, params, body)
            except ApiError as exc:
                return error_response(exc.status, exc.message, started)
            except Exception as exc:  # the server keeps serving whatever one request does
                log.exception("internal error")
                return error_response(500, f"Service internal error: {type(exc).__name__}: {exc}", started)
            return ok_response(result, started)

        return handle

    def collection_op(fn: Callable[[Any, Any], Any]) -> Handler:
        def run(reg: Registry, params: dict[str, str], body: Any) -> Any:
            return fn(reg.get(params["name"]), body)

        return run

    async def root(request: Request) -> Response:
        return Response(
            f'{{"title":"ragmig serve-qdrant (Qdrant REST over Qdrant Edge)","version":"{qdrant_api_version()}"}}',
            media_type="application/json",
        )

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("healthz check passed")

    async def readyz(request: Request) -> Response:
        return PlainTextResponse("all shards are ready")

    async def no_route(request: Request) -> Response:
        return error_response(404, f"Not found: no route {request.method} {request.url.path}")

    def list_collections(reg: Registry, params: dict[str, str], body: Any) -> Any:
        return {"collections": [{"name": name} for name in reg.names()]}

    def collection_info(reg: Registry, params: dict[str, str], body: Any) -> Any:
        return reg.get(params["name"]).info()

    def collection_exists(reg: Registry, params: dict[str, str], body: Any) -> Any:
        return {"exists": reg.exists(params["name"])}

    def create_collection(reg: Registry, params: dict[str, str], body: m.CreateCollection) -> Any:
        reg.create(params["name"], body)
        return True

    def update_collection(reg: Registry, params: dict[str, str], body: m.UpdateCollection) -> Any:
        reg.update(params["name"], body)
        return True

    def delete_collection(reg: Registry, params: dict[str, str], body: Any) -> Any:
        return reg.delete(params["name"])

    def get_point(reg: Registry, params: dict[str, str], body: Any) -> Any:
        return points.get_point(reg.get(params["name"]), params["id"])

    def delete_index(reg: Registry, params: dict[str, str], body: Any) -> Any:
        return points.delete_index(reg.get(params["name"]), params["field"])

    c = "/collections/{name}"
    routes = [
        Route("/", root, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/livez", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/collections", endpoint(list_collections), methods=["GET"]),
        Route(c, endpoint(collection_info), methods=["GET"]),
        Route(c, endpoint(create_collection, write=True, model=m.CreateCollection), methods=["PUT"]),
        Route(c, endpoint(update_collection, write=True, model=m.UpdateCollection), methods=["PATCH"]),
        Route(c, endpoint(delete_collection, write=True), methods=["DELETE"]),
        Route(f"{c}/exists", endpoint(collection_exists), methods=["GET"]),
        Route(
            f"{c}/points",
            endpoint(collection_op(points.upsert), write=True, model=m.PointInsertOperations),
            methods=["PUT"],
        ),
        Route(f"{c}/points", endpoint(collection_op(points.retrieve), model=m.PointRequest), methods=["POST"]),
        Route(
            f"{c}/points/delete",
            endpoint(collection_op(points.delete_points), write=True, model=m.PointsSelector),
            methods=["POST"],
        ),
        Route(f"{c}/points/scroll", endpoint(collection_op(points.scroll), model=m.ScrollRequest), methods=["POST"]),
        Route(f"{c}/points/count", endpoint(collection_op(points.count), model=m.CountRequest), methods=["POST"]),
        Route(f"{c}/points/query", endpoint(collection_op(points.query), model=m.QueryRequest), methods=["POST"]),
        Route(
            f"{c}/points/query/batch",
            endpoint(collection_op(points.query_batch), model=m.QueryRequestBatch),
            methods=["POST"],
        ),
        Route(
            f"{c}/points/search", endpoint(collection_op(points.search), model=points.SearchRequest), methods=["POST"]
        ),
        Route(
            f"{c}/points/search/batch",
            endpoint(collection_op(points.search_batch), model=points.SearchRequestBatch),
            methods=["POST"],
        ),
        Route(
            f"{c}/points/payload",
            endpoint(collection_op(points.set_payload), write=True, model=m.SetPayload),
            methods=["POST"],
        ),
        Route(
            f"{c}/points/payload",
            endpoint(collection_op(points.overwrite_payload), write=True, model=m.SetPayload),
            methods=["PUT"],
        ),
        Route(
            f"{c}/points/payload/delete",
            endpoint(collection_op(points.delete_payload), write=True, model=m.DeletePayload),
            methods=["POST"],
        ),
        Route(
            f"{c}/points/payload/clear",
            endpoint(collection_op(points.clear_payload), write=True, model=m.PointsSelector),
            methods=["POST"],
        ),
        Route(f"{c}/points/{{id}}", endpoint(get_point), methods=["GET"]),
        Route(
            f"{c}/index",
            endpoint(collection_op(points.create_index), write=True, model=m.CreateFieldIndex),
            methods=["PUT"],
        ),
        Route(f"{c}/index/{{field}}", endpoint(delete_index, write=True), methods=["DELETE"]),
        Route("/{path:path}", no_route, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
    ]

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await run_in_threadpool(registry.close)

    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.registry = registry
    return app
