"""Requests the server refuses: each carries its HTTP status and both planes' error codes."""

from __future__ import annotations


class RequestError(Exception):
    """A request the server refuses; ``status`` is the HTTP status, ``message`` says why."""

    status = 400
    code = "INVALID_ARGUMENT"  # control-plane error code
    rpc_code = 3  # data-plane (gRPC status) code

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidArgument(RequestError):
    """400: the request is malformed or breaks a limit."""


class Unprocessable(RequestError):
    """422: valid JSON that is not the shape the endpoint takes (a wrong type, a missing field, an unknown
    variant) — Pinecone's answer to a body it cannot deserialize; malformed JSON itself is a 400."""

    status, code = 422, "UNPROCESSABLE_ENTITY"


class NotFound(RequestError):
    """404: no such index, namespace or route."""

    status, code, rpc_code = 404, "NOT_FOUND", 5


class AlreadyExists(RequestError):
    """409: an index or namespace of that name exists."""

    status, code, rpc_code = 409, "ALREADY_EXISTS", 6


class Forbidden(RequestError):
    """403: deletion protection is on."""

    status, code, rpc_code = 403, "FORBIDDEN", 7


class PayloadTooLarge(RequestError):
    """413: the request body is over the size limit."""

    status, code, rpc_code = 413, "PAYLOAD_TOO_LARGE", 8
