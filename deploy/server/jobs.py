"""One batch of requests through the model: what a predictor runs, in a worker or in the server.

``run_batch(predictor, bodies)`` takes the raw bodies of several HTTP requests and returns one
``(status, JSON bytes)`` per body, in order. Each body is parsed and checked on its own (a bad one
gets its own 400 and does not touch the others); the rows of every valid request with the same
method go through ONE model call, and each request gets back exactly its own rows' outputs. If that
shared call fails, each request is retried alone, so a failure is answered to the request that
caused it. A failure the input explains (the model raises ``ValueError``/``TypeError`` on it) is a
400 naming the instance; anything else is a 500, logged with its cause.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from mlcloud.deploy.errors import InputError, InstanceError

log = logging.getLogger("mlcloud.serve")

Result = tuple[int, bytes]
_STATUS = {400: "INVALID_ARGUMENT", 413: "INVALID_ARGUMENT", 500: "INTERNAL", 503: "UNAVAILABLE",
           404: "NOT_FOUND", 405: "INVALID_ARGUMENT"}
ROW_SEARCH_LIMIT = 2000  # rows: beyond this a refused request is not searched row by row


def error(code: int, message: str, instance: int | None = None, field: str | None = None) -> Result:
    body: dict[str, Any] = {"code": code, "status": _STATUS.get(code, "UNKNOWN"), "message": message}
    if instance is not None:
        body["instance"] = instance
    if field is not None:
        body["field"] = field
    return code, json.dumps({"error": body}).encode()


def ok(payload: dict) -> Result:
    return 200, json.dumps(payload, allow_nan=False, separators=(",", ":")).encode()


def _parse(predictor, body: bytes):
    try:
        request = json.loads(body)
    except (ValueError, UnicodeDecodeError) as e:
        raise InputError(f"the request body is not JSON: {e}") from None
    if not isinstance(request, dict) or "instances" not in request:
        raise InputError('the request must be a JSON object {"instances": [...], "parameters": {...}}')
    return predictor.prepare(request["instances"], request.get("parameters"))


def _refused(e: InputError) -> Result:
    if isinstance(e, InstanceError):
        return error(400, str(e), e.index, e.field)
    return error(400, str(e))


def _model_error(predictor, method: str, rows: list, e: Exception) -> Result:
    """The answer to one request whose model call raised ``e``."""
    if not isinstance(e, (ValueError, TypeError)):
        log.error("the model failed on a request of %d rows", len(rows), exc_info=e)
        return error(500, f"the model failed: {type(e).__name__}: {e}")
    instance = None
    if 1 < len(rows) <= ROW_SEARCH_LIMIT:
        for i, row in enumerate(rows):
            try:
                predictor.infer(method, [row])
            except (ValueError, TypeError):
                instance = i
                break
    elif len(rows) == 1:
        instance = 0
    where = f"instance {instance}: " if instance is not None else ""
    return error(400, f"{where}the model refused the input: {e}", instance)


def _answer(predictor, method: str, items: list[tuple[int, list]], results: list) -> None:
    """One model call for ``items`` [(request index, rows)]; fills ``results``."""
    rows = [r for _, part in items for r in part]
    try:
        outputs = predictor.infer(method, rows)
    except Exception as e:  # noqa: BLE001 - attributed below, request by request
        if len(items) > 1:
            for item in items:
                _answer(predictor, method, [item], results)
            return
        results[items[0][0]] = _model_error(predictor, method, rows, e)
        return
    start = 0
    for index, part in items:
        try:
            results[index] = ok(predictor.encode(method, outputs[start:start + len(part)]))
        except Exception as e:  # noqa: BLE001 - a fault of ours: logged, 500
            log.error("encoding the answer failed", exc_info=e)
            results[index] = error(500, f"encoding the answer failed: {type(e).__name__}: {e}")
        start += len(part)


def run_batch(predictor, bodies: list[bytes]) -> list[Result]:
    """Answer every body; the valid ones share one model call per method."""
    results: list[Result | None] = [None] * len(bodies)
    groups: dict[str, list[tuple[int, list]]] = {}
    for i, body in enumerate(bodies):
        try:
            prepared = _parse(predictor, body)
        except InputError as e:
            results[i] = _refused(e)
            continue
        except Exception as e:  # noqa: BLE001 - a fault of ours: logged, 500
            log.error("checking a request failed", exc_info=e)
            results[i] = error(500, f"checking the request failed: {type(e).__name__}: {e}")
            continue
        if not prepared.rows:
            results[i] = ok({"predictions": []})
        else:
            groups.setdefault(prepared.method, []).append((i, prepared.rows))
    for method, items in groups.items():
        _answer(predictor, method, items, results)
    return results  # type: ignore[return-value]
