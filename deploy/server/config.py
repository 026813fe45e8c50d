"""The model server's settings: one typed object, resolved once from flags and Vertex's ``AIP_*``.

Vertex AI's custom-container contract sets these environment variables in the container:

    AIP_HTTP_PORT      the port to listen on (default 8080)
    AIP_HEALTH_ROUTE   GET: 200 once the model is loaded (default /health)
    AIP_PREDICT_ROUTE  POST {"instances": [...], "parameters": {...}} (default /predict)
    AIP_STORAGE_URI    gs:// folder holding mlcloud.json and model.joblib

``STORAGE_EMULATOR_HOST`` (set by the local emulator, or by a user with a storage emulator of their
own) makes the server read the storage URI through that emulator with anonymous credentials.
Precedence: an explicit value (flag) > environment > default.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Mapping

from mlcloud.deploy.errors import InvalidSetting, UserError

DEFAULT_PORT = 8080
DEFAULT_HEALTH = "/health"
DEFAULT_PREDICT = "/predict"
MAX_WAIT = 0.002  # seconds: the longest a request waits for others to share its model call
MAX_BATCH = 64  # requests in one model call
MAX_BATCH_BYTES = 4 * 1024 * 1024  # request bytes in one model call (one larger request goes alone)
MAX_BODY = 64 * 1024 * 1024


def default_workers() -> int:
    """One predictor process per core this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class ServerConfig:
    """Where the bundle is, where to listen, how to batch and how many predictor processes.

    ``source`` is a ``gs://`` folder or a local folder with ``mlcloud.json`` and the artifact.
    ``workers`` predictor processes are forked after the model is loaded; 0 predicts in the
    server process itself (one process in all, as the Vertex emulator runs each deployed model).
    """

    source: str
    storage_emulator: str | None = None
    project: str | None = None
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    health_route: str = DEFAULT_HEALTH
    predict_route: str = DEFAULT_PREDICT
    workers: int = 1
    max_wait: float = MAX_WAIT
    max_batch: int = MAX_BATCH
    max_batch_bytes: int = MAX_BATCH_BYTES
    max_body: int = MAX_BODY
    ready_file: Path | None = None
    exit_with_stdin: bool = False
    page: bool = True

    def with_(self, **changes) -> "ServerConfig":
        return replace(self, **changes)

    @classmethod
    def resolve(cls, env: Mapping[str, str], **flags) -> "ServerConfig":
        """Flags (None = not given) over ``AIP_*`` and ``STORAGE_EMULATOR_HOST`` over defaults."""
        given = {k: v for k, v in flags.items() if v is not None}
        source = given.pop("source", None) or env.get("AIP_STORAGE_URI")
        if not source:
            raise UserError("no model to serve: name a bundle folder (mlcloud.json + model.joblib) "
                            "or set AIP_STORAGE_URI=gs://BUCKET/models/NAME/VERSION")
        port = given.pop("port", None)
        if port is None:
            raw = env.get("AIP_HTTP_PORT", str(DEFAULT_PORT))
            try:
                port = int(raw)
            except ValueError:
                raise InvalidSetting("AIP_HTTP_PORT", raw, "expected a port number") from None
        if not 0 <= port <= 65535:
            raise InvalidSetting("port", port, "expected 0 (any free port) to 65535")
        routes = {}
        for key, var, default in (("health_route", "AIP_HEALTH_ROUTE", DEFAULT_HEALTH),
                                  ("predict_route", "AIP_PREDICT_ROUTE", DEFAULT_PREDICT)):
            route = given.pop(key, None) or env.get(var) or default
            if not route.startswith("/"):
                raise InvalidSetting(var, route, "a route starts with /")
            routes[key] = route
        if routes["health_route"] == routes["predict_route"] or "/" in routes.values():
            raise InvalidSetting("routes", routes, "health and predict need two routes other than /")
        workers = given.pop("workers", None)
        if workers is None:
            workers = default_workers()
        if workers < 0:
            raise InvalidSetting("workers", workers, "expected 0 (predict in the server process) or more")
        storage = given.pop("storage_emulator", None) or env.get("STORAGE_EMULATOR_HOST") or None
        if storage and "://" not in storage:
            storage = f"http://{storage}"
        project = given.pop("project", None) or env.get("GOOGLE_CLOUD_PROJECT") or None
        return cls(source=str(source), storage_emulator=storage.rstrip("/") if storage else None,
                   project=project, port=port, workers=workers, **routes, **given)
