"""Serving in the Vertex emulator: each deployed model is a model-server process of its own.

As Vertex AI runs one container per deployed model, the emulator starts, per deployed model,
``python -m mlcloud.deploy.server`` with exactly the container's contract: ``AIP_STORAGE_URI``
(the version's ``artifactUri``), ``AIP_HEALTH_ROUTE``, ``AIP_PREDICT_ROUTE`` and
``STORAGE_EMULATOR_HOST`` pointing at the storage emulator; it binds 127.0.0.1 on an ephemeral
port and predicts in its own process (``--workers 0``). The server checks the artifact's sha256
against the manifest before unpickling. The container image of a deployed model is ignored.

Servers are keyed by deployed model id. A monitor thread watches them: a server that exits is
reported (``get`` raises UNAVAILABLE saying so, which the endpoint shows in its deployed model's
``status``) and restarted, with a growing pause if it keeps failing; a crash never takes the
emulator down. Each server exits when the emulator does (its standard input is a pipe from us).

mlcloud's errors map to the emulator's typed errors: a refused bundle (the server exits 2:
missing, tampered, wrong runtime) is FAILED_PRECONDITION, a storage failure UNAVAILABLE, a bad
instance (the server answers 400) INVALID_ARGUMENT, a fault of the server INTERNAL.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
import weakref
from pathlib import Path
from typing import Any

from .errors import FailedPrecondition, Internal, InvalidArgument, Unavailable, VertexError

log = logging.getLogger("mlcloud.infra.vertex")

HEALTH, PREDICT = "/health", "/predict"
START_TIMEOUT = 120.0  # seconds for a server to load its model and answer
PREDICT_TIMEOUT = 300.0
MONITOR_EVERY = 0.2  # seconds between checks of the servers
BACKOFF = (0.0, 1.0, 2.0, 5.0, 10.0, 30.0)  # pause before the n-th restart in a row


def _stop_process(proc: subprocess.Popen, timeout: float = 5.0) -> None:
    if proc.poll() is not None:
        return
    try:
        if proc.stdin:
            proc.stdin.close()
        proc.terminate()
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
    except OSError:
        pass


class ModelServer:
    """One model-server process serving the bundle at ``artifact_uri``."""

    def __init__(self, artifact_uri: str, storage_url: str, run_dir: Path):
        if not artifact_uri.startswith("gs://"):
            raise FailedPrecondition(f"Model artifactUri {artifact_uri!r} is not a gs:// folder.")
        self.artifact_uri, self.storage_url, self.run_dir = artifact_uri, storage_url, run_dir
        self.url: str | None = None
        self.proc: subprocess.Popen | None = None
        self._pool = None

    def start(self, timeout: float = START_TIMEOUT) -> "ModelServer":
        """Start the process and wait until it answers; raises VertexError if it cannot load."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        stamp = f"{os.getpid()}-{time.monotonic_ns()}"
        ready = self.run_dir / f"server-{stamp}.json"
        log_file = self.run_dir / "servers.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIP_")}
        env.update(AIP_STORAGE_URI=self.artifact_uri, AIP_HEALTH_ROUTE=HEALTH,
                   AIP_PREDICT_ROUTE=PREDICT, STORAGE_EMULATOR_HOST=self.storage_url,
                   MLCLOUD_LOG_LEVEL="WARNING")
        with log_file.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "mlcloud.deploy.server", "--host", "127.0.0.1", "--port", "0",
                 "--workers", "0", "--ready-file", str(ready), "--exit-with-stdin"],
                stdin=subprocess.PIPE, stdout=out, stderr=out, env=env)
        weakref.finalize(self, _stop_process, self.proc)  # dropped unused: stopped
        deadline = time.monotonic() + timeout
        try:
            while True:
                info = _read_json(ready)
                if info and "error" in info:
                    self.proc.wait(10)
                    cls = FailedPrecondition if info.get("exit_code") == 2 else Unavailable
                    raise cls(f"Cannot load the model at {self.artifact_uri}: {info['error']}")
                if info and info.get("url"):
                    self.url = info["url"]
                    return self
                code = self.proc.poll()
                if code is not None:
                    raise Unavailable(f"The model server for {self.artifact_uri} exited with status "
                                      f"{code} before it answered; see {log_file}")
                if time.monotonic() > deadline:
                    raise Unavailable(f"The model server for {self.artifact_uri} did not answer "
                                      f"within {timeout:.0f} s; see {log_file}")
                time.sleep(0.02)
        except BaseException:
            self.stop()
            raise
        finally:
            ready.unlink(missing_ok=True)

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def exited(self) -> int | None:
        return self.proc.poll() if self.proc else None

    def stop(self) -> None:
        if self.proc is not None:
            _stop_process(self.proc)

    def predict(self, instances: list, parameters: Any) -> dict:
        import urllib3

        if self._pool is None:
            host, port = self.url.rsplit("//", 1)[1].rsplit(":", 1)
            self._pool = urllib3.HTTPConnectionPool(host, int(port), maxsize=16, retries=False)
        body = json.dumps({"instances": instances, **({"parameters": parameters} if parameters else {})})
        try:
            r = self._pool.request("POST", PREDICT, body=body.encode(), timeout=PREDICT_TIMEOUT,
                                   headers={"Content-Type": "application/json"})
        except urllib3.exceptions.HTTPError as e:
            raise Unavailable(f"The model server at {self.url} did not answer ({type(e).__name__}); "
                              "it is restarted if it crashed: retry shortly.") from e
        try:
            answer = json.loads(r.data)
        except ValueError:
            answer = {"error": {"message": r.data[:200].decode(errors="replace")}}
        if r.status == 200:
            return answer
        message = (answer.get("error") or {}).get("message", f"status {r.status}")
        if r.status == 400:
            raise InvalidArgument(message)
        if r.status == 503:
            raise Unavailable(message)
        raise Internal(f"The model server failed: {message}")


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


