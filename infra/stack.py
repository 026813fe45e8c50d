"""The local stack: the Cloud Storage and Vertex AI emulators as background processes.

Both bind 127.0.0.1 on ephemeral ports and keep their state under one data directory ("home"),
which the caller resolves (from ``MLCLOUD_HOME`` or ``platformdirs.user_data_dir("mlcloud")``) and
passes in::

    HOME/gcs/          Cloud Storage data          HOME/run/gcs.json     ready files, written by the
    HOME/vertex/       Vertex AI data              HOME/run/vertex.json  emulators: {"url", "pid"}
    HOME/logs/gcs.log  stdout and stderr           HOME/run/stack.lock   serialises up/down/ensure
    HOME/logs/vertex.log

A service counts as running only if its ready file names a live emulator process that answers its
health route; anything else is stale. ``up`` starts Cloud Storage first, then Vertex AI with Cloud
Storage's URL; if Cloud Storage had to be (re)started, a running Vertex AI emulator is restarted too,
since it would still point at the old URL.
"""

from __future__ import annotations

import fcntl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from mlcloud.deploy.errors import EmulatorUnreachable
from mlcloud.infra import processes
from mlcloud.infra.ports import read_ready_file, remove_ready_file

SERVICES: tuple[str, ...] = ("gcs", "vertex")
_MODULES = {"gcs": "mlcloud.infra.gcs", "vertex": "mlcloud.infra.vertex"}
_TITLES = {"gcs": "Cloud Storage emulator", "vertex": "Vertex AI emulator"}


class EmulatorDidNotStart(EmulatorUnreachable):
    """An emulator the stack started did not become healthy; the message ends with its log."""

    def __init__(self, what: str, url: str, reason: str, log_file: Path):
        super().__init__(what, url)
        self.reason, self.log_file = reason, log_file
        tail = processes.log_tail(log_file)
        message = f"{what} did not start: {reason}; see {log_file}"
        if tail:
            message += f" (last lines below)\n{tail}"
        self.args = (message,)


@dataclass(frozen=True)
class StackPaths:
    """Where the stack keeps data, ready files and logs under ``home``."""

    home: Path

    @property
    def run(self) -> Path:
        return self.home / "run"

    @property
    def logs(self) -> Path:
        return self.home / "logs"

    @property
    def lock(self) -> Path:
        return self.run / "stack.lock"

    def data(self, service: str) -> Path:
        return self.home / service

    def ready(self, service: str) -> Path:
        return self.run / f"{service}.json"

    def log(self, service: str) -> Path:
        return self.logs / f"{service}.log"


@dataclass(frozen=True)
class ServiceStatus:
    """One emulator: whether its process runs, whether it answers, where, and its log."""

    name: str
    running: bool
    healthy: bool
    url: str | None
    pid: int | None
    log_file: Path
    already_running: bool = False  # after up/ensure: it was healthy before the call

    @property
    def ok(self) -> bool:
        return self.running and self.healthy


@dataclass(frozen=True)
class StackStatus:
    """Every service of the stack under ``home``."""

    home: Path
    services: tuple[ServiceStatus, ...]

    def __getitem__(self, name: str) -> ServiceStatus:
        for service in self.services:
            if service.name == name:
                return service
        raise KeyError(name)

    @property
    def gcs(self) -> ServiceStatus:
        return self["gcs"]

    @property
    def vertex(self) -> ServiceStatus:
        return self["vertex"]

    @property
    def healthy(self) -> bool:
        return all(s.ok for s in self.services)


def _probe(paths: StackPaths, name: str) -> ServiceStatus:
    info = read_ready_file(paths.ready(name))
    if info is None:
        return ServiceStatus(name, False, False, None, None, paths.log(name))
    running = processes.pid_alive(info.pid) and processes.runs_module(info.pid, _MODULES[name])
    ok = running and processes.healthy(info.url)
    return ServiceStatus(name, running, ok, info.url, info.pid, paths.log(name))


def status(home: Path) -> StackStatus:
    """Probe each service: ready file, process, health route. Starts and stops nothing."""
    paths = StackPaths(home)
    return StackStatus(home, tuple(_probe(paths, name) for name in SERVICES))


