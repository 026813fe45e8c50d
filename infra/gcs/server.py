"""The Cloud Storage emulator's server: single-threaded, state on disk, stops cleanly on SIGTERM.

One thread serves requests one at a time (``http.server.HTTPServer``, not the threading variant), so
a precondition check and the write after it cannot interleave with another request. The main
thread waits for SIGTERM/SIGINT, then lets the request in flight finish before closing.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from functools import partial
from http.server import HTTPServer
from pathlib import Path

from gcp_storage_emulator.storage import Storage

from mlcloud.infra.gcs.routes import RequestHandler
from mlcloud.infra.ports import remove_ready_file, require_loopback, url_for, write_ready_file

log = logging.getLogger("mlcloud.infra.gcs")


class GcsEmulator:
    """A bound (not yet serving) emulator over the data directory ``data``."""

    def __init__(self, data: Path, host: str = "127.0.0.1", port: int = 0):
        require_loopback(host)
        self.data = data.resolve()
        self.storage = Storage(use_memory_fs=False, data_dir=str(self.data))
        self.httpd = HTTPServer((host, port), partial(RequestHandler, self.storage))
        bound_host, bound_port = self.httpd.server_address[:2]
        self.url = url_for(str(bound_host), int(bound_port))

    def serve_until_signalled(self, ready_file: Path | None = None) -> None:
        """Serve until SIGTERM or SIGINT; write ``ready_file`` once serving, remove it on exit."""
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        thread = threading.Thread(target=self.httpd.serve_forever, name="gcs-emulator", daemon=True)
        thread.start()
        pid = os.getpid()
        try:
            if ready_file is not None:
                write_ready_file(ready_file, self.url, pid)
            log.info("Cloud Storage emulator serving %s (pid %d, data %s)", self.url, pid, self.data)
            stop.wait()
            log.info("stopping")
        finally:
            self.httpd.shutdown()  # waits for the request in flight
            self.httpd.server_close()
            thread.join(timeout=5)
            if ready_file is not None:
                remove_ready_file(ready_file, pid)