class Launcher:
    """Starts model servers reading from the storage emulator at ``storage_url``."""

    def __init__(self, storage_url: str, run_dir: Path):
        self.storage_url, self.run_dir = storage_url, Path(run_dir)

    def __call__(self, artifact_uri: str) -> ModelServer:
        return ModelServer(artifact_uri, self.storage_url, self.run_dir).start()

    def check(self, artifact_uri: str, image: str) -> None:
        """The service's rule for its prebuilt scikit-learn containers: the image loads only a
        pickle its Python and scikit-learn read (mlcloud.deploy.checks, as upload and deploy
        check it). Other images (mlcloud's, or the local one) load anything the manifest allows."""
        from mlcloud.deploy import checks, containers
        from mlcloud.deploy.errors import MlcloudError
        from mlcloud.deploy.storage import Storage

        runtime = containers.runtime_of_image(image)
        if runtime is None:
            return
        try:
            manifest = json.loads(Storage.for_emulator(self.storage_url).read_bytes(
                f"{artifact_uri.rstrip('/')}/mlcloud.json"))
            checks.check_runtime({"format": manifest["artifact"].get("format", "joblib"),
                                  "artifact": manifest["artifact"], "runtime": manifest["runtime"]},
                                 runtime)
        except (MlcloudError, ValueError, KeyError) as e:
            raise FailedPrecondition(f"The prebuilt container {image} cannot serve the model at "
                                     f"{artifact_uri}: {e}") from None


class _Slot:
    def __init__(self, uri: str):
        self.uri = uri
        self.ready = threading.Event()
        self.server: ModelServer | None = None
        self.error: VertexError | None = None
        self.restarts = 0
        self.failures = 0  # restarts in a row that did not come up
        self.next_try = 0.0
        self.restarting = False
        self.removed = False


