"""Request handling of the Cloud Storage emulator: one route table on top of gcp-storage-emulator's.

``gcp_storage_emulator`` serves the JSON, upload, download and XML routes but ignores GCS's write
preconditions. This module reuses its route table (``server.HANDLERS``) and handlers unchanged,
and replaces a few handlers by wrappers that check the preconditions first (``OVERRIDES``). It adds
private routes under ``/_emulator/``. Nothing in the package is patched: the table is a new tuple
and only this module's ``Router`` reads it.

Because the server is single-threaded, the check and the write that follows it run with no other
request in between: a create-only write (``ifGenerationMatch=0``) is atomic.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from gcp_storage_emulator import server as base
from gcp_storage_emulator.exceptions import NotFound
from gcp_storage_emulator.handlers import buckets, objects
from gcp_storage_emulator.storage import Storage

from mlcloud.infra.gcs.errors import GcsError, InternalError, NoSuchObject, PreconditionFailed
from mlcloud.infra.gcs.preconditions import Preconditions

log = logging.getLogger("mlcloud.infra.gcs")

Handler = Callable[[base.Request, base.Response, Storage], Any]

#: REST operations served, and which of them honour preconditions (the rest are the package's).
COVERAGE: tuple[str, ...] = (
    "buckets: list, insert, get, patch, delete, getIamPolicy, setIamPolicy, testIamPermissions",
    "objects.insert uploadType=media|multipart|resumable: ifGeneration[Not]Match, "
    "ifMetageneration[Not]Match (resumable: checked at initiation and at the final chunk)",
    "objects.delete: generation, ifGeneration[Not]Match, ifMetageneration[Not]Match",
    "objects.patch: ifGeneration[Not]Match, ifMetageneration[Not]Match",
    "objects.copy, objects.rewrite: destination if*, source ifSource*",
    "objects.compose: destination if*, sourceObjects[].objectPreconditions.ifGenerationMatch",
    "objects.get, objects.list, download (alt=media, /download/...), restore, acl list, batch",
    "XML API PUT /{bucket}/{object}: x-goog-if-generation-match, x-goog-if-metageneration-match",
    "private: GET /_emulator/health, POST /_emulator/reset, GET /wipe",
)


# --- helpers ----------------------------------------------------------------------------------


def _first(request: base.Request, key: str) -> str | None:
    values = request.query.get(key)
    return values[0] if values else None


def _live(storage: Storage, bucket: str, name: str) -> dict[str, Any] | None:
    try:
        return storage.get_file_obj(bucket, name)
    except NotFound:
        return None


def _require(storage: Storage, bucket: str, name: str | None, conditions: Preconditions) -> None:
    if conditions and name is not None:
        conditions.check(_live(storage, bucket, name), f"{bucket}/{name}")


def _upload_name(request: base.Request, kind: str | None) -> str | None:
    """The object name of an upload request: the ``name`` query parameter wins over metadata."""
    name = _first(request, "name")
    if name is not None:
        return name
    data = request.data
    if kind == "multipart" and isinstance(data, dict):
        return (data.get("meta") or {}).get("name")
    if kind == "resumable" and isinstance(data, dict):
        return data.get("name")
    return None


_CONTENT_RANGE = re.compile(r"bytes (?:(?P<start>\d+)-(?:\d+|\*)|\*)/(?P<total>\d+|\*)")


def _completes(content_range: str | None, chunk_len: int, received: int) -> bool:
    """Whether a resumable PUT with this ``Content-Range`` finishes the upload."""
    if not content_range:
        return True
    match = _CONTENT_RANGE.fullmatch(content_range.strip())
    if match is None or match["total"] == "*":
        return False
    total = int(match["total"])
    if match["start"] is None:
        return received >= total
    return int(match["start"]) + chunk_len >= total


def _fresh_generation(storage: Storage, session: dict[str, Any]) -> None:
    """Give a finishing resumable upload a generation newer than the object it replaces.

    The package stamps the generation at initiation; a write that lands during the upload would
    otherwise leave the finished object with an older generation than the one it overwrites.
    """
    live = _live(storage, session["bucket"], session["name"])
    generation = max(time.time_ns(), int(live["generation"]) + 1 if live else 0)
    old = str(session["generation"])
    session["generation"] = str(generation)
    session["id"] = f"{session['bucket']}/{session['name']}/{generation}"
    if isinstance(session.get("mediaLink"), str):
        session["mediaLink"] = session["mediaLink"].replace(f"generation={old}", f"generation={generation}")


# --- wrapped handlers -------------------------------------------------------------------------


def insert(request: base.Request, response: base.Response, storage: Storage) -> None:
    """objects.insert (media, multipart, resumable initiation) with preconditions."""
    kind = _first(request, "uploadType")
    if kind == "resumable" and "upload_id" in request.query:
        return upload_chunk(request, response, storage)
    bucket = request.params["bucket_name"]
    _require(storage, bucket, _upload_name(request, kind), Preconditions.from_query(request.query))
    objects.insert(request, response, storage)


def upload_chunk(request: base.Request, response: base.Response, storage: Storage) -> None:
    """A resumable upload's PUT; the session URL carries the initiation's query string along."""
    chunk = request.data or b""
    upload_id = _first(request, "upload_id") or ""
    try:
        session = storage.get_resumable_file_obj(upload_id)
    except NotFound:
        return objects.upload_partial(request, response, storage)  # answers 404
    received = storage.get_resumable_byte_count(upload_id)
    if _completes(request.get_header("Content-Range"), len(chunk), received):
        conditions = Preconditions.from_query(request.query)
        _require(storage, session["bucket"], session["name"], conditions)
        _fresh_generation(storage, session)
    objects.upload_partial(request, response, storage)


def delete(request: base.Request, response: base.Response, storage: Storage) -> None:
    """objects.delete; ``generation=N`` deletes only that (live) generation."""
    bucket, name = request.params["bucket_name"], request.params["object_id"]
    generation = _first(request, "generation")
    if generation is not None:
        live = _live(storage, bucket, name)
        if live is None or str(live["generation"]) != generation:
            raise NoSuchObject(bucket, name, generation)
    _require(storage, bucket, name, Preconditions.from_query(request.query))
    objects.delete(request, response, storage)


def patch(request: base.Request, response: base.Response, storage: Storage) -> None:
    """objects.patch (metadata update) with preconditions."""
    bucket, name = request.params["bucket_name"], request.params["object_id"]
    _require(storage, bucket, name, Preconditions.from_query(request.query))
    objects.patch(request, response, storage)


def _copy_like(handler: Handler) -> Handler:
    def wrapped(request: base.Request, response: base.Response, storage: Storage) -> None:
        p = request.params
        _require(storage, p["bucket_name"], p["object_id"], Preconditions.from_query(request.query, "ifSource"))
        _require(storage, p["dest_bucket_name"], p["dest_object_id"], Preconditions.from_query(request.query))
        handler(request, response, storage)

    wrapped.__doc__ = f"{handler.__name__} with destination and source preconditions."
    return wrapped


def compose(request: base.Request, response: base.Response, storage: Storage) -> None:
    """objects.compose with destination and per-source ``ifGenerationMatch``."""
    bucket, name = request.params["bucket_name"], request.params["object_id"]
    body = request.data if isinstance(request.data, dict) else {}
    for source in body.get("sourceObjects") or []:
        wanted = (source.get("objectPreconditions") or {}).get("ifGenerationMatch")
        if wanted is not None:
            Preconditions(generation_match=int(wanted)).check(
                _live(storage, bucket, source["name"]), f"{bucket}/{source['name']}"
            )
    _require(storage, bucket, name, Preconditions.from_query(request.query))
    objects.compose(request, response, storage)


def xml_upload(request: base.Request, response: base.Response, storage: Storage) -> None:
    """XML API PUT with ``x-goog-if-generation-match``; errors in the XML API's shape."""
    bucket, name = request.params["bucket_name"], request.params["object_id"]
    try:
        _require(storage, bucket, name, Preconditions.from_xml_headers(request.get_header))
    except PreconditionFailed as err:
        response.status = HTTPStatus.PRECONDITION_FAILED
        response.write_file(
            "<?xml version='1.0' encoding='UTF-8'?><Error><Code>PreconditionFailed</Code>"
            f"<Message>{err.message}</Message><Details>{err.detail}</Details></Error>",
            content_type="application/xml",
        )
        return
    objects.xml_upload(request, response, storage)


