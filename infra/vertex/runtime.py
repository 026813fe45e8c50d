"""Serving runtime of the emulator: fetch a model version's artifact, verify it, keep it loaded.

A deployed model is served from its version's ``artifactUri``, a folder
``gs://BUCKET/models/NAME/vN`` holding ``mlcloud.json`` (the manifest) and the artifact the
manifest names (``model.joblib``). Both are read through the Cloud Storage API of the storage
emulator (``mlcloud.deploy.storage.Storage``); ``mlcloud.deploy.serving.Predictor.load`` checks
the artifact's sha256 against the manifest before unpickling, so the emulator runs the same code
as the serving container. The container image of a deployed model is ignored.

Predictors are keyed by deployed model id. mlcloud's errors are mapped to the emulator's typed
errors here: a refused artifact (``UserError``: missing, tampered, wrong runtime) is
FAILED_PRECONDITION, a storage failure (``RemoteError``) UNAVAILABLE, a bad instance
(``InputError``) INVALID_ARGUMENT. sklearn and the predictor are imported lazily.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any, Callable

from .errors import FailedPrecondition, Internal, InvalidArgument, Unavailable, VertexError

log = logging.getLogger("mlcloud.infra.vertex")

Loader = Callable[[str], Any]  # artifact folder URI -> object with .predict(instances, parameters)

MANIFEST = "mlcloud.json"


def storage_loader(storage_url: str) -> Loader:
    """A loader reading artifacts through the Cloud Storage API at ``storage_url``."""

    def load(artifact_uri: str):
        from mlcloud.deploy.serving import Predictor
        from mlcloud.deploy.storage import Storage

        if not artifact_uri.startswith("gs://"):
            raise FailedPrecondition(f"Model artifactUri {artifact_uri!r} is not a gs:// folder.")
        folder = artifact_uri.rstrip("/")
        store = Storage.for_emulator(storage_url)
        with _as_vertex_error(f"Cannot load the model at {artifact_uri}"):
            raw = store.read_bytes(f"{folder}/{MANIFEST}")
            try:
                manifest = json.loads(raw)
                file = manifest.get("artifact", {}).get("file", "model.joblib")
            except (ValueError, AttributeError) as e:
                raise FailedPrecondition(f"{folder}/{MANIFEST} is not a valid manifest: {e}") from e
            artifact = store.read_bytes(f"{folder}/{file}")
            return Predictor.load(artifact, manifest)

    return load


class _as_vertex_error:
    """Context manager: mlcloud errors -> typed emulator errors, keeping the cause."""

    def __init__(self, what: str):
        self.what = what

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        if exc is None or isinstance(exc, VertexError):
            return False
        from mlcloud.deploy.errors import InputError, RemoteError, UserError

        if isinstance(exc, InputError):
            raise InvalidArgument(str(exc)) from exc
        if isinstance(exc, UserError):
            raise FailedPrecondition(f"{self.what}: {exc}") from exc
        if isinstance(exc, RemoteError):
            raise Unavailable(f"{self.what}: {exc}") from exc
        if isinstance(exc, Exception):
            log.exception("%s", self.what)
            raise Internal(f"{self.what}: {type(exc).__name__}: {exc}") from exc
        return False


class _Slot:
    def __init__(self):
        self.ready = threading.Event()
        self.predictor: Any = None
        self.error: VertexError | None = None


class Runtime:
    """Loaded predictors by deployed model id."""

    def __init__(self, loader: Loader):
        self._loader = loader
        self._slots: dict[str, _Slot] = {}
        self._lock = threading.Lock()

    def fetch(self, artifact_uri: str):
        """Load a predictor (blocking) without installing it; raises VertexError."""
        with _as_vertex_error(f"Cannot load the model at {artifact_uri}"):
            return self._loader(artifact_uri)

    def install(self, key: str, predictor) -> None:
        slot = _Slot()
        slot.predictor = predictor
        slot.ready.set()
        with self._lock:
            self._slots[key] = slot

    def load_in_background(self, key: str, artifact_uri: str) -> None:
        """Reload a deployed model after a restart; predict waits for it (see ``get``)."""
        slot = _Slot()
        with self._lock:
            self._slots[key] = slot

        def run():
            try:
                slot.predictor = self.fetch(artifact_uri)
            except VertexError as e:
                log.warning("deployed model %s did not load: %s", key, e.message)
                slot.error = Unavailable(f"Deployed model {key} failed to load: {e.message}")
            finally:
                slot.ready.set()

        threading.Thread(target=run, name=f"vertex-load-{key}", daemon=True).start()

    def unload(self, key: str) -> None:
        with self._lock:
            self._slots.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._slots.clear()

    def get(self, key: str, wait: float):
        """The loaded predictor; waits up to ``wait`` seconds while it loads, then UNAVAILABLE."""
        with self._lock:
            slot = self._slots.get(key)
        if slot is None:
            raise Unavailable(f"Deployed model {key} is not loaded.")
        if not slot.ready.wait(wait):
            raise Unavailable(f"Deployed model {key} is still loading; retry shortly.")
        if slot.error is not None:
            raise slot.error
        return slot.predictor

    def predict(self, key: str, instances: list, parameters: dict | None, wait: float) -> dict:
        predictor = self.get(key, wait)
        with _as_vertex_error(f"Prediction failed on deployed model {key}"):
            return predictor.predict(instances, parameters)
