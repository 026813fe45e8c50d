"""Typed errors of the Cloud Storage emulator; each knows its HTTP status and GCS's error envelope.

The envelope is the one the JSON API answers with, which the google-cloud-storage client turns into
``google.api_core.exceptions`` by status (412 -> ``PreconditionFailed``)::

    {"error": {"code": 412, "message": "...", "errors": [{"domain": "global", "reason": "...", ...}]}}
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any


class GcsError(Exception):
    """An error the emulator answers with instead of running the operation."""

    status: HTTPStatus = HTTPStatus.INTERNAL_SERVER_ERROR
    reason: str = "backendError"

    def __init__(self, message: str, detail: str | None = None, **extra: str):
        super().__init__(message)
        self.message = message
        self.detail = detail or message
        self.extra = extra

    def envelope(self) -> dict[str, Any]:
        """The JSON body GCS sends for this error."""
        item: dict[str, Any] = {"domain": "global", "reason": self.reason, "message": self.detail}
        item.update(self.extra)
        return {"error": {"code": int(self.status), "message": self.message, "errors": [item]}}


class PreconditionFailed(GcsError):
    """An ``ifGenerationMatch``-style condition did not hold: nothing was written or deleted."""

    status = HTTPStatus.PRECONDITION_FAILED
    reason = "conditionNotMet"

    def __init__(self, detail: str, location: str = "If-Match"):
        super().__init__(
            "At least one of the pre-conditions you specified did not hold.",
            detail,
            locationType="header",
            location=location,
        )


class NoSuchObject(GcsError):
    """The object (or the requested generation of it) does not exist."""

    status = HTTPStatus.NOT_FOUND
    reason = "notFound"

    def __init__(self, bucket: str, name: str, generation: str | None = None):
        what = f"{bucket}/{name}" + (f"#{generation}" if generation else "")
        super().__init__(f"No such object: {what}")


class InternalError(GcsError):
    """A handler failed unexpectedly; the request's effect is unknown."""

    def __init__(self, detail: str):
        super().__init__("Internal error in the Cloud Storage emulator.", detail)


class InvalidArgument(GcsError):
    """A query parameter or header has a value GCS would refuse."""

    status = HTTPStatus.BAD_REQUEST
    reason = "invalid"
