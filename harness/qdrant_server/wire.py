"""Qdrant's REST envelope, its errors, and request bodies parsed into qdrant-client's own models.

Shapes (Qdrant's ``lib/api/src/rest/models.rs`` and ``src/actix/helpers.rs``):
- success: ``{"result": ..., "status": "ok", "time": seconds}``;
- error: ``{"status": {"error": "<kind>: <what>"}, "time": seconds}`` with the status code of Qdrant's
  ``StorageError`` kind: ``Wrong input`` / ``Bad request`` / ``Format error in JSON body`` 400,
  ``Forbidden`` 403, ``Not found`` 404, ``Wrong input`` on an existing collection 409,
  ``Validation error in ...`` 422, ``Service internal error`` 500;
- 401 (no or wrong API key) is plain text, as Qdrant's auth middleware sends it.

Request bodies are validated with qdrant-client's generated models (``qdrant_client.http.models``, which
come from Qdrant's OpenAPI), so the server accepts what the SDK sends and refuses unknown fields.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
from pydantic import BaseModel, TypeAdapter, ValidationError
from starlette.responses import PlainTextResponse, Response

__all__ = [
    "MAX_REQUEST_BYTES",
    "ApiError",
    "bad_request",
    "error_response",
    "forbidden",
    "format_error",
    "json_body",
    "not_found",
    "ok_response",
    "parse",
    "unauthorized",
    "unsupported",
    "validation_error",
    "wrong_input",
]

MAX_REQUEST_BYTES = 32 * 1024 * 1024
"""Qdrant's default ``service.max_request_size_mb`` (32 MB)."""


class ApiError(Exception):
    """A request the server refuses: ``status`` is the HTTP status, ``message`` Qdrant's error text."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def wrong_input(what: str) -> ApiError:
    """400 ``Wrong input: ...`` (bad vectors, ids, dimensions)."""
    return ApiError(400, f"Wrong input: {what}")


def bad_request(what: str) -> ApiError:
    """400 ``Bad request: ...``."""
    return ApiError(400, f"Bad request: {what}")


def unsupported(what: str) -> ApiError:
    """400 for a Qdrant feature this server does not implement (it says so instead of ignoring it)."""
    return ApiError(400, f"Bad request: {what} is not supported by ragmig serve-qdrant (Qdrant Edge)")


def not_found(what: str) -> ApiError:
    """404 ``Not found: ...``."""
    return ApiError(404, f"Not found: {what}")


def forbidden(what: str) -> ApiError:
    """403 ``Forbidden: ...`` (a read-only API key on a write)."""
    return ApiError(403, f"Forbidden: {what}")


def format_error(where: str, what: str) -> ApiError:
    """400 ``Format error in <where>: ...`` (malformed JSON or a body that does not deserialize)."""
    return ApiError(400, f"Format error in {where}: {what}")


def validation_error(where: str, what: str) -> ApiError:
    """422 ``Validation error in <where>: [...]`` (well-formed but out of range)."""
    return ApiError(422, f"Validation error in {where}: [{what}]")


def ok_response(result: Any, started: float, status_code: int = 200) -> Response:
    """Qdrant's success envelope around ``result`` (already JSON-ready)."""
    body = {"result": result, "status": "ok", "time": time.perf_counter() - started}
    return Response(orjson.dumps(body), status_code=status_code, media_type="application/json")


def error_response(status: int, message: str, started: float | None = None) -> Response:
    """Qdrant's error envelope."""
    elapsed = 0.0 if started is None else time.perf_counter() - started
    body = {"status": {"error": message}, "time": elapsed}
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def unauthorized(message: str) -> Response:
    """401 as Qdrant's auth middleware answers it: the reason as plain text."""
    return PlainTextResponse(message, status_code=401)


def json_body(raw: bytes) -> Any:
    """The decoded body (strict JSON: ``NaN``/``Infinity`` are refused); an empty body is ``None``."""
    if len(raw) > MAX_REQUEST_BYTES:
        raise format_error(
            "JSON body", f"JSON payload ({len(raw)} bytes) is larger than allowed (limit: {MAX_REQUEST_BYTES} bytes)."
        )
    if not raw.strip():
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise format_error("JSON body", str(exc)) from None


_ADAPTERS: dict[Any, TypeAdapter[Any]] = {}


def parse(model: Any, data: Any, where: str = "JSON body") -> Any:
    """``data`` validated as ``model`` (a qdrant-client model or a union of them); 400 when it does not fit.

    Qdrant answers a body that does not deserialize with 400 ``Format error in JSON body: ...``.
    """
    try:
        if isinstance(model, type) and issubclass(model, BaseModel):
            return model.model_validate(data)
        adapter = _ADAPTERS.get(model)
        if adapter is None:
            adapter = _ADAPTERS.setdefault(model, TypeAdapter(model))
        return adapter.validate_python(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        location = ".".join(str(part) for part in first["loc"]) or "<body>"
        raise format_error(where, f"{location}: {first['msg']}") from None
