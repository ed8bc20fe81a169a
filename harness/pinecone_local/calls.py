"""One HTTP exchange as the handlers see it: the parsed request, and JSON / error responses."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.responses import Response

from harness.pinecone_local import wire

_RPC_FOR_STATUS = {400: 3, 401: 16, 403: 7, 404: 5, 409: 6, 413: 8, 422: 3, 429: 8, 500: 13, 503: 14}


@dataclass(frozen=True, slots=True)
class Call:
    """One request, read off the wire: decoded path segments, query pairs, body, headers."""

    method: str
    segments: tuple[str, ...]
    query: tuple[tuple[str, str], ...]
    body: bytes
    host: str
    api_version: str

    def param(self, name: str) -> str | None:
        """The first query-string value of ``name``."""
        return next((v for k, v in self.query if k == name), None)

    def params(self, name: str) -> list[str]:
        """Every query-string value of ``name`` (``ids=a&ids=b``)."""
        return [v for k, v in self.query if k == name]

    def index_host(self, name: str) -> str:
        """The data-plane host of index ``name`` as a client reaching us at ``self.host`` sees it."""
        return f"http://{self.host}/data/{name}"


class JSONBytes(Response):
    """A JSON response from pre-encoded bytes (Starlette adds Content-Length)."""

    media_type = "application/json"


def json_response(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return JSONBytes(wire.dumps(payload), status_code=status, headers=headers)


def control_error(status: int, code: str, message: str) -> Response:
    """The control plane's error shape."""
    return json_response({"error": {"code": code, "message": message}, "status": status}, status)


def data_error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    """The data plane's (gRPC-status) error shape."""
    return json_response({"code": _RPC_FOR_STATUS.get(status, 2), "message": message, "details": []}, status, headers)
