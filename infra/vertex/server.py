"""HTTP server of the Vertex AI emulator: a Starlette app over ``routes``, served by uvicorn.

``serve()`` binds the socket itself (port 0 = ephemeral) so the real port is known, then writes
the ready file ``{"url": ..., "pid": ...}`` atomically once ``/_emulator/health`` answers, and
removes it on a clean stop (SIGTERM or SIGINT). Only loopback hosts are accepted: the emulator
has no authentication.

Handlers run in a worker thread (``run_in_threadpool``): the backend saves state to disk and
predict waits for a deployed model's server (``runtime``: one model-server process per deployed
model, restarted if it crashes), neither may block the event loop. After a restart, deployed
models' servers start in the background; a predict for one still loading waits up to 20 s, then
answers 503 UNAVAILABLE. ``GET /_emulator/servers`` lists the servers (pid, url, restarts).
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import signal
import socket
import threading
import time
import urllib.request
from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route as StarletteRoute

from . import routes
from .backend import VertexBackend
from .errors import Internal, NotFound, VertexError
from .runtime import Launcher, Runtime

log = logging.getLogger("mlcloud.infra.vertex")


def build_app(backend: VertexBackend) -> Starlette:
    async def dispatch(request: Request) -> JSONResponse:
        path = request.url.path
        route, params, exists = routes.match(request.method, path)
        try:
            if route is None:
                what = f"method {request.method} on {path}" if exists else f"path {path}"
                raise NotFound(f"The emulator does not implement {what}.")
            text = (await request.body()).decode("utf-8", errors="replace")
            call = routes.Call(params=params, query=dict(request.query_params), text=text)
            body = await run_in_threadpool(route.handler, backend, call)
            return JSONResponse(body)
        except VertexError as e:
            return JSONResponse(e.envelope(), status_code=e.http_status)
        except Exception as e:  # noqa: BLE001 - answer with the envelope, keep the traceback in the log
            log.exception("%s %s failed", request.method, path)
            err = Internal(f"{type(e).__name__}: {e}")
            return JSONResponse(err.envelope(), status_code=err.http_status)

    async def servers(request: Request) -> JSONResponse:
        return JSONResponse({"servers": backend.runtime.servers()})

    methods = ["GET", "POST", "PATCH", "DELETE", "PUT"]
    return Starlette(routes=[StarletteRoute("/_emulator/servers", servers, methods=["GET"]),
                             StarletteRoute("/{path:path}", dispatch, methods=methods)])


def check_loopback(host: str) -> str:
    try:
        ok = ipaddress.ip_address(host).is_loopback
    except ValueError:
        ok = host == "localhost"
    if not ok:
        raise ValueError(f"refusing to bind {host}: the emulator has no authentication, use 127.0.0.1")
    return host


def write_atomic(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)


_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via a proxy


def _announce(url: str, ready_file: Path | None, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            with _DIRECT.open(f"{url}/_emulator/health", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            time.sleep(0.05)
    else:
        return
    log.info("vertex emulator ready at %s", url)
    if ready_file is not None:
        write_atomic(ready_file, {"url": url, "pid": os.getpid()})


def serve(data: Path, storage_url: str, host: str = "127.0.0.1", port: int = 0,
          ready_file: Path | None = None) -> None:
    import uvicorn

    check_loopback(host)
    runtime = Runtime(Launcher(storage_url, Path(data) / "servers"))
    backend = VertexBackend(Path(data), runtime)
    backend.start()
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    real_port = sock.getsockname()[1]
    shown = f"[{host}]" if family == socket.AF_INET6 else host
    url = f"http://{shown}:{real_port}"
    config = uvicorn.Config(build_app(backend), log_level="warning", access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    stop = threading.Event()
    threading.Thread(target=_announce, args=(url, ready_file, stop), daemon=True).start()
    # uvicorn re-raises the stop signal after its graceful shutdown; with these handlers in place
    # (restored by uvicorn before it re-raises) that is a no-op, so the process exits 0.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)
    try:
        server.run(sockets=[sock])
    finally:
        stop.set()
        runtime.close()  # every deployed model's server stops with the emulator
        if ready_file is not None and ready_file.exists():
            try:
                if json.loads(ready_file.read_text()).get("pid") == os.getpid():
                    ready_file.unlink()
            except (OSError, ValueError):
                pass
