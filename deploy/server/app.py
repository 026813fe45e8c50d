"""The model server's HTTP surface: a plain ASGI app (no framework on the hot path).

    GET  {health route}   200 {"status": "ready", ...} once the model is loaded; 503 when broken
    POST {predict route}  Vertex's {"instances": [...], "parameters": {...}} -> {"predictions": [...]}
    GET  /                the web page (a form generated from the manifest's schema)
    GET  /_mlcloud/stats  batching counters (model calls, requests, mean batch)

Errors are JSON ``{"error": {"code", "status", "message", "instance"?, "field"?}}``: 400 for bad
input (naming the instance and field), 413 for a body over the limit, 404/405 for a wrong route or
method, 500 only for a fault of the server (logged with its cause), 503 while it is broken.
"""

from __future__ import annotations

import json
import logging

from mlcloud.deploy.server.jobs import error

log = logging.getLogger("mlcloud.serve")

_JSON = [(b"content-type", b"application/json")]
_HTML = [(b"content-type", b"text/html; charset=utf-8"), (b"cache-control", b"no-cache")]


class ModelApp:
    def __init__(self, config, manifest: dict, batcher, page: bytes | None):
        self.config = config
        self.manifest = manifest
        self.batcher = batcher
        self.page = page
        self.broken: str | None = None
        self.on_startup = None  # called with the running loop before the first request
        self._health = json.dumps({"status": "ready", "name": manifest.get("name"),
                                   "version": manifest.get("version")}).encode()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            return await self._lifespan(receive, send)
        if scope["type"] != "http":
            return
        path, method = scope["path"], scope["method"]
        c = self.config
        if path == c.predict_route:
            if method != "POST":
                return await _send(send, *error(405, f"use POST on {path}"))
            body = await _body(receive, c.max_body)
            if body is None:
                return await _send(send, *error(413, f"the request is over {c.max_body} bytes; "
                                                "split it into smaller requests"))
            if self.broken:
                return await _send(send, *error(503, f"the model server is restarting: {self.broken}"))
            return await _send(send, *await self.batcher.submit(body))
        if method not in ("GET", "HEAD"):
            return await _send(send, *error(405 if path in (c.health_route, "/") else 404,
                                            f"no {method} on {path}"))
        if path == c.health_route:
            if self.broken:
                return await _send(send, *error(503, self.broken))
            return await _send(send, 200, self._health)
        if path == "/" and self.page is not None:
            return await _send(send, 200, self.page, _HTML)
        if path == "/_mlcloud/stats":
            return await _send(send, 200, json.dumps(self.batcher.stats).encode())
        return await _send(send, *error(404, f"no route {path}: predict is POST {c.predict_route}, "
                                        f"health GET {c.health_route}, the page GET /"))

    async def _lifespan(self, receive, send) -> None:
        import asyncio

        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                if self.on_startup is not None:
                    self.on_startup(asyncio.get_running_loop())
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return


async def _body(receive, limit: int) -> bytes | None:
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b""
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body"):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def _send(send, status: int, body: bytes, headers=_JSON) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": headers + [(b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