class Runtime:
    """Model servers by deployed model id, watched and restarted."""

    def __init__(self, launcher):
        self._launch = launcher
        self._slots: dict[str, _Slot] = {}
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._queue: list[tuple[str, _Slot]] = []
        self._queue_lock = threading.Lock()
        self._starter: threading.Thread | None = None
        self._monitor = threading.Thread(target=self._watch, name="vertex-model-servers", daemon=True)
        self._monitor.start()

    def check_image(self, artifact_uri: str, image: str) -> None:
        """Refuse (FailedPrecondition) a bundle the deployed image cannot load."""
        check = getattr(self._launch, "check", None)
        if check is not None and image:
            check(artifact_uri, image)

    def fetch(self, artifact_uri: str) -> ModelServer:
        """Start a server for the bundle and wait until it answers; raises VertexError."""
        try:
            return self._launch(artifact_uri)
        except VertexError:
            raise
        except Exception as e:  # noqa: BLE001 - e.g. no more processes: a typed error, logged
            log.exception("starting a model server for %s failed", artifact_uri)
            raise Internal(f"Cannot start a model server for {artifact_uri}: {type(e).__name__}: {e}") from e

    def install(self, key: str, server: ModelServer) -> None:
        slot = _Slot(server.artifact_uri)
        slot.server = server
        slot.ready.set()
        self._replace(key, slot)

    def load_in_background(self, key: str, artifact_uri: str) -> None:
        """Queue a deployed model's server to start after an emulator restart; predict waits for
        it. The queue starts one server at a time (each loads scikit-learn and a model: all at
        once would starve the machine), the ones a predict is waiting for first."""
        slot = _Slot(artifact_uri)
        slot.restarting = True
        self._replace(key, slot)
        with self._queue_lock:
            self._queue.append((key, slot))
            if self._starter is None or not self._starter.is_alive():
                self._starter = threading.Thread(target=self._start_queued, name="vertex-load",
                                                 daemon=True)
                self._starter.start()

    def _start_queued(self) -> None:
        while not self._closed.is_set():
            with self._queue_lock:
                if not self._queue:
                    self._starter = None
                    return
                key, slot = self._queue.pop(0)
            if not slot.removed:
                self._bring_up(key, slot, "starting")

    def _hurry(self, key: str) -> None:
        """A predict waits for this deployed model: start it next."""
        with self._queue_lock:
            for i, (k, _) in enumerate(self._queue):
                if k == key:
                    self._queue.insert(0, self._queue.pop(i))
                    return

    def _replace(self, key: str, slot: _Slot) -> None:
        with self._lock:
            old = self._slots.pop(key, None)
            self._slots[key] = slot
        if old is not None:
            self._retire(old)

    def _retire(self, slot: _Slot) -> None:
        slot.removed = True
        if slot.server is not None:
            slot.server.stop()

    def unload(self, key: str) -> None:
        with self._lock:
            slot = self._slots.pop(key, None)
        if slot is not None:
            self._retire(slot)

    def clear(self) -> None:
        with self._lock:
            slots, self._slots = list(self._slots.values()), {}
        for slot in slots:
            self._retire(slot)

    def close(self) -> None:
        self._closed.set()
        self.clear()

    def get(self, key: str, wait: float) -> ModelServer:
        """The running server; waits up to ``wait`` seconds while it (re)starts, then UNAVAILABLE."""
        with self._lock:
            slot = self._slots.get(key)
        if slot is None:
            raise Unavailable(f"Deployed model {key} is not loaded.")
        if wait > 0 and not slot.ready.is_set():
            self._hurry(key)
        if not slot.ready.wait(wait):
            raise slot.error or Unavailable(f"Deployed model {key} is still loading; retry shortly.")
        if slot.error is not None or slot.server is None:
            raise slot.error or Unavailable(f"Deployed model {key} is not loaded.")
        return slot.server

    def predict(self, key: str, instances: list, parameters: dict | None, wait: float) -> dict:
        return self.get(key, wait).predict(instances, parameters)

    def servers(self) -> dict[str, dict]:
        """What runs for each deployed model (the emulator's private ``/_emulator/servers``)."""
        with self._lock:
            slots = dict(self._slots)
        return {key: {"artifactUri": s.uri, "url": s.server.url if s.server and s.ready.is_set() else None,
                      "pid": s.server.pid if s.server else None, "restarts": s.restarts,
                      "ready": s.ready.is_set() and s.error is None,
                      "message": s.error.message if s.error else ("ready" if s.ready.is_set() else "starting")}
                for key, s in slots.items()}

    # -- watching --------------------------------------------------------------------------------
    def _bring_up(self, key: str, slot: _Slot, why: str) -> None:
        try:
            server = self.fetch(slot.uri)
        except VertexError as e:
            slot.failures += 1
            slot.next_try = time.monotonic() + BACKOFF[min(slot.failures, len(BACKOFF) - 1)]
            log.warning("deployed model %s: %s failed: %s", key, why, e.message)
            slot.error = Unavailable(f"Deployed model {key} is not serving: {e.message} "
                                     f"(restart {slot.restarts}; next try in "
                                     f"{slot.next_try - time.monotonic():.0f} s)")
            slot.restarting = False
            slot.ready.set()
            return
        if slot.removed:
            server.stop()
            return
        slot.server, slot.error, slot.failures, slot.restarting = server, None, 0, False
        slot.ready.set()
        if slot.restarts:
            log.warning("deployed model %s: model server restarted (pid %s)", key, server.pid)

    def _watch(self) -> None:
        while not self._closed.wait(MONITOR_EVERY):
            with self._lock:
                slots = list(self._slots.items())
            for key, slot in slots:
                if slot.restarting or slot.removed or not slot.ready.is_set():
                    continue
                dead = slot.server is None or slot.server.exited() is not None
                if not dead or time.monotonic() < slot.next_try:
                    continue
                code = slot.server.exited() if slot.server else None
                slot.restarts += 1
                cause = (f"its model server exited with status {code}" if code is not None
                         else "its model server did not start")
                log.warning("deployed model %s: %s; restarting it (restart %d)", key, cause, slot.restarts)
                slot.error = Unavailable(f"Deployed model {key} is restarting: {cause} "
                                         f"(restart {slot.restarts}).")
                slot.restarting = True
                slot.ready.clear()
                threading.Thread(target=self._bring_up, args=(key, slot, "restart"),
                                 name=f"vertex-restart-{key}", daemon=True).start()
