"""The query service's HTTP face (Starlette): ``/query``, ``/upsert``, ``/delete``, ``/metrics``, ``/healthz``.

- ``POST /query`` ``{"user_id": str, "vector": [float] | "text_key": str, "k": int = 10}`` →
  200 ``{"backend", "ids", "scores", "cache_hit"}``; a store failure → 503 ``{"error", "backend"}``
  (recorded as an error of that cohort); a malformed body → 400 ``{"error"}`` (not recorded).
- ``POST /upsert`` ``{"ids": [...], "vectors": [[float]], "payloads"?: [{}], "namespaces"?: [str]}`` →
  200 ``{"upserted": n}``; ``POST /delete`` ``{"ids": [...]}`` → 200 ``{"deleted": n}``. Writes go through
  the service's writer; bad records → 400, a store failure → 503.
- ``GET /metrics``: the instance's own Prometheus registry (``ragmig_requests_total{backend,outcome}``,
  ``ragmig_cache_hits_total{backend}``, ``ragmig_query_latency_seconds{backend}``,
  ``ragmig_writes_total{op,outcome}``). ``GET /healthz`` → ``{"status": "ok"}``.
- ``POST /admin/faults`` (only when the app is built with ``faults``; game-day and test stacks):
  ``{"backend": "source"|"target", ...FaultPlan fields}`` switches the faults injected into that
  backend's store (e.g. ``{"backend": "target", "search_error_rate": 0.5}``); ``{}`` fields clear them.

Store calls run in Starlette's threadpool so the event loop keeps accepting requests.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from harness.errors import ConfigError, InvalidInputError
from harness.model import RecordBatch

if TYPE_CHECKING:
    from harness.faults import FaultyStore
    from harness.service.service import QueryService

__all__ = ["ServiceEndpoint", "create_app", "requests_total", "serve_in_thread"]


def _bad_request(message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=400)


async def _json_object(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"the request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise InvalidInputError("the request body must be a JSON object")
    return body


def _ids(body: dict[str, Any]) -> list[Any]:
    ids = body.get("ids")
    if not isinstance(ids, list) or not all(isinstance(i, str | int) and not isinstance(i, bool) for i in ids):
        raise InvalidInputError("'ids' must be a list of strings or integers")
    return ids


def create_app(service: QueryService, faults: Mapping[str, FaultyStore] | None = None) -> Starlette:
    """The Starlette app serving ``service``; with ``faults`` (backend name → its fault layer), also
    ``POST /admin/faults``."""

    async def query(request: Request) -> Response:
        try:
            body = await _json_object(request)
            user_id = body.get("user_id")
            if not isinstance(user_id, str) or not user_id:
                raise InvalidInputError("'user_id' must be a non-empty string")
            vector, text_key, k = body.get("vector"), body.get("text_key"), body.get("k", 10)
            if vector is not None and not (
                isinstance(vector, list) and all(isinstance(v, int | float) and not isinstance(v, bool) for v in vector)
            ):
                raise InvalidInputError("'vector' must be a list of numbers")
            if text_key is not None and not isinstance(text_key, str):
                raise InvalidInputError("'text_key' must be a string")
            result = await run_in_threadpool(service.query, user_id, vector, text_key=text_key, k=k)
        except InvalidInputError as exc:
            return _bad_request(str(exc))
        if not result.ok:
            return JSONResponse({"error": result.error, "backend": str(result.backend)}, status_code=503)
        return JSONResponse(result.to_dict())

    async def upsert(request: Request) -> Response:
        try:
            body = await _json_object(request)
            ids = _ids(body)
            vectors = body.get("vectors")
            if not isinstance(vectors, list) or len(vectors) != len(ids):
                raise InvalidInputError("'vectors' must be a list with one vector per id")
            try:
                batch = RecordBatch.build(ids, vectors, body.get("payloads"), body.get("namespaces"))
            except (TypeError, ValueError) as exc:
                raise InvalidInputError(f"malformed records: {exc}") from None
            count = await run_in_threadpool(service.upsert, batch)
        except InvalidInputError as exc:
            return _bad_request(str(exc))
        except Exception as exc:
            return JSONResponse({"error": f"{type(exc).__name__}: {exc}"}, status_code=503)
        return JSONResponse({"upserted": count})

    async def delete(request: Request) -> Response:
        try:
            ids = _ids(await _json_object(request))
            count = await run_in_threadpool(service.delete, ids)
        except InvalidInputError as exc:
            return _bad_request(str(exc))
        except Exception as exc:
            return JSONResponse({"error": f"{type(exc).__name__}: {exc}"}, status_code=503)
        return JSONResponse({"deleted": count})

    async def metrics(request: Request) -> Response:
        return Response(service.metrics_text(), media_type=CONTENT_TYPE_LATEST)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def admin_faults(request: Request) -> Response:
        try:
            body = await _json_object(request)
            layer = (faults or {}).get(str(body.pop("backend", "")))
            if layer is None:
                raise InvalidInputError(f"'backend' must be one of {sorted(faults or {})}")
            layer.set_faults(None, **body)
        except (InvalidInputError, ConfigError, TypeError, ValueError) as exc:
            return _bad_request(str(exc))
        return JSONResponse({"faults": repr(layer.plan)})

    routes = [
        Route("/query", query, methods=["POST"]),
        Route("/upsert", upsert, methods=["POST"]),
        Route("/delete", delete, methods=["POST"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
    ]
    if faults:
        routes.append(Route("/admin/faults", admin_faults, methods=["POST"]))
    return Starlette(routes=routes)


def requests_total(metrics_text: str, metric: str = "ragmig_requests_total") -> int:
    """The sum over labels of ``metric`` in a Prometheus exposition (e.g. a scrape of ``/metrics``)."""
    from prometheus_client.parser import text_string_to_metric_families

    total = 0.0
    for family in text_string_to_metric_families(metrics_text):
        for sample in family.samples:
            if sample.name == metric:
                total += sample.value
    return int(total)


_STARTUP_TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class ServiceEndpoint:
    """Where a service started by ``serve_in_thread`` listens."""

    host: str
    port: int

    @property
    def url(self) -> str:
        """``http://HOST:PORT``."""
        return f"http://{self.host}:{self.port}"


@contextlib.contextmanager
def serve_in_thread(
    service: QueryService, host: str = "127.0.0.1", port: int = 0, *, startup_timeout_s: float = _STARTUP_TIMEOUT_S
) -> Iterator[ServiceEndpoint]:
    """Serve ``service`` over HTTP (``create_app``) with uvicorn in a background thread.

    Yields the endpoint once the server accepts connections (at most ``startup_timeout_s``);
    shuts it down on exit (in-flight requests get up to 5 s). Binds to loopback only.
    """
    import uvicorn

    if host not in ("127.0.0.1", "localhost"):
        raise ConfigError(f"the query service binds to loopback only (127.0.0.1), got {host!r}")
    config = uvicorn.Config(
        create_app(service),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="off",
        ws="none",
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="query-service", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + startup_timeout_s
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError(f"the query service failed to start on 127.0.0.1:{port} (see the log above)")
            if time.monotonic() >= deadline:
                raise RuntimeError(f"the query service did not start within {startup_timeout_s:g}s")
            time.sleep(0.01)  # a real I/O wait for uvicorn's startup, bounded by startup_timeout_s
        bound_port = int(server.servers[0].sockets[0].getsockname()[1])
        yield ServiceEndpoint("127.0.0.1", bound_port)
    finally:
        server.should_exit = True
        thread.join(timeout=startup_timeout_s)
