"""Connect to where models go: real Cloud Storage and Vertex AI, or the local emulators.

One code path: both are the same adapters over the same client libraries; local mode only points
them at loopback URLs with anonymous credentials.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from urllib.parse import urlparse

from mlcloud.deploy.errors import EmulatorUnreachable, UserError
from mlcloud.deploy.settings import Settings
from mlcloud.deploy.storage import Storage


def check_reachable(what: str, url: str, timeout: float = 2.0) -> None:
    """Fail fast, naming the URL, when nothing listens there (never fall back to the cloud)."""
    u = urlparse(url)
    try:
        with socket.create_connection((u.hostname, u.port or 80), timeout=timeout):
            pass
    except OSError as e:
        raise EmulatorUnreachable(what, url) from e


@dataclass
class Target:
    settings: Settings
    storage: Storage
    _vertex: object = field(default=None, repr=False)

    @property
    def vertex(self):
        """The Vertex adapter, created on first use (the client library is slow to import)."""
        if self._vertex is None:
            from mlcloud.deploy.vertex import Vertex

            s = self.settings
            if s.local:
                check_reachable("Vertex AI emulator", s.vertex_emulator)
                self._vertex = Vertex.for_emulator(s.vertex_emulator, s.gcp_project, s.region)
            else:
                self._vertex = Vertex.for_gcp(s.gcp_project, s.region)
        return self._vertex


def connect(settings: Settings) -> Target:
    if settings.local:
        if not settings.storage_emulator or not settings.vertex_emulator:
            raise UserError("the local emulators are not running: run `mlcloud local up`")
        check_reachable("storage emulator", settings.storage_emulator)
        storage = Storage.for_emulator(settings.storage_emulator)
    else:
        storage = Storage.for_gcp(settings.gcp_project)
    return Target(settings, storage)