@contextmanager
def _locked(paths: StackPaths) -> Iterator[None]:
    """Hold the stack's lock file, so two ``up`` calls cannot start two copies of a service."""
    paths.run.mkdir(parents=True, exist_ok=True)
    with paths.lock.open("a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _stop(paths: StackPaths, name: str, timeout: float) -> None:
    """Stop the service named by the ready file if it is ours and alive; remove the ready file."""
    info = read_ready_file(paths.ready(name))
    if info is not None and processes.pid_alive(info.pid) and processes.runs_module(info.pid, _MODULES[name]):
        processes.terminate(info.pid, timeout)
    remove_ready_file(paths.ready(name))


def _command(paths: StackPaths, name: str, gcs_url: str | None) -> list[str]:
    args = [sys.executable, "-m", _MODULES[name], "--data", str(paths.data(name))]
    if name == "gcs":
        args += ["--host", "127.0.0.1"]
    else:
        args += ["--storage-url", str(gcs_url)]
    return args + ["--port", "0", "--ready-file", str(paths.ready(name))]


def _start(
    paths: StackPaths, name: str, gcs_url: str | None, timeout: float, env: Mapping[str, str] | None
) -> ServiceStatus:
    """Start one emulator detached, and wait until its ready file names it and it is healthy."""
    ready, log_file = paths.ready(name), paths.log(name)
    remove_ready_file(ready)
    paths.data(name).mkdir(parents=True, exist_ok=True)
    paths.logs.mkdir(parents=True, exist_ok=True)
    command = _command(paths, name, gcs_url)
    with log_file.open("ab") as log:
        log.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} starting: {' '.join(command)}\n".encode())
        log.flush()
        proc = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, env=dict(env) if env is not None else None,
        )
    deadline = time.monotonic() + timeout
    url = "(no URL yet)"
    while True:
        code = proc.poll()
        if code is not None:
            raise EmulatorDidNotStart(_TITLES[name], url, f"it exited with status {code}", log_file)
        info = read_ready_file(ready)
        if info is not None and info.pid == proc.pid:
            url = info.url
            if processes.healthy(url):
                # Reap it whenever it exits, so a long-lived caller keeps no zombie (and the
                # Popen is not collected while the process runs).
                threading.Thread(target=proc.wait, name=f"reap-{name}", daemon=True).start()
                return ServiceStatus(name, True, True, url, proc.pid, log_file)
        if time.monotonic() >= deadline:
            processes.terminate(proc.pid, timeout=5.0)
            proc.poll()
            remove_ready_file(ready)
            raise EmulatorDidNotStart(
                _TITLES[name], url, f"it was not healthy within {timeout:.0f} s", log_file
            )
        time.sleep(0.05)


def up(
    home: Path,
    *,
    services: Sequence[str] = SERVICES,
    timeout: float = 60.0,
    env: Mapping[str, str] | None = None,
    storage_url: str | None = None,
) -> StackStatus:
    """Start every service in ``services`` that is not running and healthy; wait for health.

    ``env`` is the child processes' environment (default: this process's). Raises
    ``EmulatorDidNotStart`` (an ``EmulatorUnreachable``) with the log's last lines if a service does
    not become healthy within ``timeout`` seconds. Selecting ``vertex`` implies ``gcs``.
    With ``storage_url`` (a storage emulator of the user's own, e.g. ``STORAGE_EMULATOR_HOST``),
    no Cloud Storage emulator is started and the Vertex AI emulator reads artifacts from that URL.
    """
    unknown = set(services) - set(SERVICES)
    if unknown:
        raise ValueError(f"unknown services {sorted(unknown)}; choose from {SERVICES}")
    paths = StackPaths(home)
    with _locked(paths):
        result: dict[str, ServiceStatus] = {}
        if storage_url:
            result["gcs"] = ServiceStatus("gcs", True, True, storage_url, None, paths.log("gcs"),
                                          already_running=True)
        else:
            gcs = _probe(paths, "gcs")
            if gcs.ok:
                result["gcs"] = replace(gcs, already_running=True)
            else:
                _stop(paths, "gcs", timeout=10.0)
                result["gcs"] = _start(paths, "gcs", None, timeout, env)
        vertex = _probe(paths, "vertex")
        storage_of_vertex = paths.run / "vertex.storage-url"
        same_storage = (storage_of_vertex.is_file()
                        and storage_of_vertex.read_text() == result["gcs"].url)
        if "vertex" not in services:
            result["vertex"] = vertex
        elif vertex.ok and result["gcs"].already_running and same_storage:
            result["vertex"] = replace(vertex, already_running=True)
        else:
            _stop(paths, "vertex", timeout=10.0)
            result["vertex"] = _start(paths, "vertex", result["gcs"].url, timeout, env)
            storage_of_vertex.write_text(str(result["gcs"].url))
        return StackStatus(home, tuple(result[name] for name in SERVICES))


def down(home: Path, *, timeout: float = 10.0) -> StackStatus:
    """Stop every service (SIGTERM, then SIGKILL after ``timeout`` s) and remove the ready files."""
    paths = StackPaths(home)
    with _locked(paths):
        for name in reversed(SERVICES):
            _stop(paths, name, timeout)
    return status(home)


def ensure(
    home: Path,
    *,
    services: Sequence[str] = SERVICES,
    timeout: float = 60.0,
    env: Mapping[str, str] | None = None,
    storage_url: str | None = None,
) -> tuple[StackStatus, bool]:
    """The stack for a command that needs it: ``(status, started)``, starting what is missing."""
    current = status(home)
    wanted = [n for n in services if not (storage_url and n == "gcs")]
    recorded = StackPaths(home).run / "vertex.storage-url"
    storage_matches = not storage_url or (recorded.is_file() and recorded.read_text() == storage_url)
    if all(current[name].ok for name in wanted) and storage_matches:
        if storage_url:
            current = replace(current, services=tuple(
                ServiceStatus("gcs", True, True, storage_url, None, s.log_file) if s.name == "gcs"
                else s for s in current.services))
        return current, False
    result = up(home, services=services, timeout=timeout, env=env, storage_url=storage_url)
    return result, any(not result[name].already_running for name in wanted)
