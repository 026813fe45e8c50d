"""Typed errors of the Vertex AI emulator.

Each error knows its canonical status (``NOT_FOUND``...), the HTTP status Google's REST front end
answers with, and the gRPC code used when the error ends a long-running operation
(``google.rpc.Status``). ``envelope()`` is Google's JSON error body::

    {"error": {"code": 404, "message": "...", "status": "NOT_FOUND"}}

The REST clients turn the HTTP status into ``google.api_core.exceptions`` (404 -> NotFound,
409 -> Conflict, 400 -> BadRequest, 503 -> ServiceUnavailable); the ``status`` string tells
INVALID_ARGUMENT and FAILED_PRECONDITION apart, as with the real service.
"""

from __future__ import annotations


class VertexError(Exception):
    status = "INTERNAL"
    http_status = 500
    grpc_code = 13

    def __init__(self, message: str):
        self.message = message
        super().__init__(message)

    def envelope(self) -> dict:
        return {"error": {"code": self.http_status, "message": self.message, "status": self.status}}

    def rpc_status(self) -> dict:
        """The ``google.rpc.Status`` JSON that goes into a failed operation's ``error``."""
        return {"code": self.grpc_code, "message": self.message}


class InvalidArgument(VertexError):
    status, http_status, grpc_code = "INVALID_ARGUMENT", 400, 3


class FailedPrecondition(VertexError):
    status, http_status, grpc_code = "FAILED_PRECONDITION", 400, 9


class NotFound(VertexError):
    status, http_status, grpc_code = "NOT_FOUND", 404, 5


class AlreadyExists(VertexError):
    status, http_status, grpc_code = "ALREADY_EXISTS", 409, 6


class Aborted(VertexError):
    status, http_status, grpc_code = "ABORTED", 409, 10


class Internal(VertexError):
    status, http_status, grpc_code = "INTERNAL", 500, 13


class Unavailable(VertexError):
    status, http_status, grpc_code = "UNAVAILABLE", 503, 14