_MULTI_REGIONS = {"US", "EU", "ASIA"}
_DUAL_REGIONS = {"NAM4", "EUR4", "ASIA1"}


def insert_bucket(request: base.Request, response: base.Response, storage: Storage) -> None:
    """Bucket insert that keeps the requested location, as GCS does (the package always answers
    the US multi-region): upper-cased, with its locationType."""
    buckets.insert(request, response, storage)
    name = (request.data or {}).get("name")
    bucket = storage.buckets.get(name) if name else None
    if response.status != HTTPStatus.OK or bucket is None:
        return
    location = str((request.data or {}).get("location") or "US").upper()
    kind = ("multi-region" if location in _MULTI_REGIONS else
            "dual-region" if location in _DUAL_REGIONS or "+" in location else "region")
    bucket.update(location=location, locationType=kind)
    storage.create_bucket(name, bucket)  # persists the updated resource
    response.json(bucket)


def health(request: base.Request, response: base.Response, storage: Storage) -> None:
    """GET /_emulator/health: 200 while the server answers."""
    response.json({"status": "ok", "service": "gcs", "pid": os.getpid()})


def reset(request: base.Request, response: base.Response, storage: Storage) -> None:
    """POST /_emulator/reset[?keep-buckets=1]: delete every object (and bucket)."""
    storage.wipe(keep_buckets=bool(_first(request, "keep-buckets")))
    response.json({"status": "reset"})


