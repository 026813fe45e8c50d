"""Run the model server: bind, load the bundle once, fork the predictors, serve until stopped.

Order matters: the socket is bound first (the port is known at once; connections made while the
model loads wait in the listen backlog and are answered once it is loaded, so health never says
200 before the model is there), then the model is loaded and checked, then the predictor
processes are forked (before any thread or event loop exists), then uvicorn serves.

It stops on SIGTERM or SIGINT (gracefully: requests in flight are answered), when its standard
input closes if ``exit_with_stdin`` (its parent, the Vertex emulator, is gone), or when a
predictor process dies (exit 1, so its supervisor restarts it). With ``ready_file`` it writes
``{"url", "pid"}`` atomically once it answers, or ``{"error", "exit_code", "pid"}`` if the bundle
cannot be loaded.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import threading
import time
from pathlib import Path
from typing import Callable

from mlcloud.deploy.errors import InvalidSetting, MlcloudError
from mlcloud.deploy.server.config import ServerConfig

log = logging.getLogger("mlcloud.serve")


def _write_atomic(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    if host in ("0.0.0.0", "::"):
        host = "127.0.0.1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def serve(config: ServerConfig, *, announce: Callable[[str, dict], None] | None = None,
          sock: socket.socket | None = None) -> int:
    """Serve until stopped; returns the exit code. Raises MlcloudError if the bundle cannot be
    loaded (after writing it to the ready file). ``announce(url, manifest)`` is called once
    the server answers."""
    import uvicorn

    from mlcloud.deploy.server import bundle
    from mlcloud.deploy.server.app import ModelApp
    from mlcloud.deploy.server.batching import Batcher
    from mlcloud.deploy.server.page import render
    from mlcloud.deploy.server.workers import InlinePool, ProcessPool

    bundle.check_source(config.source)
    if sock is None:
        try:
            sock = bind(config.host, config.port)
        except OSError as e:
            raise InvalidSetting("address", f"{config.host}:{config.port}",
                                 f"{e.strerror or e}; pick another with --port (0 = any free port)") from e
    url = url_of(sock)
    try:
        predictor = bundle.load(config.source, storage_emulator=config.storage_emulator,
                                project=config.project)
    except MlcloudError as e:
        if config.ready_file:
            _write_atomic(config.ready_file, {"error": str(e), "exit_code": e.exit_code,
                                              "pid": os.getpid()})
        sock.close()
        raise
    manifest = predictor.manifest
    pool = (ProcessPool(predictor, config.workers, inherited=[sock]) if config.workers
            else InlinePool(predictor))
    if config.workers:
        del predictor  # the workers have it; this process only routes
    batcher = Batcher(pool, max_wait=config.max_wait, max_batch=config.max_batch,
                      max_batch_bytes=config.max_batch_bytes)
    app = ModelApp(config, manifest, batcher, render(manifest, config.predict_route) if config.page else None)
    server = uvicorn.Server(uvicorn.Config(app, lifespan="on", log_level="warning",
                                           access_log=False, timeout_keep_alive=30))
    exit_code = 0

    def broken(why: str) -> None:
        nonlocal exit_code
        app.broken, exit_code = why, 1
        server.should_exit = True

    def started() -> None:
        while not server.started:
            if server.should_exit:
                return
            time.sleep(0.01)
        if config.ready_file:
            _write_atomic(config.ready_file, {"url": url, "pid": os.getpid()})
        if announce:
            announce(url, manifest)

    def stdin_closed() -> None:
        try:  # the raw descriptor: a buffered reader would hold its lock at interpreter exit
            while os.read(0, 4096):
                pass
        except OSError:
            pass
        log.info("standard input closed: stopping")
        server.should_exit = True

    threading.Thread(target=started, name="mlcloud-serve-ready", daemon=True).start()
    if config.exit_with_stdin:
        threading.Thread(target=stdin_closed, name="mlcloud-serve-stdin", daemon=True).start()
    # uvicorn re-raises the stop signal after its graceful shutdown; with these handlers in place
    # (restored by uvicorn before it re-raises) that is a no-op and we return normally.
    previous = {sig: signal.signal(sig, lambda *_: None) for sig in (signal.SIGTERM, signal.SIGINT)}
    app.on_startup = lambda loop: pool.start(loop, broken)
    try:
        server.run(sockets=[sock])
    finally:
        pool.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        sock.close()
        if config.ready_file and config.ready_file.exists():
            try:
                if json.loads(config.ready_file.read_text()).get("pid") == os.getpid():
                    config.ready_file.unlink()
            except (OSError, ValueError):
                pass
    return exit_code