# --- route table ------------------------------------------------------------------------------

#: Package handlers replaced by the wrappers above, wherever they appear in its table.
OVERRIDES: dict[Handler, Handler] = {
    buckets.insert: insert_bucket,
    objects.insert: insert,
    objects.upload_partial: upload_chunk,
    objects.delete: delete,
    objects.patch: patch,
    objects.copy: _copy_like(objects.copy),
    objects.rewrite: _copy_like(objects.rewrite),
    objects.compose: compose,
    objects.xml_upload: xml_upload,
}

#: Private routes come first: ``/_emulator/health`` would otherwise match the public-file route.
PRIVATE: tuple[tuple[str, dict[str, Handler]], ...] = (
    (r"^/_emulator/health$", {"GET": health}),
    (r"^/_emulator/reset$", {"POST": reset}),
)

ROUTES: tuple[tuple[re.Pattern[str], dict[str, Handler]], ...] = tuple(
    (re.compile(regex), {method: OVERRIDES.get(fn, fn) for method, fn in handlers.items()})
    for regex, handlers in (*PRIVATE, *base.HANDLERS)
)


def _error_response(handler: base.RequestHandler, err: GcsError) -> base.Response:
    response = base.Response(handler)
    response.status = err.status
    response.json(err.envelope())
    return response


class Router(base.Router):
    """The package's router over ``ROUTES``, answering typed errors with GCS's envelope."""

    def handle(self, method: str) -> None:
        handler = self._request_handler
        method = handler.headers.get("x-http-method-override") or method
        request = base.Request(handler, method)
        try:
            response = self._dispatch(request, method)
        except GcsError as err:
            response = _error_response(handler, err)
        except Exception as exc:  # a handler bug: answer 500 rather than drop the connection
            log.exception("%s %s failed", method, request.path)
            response = _error_response(handler, InternalError(f"{type(exc).__name__}: {exc}"))
        response.close()

    def _dispatch(self, request: base.Request, method: str) -> base.Response:
        response = base.Response(self._request_handler)
        for pattern, handlers in ROUTES:
            match = pattern.fullmatch(request.path)
            if match is None:
                continue
            request.set_match(match)
            fn = handlers.get(method)
            if fn is None and method == "POST" and request.query.get("uploadType") and request.path.endswith("/o"):
                fn = insert  # uploads POSTed without the /upload prefix
            if fn is None:
                break
            request.data  # read the whole body before any answer, so an early 412 is not a reset
            fn(request, response, self._request_handler.storage)
            return response
        response.status = HTTPStatus.NOT_IMPLEMENTED
        return response


class RequestHandler(base.RequestHandler):
    """One request; every method goes through this module's ``Router``."""

    def do_GET(self) -> None:
        Router(self).handle("GET")

    def do_POST(self) -> None:
        Router(self).handle("POST")

    def do_PUT(self) -> None:
        Router(self).handle("PUT")

    def do_PATCH(self) -> None:
        Router(self).handle("PATCH")

    def do_DELETE(self) -> None:
        Router(self).handle("DELETE")

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (base class name)
        log.info("%s %s", self.address_string(), format % args)
